//! The render bucket, through the function's own credentials (the Lambda role, or the
//! environment locally; `AWS_ENDPOINT_URL_S3` points at S3-compatible stores), and a job's own
//! output store with the keys its payload carries.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::primitives::ByteStream;
use remotion_protocol::output::{OutputStore, RENDER_ID_METADATA, StorageClass};

use crate::error::RenderError;

/// Attempts of one S3 call. S3 answers `SlowDown` and `InternalError` now and then, and
/// connections break; a render makes hundreds of calls, many of which end it when they fail
/// (a stage's progress document, a chunk, the output). The SDK's standard retries back off
/// exponentially with full jitter and stop early when most calls are failing (its retry quota).
const S3_ATTEMPTS: u32 = 5;

/// An S3 client for the function: connect timeout 5 s, each attempt 120 s, [`S3_ATTEMPTS`]
/// attempts per call.
pub async fn client() -> aws_sdk_s3::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(S3_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(120))
                .build(),
        )
        .load()
        .await;
    // Custom endpoints (S3-compatible stores) are addressed path-style.
    let path_style =
        std::env::var_os("AWS_ENDPOINT_URL_S3").is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(path_style).build())
}

fn storage(context: String, e: impl std::error::Error) -> RenderError {
    RenderError::Storage(format!("{context}: {}", aws_sdk_s3::error::DisplayErrorContext(e)))
}

/// Reads an object; `None` when it does not exist.
pub async fn get(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, RenderError> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let body = out.body.collect().await.map_err(|e| storage(format!("reading s3://{bucket}/{key}"), e))?;
            Ok(Some(body.into_bytes().to_vec()))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) => Err(storage(format!("reading s3://{bucket}/{key}"), e)),
    }
}

/// Writes an object.
pub async fn put(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Result<(), RenderError> {
    let options = UploadOptions { content_type: content_type.to_owned(), ..Default::default() };
    put_with(client, bucket, key, body, &options).await
}

/// Writes an object with the privacy and expiry tag of an output (not its conditional write,
/// headers or metadata: see [`upload_file`] for the output itself).
pub async fn put_with(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    options: &UploadOptions,
) -> Result<(), RenderError> {
    let acl = options.public_read.then_some(aws_sdk_s3::types::ObjectCannedAcl::PublicRead);
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(&options.content_type)
        .set_acl(acl)
        .set_tagging(options.tagging.clone())
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| storage(format!("writing s3://{bucket}/{key}"), e))?;
    Ok(())
}

/// What a [`create`] came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// The object is the one this caller wrote.
    Mine,
    /// Someone else wrote the object first; it was left alone.
    Theirs,
}

/// Object metadata naming who created an object with [`create`].
const CREATOR: &str = "creator";

/// Writes an object only if none is at `key` (`If-None-Match: *`, atomic in the store): of
/// callers racing to create it, exactly one gets [`Created::Mine`]. The object records
/// `creator`, the caller's own token, so that a write the SDK sent again (its first answer
/// lost, the object created all the same) is still known as the caller's.
pub async fn create(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
    creator: &str,
) -> Result<Created, RenderError> {
    let sent = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .metadata(CREATOR, creator)
        .if_none_match("*")
        .body(ByteStream::from(body))
        .send()
        .await;
    match sent {
        Ok(_) => Ok(Created::Mine),
        // 412: the object exists. 409: a write of it was under way at the same moment.
        Err(e) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) => {
            let head = match client.head_object().bucket(bucket).key(key).send().await {
                Ok(head) => head,
                // Not there (yet): the write under way is another caller's.
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => return Ok(Created::Theirs),
                Err(e) => return Err(storage(format!("checking who created s3://{bucket}/{key}"), e)),
            };
            let mine = head.metadata().and_then(|m| m.get(CREATOR)).is_some_and(|c| c == creator);
            Ok(if mine { Created::Mine } else { Created::Theirs })
        }
        Err(e) => Err(storage(format!("creating s3://{bucket}/{key}"), e)),
    }
}

