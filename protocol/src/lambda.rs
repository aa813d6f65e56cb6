//! What both sides know of AWS Lambda itself.

use serde::{Deserialize, Serialize};

/// Lambda instruction set architecture.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum Architecture {
    /// Intel/AMD 64-bit.
    #[default]
    #[serde(rename = "x86_64")]
    X86_64,
    /// AWS Graviton.
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    /// The name Lambda's API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }
}
