//! The render bucket, through the function's own credentials (the Lambda role, or the
//! environment locally; `AWS_ENDPOINT_URL_S3` points at S3-compatible stores).

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::error::RenderError;

/// An S3 client for the function: connect timeout 5 s, each attempt 120 s, SDK retries (3).
pub async fn client() -> aws_sdk_s3::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
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
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| storage(format!("writing s3://{bucket}/{key}"), e))?;
    Ok(())
}
