//! Files of a local bundle folder: opened per request, the part asked for streamed from disk.

use std::io::{ErrorKind, SeekFrom};
use std::path::Path;
use std::time::SystemTime;

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::answer::{Answer, Part, Version, read_stream};
use super::request::FileRequest;

/// Answers `request` for the file at `path`.
pub(super) async fn answer(path: &Path, request: &FileRequest) -> Answer {
    let failed = |e: std::io::Error| Answer::Failed(format!("reading {}: {e}", path.display()));
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => return Answer::NotFound,
        Err(e) => return failed(e),
    };
    let metadata = match file.metadata().await {
        Ok(metadata) if metadata.is_file() => metadata,
        Ok(_) => return Answer::NotFound,
        Err(e) => return failed(e),
    };
    let size = metadata.len();
    let version = version(size, metadata.modified().ok());
    if request.holds(version.etag.as_deref()) {
        return Answer::NotModified(version);
    }
    let Ok((part, start, length)) = Part::of(request.range, size) else {
        return Answer::Unsatisfiable(Some(size));
    };
    if request.head {
        return Answer::Content { part, length, version, body: None };
    }
    if let Err(e) = file.seek(SeekFrom::Start(start)).await {
        return failed(e);
    }
    Answer::Content { part, length, version, body: Some(read_stream(file.take(length))) }
}

/// A file's version from its size and modification time: a file rewritten in place gets
/// another tag.
fn version(size: u64, modified: Option<SystemTime>) -> Version {
    let since_epoch = modified.and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok());
    Version {
        etag: Some(format!("\"{size:x}-{:x}\"", since_epoch.map_or(0, |d| d.as_nanos()))),
        last_modified: modified.and_then(|m| DateTime::from(m).fmt(DateTimeFormat::HttpDate).ok()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_rewritten_file_is_another_version() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let first = version(10, Some(at));
        assert_eq!(first.last_modified.as_deref(), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
        assert_ne!(first.etag, version(11, Some(at)).etag);
        assert_ne!(first.etag, version(10, Some(at + Duration::from_nanos(1))).etag);
        assert_eq!(first, version(10, Some(at)));
    }
}
