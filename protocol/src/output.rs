//! How the output object is written: which store, whether it may replace an object, and the
//! headers it carries (Remotion's `outName.s3OutputProvider`, `overwrite`, `downloadBehavior`,
//! `storageClass` and `metadata`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// S3's limit on the user metadata of one object: the bytes of every key and value, summed.
pub const MAX_METADATA_BYTES: usize = 2048;

/// Metadata key naming the render that wrote an output that may not be replaced: a write the
/// store carried out but whose answer was lost is then known as the render's own when retried.
pub const RENDER_ID_METADATA: &str = "remotion-render-id";

/// Bytes of user metadata the function keeps for [`RENDER_ID_METADATA`] (key and a render id
/// of at most 64 characters); a job may use the rest of [`MAX_METADATA_BYTES`].
pub const RESERVED_METADATA_BYTES: usize = 96;

/// What a browser does with the output's URL (Remotion's `downloadBehavior.type`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum DownloadType {
    /// Shows it (no `Content-Disposition`).
    #[default]
    #[serde(rename = "play-in-browser")]
    PlayInBrowser,
    /// Saves it (`Content-Disposition: attachment`).
    #[serde(rename = "download")]
    Download,
}

/// Remotion's `downloadBehavior`: `{type: play-in-browser}` or `{type: download, fileName}`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DownloadBehavior {
    /// `play-in-browser` (default) or `download`.
    #[serde(rename = "type")]
    pub kind: DownloadType,
    /// Name the browser saves the file as (`download` only). Absent: the browser names it
    /// after the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(length(min = 1, max = 255), regex(pattern = r"^[^\x00-\x1f\x7f/\\]+$")))]
    pub file_name: Option<String>,
}

/// A `fileName` that cannot go into a header.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("downloadBehavior.fileName {0:?} holds a control character, a slash or a backslash, or is empty")]
pub struct InvalidFileName(pub String);

impl DownloadBehavior {
    /// The `Content-Disposition` header it stands for, `None` for `play-in-browser`. A name
    /// that is not plain ASCII goes in `filename*` (RFC 5987 UTF-8 percent-encoding, which
    /// RFC 6266 prefers) with an ASCII `filename` for old clients.
    pub fn content_disposition(&self) -> Result<Option<String>, InvalidFileName> {
        if self.kind == DownloadType::PlayInBrowser {
            return Ok(None);
        }
        let Some(name) = &self.file_name else {
            return Ok(Some("attachment".to_owned()));
        };
        // A CR or LF would end the header: no control characters, and no path separators
        // (browsers drop or replace them anyway).
        if name.is_empty() || name.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
            return Err(InvalidFileName(name.clone()));
        }
        let fallback: String = name.chars().map(|c| if c.is_ascii() { c } else { '_' }).collect();
        let quoted = fallback.replace('\\', "\\\\").replace('"', "\\\"");
        if name.is_ascii() {
            return Ok(Some(format!("attachment; filename=\"{quoted}\"")));
        }
        let mut encoded = String::new();
        for byte in name.bytes() {
            if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
                encoded.push(byte as char);
            } else {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
        Ok(Some(format!("attachment; filename=\"{quoted}\"; filename*=UTF-8''{encoded}")))
    }
}

/// S3's storage classes (Remotion's `storageClass`, the SDK's `StorageClass`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum StorageClass {
    Standard,
    ReducedRedundancy,
    StandardIa,
    OnezoneIa,
    IntelligentTiering,
    Glacier,
    DeepArchive,
    Outposts,
    GlacierIr,
    Snow,
    ExpressOnezone,
}

impl StorageClass {
    /// The header value (`x-amz-storage-class`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "STANDARD",
            Self::ReducedRedundancy => "REDUCED_REDUNDANCY",
            Self::StandardIa => "STANDARD_IA",
            Self::OnezoneIa => "ONEZONE_IA",
            Self::IntelligentTiering => "INTELLIGENT_TIERING",
            Self::Glacier => "GLACIER",
            Self::DeepArchive => "DEEP_ARCHIVE",
            Self::Outposts => "OUTPOSTS",
            Self::GlacierIr => "GLACIER_IR",
            Self::Snow => "SNOW",
            Self::ExpressOnezone => "EXPRESS_ONEZONE",
        }
    }
}

