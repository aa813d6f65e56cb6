//! Client-side validation of resources against the generated CRD schema: the OpenAPI structure
//! (types, ranges, patterns, enums, required fields) and the CEL `x-kubernetes-validations`
//! rules, as the API server would apply them. Used by tests, samples checks and tools that want
//! an answer before talking to a cluster.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::cel::Validator;
use serde_json::Value;

/// One reason an object is invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Path of the offending field, e.g. `spec.memorySizeMb` (empty for the object itself).
    pub path: String,
    /// What is wrong (the rule's message for CEL rules).
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// An object failed validation.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// The CRD has no schema (never the case for generated CRDs).
    #[error("the CRD {0} has no openAPIV3Schema")]
    NoSchema(String),
    /// The schema itself could not be compiled.
    #[error("the schema of {crd} does not compile: {message}")]
    BadSchema {
        /// CRD name.
        crd: String,
        /// Compiler message.
        message: String,
    },
    /// The object breaks the schema or its rules.
    #[error("{} is invalid: {}", .kind, .violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// Kind of the object.
        kind: String,
        /// Every violation found.
        violations: Vec<Violation>,
    },
}

impl ValidationError {
    /// The violations, if the object was invalid.
    pub fn violations(&self) -> &[Violation] {
        match self {
            Self::Invalid { violations, .. } => violations,
            _ => &[],
        }
    }
}

fn schema_of(crd: &CustomResourceDefinition) -> Result<Value, ValidationError> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let schema = crd
        .spec
        .versions
        .iter()
        .find(|v| v.storage)
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .ok_or_else(|| ValidationError::NoSchema(name.clone()))?;
    serde_json::to_value(schema).map_err(|e| ValidationError::BadSchema { crd: name, message: e.to_string() })
}

/// The structural part of a CRD schema as JSON Schema draft 4 (OpenAPI 3.0's dialect): drops
/// what JSON Schema would misread (`nullable`, `x-kubernetes-*`) and lets preserved fields through.
fn structural(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            let nullable = map.get("nullable") == Some(&Value::Bool(true));
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                if k.starts_with("x-kubernetes-") || k == "nullable" {
                    continue;
                }
                out.insert(k.clone(), structural(v));
            }
            if nullable && let Some(Value::String(t)) = out.get("type").cloned() {
                out.insert("type".into(), serde_json::json!([t, "null"]));
            }
            if preserve && !out.contains_key("properties") {
                out.remove("additionalProperties");
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(structural).collect()),
        other => other.clone(),
    }
}

/// Validates `object` (a whole resource as JSON) against `crd`, as a create (`old = None`) or
/// an update from `old` (transition rules such as immutability apply).
pub fn validate_value(
    crd: &CustomResourceDefinition,
    object: &Value,
    old: Option<&Value>,
) -> Result<(), ValidationError> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let kind = crd.spec.names.kind.clone();
    let schema = schema_of(crd)?;
    let mut violations = Vec::new();

    let compiled = jsonschema::draft4::new(&structural(&schema))
        .map_err(|e| ValidationError::BadSchema { crd: name, message: e.to_string() })?;
    for error in compiled.iter_errors(object) {
        let path = error.instance_path().to_string();
        violations.push(Violation { path: path.trim_start_matches('/').replace('/', "."), message: error.to_string() });
    }

    // CEL rules only run on structurally valid objects, as in the API server.
    if violations.is_empty()
        && let Err(errors) = Validator::new().validate(&schema, object, old)
    {
        for e in errors.iter() {
            violations.push(Violation { path: e.field_path.clone(), message: e.message.clone() });
        }
    }

    if violations.is_empty() { Ok(()) } else { Err(ValidationError::Invalid { kind, violations }) }
}

/// Validates a typed resource (see [`validate_value`]).
pub fn validate<K>(object: &K, old: Option<&K>) -> Result<(), ValidationError>
where
    K: kube::CustomResourceExt + serde::Serialize,
{
    let to_json = |o: &K| serde_json::to_value(o).expect("resources serialize to JSON");
    let old = old.map(to_json);
    validate_value(&K::crd(), &to_json(object), old.as_ref())
}
