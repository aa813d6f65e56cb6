//! Incremental upload of an unpacked site to `sites/<namespace>/<siteName>/` of a bucket, whose
//! owner marker ([`super::owner`]) the caller has checked.
//!
//! **What counts as unchanged.** Every object we write carries its SHA-256 in the metadata
//! `x-amz-meta-sha256`, and is written in one PUT, so S3 reports the MD5 of its content as its
//! ETag (unless the bucket encrypts with SSE-KMS, where the ETag is opaque). A file is
//! unchanged when the object's size matches and its ETag is the file's MD5 — decided from the
//! listing alone, no request per file. When the size matches but the ETag does not (SSE-KMS,
//! or an object another tool wrote in parts), one HEAD compares the `sha256` metadata. Anything
//! else is uploaded. Objects under the prefix that the site does not have are deleted, but for
//! the folder's owner marker.
//!
//! **Order.** Changed files first, `index.html` after them, stale files last: a renderer that
//! loads the site mid-sync sees the old entry page with the old files, or the new one with the
//! new files present.
//!
//! Every S3 call has a timeout (uploads get more time the larger they are) on top of the SDK's
//! own retries of transient failures; at most `concurrency` calls run at once.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures::{StreamExt, TryStreamExt};
use remotion_crds::Reason;
use remotion_protocol::keys::{self, SiteFolder};
use sha2::{Digest, Sha256};

use super::archive::{SiteFile, UnpackedSite};
use super::content_type::{CACHE_CONTROL, content_type};
use crate::tenancy::foreign;

/// Metadata key (without `x-amz-meta-`) holding a file's SHA-256.
pub const SHA256_METADATA: &str = "sha256";
/// The file uploaded last.
const ENTRY_PAGE: &str = keys::SITE_INDEX;
/// Most keys one DeleteObjects call takes.
const DELETE_BATCH: usize = 1000;

/// How the sync talks to S3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncOptions {
    /// Most S3 calls in flight.
    pub concurrency: usize,
    /// Timeout of a call that moves no file body (list, head, delete), and the base of an
    /// upload's timeout.
    pub call_timeout: Duration,
    /// Slowest upload rate tolerated, bytes/s: an upload of `n` bytes may take
    /// `call_timeout + n / min_upload_rate`.
    pub min_upload_rate: u64,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self { concurrency: 16, call_timeout: Duration::from_secs(30), min_upload_rate: 256 * 1024 }
    }
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Files in the site.
    pub files: u64,
    /// Bytes in the site.
    pub bytes: u64,
    /// Files uploaded.
    pub uploaded: u64,
    /// Stale objects deleted.
    pub deleted: u64,
    /// Files already up to date.
    pub unchanged: u64,
    /// [`content_hash`] of the site.
    pub content_hash: String,
}

/// An S3 call failed (after the SDK's retries) or timed out.
#[derive(Debug, thiserror::Error)]
#[error("{operation} in s3://{bucket}/{key}: {message}")]
pub struct SyncError {
    /// What was being done (`listing`, `uploading`, …).
    pub operation: &'static str,
    /// Bucket.
    pub bucket: String,
    /// Key or prefix.
    pub key: String,
    /// The error with its context.
    pub message: String,
    /// The error code S3 answered with, if it answered.
    pub code: Option<String>,
}

impl SyncError {
    /// Whether S3 said the bucket does not exist.
    pub fn is_missing_bucket(&self) -> bool {
        self.code.as_deref() == Some("NoSuchBucket")
    }

    /// One CamelCase word for conditions and events.
    pub fn reason(&self) -> Reason {
        Reason::S3SyncFailed
    }
}

