//! Step 2: input props, serialized as the page receives them, inline in the `launch` payload
//! when small and otherwise offloaded to `renders/<id>/input-props.json`.

use remotion_crds::render_job::RenderJobSpec;
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::payload::{INLINE_PROPS_LIMIT_BYTES, MAX_PROPS_DEPTH, SerializedProps};
use serde_json::Value;

use crate::reconcile::readable::nesting_depth;

/// Input props that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PropsError {
    /// The text is not JSON.
    #[error("input props from {origin} are not valid JSON: {detail}")]
    NotJson {
        /// Where the props came from.
        origin: String,
        /// The parser's complaint.
        detail: String,
    },
    /// Props must be a JSON object (Remotion merges them over the default props).
    #[error("input props from {origin} must be a JSON object, found {found}")]
    NotAnObject {
        /// Where the props came from.
        origin: String,
        /// What was found instead.
        found: &'static str,
    },
    /// Nested more deeply than [`MAX_PROPS_DEPTH`].
    #[error(
        "input props from {origin} nest {depth} levels deep; at most {MAX_PROPS_DEPTH} are accepted: flatten \
         the deepest values, or fetch such data in the composition"
    )]
    TooDeep {
        /// Where the props came from.
        origin: String,
        /// Their nesting depth.
        depth: usize,
    },
}

/// Where a job's props come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropsOrigin {
    /// No props: the composition's defaults.
    Defaults,
    /// `spec.inputProps`.
    Inline,
    /// A key of a ConfigMap.
    ConfigMap {
        /// ConfigMap name.
        name: String,
        /// Key.
        key: String,
    },
    /// A key of a Secret.
    Secret {
        /// Secret name.
        name: String,
        /// Key.
        key: String,
    },
}

impl std::fmt::Display for PropsOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Defaults => f.write_str("the composition's defaults"),
            Self::Inline => f.write_str("spec.inputProps"),
            Self::ConfigMap { name, key } => write!(f, "ConfigMap {name} key {key}"),
            Self::Secret { name, key } => write!(f, "Secret {name} key {key}"),
        }
    }
}

/// Where the spec says the props come from.
pub fn origin(spec: &RenderJobSpec) -> PropsOrigin {
    if let Some(from) = &spec.input_props_from {
        if let Some(r) = &from.config_map_key_ref {
            return PropsOrigin::ConfigMap { name: r.name.clone(), key: r.key.clone() };
        }
        if let Some(r) = &from.secret_key_ref {
            return PropsOrigin::Secret { name: r.name.clone(), key: r.key.clone() };
        }
    }
    if spec.input_props.is_some() { PropsOrigin::Inline } else { PropsOrigin::Defaults }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Serializes props that must be a JSON object nested at most [`MAX_PROPS_DEPTH`] levels.
pub fn serialize(value: &Value, origin: &PropsOrigin) -> Result<String, PropsError> {
    if !value.is_object() {
        return Err(PropsError::NotAnObject { origin: origin.to_string(), found: kind_of(value) });
    }
    let serialized = value.to_string();
    check_depth(&serialized, origin)?;
    Ok(serialized)
}

fn check_depth(text: &str, origin: &PropsOrigin) -> Result<(), PropsError> {
    let depth = nesting_depth(text);
    if depth > MAX_PROPS_DEPTH {
        return Err(PropsError::TooDeep { origin: origin.to_string(), depth });
    }
    Ok(())
}

/// Parses the text of a ConfigMap or Secret key into props (a JSON object), serialized.
pub fn from_text(text: &str, origin: &PropsOrigin) -> Result<String, PropsError> {
    // Measured before parsing: the parser's own limit would only say "recursion limit".
    check_depth(text, origin)?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| PropsError::NotJson { origin: origin.to_string(), detail: e.to_string() })?;
    serialize(&value, origin)
}

/// The props of the payload, and the object to upload first when they are too large for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedProps {
    /// What the payload carries.
    pub payload: SerializedProps,
    /// `(key, body)` to upload before launching, when offloaded.
    pub upload: Option<(String, String)>,
}

