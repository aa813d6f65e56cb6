//! `RenderFunction`: the Lambda function that renders (launch, chunks, stills, metadata).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{AwsAccess, MAX_SPEC_TAGS, reserved_tag_rule, tag_key_rule, tag_value_rule};
pub use remotion_protocol::lambda::Architecture;

/// Defaults and limits of Lambda's configuration (AWS quotas).
pub mod limits {
    /// Default memory, MB.
    pub const DEFAULT_MEMORY_MB: i32 = 2048;
    /// Default ephemeral storage, MB: the maximum, since chunks and outputs are written to /tmp.
    pub const DEFAULT_DISK_MB: i32 = 10240;
    /// Default timeout, seconds: the maximum.
    pub const DEFAULT_TIMEOUT_SECONDS: i32 = 900;
    /// Lambda's minimum and maximum memory, MB.
    pub const MEMORY_MB: (i32, i32) = (512, 10240);
    /// Lambda's minimum and maximum ephemeral storage, MB.
    pub const DISK_MB: (i32, i32) = (512, 10240);
    /// Lambda's minimum and maximum timeout, seconds.
    pub const TIMEOUT_SECONDS: (i32, i32) = (1, 900);
}

/// The render Lambda function: created and updated by the operator, or an existing one verified.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "remotion-operator.io",
    version = "v1alpha1",
    kind = "RenderFunction",
    namespaced,
    status = "RenderFunctionStatus",
    shortname = "rfn",
    category = "remotion",
    doc = "The Lambda function that renders Remotion compositions",
    printcolumn(name = "Function", type_ = "string", json_path = ".status.functionName"),
    printcolumn(name = "Version", type_ = "string", json_path = ".status.version"),
    printcolumn(name = "Memory", type_ = "integer", json_path = ".spec.memorySizeMb"),
    printcolumn(name = "Capacity", type_ = "integer", json_path = ".status.capacity"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.management != 'Managed' || (has(self.image) && has(self.roleArn))").message("a Managed function needs image and roleArn"))]
#[x_kube(validation = Rule::new("self.management == 'Managed' || !has(self.tags)").message("tags are put on Managed functions only: an Existing function is not the operator's to tag"))]
#[x_kube(validation = Rule::new("self.management != 'Existing' || has(self.functionName)").message("an Existing function needs functionName"))]
#[x_kube(validation = Rule::new("!has(oldSelf.functionName) || (has(self.functionName) && self.functionName == oldSelf.functionName)").message("functionName is immutable once set"))]
pub struct RenderFunctionSpec {
    /// Region, credentials and endpoint.
    #[serde(flatten)]
    pub aws: AwsAccess,

    /// `Managed` (default): the operator creates and updates the function. `Existing`: the
    /// function is deployed by other means; the operator only verifies it with `info`.
    #[serde(default)]
    pub management: FunctionManagement,

    /// Name of the Lambda function. Default: derived from the function version, memory, disk
    /// and timeout, and a digest of this resource's cluster, namespace and name, e.g.
    /// `remotion-render-0-1-0-mem2048mb-disk10240mb-900sec-1a2b3c4d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z0-9_-]{1,64}$"))]
    pub function_name: Option<String>,

    /// Container image URI of the function (see function/Dockerfile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,

    /// Execution role of the function (see config/iam/function-role.json).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$"), length(max = 600))]
    pub role_arn: Option<String>,

    /// Memory in MB (512–10240). CPU scales with memory: 1769 MB is one vCPU.
    #[serde(default = "default_memory_mb")]
    #[schemars(range(min = 512, max = 10240))]
    pub memory_size_mb: i32,

    /// Ephemeral storage (/tmp) in MB (512–10240).
    #[serde(default = "default_disk_mb")]
    #[schemars(range(min = 512, max = 10240))]
    pub disk_size_mb: i32,

    /// Timeout of one invocation in seconds (1–900).
    #[serde(default = "default_timeout_seconds")]
    #[schemars(range(min = 1, max = 900))]
    pub timeout_seconds: i32,

    /// Instruction set of the image. arm64 is about 20% cheaper per GB-second.
    #[serde(default)]
    pub architecture: Architecture,

    /// Extra environment variables of the function.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 50))]
    pub env: BTreeMap<String, String>,

    /// AWS tags for cost allocation, put on a Managed function beside the operator's own
    /// (`remotion-operator.io/owner`, `cluster`, `namespace`, `kind`, `name`). A key removed
    /// from here is removed from the function; tags set by other means are kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_SPEC_TAGS, "additionalProperties" = {"type": "string", "maxLength": 256}))]
    #[x_kube(validation = tag_key_rule())]
    #[x_kube(validation = tag_value_rule())]
    #[x_kube(validation = reserved_tag_rule())]
    pub tags: BTreeMap<String, String>,

    /// The function's capacity: invocations of it that may run at once, over all renders.
    /// The operator launches a render only when its orchestrator fits, gives each running
    /// render a share of the rest for its chunks, and queues the others (phase `Queued`).
    /// Default: the function's reserved concurrency, else the account's unreserved
    /// concurrency (`status.capacity` shows the value in use). Set it for a local emulator,
    /// which queues invocations instead of throttling them, or to keep part of the account
    /// free for other work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_concurrent_invocations: Option<i32>,

    /// Most renders of one namespace running on this function at once (the others wait in
    /// phase `Queued`). Default: no limit beyond the capacity, which the namespaces share
    /// round-robin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_renders_per_namespace: Option<i32>,
}

fn default_memory_mb() -> i32 {
    limits::DEFAULT_MEMORY_MB
}
fn default_disk_mb() -> i32 {
    limits::DEFAULT_DISK_MB
}
fn default_timeout_seconds() -> i32 {
    limits::DEFAULT_TIMEOUT_SECONDS
}

/// Who deploys the function.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum FunctionManagement {
    /// The operator creates and updates the function.
    #[default]
    Managed,
    /// The function exists already; the operator verifies it and changes nothing.
    Existing,
}