/// SHA-256 over the sorted paths and content digests of a site's files: the same for the same
/// files whatever order they were listed or archived in, different when any path or byte
/// changes.
pub fn content_hash(files: &[SiteFile]) -> String {
    let mut entries: Vec<(&str, &[u8; 32])> = files.iter().map(|f| (f.path.as_str(), &f.sha256)).collect();
    entries.sort_unstable();
    let mut hasher = Sha256::new();
    for (path, digest) in entries {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(hex::encode(digest).as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// An object found under the site's prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteObject {
    /// Full key.
    pub key: String,
    /// Size, bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
}

/// What to do with each file and object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncPlan {
    /// Indexes of files whose object matches (by ETag).
    pub unchanged: Vec<usize>,
    /// Indexes of files whose object has the right size but an ETag that is not an MD5 we can
    /// compare: a HEAD decides.
    pub check: Vec<usize>,
    /// Indexes of files to upload.
    pub upload: Vec<usize>,
    /// Keys of objects the site no longer has.
    pub delete: Vec<String>,
}

/// Compares the local files with the objects under `prefix`, the folder's owner marker aside.
pub fn plan(prefix: &str, files: &[SiteFile], remote: &[RemoteObject]) -> SyncPlan {
    let marker = format!("{prefix}{}", keys::SITE_OWNER_FILE);
    let remote: Vec<&RemoteObject> = remote.iter().filter(|o| o.key != marker).collect();
    let by_path: HashMap<&str, &RemoteObject> =
        remote.iter().filter_map(|o| o.key.strip_prefix(prefix).map(|path| (path, *o))).collect();
    let mut plan = SyncPlan::default();
    for (index, file) in files.iter().enumerate() {
        match by_path.get(file.path.as_str()) {
            Some(object) if object.size == file.size && object.etag.eq_ignore_ascii_case(&hex::encode(file.md5)) => {
                plan.unchanged.push(index)
            }
            Some(object) if object.size == file.size => plan.check.push(index),
            _ => plan.upload.push(index),
        }
    }
    let wanted: std::collections::HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    plan.delete = remote
        .iter()
        .filter(|o| o.key.strip_prefix(prefix).is_none_or(|path| !wanted.contains(path)))
        .map(|o| o.key.clone())
        .collect();
    plan
}

/// Makes `sites/<namespace>/<site>/` of `bucket` hold exactly the files of `unpacked` (and its
/// owner marker).
pub async fn sync(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    site: &SiteFolder,
    unpacked: &UnpackedSite,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let prefix = keys::site_prefix(site);
    let remote = list(client, bucket, &prefix, options).await?;
    let mut plan = plan(&prefix, &unpacked.files, &remote);
    let prefix = prefix.as_str();

    // Size matches, ETag is not comparable: ask for the digest we stored.
    let checks = futures::stream::iter(plan.check.iter().copied())
        .map(|index| {
            let file = &unpacked.files[index];
            async move {
                let stored = stored_sha256(client, bucket, &format!("{prefix}{}", file.path), options).await?;
                Ok::<_, SyncError>((index, stored.is_some_and(|s| s.eq_ignore_ascii_case(&hex::encode(file.sha256)))))
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await?;
    for (index, same) in checks {
        if same { plan.unchanged.push(index) } else { plan.upload.push(index) }
    }

    let (entry_page, others): (Vec<usize>, Vec<usize>) =
        plan.upload.iter().copied().partition(|i| unpacked.files[*i].path == ENTRY_PAGE);
    for batch in [others, entry_page] {
        futures::stream::iter(batch)
            .map(|index| upload(client, bucket, prefix, &unpacked.root, &unpacked.files[index], options))
            .buffer_unordered(options.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
    }
    let deleted = delete_keys(client, bucket, &plan.delete, options).await?;

    Ok(SyncReport {
        files: unpacked.files.len() as u64,
        bytes: unpacked.total_bytes(),
        uploaded: plan.upload.len() as u64,
        deleted,
        unchanged: plan.unchanged.len() as u64,
        content_hash: content_hash(&unpacked.files),
    })
}

/// Deletes every object of the site's folder (the finalizer of a site), its owner marker last:
/// a cleanup cut short leaves the folder claimed. Returns how many.
pub async fn delete_folder(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    site: &SiteFolder,
    options: &SyncOptions,
) -> Result<u64, SyncError> {
    let marker = keys::site_owner(site);
    let (markers, files): (Vec<String>, Vec<String>) = list(client, bucket, &keys::site_prefix(site), options)
        .await?
        .into_iter()
        .map(|o| o.key)
        .partition(|k| *k == marker);
    Ok(delete_keys(client, bucket, &files, options).await? + delete_keys(client, bucket, &markers, options).await?)
}

pub(super) fn sync_error(operation: &'static str, bucket: &str, key: &str) -> impl Fn(String) -> SyncError {
    move |message| SyncError { operation, bucket: bucket.to_owned(), key: key.to_owned(), message, code: None }
}

pub(super) fn sdk_message(e: impl std::error::Error + 'static) -> String {
    foreign::one_line(&aws_sdk_s3::error::DisplayErrorContext(e).to_string(), foreign::MAX_MESSAGE_CHARS)
}

/// Runs `call` with a timeout, turning both failures into a [`SyncError`].
pub(super) async fn timed<T, E: ProvideErrorMetadata + std::error::Error + 'static>(
    timeout: Duration,
    error: impl Fn(String) -> SyncError,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, SyncError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            let code = e.code().map(str::to_owned);
            Err(SyncError { code, ..error(sdk_message(e)) })
        }
        Err(_) => Err(error(format!("timed out after {} s", timeout.as_secs()))),
    }
}

/// Every object under `prefix`.
pub async fn list(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    options: &SyncOptions,
) -> Result<Vec<RemoteObject>, SyncError> {
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let request = client.list_objects_v2().bucket(bucket).prefix(prefix).set_continuation_token(token.take());
        let page = timed(options.call_timeout, sync_error("listing", bucket, prefix), request.send()).await?;
        objects.extend(page.contents().iter().filter_map(|o| {
            Some(RemoteObject {
                key: o.key()?.to_owned(),
                size: o.size().unwrap_or_default().max(0) as u64,
                etag: o.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
            })
        }));
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
            _ => return Ok(objects),
        }
    }
}

