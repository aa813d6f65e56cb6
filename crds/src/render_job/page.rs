//! Schema and CEL rule of the page environment (`envVariables`): bounded so that it always
//! fits the payloads it travels in (see `remotion_protocol::page::MAX_ENV_VARIABLES`).

use kube::core::Rule;
use remotion_protocol::page::{MAX_ENV_NAME_CHARS, MAX_ENV_VALUE_CHARS, MAX_ENV_VARIABLES};
use schemars::{Schema, SchemaGenerator, json_schema};

/// A map of strings: at most [`MAX_ENV_VARIABLES`] entries, values of at most
/// [`MAX_ENV_VALUE_CHARS`] characters (names are bounded by [`env_names_rule`]: a structural
/// schema cannot constrain map keys).
pub(super) fn env_variables_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": MAX_ENV_VARIABLES,
        "additionalProperties": {"type": "string", "maxLength": MAX_ENV_VALUE_CHARS},
        "description": "Environment variables of the page: what process.env holds while it renders (Remotion's envVariables; NODE_ENV stays production). At most 64, names of 1–128 characters, values of at most 1024: they travel in every invocation's payload."
    })
}

/// Names of 1 to [`MAX_ENV_NAME_CHARS`] characters.
pub(super) fn env_names_rule() -> Rule {
    Rule::new(format!("self.all(name, size(name) >= 1 && size(name) <= {MAX_ENV_NAME_CHARS})"))
        .message("envVariables names are 1 to 128 characters long")
}
