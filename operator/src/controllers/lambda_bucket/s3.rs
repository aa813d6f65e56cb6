//! The S3 calls of the LambdaBucket controller: find, create, configure and remove buckets.
//!
//! S3-compatible stores (a custom `endpoint`) may not implement PublicAccessBlock, ownership
//! controls or lifecycle rules. On such a store an answer of "not implemented" is recorded
//! as [`Setting::Unsupported`] instead of failing; against AWS it is an error like any other.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration, Delete, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter, ObjectIdentifier,
    ObjectOwnership, OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration, Tag,
};
use futures::{StreamExt, TryStreamExt};
use remotion_crds::lambda_bucket::is_auto_bucket_of_region;
use remotion_protocol::keys::RENDERS_PREFIX;
use remotion_protocol::media::{DELETE_AFTER_TAG, DeleteAfter};

use crate::aws::{describe, error_code, http_status, sdk_error};
use crate::reconcile::Error;
use crate::tenancy::foreign;
use remotion_crds::Reason;

/// Error kind of S3 failures that are retried.
const S3_ERROR: Reason = Reason::S3Error;

/// What a HeadBucket found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BucketState {
    /// It exists and we may use it.
    Exists,
    /// No such bucket.
    Missing,
    /// It exists but belongs to someone else, or our credentials may not touch it.
    Forbidden,
}

/// Whether `bucket` exists and is ours.
pub async fn bucket_state(s3: &Client, bucket: &str) -> Result<BucketState, Error> {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(BucketState::Exists),
        Err(e) if http_status(&e) == Some(404) => Ok(BucketState::Missing),
        Err(e) if http_status(&e) == Some(403) => Ok(BucketState::Forbidden),
        // HeadBucket of a bucket in another region answers 301 on AWS.
        Err(e) if http_status(&e) == Some(301) => Err(Error::new(
            Reason::WrongRegion,
            format!("bucket {bucket} exists in another region than the one in spec.region"),
        )),
        Err(e) => Err(sdk_error(S3_ERROR, &format!("HeadBucket {bucket}"), &e)),
    }
}

/// The auto-named buckets (`remotionlambda-<region>-…`) of `region`, sorted.
pub async fn auto_buckets(s3: &Client, region: &str) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = s3
            .list_buckets()
            .set_continuation_token(token.clone())
            .send()
            .await
            .map_err(|e| sdk_error(S3_ERROR, "ListBuckets", &e))?;
        names.extend(
            page.buckets()
                .iter()
                .filter_map(|b| b.name())
                .filter(|n| is_auto_bucket_of_region(n, region))
                .map(str::to_owned),
        );
        token = page.continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    names.sort();
    Ok(names)
}

/// Creates `bucket` in `region` (no error when we own it already).
pub async fn create_bucket(s3: &Client, bucket: &str, region: &str) -> Result<(), Error> {
    let mut request = s3.create_bucket().bucket(bucket);
    // us-east-1 is the default location and must not be named.
    if region != "us-east-1" {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(region)).build(),
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some("BucketAlreadyOwnedByYou") => Ok(()),
        Err(e) if error_code(&e) == Some("BucketAlreadyExists") => Err(Error::new(
            Reason::BucketNameTaken,
            format!("bucket name {bucket} belongs to another account; choose another spec.bucketName"),
        )),
        Err(e) if error_code(&e) == Some("InvalidBucketName") => {
            Err(Error::new(Reason::InvalidBucketName, format!("{bucket} is not a valid bucket name: {}", describe(&e))))
        }
        Err(e) => Err(sdk_error(S3_ERROR, &format!("CreateBucket {bucket}"), &e)),
    }
}

/// Outcome of making one bucket setting match the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// It was already as wanted.
    Unchanged,
    /// It was written.
    Applied,
    /// The S3-compatible store does not implement it.
    Unsupported,
}

/// Whether an error means an S3-compatible store lacks the API (never assumed for AWS).
pub fn unsupported_by_store(custom_endpoint: bool, code: Option<&str>, status: Option<u16>) -> bool {
    custom_endpoint
        && (matches!(code, Some("NotImplemented" | "NotSupported" | "MethodNotAllowed" | "UnsupportedOperation"))
            || matches!(status, Some(501 | 405)))
}

fn is_unsupported<E: ProvideErrorMetadata>(custom_endpoint: bool, e: &SdkError<E, HttpResponse>) -> bool {
    unsupported_by_store(custom_endpoint, error_code(e), http_status(e))
}

/// The public access block for a bucket: everything blocked, unless outputs may be public,
/// then object ACLs are allowed (a public output is one object made public-read) while public
/// bucket policies stay blocked.
pub fn wanted_public_access_block(public_outputs: bool) -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration::builder()
        .block_public_acls(!public_outputs)
        .ignore_public_acls(!public_outputs)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build()
}

