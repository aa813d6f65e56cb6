//! [`DeserializeGuard`]: an object as the operator reads it from a list or a watch, or why it
//! cannot be read, without ever failing the list or watch it came in.
//!
//! kube's own guard buffers each object into a generic value first, and that parse counts
//! nesting against serde_json's limit of 128 levels. The API server accepts objects nested far
//! deeper (any tenant can write `inputProps` 200 levels deep), and one such object failed the
//! whole watch event or list page: no RenderJob of the scope was reconciled any more. Here the
//! object is first taken as raw text (serde_json skips a value it does not parse without any
//! depth limit), its nesting measured, and only an object within [`MAX_OBJECT_DEPTH`] parsed.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// The deepest nesting of an object the operator parses. serde_json stops at 128 levels
/// (counting the watch event around the object); this leaves room for that and says so first.
pub const MAX_OBJECT_DEPTH: usize = 120;

/// An object of kind `K`, or why it could not be read (with its metadata, so that it can still
/// be named, reported and watched).
#[derive(Clone, Debug)]
pub struct DeserializeGuard<K>(pub Result<K, InvalidObject>);

/// An object that could not be read as its kind.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{error}")]
pub struct InvalidObject {
    /// What went wrong.
    pub error: String,
    /// Why, in terms of what the user can change.
    pub cause: Unreadable,
    /// The object's metadata.
    pub metadata: ObjectMeta,
}

/// Why an object could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// It does not match the types of this operator version.
    Schema,
    /// It is nested more deeply than [`MAX_OBJECT_DEPTH`] levels.
    TooDeep {
        /// Its nesting depth.
        depth: usize,
    },
}

impl<'de, K> Deserialize<'de> for DeserializeGuard<K>
where
    K: DeserializeOwned + Resource,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        let metadata = || metadata_of(text).map_err(D::Error::custom);
        let depth = nesting_depth(text);
        if depth > MAX_OBJECT_DEPTH {
            let error = format!(
                "the object is nested {depth} levels deep, more than the {MAX_OBJECT_DEPTH} the operator reads"
            );
            let cause = Unreadable::TooDeep { depth };
            return Ok(Self(Err(InvalidObject { error, cause, metadata: metadata()? })));
        }
        match serde_json::from_str::<K>(text) {
            Ok(object) => Ok(Self(Ok(object))),
            Err(error) => Ok(Self(Err(InvalidObject {
                error: error.to_string(),
                cause: Unreadable::Schema,
                metadata: metadata()?,
            }))),
        }
    }
}

/// An object's metadata and nothing else: the other fields are skipped without being parsed
/// (kube's `PartialObjectMeta` buffers them, which counts their depth again).
#[derive(Deserialize)]
struct MetadataOnly<'a> {
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
}

/// The metadata of the object `text`, without `managedFields`: they mirror the object's fields,
/// as deeply nested as the fields themselves, and an unreadable object needs only its name,
/// UID and generation to be reported.
fn metadata_of(text: &str) -> Result<ObjectMeta, serde_json::Error> {
    let Some(raw) = serde_json::from_str::<MetadataOnly<'_>>(text)?.metadata else {
        return Ok(ObjectMeta::default());
    };
    let mut fields: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
    for (key, value) in serde_json::from_str::<std::collections::BTreeMap<&str, &RawValue>>(raw.get())? {
        if key != "managedFields" {
            fields.insert(key.to_owned(), serde_json::from_str(value.get())?);
        }
    }
    serde_json::from_value(serde_json::Value::Object(fields))
}

impl<K: Resource> Resource for DeserializeGuard<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        self.0.as_ref().map_or_else(|invalid| &invalid.metadata, K::meta)
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.as_mut().map_or_else(|invalid| &mut invalid.metadata, K::meta_mut)
    }
}

/// The deepest nesting of objects and arrays in `json` (valid JSON: serde_json has checked it
/// while taking it as raw text). A scalar is depth 0, `{}` depth 1.
pub fn nesting_depth(json: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for byte in json.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}1{}", r#"{"a":"#.repeat(levels), "}".repeat(levels))
    }

    #[test]
    fn depth_counts_objects_and_arrays_not_brackets_in_strings() {
        assert_eq!(nesting_depth("1"), 0);
        assert_eq!(nesting_depth("{}"), 1);
        assert_eq!(nesting_depth(r#"{"a":[1,{"b":[]}],"c":{}}"#), 4);
        assert_eq!(nesting_depth(r#"{"a":"{[{[\"{"}"#), 1);
        assert_eq!(nesting_depth(&nested(200)), 200);
    }

    #[test]
    fn a_deep_object_in_a_list_is_reported_and_its_neighbours_read() {
        let deep =
            format!(r#"{{"metadata":{{"name":"deep","namespace":"ns"}},"data":{{"x":"y"}},"extra":{}}}"#, nested(300));
        let list = format!(r#"[{{"metadata":{{"name":"fine"}},"data":{{"x":"y"}}}},{deep}]"#);
        let objects: Vec<DeserializeGuard<ConfigMap>> = serde_json::from_str(&list).expect("the list reads");
        assert_eq!(objects[0].0.as_ref().expect("the neighbour reads").metadata.name.as_deref(), Some("fine"));
        let invalid = objects[1].0.as_ref().expect_err("the deep one is refused");
        assert_eq!(invalid.cause, Unreadable::TooDeep { depth: 301 });
        assert_eq!(invalid.metadata.name.as_deref(), Some("deep"));
        assert!(invalid.error.contains("301 levels"), "{}", invalid.error);
    }

    #[test]
    fn a_deep_object_in_a_watch_event_is_reported() {
        let deep = format!(
            r#"{{"metadata":{{"name":"deep","namespace":"ns","managedFields":[{{"manager":"kubectl","fieldsV1":{}}}]}},"extra":{}}}"#,
            nested(300),
            nested(300)
        );
        let line = format!(r#"{{"type":"ADDED","object":{deep}}}"#);
        let event: kube::api::WatchEvent<DeserializeGuard<ConfigMap>> =
            serde_json::from_str(&line).expect("the event reads");
        let kube::api::WatchEvent::Added(guarded) = event else { panic!("an Added event") };
        let invalid = guarded.0.expect_err("too deep");
        assert_eq!(invalid.cause, Unreadable::TooDeep { depth: 304 });
        assert_eq!(invalid.metadata.name.as_deref(), Some("deep"));
        assert_eq!(invalid.metadata.managed_fields, None);
    }

    #[test]
    fn an_object_of_another_shape_keeps_its_metadata() {
        let text = json!({"metadata": {"name": "odd", "uid": "u1"}, "data": {"x": 5}}).to_string();
        let guarded: DeserializeGuard<ConfigMap> = serde_json::from_str(&text).unwrap();
        let invalid = guarded.0.expect_err("data values must be strings");
        assert_eq!(invalid.cause, Unreadable::Schema);
        assert_eq!(invalid.metadata.uid.as_deref(), Some("u1"));
    }
}
