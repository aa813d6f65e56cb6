//! Input props as users give them (JSON text or a JSON file, always an object) and as payloads
//! carry them (inline, or in the bucket when too large for a payload).

use remotion_protocol::payload::SerializedProps;

use crate::error::RenderError;
use crate::storage;

/// Reads `--props`: JSON text, or the path of a file holding it. Returns the serialized
/// object (`{}` when absent).
pub fn read_props(arg: Option<&str>) -> Result<String, RenderError> {
    let Some(arg) = arg else { return Ok("{}".into()) };
    let path = std::path::Path::new(arg);
    let text = if !arg.trim_start().starts_with('{') && path.is_file() {
        std::fs::read_to_string(path).map_err(|e| RenderError::io(format!("reading props file {arg}"), e))?
    } else {
        arg.to_owned()
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| RenderError::InvalidInput(format!("props are not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(RenderError::InvalidInput(format!("props must be a JSON object, got {value}")));
    }
    Ok(serde_json::to_string(&value).expect("a parsed value serializes"))
}

/// The serialized props, read from the bucket when offloaded.
pub(crate) async fn read_payload_props(
    props: &SerializedProps,
    bucket: Option<&str>,
    s3: &aws_sdk_s3::Client,
) -> Result<String, RenderError> {
    match props {
        SerializedProps::Inline { serialized } => Ok(serialized.clone()),
        SerializedProps::Bucket { key } => {
            let bucket =
                bucket.ok_or_else(|| RenderError::InvalidInput("props in a bucket, but no bucket given".into()))?;
            let bytes = storage::get(s3, bucket, key).await?.ok_or_else(|| {
                RenderError::InvalidInput(format!("the props object s3://{bucket}/{key} does not exist"))
            })?;
            String::from_utf8(bytes).map_err(|_| RenderError::InvalidInput(format!("s3://{bucket}/{key} is not UTF-8")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn props_are_objects() {
        assert_eq!(read_props(None).unwrap(), "{}");
        assert_eq!(read_props(Some(r#"{ "a": 1 }"#)).unwrap(), r#"{"a":1}"#);
        assert!(matches!(read_props(Some("[1]")), Err(RenderError::InvalidInput(_))));
        assert!(matches!(read_props(Some("missing-file.json")), Err(RenderError::InvalidInput(_))));
        assert!(matches!(read_props(Some("{nope")), Err(RenderError::InvalidInput(_))));
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "[1, 2]").unwrap();
        assert!(matches!(read_props(Some(file.path().to_str().unwrap())), Err(RenderError::InvalidInput(_))));
    }
}