/// Makes the bucket's public access block (and, for public outputs, ownership controls that
/// allow ACLs) match the spec.
pub async fn ensure_public_access(
    s3: &Client,
    bucket: &str,
    public_outputs: bool,
    custom_endpoint: bool,
) -> Result<Setting, Error> {
    let wanted = wanted_public_access_block(public_outputs);
    let current = match s3.get_public_access_block().bucket(bucket).send().await {
        Ok(out) => out.public_access_block_configuration().cloned(),
        Err(e) if error_code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => None,
        Err(e) if is_unsupported(custom_endpoint, &e) => return Ok(Setting::Unsupported),
        Err(e) => return Err(sdk_error(S3_ERROR, &format!("GetPublicAccessBlock {bucket}"), &e)),
    };
    let mut setting = Setting::Unchanged;
    if current.as_ref() != Some(&wanted) {
        match s3.put_public_access_block().bucket(bucket).public_access_block_configuration(wanted).send().await {
            Ok(_) => setting = Setting::Applied,
            Err(e) if is_unsupported(custom_endpoint, &e) => return Ok(Setting::Unsupported),
            Err(e) => return Err(sdk_error(S3_ERROR, &format!("PutPublicAccessBlock {bucket}"), &e)),
        }
    }
    if public_outputs {
        // Buckets made since 2023 have ACLs disabled (BucketOwnerEnforced); public-read needs them.
        let controls = OwnershipControls::builder()
            .rules(OwnershipControlsRule::builder().object_ownership(ObjectOwnership::BucketOwnerPreferred).build()?)
            .build()?;
        match s3.put_bucket_ownership_controls().bucket(bucket).ownership_controls(controls).send().await {
            Ok(_) => {}
            Err(e) if is_unsupported(custom_endpoint, &e) => return Ok(Setting::Unsupported),
            Err(e) => return Err(sdk_error(S3_ERROR, &format!("PutBucketOwnershipControls {bucket}"), &e)),
        }
    }
    Ok(setting)
}

/// IDs of the lifecycle rules the operator manages start with this.
pub const RULE_ID_PREFIX: &str = "remotion-delete-after-";

/// The lifecycle rules for `deleteAfter`: objects under `renders/` tagged
/// `remotion-delete-after=<n>-day(s)` expire after n days.
pub fn expiry_rules() -> Result<Vec<LifecycleRule>, Error> {
    DeleteAfter::ALL
        .iter()
        .map(|after| {
            let filter = LifecycleRuleAndOperator::builder()
                .prefix(RENDERS_PREFIX)
                .tags(Tag::builder().key(DELETE_AFTER_TAG).value(after.as_str()).build()?)
                .build();
            Ok(LifecycleRule::builder()
                .id(format!("{RULE_ID_PREFIX}{}", after.as_str()))
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().and(filter).build())
                .expiration(LifecycleExpiration::builder().days(after.days()).build())
                .build()?)
        })
        .collect()
}

fn is_ours(rule: &LifecycleRule) -> bool {
    rule.id().is_some_and(|id| id.starts_with(RULE_ID_PREFIX))
}

type RuleKey = (Option<String>, Option<i32>, Option<String>, Vec<(String, String)>);

/// What identifies one of our rules as stores echo them back (they may normalise the rest).
fn rule_key(rule: &LifecycleRule) -> RuleKey {
    let and = rule.filter().and_then(|f| f.and());
    let tags =
        and.map(|a| a.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()).unwrap_or_default();
    (
        rule.id().map(str::to_owned),
        rule.expiration().and_then(|e| e.days()),
        and.and_then(|a| a.prefix()).map(str::to_owned),
        tags,
    )
}

/// The bucket's rules after the change: others' rules kept, ours present iff `enabled`.
/// `None` when nothing changes.
pub fn merged_rules(current: &[LifecycleRule], enabled: bool, ours: Vec<LifecycleRule>) -> Option<Vec<LifecycleRule>> {
    let wanted: Vec<LifecycleRule> = if enabled { ours } else { Vec::new() };
    let mut have: Vec<_> = current.iter().filter(|r| is_ours(r)).map(rule_key).collect();
    let mut want: Vec<_> = wanted.iter().map(rule_key).collect();
    have.sort();
    want.sort();
    if have == want {
        return None;
    }
    let mut rules: Vec<LifecycleRule> = current.iter().filter(|r| !is_ours(r)).cloned().collect();
    rules.extend(wanted);
    Some(rules)
}

