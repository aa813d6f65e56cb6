//! Types shared by several resources: AWS access, references and conditions.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use kube::core::Rule;
use serde::{Deserialize, Serialize};

/// API group of every resource of the operator.
pub const GROUP: &str = "remotion-operator.io";
/// API version of every resource of the operator.
pub const VERSION: &str = "v1alpha1";
/// `kubectl get remotion` lists every kind of the operator.
pub const CATEGORY: &str = "remotion";

/// Standard condition types (Kubernetes API conventions).
pub mod condition_type {
    /// The resource is usable (infrastructure) or finished successfully (RenderJob).
    pub const READY: &str = "Ready";
    /// Work towards the desired state is under way.
    pub const PROGRESSING: &str = "Progressing";
    /// A bounded run (RenderJob) completed successfully.
    pub const SUCCEEDED: &str = "Succeeded";
    /// A bounded run (RenderJob) ended without output.
    pub const FAILED: &str = "Failed";
    /// The webhook of an ended RenderJob reached its receiver (set only on jobs with a
    /// webhook, once they ended).
    pub const WEBHOOK_DELIVERED: &str = "WebhookDelivered";
    /// Whether a RemotionSite's Remotion release is one the renderer is tested with (`False`:
    /// outside the tested range, rendered with a warning; `Unknown`: the bundle does not say).
    pub const REMOTION_VERSION: &str = "RemotionVersion";
    /// kstatus: the controller is working towards the desired state (present only while true).
    pub const RECONCILING: &str = "Reconciling";
    /// kstatus: the controller cannot reach the desired state until something changes
    /// (present only while true).
    pub const STALLED: &str = "Stalled";
}

/// Where and as whom the operator reaches AWS (or an S3-/Lambda-compatible service).
///
/// Flattened into the spec of `LambdaBucket` and `RenderFunction`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsAccess {
    /// AWS region, e.g. `us-east-1`. Immutable: resources do not move between regions.
    #[x_kube(validation = Rule::new("self == oldSelf").message("region is immutable: create a new resource for another region"))]
    #[schemars(regex(pattern = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$"), length(max = 32))]
    pub region: String,

    /// Credentials to use instead of the operator's default chain (environment, IRSA web
    /// identity, EKS Pod Identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<AwsCredentials>,

    /// URL of an S3-/Lambda-compatible endpoint (path-style addressing), for S3-compatible
    /// stores and local stand-ins. Absent: the region's AWS endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"), length(max = 2048))]
    pub endpoint: Option<String>,
}

/// Explicit credentials: static keys from a Secret, an assumed role, or keys used to assume a role.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.secretRef) || has(self.roleArn)").message("credentials need a secretRef, a roleArn, or both"))]
pub struct AwsCredentials {
    /// Secret in the same namespace with keys `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// optionally `AWS_SESSION_TOKEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectRef>,

    /// IAM role to assume (with the Secret's keys when given, else the default chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$"), length(max = 600))]
    pub role_arn: Option<String>,

    /// External ID required by the role's trust policy, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224))]
    pub external_id: Option<String>,
}

/// Prefix of the tag keys the operator sets itself on what it creates in AWS (owner, cluster,
/// namespace, kind, name): `spec.tags` may not use it.
pub const OPERATOR_TAG_PREFIX: &str = "remotion-operator.io/";

/// Tags `spec.tags` may hold: S3 buckets and Lambda functions take at most 50, and the
/// operator sets 6 of its own.
pub const MAX_SPEC_TAGS: usize = 40;

/// Characters AWS allows in tag keys and values (S3 and Lambda alike), as an RE2 class.
const TAG_CHARACTERS: &str = r"[\\p{L}\\p{Z}\\p{N}_.:/=+@-]";

/// `spec.tags`: keys of 1 to 128 allowed characters.
pub fn tag_key_rule() -> Rule {
    Rule::new(format!("self.all(k, size(k) <= 128 && k.matches('^{TAG_CHARACTERS}+$'))"))
        .message("tag keys are 1 to 128 letters, digits, spaces and _ . : / = + - @ (AWS's rules for tags)")
}

/// `spec.tags`: values of allowed characters (their length, at most 256, is the schema's).
pub fn tag_value_rule() -> Rule {
    Rule::new(format!("self.all(k, self[k].matches('^{TAG_CHARACTERS}*$'))"))
        .message("tag values are at most 256 letters, digits, spaces and _ . : / = + - @ (AWS's rules for tags)")
}

/// `spec.tags`: neither AWS's keys nor the operator's own.
pub fn reserved_tag_rule() -> Rule {
    Rule::new(format!("self.all(k, !k.startsWith('aws:') && !k.startsWith('{OPERATOR_TAG_PREFIX}'))")).message(
        "tag keys starting with aws: are reserved by AWS and remotion-operator.io/ by the operator: choose another key",
    )
}

/// The label a Secret needs before a RenderJob may read it as input props
/// (`inputPropsFrom.secretKeyRef`), with the value `"true"`.
pub const INPUT_PROPS_SECRET_LABEL: &str = "remotion-operator.io/input-props";

/// Keys the operator reads from a credentials Secret.
pub mod credential_keys {
    /// Access key id.
    pub const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
    /// Secret access key.
    pub const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
    /// Optional session token of temporary credentials.
    pub const SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
}

/// Reference to an object of a known kind in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, KubeSchema)]
pub struct LocalObjectRef {
    /// Name of the object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

impl LocalObjectRef {
    /// A reference to the object called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

/// Reference to one key of a ConfigMap or Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct KeyRef {
    /// Name of the ConfigMap or Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within it.
    #[schemars(regex(pattern = r"^[-._a-zA-Z0-9]+$"), length(min = 1, max = 253))]
    pub key: String,
}

/// A list of metav1 Conditions, unique by `type`.
///
/// Wrapped so that every status declares the list the same way (a map keyed by `type`,
/// which server-side apply needs to merge conditions from several managers).
pub type Conditions = Vec<Condition>;

/// Finds the condition of a type in a list.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether a condition of this type is present with status `"True"`.
pub fn is_condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(|c| c.status == "True")
}