async fn stored_sha256(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    options: &SyncOptions,
) -> Result<Option<String>, SyncError> {
    let head = client.head_object().bucket(bucket).key(key).send();
    let head = timed(options.call_timeout, sync_error("reading the metadata of", bucket, key), head).await?;
    Ok(head.metadata().and_then(|m| m.get(SHA256_METADATA)).cloned())
}

async fn upload(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    root: &Path,
    file: &SiteFile,
    options: &SyncOptions,
) -> Result<(), SyncError> {
    let key = format!("{prefix}{}", file.path);
    let error = sync_error("uploading", bucket, &key);
    let body = ByteStream::from_path(root.join(&file.path)).await.map_err(|e| error(e.to_string()))?;
    let put = client
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(body)
        .content_length(file.size as i64)
        .content_type(content_type(&file.path))
        .cache_control(CACHE_CONTROL)
        .metadata(SHA256_METADATA, hex::encode(file.sha256))
        .send();
    let timeout = options.call_timeout + Duration::from_secs(file.size / options.min_upload_rate.max(1));
    timed(timeout, error, put).await?;
    Ok(())
}

async fn delete_keys(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &[String],
    options: &SyncOptions,
) -> Result<u64, SyncError> {
    let mut deleted = 0;
    for batch in keys.chunks(DELETE_BATCH) {
        let error = sync_error("deleting", bucket, &batch[0]);
        let objects = batch
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| error(e.to_string()))?;
        let delete =
            Delete::builder().set_objects(Some(objects)).quiet(true).build().map_err(|e| error(e.to_string()))?;
        let call = client.delete_objects().bucket(bucket).delete(delete).send();
        let output = timed(options.call_timeout, &error, call).await?;
        if let Some(failed) = output.errors().first() {
            return Err(SyncError {
                operation: "deleting",
                bucket: bucket.to_owned(),
                key: failed.key().unwrap_or_default().to_owned(),
                message: format!(
                    "{} of {} deletions failed, first: {} {}",
                    output.errors().len(),
                    batch.len(),
                    foreign::error_code(failed.code().unwrap_or_default()),
                    foreign::one_line(failed.message().unwrap_or_default(), foreign::MAX_MESSAGE_CHARS)
                ),
                code: failed.code().map(str::to_owned),
            });
        }
        deleted += batch.len() as u64;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &[u8]) -> SiteFile {
        use md5::Md5;
        SiteFile {
            path: path.to_owned(),
            size: content.len() as u64,
            sha256: Sha256::digest(content).into(),
            md5: Md5::digest(content).into(),
        }
    }

    fn object(key: &str, content: &[u8]) -> RemoteObject {
        use md5::Md5;
        RemoteObject { key: key.to_owned(), size: content.len() as u64, etag: hex::encode(Md5::digest(content)) }
    }

    #[test]
    fn the_content_hash_ignores_order_and_sees_every_change() {
        let a = file("index.html", b"<html>");
        let b = file("bundle.js", b"js");
        let hash = content_hash(&[a.clone(), b.clone()]);
        assert_eq!(hash, content_hash(&[b.clone(), a.clone()]));
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, content_hash(&[a.clone(), file("bundle.js", b"js2")]));
        assert_ne!(hash, content_hash(&[a.clone(), file("bundle2.js", b"js")]));
        assert_ne!(hash, content_hash(&[a]));
    }

    #[test]
    fn the_plan_uploads_changes_keeps_matches_and_deletes_the_rest() {
        let prefix = "sites/s/";
        let files = vec![
            file("index.html", b"the new index"),
            file("bundle.js", b"same"),
            file("public/new.png", b"png"),
            file("kms.js", b"encrypted"),
        ];
        let remote = vec![
            object("sites/s/index.html", b"old index"),
            object("sites/s/bundle.js", b"same"),
            object("sites/s/stale.js", b"gone"),
            RemoteObject { key: "sites/s/kms.js".into(), size: 9, etag: "0123456789abcdef0123456789abcdef".into() },
            object("sites/s/.remotion-operator-owner.json", b"{}"),
        ];
        let plan = plan(prefix, &files, &remote);
        assert_eq!(plan.unchanged, vec![1]);
        assert_eq!(plan.upload, vec![0, 2]);
        assert_eq!(plan.check, vec![3]);
        // The owner marker is no file of the site, and never stale.
        assert_eq!(plan.delete, vec!["sites/s/stale.js".to_owned()]);
    }

    #[test]
    fn a_same_size_file_with_other_content_is_checked_not_trusted() {
        let plan = plan("p/", &[file("a", b"aaaa")], &[object("p/a", b"bbbb")]);
        assert_eq!(plan.check, vec![0]);
        assert!(plan.unchanged.is_empty());
    }
}