/// Whether an object exists.
pub async fn exists(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<bool, RenderError> {
    match client.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
        // Some stores answer a HEAD of a missing key with a bare 404 the SDK cannot classify.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
        Err(e) => Err(storage(format!("checking s3://{bucket}/{key}"), e)),
    }
}

/// The size of an object, bytes; `None` when it does not exist.
pub async fn size(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Option<u64>, RenderError> {
    match client.head_object().bucket(bucket).key(key).send().await {
        Ok(head) => Ok(Some(head.content_length().unwrap_or(0).max(0) as u64)),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
        Err(e) => Err(storage(format!("checking s3://{bucket}/{key}"), e)),
    }
}

/// Downloads an object to a file, streaming.
pub async fn download(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &std::path::Path,
) -> Result<u64, RenderError> {
    use tokio::io::AsyncWriteExt;
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| storage(format!("reading s3://{bucket}/{key}"), e))?;
    let mut body = out.body;
    let mut file =
        tokio::fs::File::create(path).await.map_err(|e| RenderError::io(format!("creating {}", path.display()), e))?;
    let mut written = 0u64;
    while let Some(bytes) =
        body.try_next().await.map_err(|e| RenderError::Storage(format!("reading s3://{bucket}/{key}: {e}")))?
    {
        written += bytes.len() as u64;
        file.write_all(&bytes).await.map_err(|e| RenderError::io(format!("writing {}", path.display()), e))?;
    }
    file.flush().await.map_err(|e| RenderError::io(format!("writing {}", path.display()), e))?;
    Ok(written)
}

/// Deletes objects by key, 1000 per request (S3's batch limit).
pub async fn delete_keys(client: &aws_sdk_s3::Client, bucket: &str, keys: &[String]) -> Result<(), RenderError> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    for batch in keys.chunks(1000) {
        let objects = batch
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RenderError::Storage(format!("building a delete request: {e}")))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| RenderError::Storage(format!("building a delete request: {e}")))?;
        let out = client
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| storage(format!("deleting {} objects in s3://{bucket}", batch.len()), e))?;
        if let Some(error) = out.errors().first() {
            return Err(RenderError::Storage(format!(
                "deleting s3://{bucket}/{}: {}",
                error.key().unwrap_or("?"),
                error.message().unwrap_or("unknown error")
            )));
        }
    }
    Ok(())
}

/// Keys under a prefix (all pages).
pub async fn list_keys(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>, RenderError> {
    let mut keys = Vec::new();
    let mut pages = client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| storage(format!("listing s3://{bucket}/{prefix}"), e))?;
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
    }
    Ok(keys)
}

/// Options of an uploaded output.
#[derive(Clone, Debug, Default)]
pub struct UploadOptions {
    /// Content-Type.
    pub content_type: String,
    /// Grant public read (the render asked for a public output).
    pub public_read: bool,
    /// Object tags, URL-encoded `k=v&k2=v2`.
    pub tagging: Option<String>,
    /// Write only if no object is at the key (`If-None-Match: *`), as the writer this token
    /// names ([`RENDER_ID_METADATA`]): a retried write the store had carried out is the
    /// writer's own, any other object at the key fails the upload with
    /// [`RenderError::OutputExists`].
    pub only_new: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// Storage class.
    pub storage_class: Option<StorageClass>,
    /// User metadata (`x-amz-meta-*`).
    pub metadata: HashMap<String, String>,
}

impl UploadOptions {
    /// The user metadata sent: the caller's, and the writer's token when the write is
    /// conditional.
    fn metadata(&self) -> Option<HashMap<String, String>> {
        let mut metadata = self.metadata.clone();
        if let Some(token) = &self.only_new {
            metadata.insert(RENDER_ID_METADATA.to_owned(), token.clone());
        }
        (!metadata.is_empty()).then_some(metadata)
    }

    fn storage_class(&self) -> Option<aws_sdk_s3::types::StorageClass> {
        self.storage_class.map(|c| aws_sdk_s3::types::StorageClass::from(c.as_str()))
    }
}

