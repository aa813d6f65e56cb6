//! The owner of a bucket, kept in its tags (GetBucketTagging / PutBucketTagging): read, taken
//! by the LambdaBucket that creates or adopts it, and checked before any setting is written or
//! the bucket is deleted. The rules are in [`super::owner`].
//!
//! PutBucketTagging replaces the whole tag set, so the tags are read, merged and written back;
//! tags other than ours are kept. The same write puts the LambdaBucket's cost-allocation tags
//! ([`crate::controllers::aws_tags`]) on the bucket.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Tag, Tagging};
use remotion_crds::Reason;

use super::owner::{Claim, Owner, claimed};
use super::s3::{Setting, unsupported_by_store};
use crate::aws::{error_code, http_status, sdk_error};
use crate::controllers::aws_tags::{TagChanges, Tags};
use crate::reconcile::Error;

/// What the tags of a bucket are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BucketTags {
    /// Its tags (empty when it has none).
    Tags(BTreeMap<String, String>),
    /// The S3-compatible store does not implement bucket tagging: no owner can be recorded.
    Unsupported,
    /// The bucket does not exist.
    NoSuchBucket,
}

impl BucketTags {
    /// Whose the bucket is for `owner`; a store without tags records no owner.
    pub fn claim(&self, owner: &Owner) -> Claim {
        match self {
            Self::Tags(tags) => Claim::of(tags, owner),
            Self::Unsupported | Self::NoSuchBucket => Claim::Unclaimed,
        }
    }
}

/// The tags of `bucket`.
pub async fn read(s3: &Client, bucket: &str, custom_endpoint: bool) -> Result<BucketTags, Error> {
    match s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(out) => {
            Ok(BucketTags::Tags(out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()))
        }
        Err(e) if error_code(&e) == Some("NoSuchTagSet") => Ok(BucketTags::Tags(BTreeMap::new())),
        Err(e) if error_code(&e) == Some("NoSuchBucket") => Ok(BucketTags::NoSuchBucket),
        Err(e) if unsupported_by_store(custom_endpoint, error_code(&e), http_status(&e)) => Ok(BucketTags::Unsupported),
        Err(e) => Err(sdk_error(Reason::S3Error, &format!("GetBucketTagging {bucket}"), &e)),
    }
}

/// Makes `owner` the owner of `bucket` (and its creator when `created`) and puts the `wanted`
/// tags on it (removing the keys of `previous_spec_keys` no longer wanted), or refuses with
/// `OwnedByAnother` when another resource owns it. Nothing is written to a bucket another
/// resource owns.
pub async fn take(
    s3: &Client,
    bucket: &str,
    owner: &Owner,
    created: bool,
    custom_endpoint: bool,
    wanted: &Tags,
    previous_spec_keys: &[String],
) -> Result<Setting, Error> {
    let tags = match read(s3, bucket, custom_endpoint).await? {
        BucketTags::Tags(tags) => tags,
        BucketTags::Unsupported => return Ok(Setting::Unsupported),
        BucketTags::NoSuchBucket => {
            return Err(Error::new(Reason::S3Error, format!("bucket {bucket} disappeared while it was being set up")));
        }
    };
    if let Claim::Another(other) = Claim::of(&tags, owner) {
        return Err(owned_by_another(bucket, &other));
    }
    let claimed = claimed(&tags, owner, created).unwrap_or_else(|| tags.clone());
    let wanted = TagChanges::between(&claimed, wanted, previous_spec_keys).applied_to(&claimed);
    if wanted == tags {
        return Ok(Setting::Unchanged);
    }
    let tag_set = wanted
        .iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect::<Result<Vec<_>, _>>()?;
    let tagging = Tagging::builder().set_tag_set(Some(tag_set)).build()?;
    match s3.put_bucket_tagging().bucket(bucket).tagging(tagging).send().await {
        Ok(_) => Ok(Setting::Applied),
        Err(e) if unsupported_by_store(custom_endpoint, error_code(&e), http_status(&e)) => Ok(Setting::Unsupported),
        Err(e) => Err(sdk_error(Reason::S3Error, &format!("PutBucketTagging {bucket}"), &e)),
    }
}

/// The terminal error for a bucket `other` owns.
pub fn owned_by_another(bucket: &str, other: &str) -> Error {
    Error::new(
        Reason::OwnedByAnother,
        format!(
            "bucket {bucket} belongs to {other} (its remotion-operator.io/owner tag): it is not adopted, configured or \
             deleted from here; leave spec.bucketName empty for a bucket of this LambdaBucket's own, or name another"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::ClusterId;

    #[test]
    fn a_store_without_tags_records_no_owner() {
        let me = Owner::new(&ClusterId::default(), "a", "main");
        assert_eq!(BucketTags::Unsupported.claim(&me), Claim::Unclaimed);
        let theirs = BTreeMap::from([(super::super::owner::OWNER_TAG.to_owned(), "default/b/main".to_owned())]);
        assert_eq!(BucketTags::Tags(theirs).claim(&me), Claim::Another("default/b/main".into()));
    }

    #[test]
    fn the_refusal_is_terminal_and_names_the_owner() {
        let error = owned_by_another("remotionlambda-euwest1-abc", "default/b/main");
        assert_eq!(error.reason(), Reason::OwnedByAnother);
        assert!(error.is_terminal());
        assert!(error.report().contains("belongs to default/b/main"), "{}", error.report());
    }
}