/// Makes the bucket's expiry rules match `enabled`, leaving other rules alone.
pub async fn ensure_expiry(s3: &Client, bucket: &str, enabled: bool, custom_endpoint: bool) -> Result<Setting, Error> {
    let current = match s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await {
        Ok(out) => out.rules().to_vec(),
        Err(e) if error_code(&e) == Some("NoSuchLifecycleConfiguration") => Vec::new(),
        Err(e) if is_unsupported(custom_endpoint, &e) => {
            return Ok(if enabled { Setting::Unsupported } else { Setting::Unchanged });
        }
        Err(e) => return Err(sdk_error(S3_ERROR, &format!("GetBucketLifecycleConfiguration {bucket}"), &e)),
    };
    let Some(rules) = merged_rules(&current, enabled, expiry_rules()?) else {
        return Ok(Setting::Unchanged);
    };
    let written = if rules.is_empty() {
        s3.delete_bucket_lifecycle().bucket(bucket).send().await.map(|_| ()).map_err(|e| {
            if is_unsupported(custom_endpoint, &e) {
                None
            } else {
                Some(sdk_error(S3_ERROR, "DeleteBucketLifecycle", &e))
            }
        })
    } else {
        let configuration = BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build()?;
        s3.put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(configuration)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                if is_unsupported(custom_endpoint, &e) {
                    None
                } else {
                    Some(sdk_error(S3_ERROR, "PutBucketLifecycleConfiguration", &e))
                }
            })
    };
    match written {
        Ok(()) => Ok(Setting::Applied),
        Err(None) => Ok(Setting::Unsupported),
        Err(Some(error)) => Err(error),
    }
}

/// Deletes every object of `bucket` — unfinished multipart uploads, current objects and, in
/// a bucket that was ever versioned, every old version and delete marker — then the bucket.
/// Returns how many objects (current objects and versions) were deleted. A missing bucket is
/// not an error.
pub async fn empty_and_delete(s3: &Client, bucket: &str) -> Result<usize, Error> {
    // Parts of unfinished uploads are invisible to listings but keep the bucket from being
    // deleted (and cost storage): abort them first.
    if !abort_multipart_uploads(s3, bucket).await? {
        return Ok(0);
    }
    let Some(mut deleted) = delete_current_objects(s3, bucket).await? else {
        return Ok(0);
    };
    match s3.delete_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(deleted),
        Err(e) if error_code(&e) == Some("NoSuchBucket") => return Ok(deleted),
        // Old versions or delete markers remain (versioning is or was enabled).
        Err(e) if error_code(&e) == Some("BucketNotEmpty") => {}
        Err(e) => return Err(sdk_error(S3_ERROR, &format!("DeleteBucket {bucket}"), &e)),
    }
    deleted += delete_versions(s3, bucket).await?;
    match s3.delete_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(deleted),
        Err(e) if error_code(&e) == Some("NoSuchBucket") => Ok(deleted),
        Err(e) => Err(sdk_error(S3_ERROR, &format!("DeleteBucket {bucket}"), &e)),
    }
}

/// Aborts every unfinished multipart upload. `false`: the bucket does not exist.
async fn abort_multipart_uploads(s3: &Client, bucket: &str) -> Result<bool, Error> {
    loop {
        // From the start each round: aborted uploads drop out of the listing.
        let page = match s3.list_multipart_uploads().bucket(bucket).max_uploads(1000).send().await {
            Ok(page) => page,
            Err(e) if error_code(&e) == Some("NoSuchBucket") => return Ok(false),
            Err(e) => return Err(sdk_error(S3_ERROR, &format!("ListMultipartUploads {bucket}"), &e)),
        };
        let uploads = page.uploads();
        if uploads.is_empty() {
            return Ok(true);
        }
        for upload in uploads {
            let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else { continue };
            match s3.abort_multipart_upload().bucket(bucket).key(key).upload_id(id).send().await {
                Ok(_) => {}
                // Completed or aborted meanwhile.
                Err(e) if error_code(&e) == Some("NoSuchUpload") => {}
                Err(e) => return Err(sdk_error(S3_ERROR, &format!("AbortMultipartUpload {bucket}/{key}"), &e)),
            }
        }
    }
}

/// Deletes the current objects, 1,000 a call. `None`: the bucket does not exist.
async fn delete_current_objects(s3: &Client, bucket: &str) -> Result<Option<usize>, Error> {
    let mut deleted = 0;
    loop {
        // Listing from the start each round: deleted keys drop out of the listing.
        let page = match s3.list_objects_v2().bucket(bucket).max_keys(1000).send().await {
            Ok(page) => page,
            Err(e) if error_code(&e) == Some("NoSuchBucket") => return Ok(None),
            Err(e) => return Err(sdk_error(S3_ERROR, &format!("ListObjectsV2 {bucket}"), &e)),
        };
        let keys: Vec<ObjectIdentifier> = page
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<_, _>>()?;
        if keys.is_empty() {
            return Ok(Some(deleted));
        }
        deleted += delete_batch(s3, bucket, keys).await?;
    }
}