/// What a conditional write that found the key taken comes to: the object is the writer's own
/// (a retried write the store had carried out), or the upload fails.
async fn taken(client: &aws_sdk_s3::Client, bucket: &str, key: &str, token: &str) -> Result<(), RenderError> {
    let head = match client.head_object().bucket(bucket).key(key).send().await {
        Ok(head) => head,
        // A write of the key was under way (409) and is gone again: someone else's all the same.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
            return Err(RenderError::OutputExists { bucket: bucket.into(), key: key.into() });
        }
        Err(e) => return Err(storage(format!("checking who wrote s3://{bucket}/{key}"), e)),
    };
    match head.metadata().and_then(|m| m.get(RENDER_ID_METADATA)) {
        Some(writer) if writer == token => Ok(()),
        _ => Err(RenderError::OutputExists { bucket: bucket.into(), key: key.into() }),
    }
}

/// Whether an S3 error is a failed `If-None-Match` (412) or a concurrent write of the key (409).
fn is_precondition_failed<E>(error: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
    error.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 409 | 412))
}

/// A client of an S3-compatible store outside the function's account, with the store's own
/// keys and the same retries and timeouts as [`client`].
pub fn store_client(store: &OutputStore) -> aws_sdk_s3::Client {
    let credentials = aws_sdk_s3::config::Credentials::new(
        store.access_key_id.clone(),
        store.secret_access_key.clone(),
        store.session_token.clone(),
        None,
        "remotion-output-store",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(store.region.clone()))
        .endpoint_url(&store.endpoint)
        .force_path_style(store.force_path_style)
        .credentials_provider(credentials)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(S3_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(120))
                .build(),
        )
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Parts of a multipart upload: S3 allows at most 10,000 parts of at least 5 MiB.
const PART_BYTES: u64 = 16 * 1024 * 1024;

/// Uploads a file; files above one part go up as a multipart upload read part by part from
/// disk, so memory stays at one part whatever the output's size. A failed multipart upload is
/// aborted so no parts are left billed in the bucket.
pub async fn upload_file(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &std::path::Path,
    options: &UploadOptions,
) -> Result<u64, RenderError> {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ObjectCannedAcl};
    let size =
        tokio::fs::metadata(path).await.map_err(|e| RenderError::io(format!("reading {}", path.display()), e))?.len();
    let acl = options.public_read.then_some(ObjectCannedAcl::PublicRead);
    if size <= PART_BYTES {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| RenderError::Storage(format!("reading {}: {e}", path.display())))?;
        let sent = client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(&options.content_type)
            .set_acl(acl)
            .set_tagging(options.tagging.clone())
            .set_content_disposition(options.content_disposition.clone())
            .set_storage_class(options.storage_class())
            .set_metadata(options.metadata())
            .set_if_none_match(options.only_new.as_ref().map(|_| "*".to_owned()))
            .body(body)
            .send()
            .await;
        return match (sent, &options.only_new) {
            (Ok(_), _) => Ok(size),
            (Err(e), Some(token)) if is_precondition_failed(&e) => {
                taken(client, bucket, key, token).await.map(|()| size)
            }
            (Err(e), _) => Err(storage(format!("writing s3://{bucket}/{key}"), e)),
        };
    }
    // Refused early: parts of an output that may not land are not worth uploading.
    if let Some(token) = &options.only_new
        && exists(client, bucket, key).await?
    {
        taken(client, bucket, key, token).await?;
        return Ok(size);
    }
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type(&options.content_type)
        .set_acl(acl)
        .set_tagging(options.tagging.clone())
        .set_content_disposition(options.content_disposition.clone())
        .set_storage_class(options.storage_class())
        .set_metadata(options.metadata())
        .send()
        .await
        .map_err(|e| storage(format!("starting the upload of s3://{bucket}/{key}"), e))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| RenderError::Storage(format!("s3://{bucket}/{key}: the store returned no upload id")))?
        .to_owned();
    let result = async {
        let mut parts = Vec::new();
        let mut offset = 0u64;
        let mut number = 1i32;
        while offset < size {
            let length = PART_BYTES.min(size - offset);
            let body = ByteStream::read_from()
                .path(path)
                .offset(offset)
                .length(aws_sdk_s3::primitives::Length::Exact(length))
                .build()
                .await
                .map_err(|e| RenderError::Storage(format!("reading {}: {e}", path.display())))?;
            let part = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(number)
                .body(body)
                .send()
                .await
                .map_err(|e| storage(format!("uploading part {number} of s3://{bucket}/{key}"), e))?;
            parts.push(CompletedPart::builder().part_number(number).set_e_tag(part.e_tag().map(str::to_owned)).build());
            offset += length;
            number += 1;
        }
        // The completion is the write: conditional as a single PUT would be.
        let completed = client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .set_if_none_match(options.only_new.as_ref().map(|_| "*".to_owned()))
            .send()
            .await;
        match (completed, &options.only_new) {
            (Ok(_), _) => Ok(size),
            (Err(e), Some(token)) if is_precondition_failed(&e) => {
                taken(client, bucket, key, token).await.map(|()| size)
            }
            (Err(e), _) => Err(storage(format!("completing the upload of s3://{bucket}/{key}"), e)),
        }
    }
    .await;
    if result.is_err() {
        let _ = client.abort_multipart_upload().bucket(bucket).key(key).upload_id(&upload_id).send().await;
    }
    result
}