/// Inline when the serialized props fit the payload beside the page's serialized environment
/// variables (`env_bytes`: they travel in the same payload, and Remotion counts them with the
/// props too), else in the render's folder.
pub fn place(serialized: String, env_bytes: usize, id: &RenderId) -> PlacedProps {
    if serialized.len().saturating_add(env_bytes) <= INLINE_PROPS_LIMIT_BYTES {
        return PlacedProps { payload: SerializedProps::Inline { serialized }, upload: None };
    }
    let key = keys::input_props(id);
    PlacedProps { payload: SerializedProps::Bucket { key: key.clone() }, upload: Some((key, serialized)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn origin_follows_the_spec() {
        let mut spec = crate::controllers::render_job::references::tests::spec();
        assert_eq!(origin(&spec), PropsOrigin::Defaults);
        spec.input_props = Some(json!({"a": 1}));
        assert_eq!(origin(&spec), PropsOrigin::Inline);
        spec.input_props = None;
        spec.input_props_from =
            Some(serde_json::from_value(json!({"secretKeyRef": {"name": "s", "key": "k"}})).unwrap());
        assert_eq!(origin(&spec), PropsOrigin::Secret { name: "s".into(), key: "k".into() });
        assert_eq!(origin(&spec).to_string(), "Secret s key k");
    }

    #[test]
    fn props_must_be_json_objects() {
        let o = PropsOrigin::ConfigMap { name: "cm".into(), key: "props.json".into() };
        assert_eq!(from_text(r#"{"title": "Hi"}"#, &o).unwrap(), r#"{"title":"Hi"}"#);
        let err = from_text("[1, 2]", &o).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input props from ConfigMap cm key props.json must be a JSON object, found an array"
        );
        assert!(matches!(from_text("{not json", &o), Err(PropsError::NotJson { .. })));
    }

    #[test]
    fn props_nest_at_most_the_limit() {
        let nested = |levels: usize| format!("{}1{}", "{\"a\":".repeat(levels), "}".repeat(levels));
        let o = PropsOrigin::Inline;
        assert!(from_text(&nested(MAX_PROPS_DEPTH), &o).is_ok());
        let value: Value = serde_json::from_str(&nested(MAX_PROPS_DEPTH + 1)).unwrap();
        assert_eq!(serialize(&value, &o), Err(PropsError::TooDeep { origin: o.to_string(), depth: 65 }));
        // Deeper than serde_json parses: still this error, not the parser's.
        let error = from_text(&nested(500), &o).unwrap_err();
        assert_eq!(error, PropsError::TooDeep { origin: o.to_string(), depth: 500 });
        assert!(error.to_string().contains("nest 500 levels deep; at most 64"), "{error}");
    }

    #[test]
    fn small_props_go_inline_and_large_ones_to_the_bucket() {
        let id = RenderId::new("abc").unwrap();
        let small = place("{}".into(), 0, &id);
        assert_eq!(small, PlacedProps { payload: SerializedProps::empty(), upload: None });

        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(INLINE_PROPS_LIMIT_BYTES));
        let placed = place(big.clone(), 0, &id);
        assert_eq!(placed.payload, SerializedProps::Bucket { key: "renders/abc/input-props.json".into() });
        assert_eq!(placed.upload, Some(("renders/abc/input-props.json".into(), big)));
    }

    #[test]
    fn environment_variables_count_against_the_inline_props() {
        let id = RenderId::new("abc").unwrap();
        let props = format!("{{\"a\":\"{}\"}}", "x".repeat(INLINE_PROPS_LIMIT_BYTES - 10_000));
        assert!(place(props.clone(), 2_000, &id).upload.is_none(), "they fit together");
        let placed = place(props, 10_000, &id);
        assert_eq!(placed.payload, SerializedProps::Bucket { key: "renders/abc/input-props.json".into() });
    }
}
