//! Step 5: on deletion, the bucket is removed (`deletionPolicy: Delete`) or kept (`Retain`);
//! the shell then drops the finalizer.
//!
//! `Delete` removes only a bucket this LambdaBucket created (its `created-by` tag names it).
//! A bucket it adopted, a named bucket that existed before, or one another resource owns is
//! kept with a Warning Event instead: refusing would leave the LambdaBucket stuck in deletion
//! for something only a person can decide, and keeping loses nothing.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use remotion_crds::lambda_bucket::DeletionPolicy;
use remotion_crds::{LambdaBucket, Reason};

use super::owner::{Claim, Owner, created_by};
use super::ownership::{self, BucketTags};
use super::s3::empty_and_delete;
use crate::controllers::Context;
use crate::reconcile::Error;

/// What deleting a LambdaBucket does to its bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Emptied and removed.
    Delete,
    /// Kept: `deletionPolicy: Retain` (the tags are not read).
    Retain,
    /// Kept although `deletionPolicy` is `Delete`: this resource did not create the bucket.
    KeepNotCreated,
    /// Kept although `deletionPolicy` is `Delete`: another resource (this value) owns it.
    KeepOwnedByAnother(String),
    /// Nothing to do: the bucket is gone already.
    Gone,
}

/// The fate, under `deletionPolicy: Delete`, of the bucket with `tags` when the LambdaBucket
/// `owner` is deleted.
pub fn fate_under_delete(tags: &BucketTags, owner: &Owner) -> Fate {
    match tags {
        BucketTags::NoSuchBucket => Fate::Gone,
        BucketTags::Tags(tags) if created_by(tags, owner) => Fate::Delete,
        tags => match tags.claim(owner) {
            Claim::Another(other) => Fate::KeepOwnedByAnother(other),
            Claim::Mine | Claim::Unclaimed => Fate::KeepNotCreated,
        },
    }
}

/// Removes or keeps the bucket of a deleted LambdaBucket.
pub async fn cleanup(bucket: Arc<LambdaBucket>, ctx: &Context) -> Result<Action, Error> {
    let name = bucket.status.as_ref().and_then(|s| s.bucket_name.clone()).or_else(|| bucket.spec.bucket_name.clone());
    // No bucket was ever chosen: nothing to keep or remove.
    let Some(name) = name else { return Ok(Action::await_change()) };
    let fate = match bucket.spec.deletion_policy {
        DeletionPolicy::Retain => Fate::Retain,
        DeletionPolicy::Delete => {
            let clients =
                ctx.aws.clients_for_cleanup(&bucket.namespace().unwrap_or_default(), &bucket.spec.aws).await?;
            let tags = ownership::read(&clients.s3, &name, bucket.spec.aws.endpoint.is_some()).await?;
            let fate = fate_under_delete(&tags, &Owner::of(&ctx.aws.policy().cluster_id, &*bucket));
            if fate == Fate::Delete {
                let objects = empty_and_delete(&clients.s3, &name).await?;
                let note = format!("Deleted bucket {name} and its {objects} objects");
                ctx.events.normal(&*bucket, Reason::Deleted, "DeleteBucket", note).await;
            }
            fate
        }
    };
    match fate {
        Fate::Retain => {
            let note = format!("Kept bucket {name} (deletionPolicy: Retain)");
            ctx.events.normal(&*bucket, Reason::Retained, "RetainBucket", note).await;
        }
        Fate::KeepNotCreated => {
            let note = format!(
                "Kept bucket {name} although deletionPolicy is Delete: this LambdaBucket did not create it (it was \
                 adopted or existed before), and only buckets it created are deleted"
            );
            ctx.events.warning(&*bucket, Reason::Retained, "RetainBucket", note).await;
        }
        Fate::KeepOwnedByAnother(other) => {
            let note = format!(
                "Kept bucket {name} although deletionPolicy is Delete: it belongs to {other}, not to this LambdaBucket"
            );
            ctx.events.warning(&*bucket, Reason::OwnedByAnother, "RetainBucket", note).await;
        }
        Fate::Delete | Fate::Gone => {}
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::owner::{CREATED_BY_TAG, OWNER_TAG};
    use super::*;
    use crate::tenancy::ClusterId;

    fn tags(pairs: &[(&str, &str)]) -> BucketTags {
        BucketTags::Tags(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>())
    }

    #[test]
    fn only_a_bucket_this_resource_created_is_deleted() {
        let me = Owner::new(&ClusterId::default(), "a", "main");
        let created = tags(&[(OWNER_TAG, "default/a/main"), (CREATED_BY_TAG, "default/a/main")]);
        assert_eq!(fate_under_delete(&created, &me), Fate::Delete);
        // Adopted (a legacy bucket, or a named one that existed): kept.
        let adopted = tags(&[(OWNER_TAG, "default/a/main")]);
        assert_eq!(fate_under_delete(&adopted, &me), Fate::KeepNotCreated);
        assert_eq!(fate_under_delete(&tags(&[]), &me), Fate::KeepNotCreated);
        assert_eq!(fate_under_delete(&BucketTags::Unsupported, &me), Fate::KeepNotCreated);
        // Another namespace's bucket, even one it created: kept.
        let theirs = tags(&[(OWNER_TAG, "default/b/main"), (CREATED_BY_TAG, "default/b/main")]);
        assert_eq!(fate_under_delete(&theirs, &me), Fate::KeepOwnedByAnother("default/b/main".into()));
        assert_eq!(fate_under_delete(&BucketTags::NoSuchBucket, &me), Fate::Gone);
    }
}
