//! The tags on what the operator creates or adopts in AWS (a LambdaBucket's bucket, a Managed
//! RenderFunction's function), besides the owner tags of [`super::lambda_bucket::owner`]:
//!
//! - the owner's cluster, namespace, kind and name, each under a key of its own, because AWS
//!   Cost Explorer and cost allocation reports group costs by one tag key's values, which the
//!   single `<cluster>/<namespace>/<name>` owner value does not allow;
//! - the resource's `spec.tags`, the team's own cost-allocation tags.
//!
//! Tags set by other means (AWS Backup, a cost tool, a person) are never removed: a key leaves
//! the AWS resource only when it left `spec.tags` after the operator had put it there
//! (`status.tagKeys` remembers which keys those are). Pure, no AWS calls.

use std::collections::{BTreeMap, BTreeSet};

use kube::{Resource, ResourceExt};
use remotion_crds::common::OPERATOR_TAG_PREFIX;

use crate::tenancy::ClusterId;

/// Tag naming the owner's cluster (`--cluster-id`).
pub const CLUSTER_TAG: &str = "remotion-operator.io/cluster";
/// Tag naming the owner's namespace.
pub const NAMESPACE_TAG: &str = "remotion-operator.io/namespace";
/// Tag naming the owner's kind (`LambdaBucket`, `RenderFunction`).
pub const KIND_TAG: &str = "remotion-operator.io/kind";
/// Tag naming the owner.
pub const NAME_TAG: &str = "remotion-operator.io/name";

/// Tags by key.
pub type Tags = BTreeMap<String, String>;

/// The tags `object` wants on its AWS resource: who it is, and its `spec_tags`. The owner and
/// created-by tags are not among them: ownership decides those.
pub fn wanted<K: Resource<DynamicType = ()>>(cluster: &ClusterId, object: &K, spec_tags: &Tags) -> Tags {
    let mut tags: Tags =
        spec_tags.iter().filter(|(key, _)| !is_operators(key)).map(|(k, v)| (k.clone(), v.clone())).collect();
    tags.insert(CLUSTER_TAG.to_owned(), cluster.as_str().to_owned());
    tags.insert(NAMESPACE_TAG.to_owned(), object.namespace().unwrap_or_default());
    tags.insert(KIND_TAG.to_owned(), K::kind(&()).into_owned());
    tags.insert(NAME_TAG.to_owned(), object.name_any());
    tags
}

/// The keys of `spec.tags` to remember in the status once they are on the AWS resource.
pub fn spec_keys(spec_tags: &Tags) -> Vec<String> {
    spec_tags.keys().filter(|key| !is_operators(key)).cloned().collect()
}

/// Whether the operator sets `key` itself (the API server refuses such keys in `spec.tags`;
/// checked again here so that a stale schema can never let a spec overwrite an owner tag).
fn is_operators(key: &str) -> bool {
    key.starts_with(OPERATOR_TAG_PREFIX)
}

/// What to change on an AWS resource for it to carry the wanted tags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagChanges {
    /// Keys to add or give a new value.
    pub set: Tags,
    /// Keys to remove: put there from `spec.tags` before, no longer wanted.
    pub remove: BTreeSet<String>,
}

impl TagChanges {
    /// The changes that take a resource tagged `current` to carry `wanted`, removing the keys
    /// of `previous_spec_keys` that are no longer wanted.
    pub fn between(current: &Tags, wanted: &Tags, previous_spec_keys: &[String]) -> Self {
        let set =
            wanted.iter().filter(|(k, v)| current.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
        let remove = previous_spec_keys
            .iter()
            .filter(|key| !wanted.contains_key(*key) && !is_operators(key) && current.contains_key(*key))
            .cloned()
            .collect();
        Self { set, remove }
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }

    /// `current` with the changes made: the whole set, for APIs that replace every tag at once
    /// (S3's PutBucketTagging).
    pub fn applied_to(&self, current: &Tags) -> Tags {
        let mut tags = current.clone();
        tags.retain(|key, _| !self.remove.contains(key));
        tags.extend(self.set.iter().map(|(k, v)| (k.clone(), v.clone())));
        tags
    }
}

#[cfg(test)]
mod tests {
    use remotion_crds::LambdaBucket;

    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn bucket() -> LambdaBucket {
        let mut bucket =
            LambdaBucket::new("videos", serde_json::from_value(serde_json::json!({"region": "eu-west-1"})).unwrap());
        bucket.metadata.namespace = Some("team-a".into());
        bucket
    }

    #[test]
    fn the_owner_is_spelled_out_key_by_key_beside_the_spec_tags() {
        let cluster = ClusterId::try_from("prod-eu-1".to_owned()).unwrap();
        let spec = tags(&[("cost-centre", "42"), ("remotion-operator.io/owner", "forged")]);
        let wanted = wanted(&cluster, &bucket(), &spec);
        assert_eq!(
            wanted,
            tags(&[
                ("cost-centre", "42"),
                (CLUSTER_TAG, "prod-eu-1"),
                (KIND_TAG, "LambdaBucket"),
                (NAME_TAG, "videos"),
                (NAMESPACE_TAG, "team-a"),
            ])
        );
        assert_eq!(spec_keys(&spec), ["cost-centre"]);
    }

    #[test]
    fn only_keys_the_spec_put_there_are_ever_removed() {
        let current = tags(&[("cost-centre", "41"), ("team", "video"), ("backup", "daily"), (NAME_TAG, "videos")]);
        let wanted = tags(&[("cost-centre", "42"), (NAME_TAG, "videos"), (KIND_TAG, "LambdaBucket")]);
        // `team` was in spec.tags and left it; `backup` was set by other means; `gone` is no
        // longer on the bucket.
        let previous = ["cost-centre".to_owned(), "team".to_owned(), "gone".to_owned()];
        let changes = TagChanges::between(&current, &wanted, &previous);
        assert_eq!(changes.set, tags(&[("cost-centre", "42"), (KIND_TAG, "LambdaBucket")]));
        assert_eq!(changes.remove, BTreeSet::from(["team".to_owned()]));
        assert_eq!(
            changes.applied_to(&current),
            tags(&[("backup", "daily"), ("cost-centre", "42"), (KIND_TAG, "LambdaBucket"), (NAME_TAG, "videos")])
        );
        let settled = TagChanges::between(&changes.applied_to(&current), &wanted, &previous);
        assert!(settled.is_empty(), "{settled:?}");
    }

    #[test]
    fn the_operators_keys_are_never_removed_even_if_a_status_lists_them() {
        let current = tags(&[(NAME_TAG, "videos")]);
        let changes = TagChanges::between(&current, &Tags::new(), &[NAME_TAG.to_owned()]);
        assert!(changes.is_empty(), "{changes:?}");
    }
}