/// Metadata S3 would refuse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMetadata {
    /// A key that is not a lowercase header token.
    #[error("metadata key {0:?} must be lowercase letters, digits, '.', '_' or '-'")]
    Key(String),
    /// A value that is not printable ASCII.
    #[error("metadata value of {0:?} must be printable ASCII")]
    Value(String),
    /// The operator's own key.
    #[error("metadata key {RENDER_ID_METADATA:?} is the operator's own")]
    Reserved,
    /// Too much in all.
    #[error("metadata holds {0} bytes of keys and values; at most {max} may be used", max = MAX_METADATA_BYTES - RESERVED_METADATA_BYTES)]
    TooLarge(usize),
}

/// Checks user metadata as S3 would, keeping room for [`RENDER_ID_METADATA`].
pub fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), InvalidMetadata> {
    let mut total = 0;
    for (key, value) in metadata {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)) {
            return Err(InvalidMetadata::Key(key.clone()));
        }
        if key == RENDER_ID_METADATA {
            return Err(InvalidMetadata::Reserved);
        }
        if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(InvalidMetadata::Value(key.clone()));
        }
        total += key.len() + value.len();
    }
    if total > MAX_METADATA_BYTES - RESERVED_METADATA_BYTES {
        return Err(InvalidMetadata::TooLarge(total));
    }
    Ok(())
}

/// An S3-compatible store outside the function's own account (Remotion's `s3OutputProvider`),
/// with the keys the operator read from the job's Secret. Its `Debug` hides the keys: a payload
/// may be logged, the keys never.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputStore {
    /// Endpoint URL.
    pub endpoint: String,
    /// Region the requests are signed for.
    pub region: String,
    /// Address buckets as `endpoint/bucket` rather than `bucket.endpoint`.
    pub force_path_style: bool,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
}

impl fmt::Debug for OutputStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputStore")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("force_path_style", &self.force_path_style)
            .field("access_key_id", &"<redacted>")
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn download(name: Option<&str>) -> DownloadBehavior {
        DownloadBehavior { kind: DownloadType::Download, file_name: name.map(Into::into) }
    }

    #[test]
    fn content_disposition_quotes_and_encodes_the_name() {
        assert_eq!(DownloadBehavior::default().content_disposition(), Ok(None));
        assert_eq!(download(None).content_disposition().unwrap().as_deref(), Some("attachment"));
        assert_eq!(
            download(Some("my video.mp4")).content_disposition().unwrap().as_deref(),
            Some(r#"attachment; filename="my video.mp4""#)
        );
        assert_eq!(
            download(Some(r#"say "hi".mp4"#)).content_disposition().unwrap().as_deref(),
            Some(r#"attachment; filename="say \"hi\".mp4""#)
        );
        assert_eq!(
            download(Some("Grüße 1.mp4")).content_disposition().unwrap().as_deref(),
            Some(r#"attachment; filename="Gr__e 1.mp4"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%201.mp4"#)
        );
        for bad in ["a\r\nx-amz-acl: public-read", "../x.mp4", "a\\b", ""] {
            assert!(download(Some(bad)).content_disposition().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn metadata_is_checked_as_s3_would() {
        let of = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(check_metadata(&of(&[("project", "p-1"), ("x.y_z", "a b")])).is_ok());
        assert_eq!(check_metadata(&of(&[("Project", "x")])), Err(InvalidMetadata::Key("Project".into())));
        assert_eq!(check_metadata(&of(&[("a", "line\nbreak")])), Err(InvalidMetadata::Value("a".into())));
        assert_eq!(check_metadata(&of(&[(RENDER_ID_METADATA, "x")])), Err(InvalidMetadata::Reserved));
        let big = "v".repeat(MAX_METADATA_BYTES);
        assert_eq!(check_metadata(&of(&[("k", &big)])), Err(InvalidMetadata::TooLarge(MAX_METADATA_BYTES + 1)));
    }

    #[test]
    fn the_keys_of_a_store_never_show_in_debug() {
        let store = OutputStore {
            endpoint: "https://s3.example.com".into(),
            region: "auto".into(),
            force_path_style: true,
            access_key_id: "AKIDSECRETID".into(),
            secret_access_key: "very-secret".into(),
            session_token: Some("token-secret".into()),
        };
        let shown = format!("{store:?}");
        assert!(shown.contains("https://s3.example.com"), "{shown}");
        for secret in ["AKIDSECRETID", "very-secret", "token-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