/// A client of a test's own S3 server at `endpoint`: no retries (a test's scripted answer is
/// meant to be seen as is), fixed credentials.
#[cfg(test)]
pub(crate) fn test_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .credentials_provider(aws_sdk_s3::config::Credentials::new("k", "s", None, None, "test"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A test's own S3 server: every request is answered by `answer(method, path)` with a status and
/// a body (sent for any method but HEAD), and counted in `requests`. Returns a client of it.
#[cfg(test)]
pub(crate) async fn test_store(
    answer: impl Fn(&str, &str) -> (u16, String) + Send + Sync + 'static,
    requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> aws_sdk_s3::Client {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding a test store");
    let port = listener.local_addr().expect("the test store's address").port();
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (answer, requests) = (answer.clone(), requests.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let head = String::from_utf8_lossy(&head).into_owned();
                let mut words = head.split_whitespace();
                let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                let (status, body) = answer(method, path.split('?').next().unwrap_or(""));
                let sent = if method == "HEAD" { "" } else { body.as_str() };
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{sent}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    test_client(&format!("http://127.0.0.1:{port}"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    use super::*;

    /// An empty output: the test store answers after the request head and reads no body, so a
    /// body could race its answer.
    fn output_file() -> tempfile::NamedTempFile {
        tempfile::NamedTempFile::new().unwrap()
    }

    #[tokio::test]
    async fn an_output_that_may_not_replace_a_taken_key_fails_naming_it() {
        // The store refuses the conditional PUT (412); the object there names no writer.
        let requests = Arc::new(AtomicU64::new(0));
        let store = test_store(
            |method, _| match method {
                "PUT" => (412, "<Error><Code>PreconditionFailed</Code></Error>".into()),
                _ => (200, String::new()),
            },
            requests.clone(),
        )
        .await;
        let options = UploadOptions { only_new: Some("r1".into()), ..UploadOptions::default() };
        let file = output_file();
        let error = upload_file(&store, "b", "videos/out.mp4", file.path(), &options).await.unwrap_err();
        assert!(
            matches!(&error, RenderError::OutputExists { bucket, key } if bucket == "b" && key == "videos/out.mp4"),
            "{error:?}"
        );
        assert!(error.to_string().contains("s3://b/videos/out.mp4 already exists"), "{error}");
        // The PUT, then the HEAD asking who wrote the object.
        assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_output_allowed_to_replace_is_written_unconditionally() {
        let requests = Arc::new(AtomicU64::new(0));
        let store = test_store(|_, _| (200, String::new()), requests.clone()).await;
        let file = output_file();
        let size = upload_file(&store, "b", "k", file.path(), &UploadOptions::default()).await.unwrap();
        assert_eq!(size, 0);
        assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
