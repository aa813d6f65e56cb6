//! `LambdaBucket`: the S3 bucket of a region that holds sites, renders and cost profiles.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{AwsAccess, MAX_SPEC_TAGS, reserved_tag_rule, tag_key_rule, tag_value_rule};

/// Prefix of every bucket the operator creates or adopts without an explicit name
/// (the same convention as Remotion Lambda, so existing buckets are found).
pub const BUCKET_NAME_PREFIX: &str = "remotionlambda-";

/// The S3 bucket of a region: discovered, adopted or created.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "remotion-operator.io",
    version = "v1alpha1",
    kind = "LambdaBucket",
    namespaced,
    status = "LambdaBucketStatus",
    shortname = "lb",
    category = "remotion",
    doc = "The S3 bucket of a region that holds Remotion sites, renders and cost profiles",
    printcolumn(name = "Bucket", type_ = "string", json_path = ".status.bucketName"),
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.region"),
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
#[x_kube(validation = Rule::new("!has(oldSelf.bucketName) || (has(self.bucketName) && self.bucketName == oldSelf.bucketName)").message("bucketName is immutable once set"))]
pub struct LambdaBucketSpec {
    /// Region, credentials and endpoint.
    #[serde(flatten)]
    pub aws: AwsAccess,

    /// Name of the bucket. Empty: adopt the single `remotionlambda-<region without dashes>-…`
    /// bucket of the region, or create one when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"), length(min = 3, max = 63))]
    pub bucket_name: Option<String>,

    /// What happens to the bucket when this resource is deleted. `Retain` (the default) keeps
    /// it and everything in it; `Delete` empties and removes it.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Lifecycle rules that expire renders tagged with a `deleteAfter` of 1, 3, 7 or 30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<Expiry>,

    /// Allow RenderJobs to publish their output with `privacy: public`. Off by default: the
    /// bucket blocks all public access (sites never need to be public).
    #[serde(default)]
    pub public_outputs: bool,

    /// AWS tags for cost allocation, put on the bucket beside the operator's own
    /// (`remotion-operator.io/owner`, `cluster`, `namespace`, `kind`, `name`). A key removed
    /// from here is removed from the bucket; tags set by other means are kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_SPEC_TAGS, "additionalProperties" = {"type": "string", "maxLength": 256}))]
    #[x_kube(validation = tag_key_rule())]
    #[x_kube(validation = tag_value_rule())]
    #[x_kube(validation = reserved_tag_rule())]
    pub tags: BTreeMap<String, String>,
}

/// Fate of an external resource when its Kubernetes resource is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the external resource.
    #[default]
    Retain,
    /// Delete the external resource and everything in it.
    Delete,
}

/// Object expiry (S3 lifecycle rules on the `renders/` prefix, by tag).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Expiry {
    /// Install the lifecycle rules.
    #[serde(default)]
    pub enabled: bool,
}

/// Observed state of a LambdaBucket.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LambdaBucketStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and, while work is under way, `Progressing`.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The bucket in use (explicit, adopted or created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<String>,
    /// The bucket's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Base URL of the bucket (path-style for custom endpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The external ID the operator presents when it assumes `credentials.roleArn` with its
    /// own identity (`remotion-operator:<clusterId>:<namespace>`): the role's trust policy
    /// should require it (`sts:ExternalId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The keys of `spec.tags` last put on the bucket: a key that leaves `spec.tags` is
    /// removed from the bucket only when it is listed here (tags set by other means stay).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_keys: Vec<String>,
}

/// The prefix every auto-named bucket of `region` starts with, e.g. `remotionlambda-useast1-`.
pub fn bucket_prefix_for_region(region: &str) -> String {
    format!("{BUCKET_NAME_PREFIX}{}-", region.replace('-', ""))
}

/// The name of a new auto-named bucket: the region prefix and a 10-character `[a-z0-9]` suffix.
///
/// `suffix` must be 10 characters of `[a-z0-9]`; callers draw it at random.
pub fn bucket_name_for_region(region: &str, suffix: &str) -> Result<String, BucketNameError> {
    if suffix.len() != 10 || !suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Err(BucketNameError::BadSuffix(suffix.to_owned()));
    }
    Ok(format!("{}{suffix}", bucket_prefix_for_region(region)))
}

/// Whether `name` is an auto-named bucket of `region`.
pub fn is_auto_bucket_of_region(name: &str, region: &str) -> bool {
    name.strip_prefix(&bucket_prefix_for_region(region)).is_some_and(|rest| !rest.is_empty())
}

/// An auto-generated bucket name could not be formed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BucketNameError {
    /// The random part is not 10 characters of `[a-z0-9]`.
    #[error("bucket name suffix {0:?} must be 10 characters of [a-z0-9]")]
    BadSuffix(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_names_follow_remotion_convention() {
        assert_eq!(bucket_prefix_for_region("us-east-1"), "remotionlambda-useast1-");
        assert_eq!(
            bucket_name_for_region("eu-central-1", "abcd123456").unwrap(),
            "remotionlambda-eucentral1-abcd123456"
        );
        assert!(bucket_name_for_region("eu-central-1", "ABCD123456").is_err());
        assert!(bucket_name_for_region("eu-central-1", "short").is_err());
        assert!(is_auto_bucket_of_region("remotionlambda-useast1-abcd123456", "us-east-1"));
        assert!(!is_auto_bucket_of_region("remotionlambda-useast2-abcd123456", "us-east-1"));
        assert!(!is_auto_bucket_of_region("remotionlambda-useast1-", "us-east-1"));
    }
}
