//! The render's objects in its bucket: the progress document, the cost profile, offloaded
//! props, the cancel signal, and the output's URL.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use remotion_protocol::chunking::CostProfile;
use remotion_protocol::media::{DELETE_AFTER_TAG, DeleteAfter};
use remotion_protocol::progress::ProgressDocument;

use crate::aws::{describe, sdk_error};
use crate::reconcile::Error;
use remotion_crds::Reason;

/// Reason of S3 failures of this controller.
const KIND: Reason = Reason::S3Unavailable;

/// Reads a JSON object, `None` when it does not exist.
async fn get_json<T: serde::de::DeserializeOwned>(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<T>, Error> {
    let object = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => object,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(sdk_error(KIND, &format!("reading s3://{bucket}/{key}"), &e)),
    };
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| Error::caused_by(KIND, format!("reading s3://{bucket}/{key}"), e))?
        .into_bytes();
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::caused_by(Reason::InvalidProgressDocument, format!("s3://{bucket}/{key} is not valid"), e))
}

/// The progress document, `None` before the function wrote one.
pub async fn progress(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Option<ProgressDocument>, Error> {
    get_json(s3, bucket, key).await
}

/// The cost profile, `None` when no earlier render left one (or it cannot be read: an estimate
/// is never worth holding a render back for).
pub async fn cost_profile(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<CostProfile> {
    match get_json::<CostProfile>(s3, bucket, key).await {
        Ok(profile) => profile,
        Err(error) => {
            tracing::info!(%error, key, "no usable cost profile; launching without an estimate");
            None
        }
    }
}

/// Writes an object the render owns, tagged for expiry like the render's other files.
pub async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
    delete_after: Option<DeleteAfter>,
) -> Result<(), Error> {
    let mut request = s3.put_object().bucket(bucket).key(key).content_type(content_type).body(ByteStream::from(body));
    if let Some(delete_after) = delete_after {
        request = request.tagging(format!("{DELETE_AFTER_TAG}={}", delete_after.as_str()));
    }
    request.send().await.map_err(|e| sdk_error(KIND, &format!("writing s3://{bucket}/{key}"), &e))?;
    Ok(())
}

/// A presigned GET URL of the output, valid `wanted` or until the signing credentials expire,
/// whichever comes first, and when it stops working. Temporary credentials (IRSA, an assumed
/// role, a session token) end a presigned URL when they expire, whatever the URL says.
pub async fn presigned_get(
    s3: &aws_sdk_s3::Client,
    credentials: Option<&SharedCredentialsProvider>,
    bucket: &str,
    key: &str,
    wanted: Duration,
) -> Result<(String, SystemTime), Error> {
    let now = SystemTime::now();
    // The provider caches: this is the identity the presigning below signs with.
    let credentials_expire = match credentials {
        Some(provider) => provider.provide_credentials().await.ok().and_then(|c| c.expiry()),
        None => None,
    };
    let valid_for = match credentials_expire {
        // At least a second: PresigningConfig refuses zero; such a URL is as good as expired.
        Some(expiry) => wanted.min(expiry.duration_since(now).unwrap_or_default()).max(Duration::from_secs(1)),
        None => wanted,
    };
    let config = PresigningConfig::expires_in(valid_for)
        .map_err(|e| Error::caused_by(Reason::InvalidPresignSeconds, "output.presignSeconds", e))?;
    let presigned = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .presigned(config)
        .await
        .map_err(|e| Error::new(KIND, format!("presigning s3://{bucket}/{key}: {}", describe(&e))))?;
    Ok((presigned.uri().to_owned(), now + valid_for))
}

/// The public URL of an object under the bucket's base URL (each key segment escaped).
pub fn public_url(bucket_url: &str, key: &str) -> String {
    let escaped: Vec<String> = key.split('/').map(escape_segment).collect();
    format!("{}/{}", bucket_url.trim_end_matches('/'), escaped.join("/"))
}

/// Percent-encodes everything but S3's unreserved characters.
fn escape_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

    use super::*;

    fn client(expiry: Option<SystemTime>) -> (aws_sdk_s3::Client, SharedCredentialsProvider) {
        let credentials =
            SharedCredentialsProvider::new(Credentials::new("AKID", "secret", Some("token".into()), expiry, "test"));
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials.clone())
            .build();
        (aws_sdk_s3::Client::from_conf(config), credentials)
    }

    fn expires_param(url: &str) -> u64 {
        let value = url.split("X-Amz-Expires=").nth(1).and_then(|rest| rest.split('&').next()).unwrap();
        value.parse().unwrap()
    }

    #[tokio::test]
    async fn a_presigned_url_ends_no_later_than_its_credentials() {
        let hour = Duration::from_secs(3600);
        let now = SystemTime::now();
        // Credentials of an assumed role, 10 minutes left: the URL says 10 minutes, not an hour.
        let (s3, credentials) = client(Some(now + Duration::from_secs(600)));
        let (url, expires) = presigned_get(&s3, Some(&credentials), "b", "k", hour).await.unwrap();
        assert!((595..=600).contains(&expires_param(&url)), "{url}");
        let left = expires.duration_since(now).unwrap();
        assert!(left <= Duration::from_secs(601) && left >= Duration::from_secs(590), "{left:?}");
        // Long-lived keys: the lifetime asked for.
        let (s3, credentials) = client(None);
        let (url, expires) = presigned_get(&s3, Some(&credentials), "b", "k", hour).await.unwrap();
        assert_eq!(expires_param(&url), 3600);
        assert!(expires.duration_since(now).unwrap() >= hour);
    }

    #[test]
    fn public_urls_escape_each_segment() {
        assert_eq!(
            public_url("https://b.s3.us-east-1.amazonaws.com/", "renders/abc/out.mp4"),
            "https://b.s3.us-east-1.amazonaws.com/renders/abc/out.mp4"
        );
        assert_eq!(
            public_url("http://127.0.0.1:8333/b", "videos/my film+1.mp4"),
            "http://127.0.0.1:8333/b/videos/my%20film%2B1.mp4"
        );
    }
}
