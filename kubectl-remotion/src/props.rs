//! `--props`: inline JSON or the path of a JSON file, as Remotion's CLI takes it.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

/// The input props given by `--props`: a JSON object, inline or read from a file.
pub fn read(arg: &str) -> Result<Value> {
    let trimmed = arg.trim_start();
    // Inline JSON starts like an object (or is some other JSON, refused below with a reason).
    let value: Value = if trimmed.starts_with('{') || !Path::new(arg).exists() {
        serde_json::from_str(arg).with_context(|| {
            if trimmed.starts_with('{') {
                "--props: not valid JSON".to_owned()
            } else {
                format!("--props: {arg:?} is neither JSON nor an existing file")
            }
        })?
    } else {
        let text = std::fs::read_to_string(arg).with_context(|| format!("--props: reading {arg}"))?;
        serde_json::from_str(&text).with_context(|| format!("--props: {arg} is not valid JSON"))?
    };
    if !value.is_object() {
        bail!("--props must be a JSON object (the composition's props by name), not {}", kind(&value));
    }
    Ok(value)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::read;
    use serde_json::json;

    #[test]
    fn inline_json_is_read() {
        assert_eq!(read(r#"{"titleText":"Hi","n":3}"#).unwrap(), json!({"titleText": "Hi", "n": 3}));
    }

    #[test]
    fn a_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("props.json");
        std::fs::write(&path, r##"{"titleColor": "#fff"}"##).unwrap();
        assert_eq!(read(path.to_str().unwrap()).unwrap(), json!({"titleColor": "#fff"}));
    }

    #[test]
    fn bad_props_say_what_is_wrong() {
        let message = |arg: &str| format!("{:#}", read(arg).unwrap_err());
        assert!(message("{not json").contains("not valid JSON"), "{}", message("{not json"));
        assert!(message("missing.json").contains("neither JSON nor an existing file"));
        assert!(message("[1, 2]").contains("must be a JSON object"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.json");
        std::fs::write(&path, "{").unwrap();
        assert!(message(path.to_str().unwrap()).contains("broken.json is not valid JSON"));
    }
}
