//! Who owns a bucket or a Lambda function the operator manages: the tags that say it, and what
//! they mean for a resource that wants to use, change or delete it. Pure, no AWS calls; the
//! LambdaBucket's [`super::ownership`] and the RenderFunction's deployment read and write the
//! tags.
//!
//! Every bucket and function the operator creates or adopts carries
//! `remotion-operator.io/owner = <clusterId>/<namespace>/<name>`; a bucket it created also
//! carries `remotion-operator.io/created-by` with the same value, and only such a bucket may be
//! deleted by its LambdaBucket. `docs/security.md` (Ownership) explains the rules.

use std::collections::BTreeMap;

use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};

use crate::tenancy::ClusterId;

/// Tag naming the resource that owns a bucket or function.
pub const OWNER_TAG: &str = "remotion-operator.io/owner";
/// Tag naming the resource that created a bucket: only it may delete the bucket.
pub const CREATED_BY_TAG: &str = "remotion-operator.io/created-by";
/// S3 and Lambda accept tag values of at most this many characters.
const MAX_TAG_VALUE: usize = 256;

/// The owner of a bucket or function: one resource of one cluster, as the tag value
/// `<clusterId>/<namespace>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner(String);

impl Owner {
    /// The owner that `object` is, in the cluster `cluster`.
    pub fn of<K: Resource>(cluster: &ClusterId, object: &K) -> Self {
        Self::new(cluster, &object.namespace().unwrap_or_default(), &object.name_any())
    }

    /// The owner `<cluster>/<namespace>/<name>`. Kubernetes names may be longer than a tag
    /// value allows: a value over 256 characters keeps its first 239 and ends with `+` and 16
    /// hex characters of the whole value's SHA-256, so it stays unique.
    pub fn new(cluster: &ClusterId, namespace: &str, name: &str) -> Self {
        let full = format!("{}/{namespace}/{name}", cluster.as_str());
        if full.len() <= MAX_TAG_VALUE {
            return Self(full);
        }
        let digest = hex::encode(Sha256::digest(full.as_bytes()));
        let keep = MAX_TAG_VALUE - 17;
        Self(format!("{}+{}", &full[..keep], &digest[..16]))
    }

    /// The tag value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `chars` lowercase hex characters of the tag value's SHA-256: a short, stable name of
    /// the owner for things that cannot hold the whole value (default function names).
    pub fn digest(&self, chars: usize) -> String {
        let mut digest = hex::encode(Sha256::digest(self.0.as_bytes()));
        digest.truncate(chars);
        digest
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whose a bucket or function is, for the resource asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Its owner tag names the resource asking.
    Mine,
    /// It has no owner tag: made before ownership was recorded, or by other means.
    Unclaimed,
    /// Its owner tag names another resource (this value).
    Another(String),
}

impl Claim {
    /// The claim the tags of a bucket or function make, seen by `owner`.
    pub fn of(tags: &BTreeMap<String, String>, owner: &Owner) -> Self {
        match tags.get(OWNER_TAG) {
            None => Self::Unclaimed,
            Some(value) if value == owner.as_str() => Self::Mine,
            Some(value) => Self::Another(value.clone()),
        }
    }
}

/// Whether the tags say `owner` created the bucket (and so may delete it).
pub fn created_by(tags: &BTreeMap<String, String>, owner: &Owner) -> bool {
    tags.get(CREATED_BY_TAG).is_some_and(|value| value == owner.as_str())
}

/// The tags after `owner` takes a bucket or function: the owner tag set, the created-by tag
/// set when `created`, every other tag kept. `None` when nothing changes.
pub fn claimed(tags: &BTreeMap<String, String>, owner: &Owner, created: bool) -> Option<BTreeMap<String, String>> {
    let mut wanted = tags.clone();
    wanted.insert(OWNER_TAG.to_owned(), owner.as_str().to_owned());
    if created {
        wanted.insert(CREATED_BY_TAG.to_owned(), owner.as_str().to_owned());
    }
    (wanted != *tags).then_some(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(id: &str) -> ClusterId {
        ClusterId::try_from(id.to_owned()).unwrap()
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_owner_names_cluster_namespace_and_name() {
        let owner = Owner::new(&cluster("prod-eu-1"), "team-a", "videos");
        assert_eq!(owner.as_str(), "prod-eu-1/team-a/videos");
        assert_ne!(owner, Owner::new(&cluster("prod-us-1"), "team-a", "videos"));
        assert_ne!(owner, Owner::new(&cluster("prod-eu-1"), "team-b", "videos"));
        assert_eq!(owner.digest(8).len(), 8);
        assert!(owner.digest(8).chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(owner.digest(8), Owner::new(&cluster("prod-eu-1"), "team-b", "videos").digest(8));
    }

    #[test]
    fn overlong_owners_fit_a_tag_value_and_stay_distinct() {
        let long = "n".repeat(253);
        let a = Owner::new(&cluster(&"c".repeat(63)), &"a".repeat(63), &long);
        let b = Owner::new(&cluster(&"c".repeat(63)), &"b".repeat(63), &long);
        assert_eq!(a.as_str().len(), 256);
        assert_ne!(a, b);
        let mut other_name = long.clone();
        other_name.replace_range(252.., "m");
        assert_ne!(a, Owner::new(&cluster(&"c".repeat(63)), &"a".repeat(63), &other_name));
    }

    #[test]
    fn claims_follow_the_owner_tag() {
        let me = Owner::new(&cluster("default"), "a", "main");
        assert_eq!(Claim::of(&tags(&[]), &me), Claim::Unclaimed);
        assert_eq!(Claim::of(&tags(&[("team", "x")]), &me), Claim::Unclaimed);
        assert_eq!(Claim::of(&tags(&[(OWNER_TAG, "default/a/main")]), &me), Claim::Mine);
        assert_eq!(Claim::of(&tags(&[(OWNER_TAG, "default/b/main")]), &me), Claim::Another("default/b/main".into()));
    }

    #[test]
    fn only_the_creator_may_delete() {
        let me = Owner::new(&cluster("default"), "a", "main");
        assert!(created_by(&tags(&[(OWNER_TAG, "default/a/main"), (CREATED_BY_TAG, "default/a/main")]), &me));
        // Adopted: owned, not created.
        assert!(!created_by(&tags(&[(OWNER_TAG, "default/a/main")]), &me));
        // Created by a resource of the same name in another namespace.
        assert!(!created_by(&tags(&[(OWNER_TAG, "default/a/main"), (CREATED_BY_TAG, "default/b/main")]), &me));
    }

    #[test]
    fn claiming_keeps_other_tags_and_writes_only_changes() {
        let me = Owner::new(&cluster("default"), "a", "main");
        let adopted = claimed(&tags(&[("cost-centre", "42")]), &me, false).unwrap();
        assert_eq!(adopted, tags(&[("cost-centre", "42"), (OWNER_TAG, "default/a/main")]));
        assert_eq!(claimed(&adopted, &me, false), None);
        let created = claimed(&tags(&[]), &me, true).unwrap();
        assert_eq!(created, tags(&[(OWNER_TAG, "default/a/main"), (CREATED_BY_TAG, "default/a/main")]));
        assert_eq!(claimed(&created, &me, false), None);
    }
}
