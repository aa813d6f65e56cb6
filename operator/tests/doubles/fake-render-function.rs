//! A stand-in render function for the operator's tests: answers `info` like the real one,
//! with the protocol version from `FAKE_PROTOCOL_VERSION` (default: the current one), or with
//! a non-`info` answer when `FAKE_INFO_ANSWER=garbage`. Any other payload is an error.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use remotion_protocol::payload::{InfoResponse, PROTOCOL_VERSION, Payload};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload: Payload = serde_json::from_value(event.payload)?;
    if payload != Payload::Info {
        return Err(format!("the fake function answers only info, not {}", payload.kind()).into());
    }
    if std::env::var("FAKE_INFO_ANSWER").as_deref() == Ok("garbage") {
        return Ok(json!({"hello": "I am not a render function"}));
    }
    let protocol_version = match std::env::var("FAKE_PROTOCOL_VERSION") {
        Ok(v) => v.parse()?,
        Err(_) => PROTOCOL_VERSION,
    };
    let memory = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").ok().and_then(|m| m.parse().ok());
    Ok(serde_json::to_value(InfoResponse {
        function_version: "0.0.0-fake".into(),
        protocol_version,
        chromium_version: "Chromium 1.0 (fake)".into(),
        ffmpeg_version: "FFmpeg 0.0 (fake)".into(),
        memory_size_mb: memory,
        architecture: None,
    })?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
