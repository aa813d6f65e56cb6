//! What a source answers for one file, and the HTTP response it becomes. Bodies are streamed:
//! a file is never held in memory whole, whatever its size.

use std::io;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderValue, LAST_MODIFIED,
};
use hyper::{Response, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::request::{ByteRange, Unsatisfiable};

/// A response body: streamed from the file's source, or a short message.
pub(super) type Body = UnsyncBoxBody<Bytes, io::Error>;

/// How much of a file one read takes from a local source.
const CHUNK_BYTES: usize = 64 * 1024;

/// The validators of a file's version, passed to the page as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Version {
    /// `ETag`.
    pub etag: Option<String>,
    /// `Last-Modified`, an HTTP date.
    pub last_modified: Option<String>,
}

/// The part of a file an answer carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Part {
    /// All of it (200).
    Whole,
    /// One range (206), with its `Content-Range` value (`bytes first-last/size`).
    Range(String),
}

impl Part {
    /// The part a range (or none) selects of a file of `size` bytes, with where it starts and
    /// its length.
    pub fn of(range: Option<ByteRange>, size: u64) -> Result<(Part, u64, u64), Unsatisfiable> {
        match range.map(|r| r.within(size)).transpose()?.flatten() {
            Some((first, last)) => Ok((Part::Range(format!("bytes {first}-{last}/{size}")), first, last - first + 1)),
            None => Ok((Part::Whole, 0, size)),
        }
    }
}

/// A source's answer for one file.
pub(super) enum Answer {
    /// The file or a part of it; `body` is `None` for a `HEAD`.
    Content { part: Part, length: u64, version: Version, body: Option<Body> },
    /// The page holds this version already (304).
    NotModified(Version),
    /// The range starts past the end of the file (416); the file's size when known.
    Unsatisfiable(Option<u64>),
    /// No such file (404).
    NotFound,
    /// The source could not be read (502), and why.
    Failed(String),
}

impl Answer {
    /// The HTTP response, headers for `path` (its Content-Type).
    pub fn into_response(self, content_type: &str) -> Response<Body> {
        let (status, body, headers): (StatusCode, Body, Vec<(_, String)>) = match self {
            Answer::Content { part, length, version, body } => {
                let mut headers = vec![(CONTENT_TYPE, content_type.to_owned()), (CONTENT_LENGTH, length.to_string())];
                headers.extend(version_headers(version));
                let status = match part {
                    Part::Whole => StatusCode::OK,
                    Part::Range(content_range) => {
                        headers.push((CONTENT_RANGE, content_range));
                        StatusCode::PARTIAL_CONTENT
                    }
                };
                (status, body.unwrap_or_else(empty), headers)
            }
            Answer::NotModified(version) => (StatusCode::NOT_MODIFIED, empty(), version_headers(version).collect()),
            Answer::Unsatisfiable(size) => {
                let range = size.map(|size| (CONTENT_RANGE, format!("bytes */{size}")));
                (StatusCode::RANGE_NOT_SATISFIABLE, message("range not satisfiable"), range.into_iter().collect())
            }
            Answer::NotFound => (StatusCode::NOT_FOUND, message("not found"), Vec::new()),
            Answer::Failed(why) => (StatusCode::BAD_GATEWAY, message(why), Vec::new()),
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let fields = response.headers_mut();
        if !matches!(status, StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED) {
            fields.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        }
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                fields.insert(name, value);
            }
        }
        fields.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        // A browser kept warm across invocations must never answer a later site's request
        // from its cache (the next server may get the same port), so nothing is stored; the
        // validators still let a page ask whether its copy in memory is current.
        fields.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

fn version_headers(version: Version) -> impl Iterator<Item = (hyper::header::HeaderName, String)> {
    version.etag.map(|e| (ETAG, e)).into_iter().chain(version.last_modified.map(|d| (LAST_MODIFIED, d)))
}

/// A body of a few words.
pub(super) fn message(text: impl Into<String>) -> Body {
    Full::new(Bytes::from(text.into())).map_err(|never| match never {}).boxed_unsync()
}

fn empty() -> Body {
    message(String::new())
}

/// A body streamed from a reader, a chunk at a time as the connection takes it.
pub(super) fn read_stream(reader: impl AsyncRead + Send + Unpin + 'static) -> Body {
    let chunks = futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut chunk = BytesMut::with_capacity(CHUNK_BYTES);
        match reader.read_buf(&mut chunk).await {
            Ok(0) => None,
            Ok(_) => Some((Ok(chunk.freeze()), Some(reader))),
            // The error ends the body; the connection is cut and the page asks again.
            Err(e) => Some((Err(e), None)),
        }
    });
    stream(chunks)
}

/// A body of a stream of chunks.
pub(super) fn stream(chunks: impl Stream<Item = io::Result<Bytes>> + Send + 'static) -> Body {
    use futures::StreamExt;
    StreamBody::new(chunks.map(|chunk| chunk.map(Frame::data))).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_the_whole_file_unless_a_range_selects_one() {
        assert_eq!(Part::of(None, 10), Ok((Part::Whole, 0, 10)));
        let range = ByteRange::parse("bytes=2-4");
        assert_eq!(Part::of(range, 10), Ok((Part::Range("bytes 2-4/10".into()), 2, 3)));
        let past_the_end = ByteRange::parse("bytes=10-");
        assert_eq!(Part::of(past_the_end, 10), Err(Unsatisfiable));
    }
}
