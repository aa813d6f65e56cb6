//! What a request for a file asks of it: the whole file or one byte range, its headers only
//! (`HEAD`), or nothing at all when the page already holds the version it names
//! (`If-None-Match`).

use http_range_header::{RangeUnsatisfiableError, SyntacticallyCorrectRange};
use hyper::header::{HeaderMap, IF_NONE_MATCH, RANGE};

/// One request for a file, as both sources (folder and bucket) answer it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct FileRequest {
    /// `HEAD`: the headers of the answer, without its body.
    pub head: bool,
    /// The byte range asked for; `None` for the whole file.
    pub range: Option<ByteRange>,
    /// The entity tags the page already holds (`If-None-Match`, as sent).
    pub if_none_match: Option<String>,
}

impl FileRequest {
    /// Reads a request's method and headers.
    pub fn new(head: bool, headers: &HeaderMap) -> Self {
        let text = |name| headers.get(name).and_then(|v: &hyper::header::HeaderValue| v.to_str().ok());
        Self {
            head,
            range: text(RANGE).and_then(ByteRange::parse),
            if_none_match: text(IF_NONE_MATCH).map(str::to_owned),
        }
    }

    /// Whether the page already holds the file's version `etag`, so that a 304 answers it.
    pub fn holds(&self, etag: Option<&str>) -> bool {
        match (&self.if_none_match, etag) {
            (Some(tags), Some(etag)) => etag_listed(tags, etag),
            _ => false,
        }
    }
}

/// One byte range of a `Range: bytes=…` header. A header with several ranges, or one that does
/// not parse, is ignored and the whole file is sent, as RFC 9110 allows: media elements ask
/// for one range at a time, and a multipart answer is more than this server needs to speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ByteRange(SyntacticallyCorrectRange);

/// A range that starts past the end of the file (answered 416).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Unsatisfiable;

impl ByteRange {
    /// The single range of a `Range` header value; `None` when it is to be ignored.
    pub fn parse(value: &str) -> Option<Self> {
        let ranges = http_range_header::parse_range_header(value).ok()?.into_ranges();
        match ranges.as_slice() {
            [one] => Some(Self(*one)),
            _ => None,
        }
    }

    /// The header value that asks for this range (sent on to the bucket).
    pub fn header_value(self) -> String {
        match self.0 {
            SyntacticallyCorrectRange::FromStart(start) => format!("bytes={start}-"),
            SyntacticallyCorrectRange::FromLast(length) => format!("bytes=-{length}"),
            SyntacticallyCorrectRange::Indexed(start, end) => format!("bytes={start}-{end}"),
        }
    }

    /// The first and last byte this range selects of a file of `size` bytes; `Ok(None)` when
    /// it selects nothing of an empty file (which is then sent whole: empty).
    pub fn within(self, size: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
        let parsed = http_range_header::parse_range_header(&self.header_value()).map_err(|_| Unsatisfiable)?;
        match parsed.validate(size) {
            Ok(ranges) => Ok(ranges.first().map(|r| (*r.start(), *r.end()))),
            Err(RangeUnsatisfiableError::Unsatisfiable) => Err(Unsatisfiable),
            // One range cannot overlap itself; anything else is unsatisfiable all the same.
            Err(_) => Err(Unsatisfiable),
        }
    }
}

/// Whether `etag` is in an `If-None-Match` list (`*`, or tags compared weakly: `W/"x"` and
/// `"x"` are the same version, as RFC 9110 says for this header).
fn etag_listed(list: &str, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let etag = opaque(etag);
    list.trim() == "*" || list.split(',').any(|tag| opaque(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str) -> Option<ByteRange> {
        ByteRange::parse(value)
    }

    #[test]
    fn a_single_range_is_taken_and_sent_on_as_it_was_asked() {
        assert_eq!(range("bytes=0-99").map(ByteRange::header_value).as_deref(), Some("bytes=0-99"));
        assert_eq!(range("bytes=500-").map(ByteRange::header_value).as_deref(), Some("bytes=500-"));
        assert_eq!(range("bytes=-20").map(ByteRange::header_value).as_deref(), Some("bytes=-20"));
    }

    #[test]
    fn several_ranges_or_nonsense_mean_the_whole_file() {
        assert_eq!(range("bytes=0-1, 5-6"), None);
        assert_eq!(range("items=0-1"), None);
        assert_eq!(range("bytes=9-3"), None);
        assert_eq!(range("bytes=x"), None);
    }

    #[test]
    fn ranges_are_cut_to_the_file() {
        let size = 1000;
        assert_eq!(range("bytes=0-99").unwrap().within(size), Ok(Some((0, 99))));
        assert_eq!(range("bytes=990-2000").unwrap().within(size), Ok(Some((990, 999))));
        assert_eq!(range("bytes=-10").unwrap().within(size), Ok(Some((990, 999))));
        assert_eq!(range("bytes=-5000").unwrap().within(size), Ok(Some((0, 999))));
        assert_eq!(range("bytes=1000-").unwrap().within(size), Err(Unsatisfiable));
        assert_eq!(range("bytes=-0").unwrap().within(size), Err(Unsatisfiable));
        assert_eq!(range("bytes=-10").unwrap().within(0), Ok(None));
    }

    #[test]
    fn if_none_match_compares_tags_weakly() {
        let holds =
            |list: &str, etag| FileRequest { if_none_match: Some(list.into()), ..Default::default() }.holds(etag);
        assert!(holds("\"abc\"", Some("\"abc\"")));
        assert!(holds("W/\"abc\"", Some("\"abc\"")));
        assert!(holds("\"x\", \"abc\"", Some("\"abc\"")));
        assert!(holds("*", Some("\"abc\"")));
        assert!(!holds("\"abd\"", Some("\"abc\"")));
        assert!(!holds("\"abc\"", None));
        assert!(!FileRequest::default().holds(Some("\"abc\"")));
    }
}
