//! Files of a bucket prefix, read with the function's credentials: a `GET` is one GetObject
//! with the page's range and validator sent on, its body streamed to the page as the bucket
//! sends it; a `HEAD` is one HeadObject. The client's timeouts and retries
//! ([`crate::storage::client`]) apply to every call.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use bytes::Bytes;

use super::answer::{Answer, Body, Part, Version, stream};
use super::request::FileRequest;

/// An object of the bucket.
pub(super) struct Object<'a> {
    pub client: &'a aws_sdk_s3::Client,
    pub bucket: &'a str,
    pub key: &'a str,
}

impl Object<'_> {
    /// Answers `request` for this object.
    pub async fn answer(&self, request: &FileRequest) -> Answer {
        if request.head { self.head(request).await } else { self.get(request).await }
    }

    async fn get(&self, request: &FileRequest) -> Answer {
        let sent = self
            .client
            .get_object()
            .bucket(self.bucket)
            .key(self.key)
            .set_range(request.range.map(|r| r.header_value()))
            .set_if_none_match(request.if_none_match.clone())
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) if status(&e) == Some(304) => return Answer::NotModified(self.version_of_304(&e)),
            Err(e) if status(&e) == Some(416) => return Answer::Unsatisfiable(self.size().await),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Answer::NotFound,
            Err(e) => return Answer::Failed(self.failed(e)),
        };
        let version = version(out.e_tag(), out.last_modified());
        // A store that ignores If-None-Match sends the body anyway; the page is told all the same.
        if request.holds(version.etag.as_deref()) {
            return Answer::NotModified(version);
        }
        let length = out.content_length().unwrap_or(0).max(0) as u64;
        let part = match out.content_range() {
            Some(range) if request.range.is_some() => Part::Range(range.to_owned()),
            _ => Part::Whole,
        };
        Answer::Content { part, length, version, body: Some(body(out.body)) }
    }

    /// A `HEAD`: the object's metadata, with the range the page asked for cut from its size
    /// here, as a folder's file would be.
    async fn head(&self, request: &FileRequest) -> Answer {
        let out = match self.client.head_object().bucket(self.bucket).key(self.key).send().await {
            Ok(out) => out,
            Err(e) if status(&e) == Some(404) => return Answer::NotFound,
            Err(e) => return Answer::Failed(self.failed(e)),
        };
        let version = version(out.e_tag(), out.last_modified());
        if request.holds(version.etag.as_deref()) {
            return Answer::NotModified(version);
        }
        let size = out.content_length().unwrap_or(0).max(0) as u64;
        match Part::of(request.range, size) {
            Ok((part, _, length)) => Answer::Content { part, length, version, body: None },
            Err(_) => Answer::Unsatisfiable(Some(size)),
        }
    }

    /// The object's size, for the `Content-Range` of a 416 (the store's own 416 may not say).
    async fn size(&self) -> Option<u64> {
        crate::storage::size(self.client, self.bucket, self.key).await.ok().flatten()
    }

    fn version_of_304<E>(&self, e: &SdkError<E, HttpResponse>) -> Version {
        let headers = e.raw_response().map(|r| r.headers());
        Version {
            etag: headers.and_then(|h| h.get("etag")).map(str::to_owned),
            last_modified: headers.and_then(|h| h.get("last-modified")).map(str::to_owned),
        }
    }

    fn failed(&self, e: impl std::error::Error) -> String {
        format!("reading s3://{}/{}: {}", self.bucket, self.key, DisplayErrorContext(e))
    }
}

/// The status of the store's answer to a failed call, if it answered.
fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn version(etag: Option<&str>, last_modified: Option<&DateTime>) -> Version {
    Version {
        etag: etag.map(str::to_owned),
        last_modified: last_modified.and_then(|d| d.fmt(DateTimeFormat::HttpDate).ok()),
    }
}

/// The object's body as the store sends it, a chunk at a time as the page's connection takes
/// it. A broken or stalled download ends the body with the error (the SDK's stalled-stream
/// protection cuts a body that stops arriving); the page then asks again from where it was.
fn body(object: ByteStream) -> Body {
    let chunks = futures::stream::unfold(Some(object), |object| async move {
        let mut object = object?;
        match object.try_next().await {
            Ok(Some(chunk)) => Some((Ok::<Bytes, _>(chunk), Some(object))),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(e)), None)),
        }
    });
    stream(chunks)
}