/// Deletes every object version and delete marker. One DeleteObject call per version, 16 at
/// a time: a version in a DeleteObjects batch needs the same permission but is invisible to
/// the IAM policy test, and versioned Remotion buckets are the exception.
async fn delete_versions(s3: &Client, bucket: &str) -> Result<usize, Error> {
    let mut deleted = 0;
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(1000)
            .send()
            .await
            .map_err(|e| sdk_error(S3_ERROR, &format!("ListObjectVersions {bucket}"), &e))?;
        let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
        let targets: Vec<(String, Option<String>)> = versions
            .chain(markers)
            .filter_map(|(key, version)| Some((key?.to_owned(), version.map(str::to_owned))))
            .collect();
        if targets.is_empty() {
            return Ok(deleted);
        }
        let count = targets.len();
        futures::stream::iter(targets)
            .map(|(key, version)| async move {
                s3.delete_object()
                    .bucket(bucket)
                    .key(&key)
                    .set_version_id(version)
                    .send()
                    .await
                    .map_err(|e| sdk_error(S3_ERROR, &format!("DeleteObject {bucket}/{key} (a version)"), &e))
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
        deleted += count;
    }
}

/// One DeleteObjects call; any per-key failure is an error naming the key.
async fn delete_batch(s3: &Client, bucket: &str, objects: Vec<ObjectIdentifier>) -> Result<usize, Error> {
    let count = objects.len();
    let out = s3
        .delete_objects()
        .bucket(bucket)
        .delete(Delete::builder().set_objects(Some(objects)).quiet(true).build()?)
        .send()
        .await
        .map_err(|e| sdk_error(S3_ERROR, &format!("DeleteObjects {bucket}"), &e))?;
    if let Some(failed) = out.errors().first() {
        return Err(Error::new(
            S3_ERROR,
            format!(
                "deleting {} from {bucket}: {}",
                foreign::one_line(failed.key().unwrap_or_default(), foreign::MAX_MESSAGE_CHARS),
                foreign::one_line(failed.message().or(failed.code()).unwrap_or("failed"), foreign::MAX_MESSAGE_CHARS)
            ),
        ));
    }
    Ok(count)
}

impl From<aws_sdk_s3::error::BuildError> for Error {
    fn from(error: aws_sdk_s3::error::BuildError) -> Self {
        Error::caused_by(Reason::InternalError, "building an S3 request", error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_apis_are_tolerated_only_on_compatible_stores() {
        // SeaweedFS-style answers on a custom endpoint.
        assert!(unsupported_by_store(true, Some("NotImplemented"), Some(501)));
        assert!(unsupported_by_store(true, None, Some(501)));
        // The same answer from AWS is an error.
        assert!(!unsupported_by_store(false, Some("NotImplemented"), Some(501)));
        // Real errors on a compatible store stay errors.
        assert!(!unsupported_by_store(true, Some("AccessDenied"), Some(403)));
    }

    #[test]
    fn public_access_is_blocked_unless_outputs_are_public() {
        let private = wanted_public_access_block(false);
        assert_eq!(private.block_public_acls(), Some(true));
        assert_eq!(private.ignore_public_acls(), Some(true));
        assert_eq!(private.block_public_policy(), Some(true));
        assert_eq!(private.restrict_public_buckets(), Some(true));
        let public = wanted_public_access_block(true);
        assert_eq!(public.block_public_acls(), Some(false));
        assert_eq!(public.block_public_policy(), Some(true));
    }

    #[test]
    fn expiry_rules_are_merged_with_other_rules() {
        let ours = expiry_rules().unwrap();
        assert_eq!(ours.len(), 4);
        assert_eq!(ours[0].expiration().and_then(|e| e.days()), Some(1));
        let foreign = LifecycleRule::builder().id("keep-me").status(ExpirationStatus::Enabled).build().unwrap();
        let merged = merged_rules(std::slice::from_ref(&foreign), true, ours.clone()).unwrap();
        assert_eq!(merged.len(), 5);
        assert_eq!(merged[0].id(), Some("keep-me"));
        // Already there: nothing to write.
        assert!(merged_rules(&merged, true, ours.clone()).is_none());
        // Disabled: ours go, the foreign rule stays.
        let disabled = merged_rules(&merged, false, ours.clone()).unwrap();
        assert_eq!(disabled, vec![foreign.clone()]);
        assert!(merged_rules(std::slice::from_ref(&foreign), false, ours).is_none());
    }
}