/// Observed state of a RenderFunction.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderFunctionStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and, while work is under way, `Progressing`.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The external ID the operator presents when it assumes `credentials.roleArn` with its
    /// own identity (`remotion-operator:<clusterId>:<namespace>`): the role's trust policy
    /// should require it (`sts:ExternalId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The keys of `spec.tags` last put on the function: a key that leaves `spec.tags` is
    /// removed from the function only when it is listed here (tags set by other means stay).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_keys: Vec<String>,
    /// Name of the function in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    /// Its ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_arn: Option<String>,
    /// Version of the render function's code, as reported by its `info` action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Payload protocol version the function speaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<i64>,
    /// Chromium version inside the function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chromium_version: Option<String>,
    /// FFmpeg library version inside the function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ffmpeg_version: Option<String>,
    /// Memory the function really has, MB (used for cost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_size_mb: Option<i32>,
    /// Ephemeral storage the function really has, MB (used for cost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_size_mb: Option<i32>,
    /// Timeout of one invocation, seconds (used to detect stalled renders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// Architecture the function runs on (used for cost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<Architecture>,
    /// Invocations of the function that may run at once, over all renders (see
    /// `spec.maxConcurrentInvocations`). Absent: unknown, and renders are not queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<i32>,
    /// Where `capacity` comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_source: Option<CapacitySource>,
}

/// Where a function's capacity comes from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CapacitySource {
    /// `spec.maxConcurrentInvocations`.
    MaxConcurrentInvocations,
    /// The function's reserved concurrency (`GetFunctionConcurrency`).
    ReservedConcurrency,
    /// The account's unreserved concurrency in the region (`GetAccountSettings`).
    AccountUnreservedConcurrency,
}

/// Characters of the version in a default function name (the rest is cut off).
const VERSION_CHARS: usize = 9;

/// Characters of the owner digest a default function name ends with.
pub const OWNER_DIGEST_CHARS: usize = 8;

/// The stem of a default function name, like Remotion's naming convention:
/// `remotion-render-<version with dashes>-mem<MB>mb-disk<MB>mb-<s>sec`.
pub fn default_function_name(version: &str, memory_mb: i32, disk_mb: i32, timeout_seconds: i32) -> String {
    let version: String =
        version.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(VERSION_CHARS).collect();
    format!("remotion-render-{version}-mem{memory_mb}mb-disk{disk_mb}mb-{timeout_seconds}sec")
}

impl RenderFunctionSpec {
    /// The function name to use: the explicit one, or the default stem followed by
    /// `owner_digest` ([`OWNER_DIGEST_CHARS`] lowercase hex characters naming the resource's
    /// cluster, namespace and name), so that two RenderFunctions with the same settings in two
    /// namespaces never share a function by default.
    pub fn effective_function_name(&self, function_version: &str, owner_digest: &str) -> String {
        self.function_name.clone().unwrap_or_else(|| {
            let stem =
                default_function_name(function_version, self.memory_size_mb, self.disk_size_mb, self.timeout_seconds);
            format!("{stem}-{owner_digest}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_name_matches_remotion_convention() {
        assert_eq!(
            default_function_name("0.1.0", 2048, 10240, 900),
            "remotion-render-0-1-0-mem2048mb-disk10240mb-900sec"
        );
    }

    #[test]
    fn default_names_end_with_the_owner_digest_and_fit_lambdas_limit() {
        let spec: RenderFunctionSpec = serde_json::from_value(serde_json::json!({"region": "eu-west-1"})).unwrap();
        assert_eq!(
            spec.effective_function_name("0.1.0", "1a2b3c4d"),
            "remotion-render-0-1-0-mem2048mb-disk10240mb-900sec-1a2b3c4d"
        );
        assert_ne!(
            spec.effective_function_name("0.1.0", "1a2b3c4d"),
            spec.effective_function_name("0.1.0", "5e6f7a8b")
        );
        // Lambda names are at most 64 characters; the longest settings still fit.
        let longest: RenderFunctionSpec = serde_json::from_value(serde_json::json!({
            "region": "eu-west-1", "memorySizeMb": 10240, "diskSizeMb": 10240, "timeoutSeconds": 900
        }))
        .unwrap();
        let name = longest.effective_function_name("10.100.1000-rc1", &"f".repeat(OWNER_DIGEST_CHARS));
        assert_eq!(name.len(), 64, "{name}");
        // An explicit name is used as it is.
        let named: RenderFunctionSpec =
            serde_json::from_value(serde_json::json!({"region": "eu-west-1", "functionName": "mine"})).unwrap();
        assert_eq!(named.effective_function_name("0.1.0", "1a2b3c4d"), "mine");
    }
}
