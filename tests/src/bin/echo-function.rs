//! A tiny Lambda function for harness tests: answers with its input, an id of its process and
//! its function name; `{"fail": "message"}` fails with that message; `{"sleepMs": n}` sleeps
//! first. The id is drawn at start: in Lambda's sandbox every process has a PID namespace of
//! its own, so PIDs repeat between processes.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>, process: u64) -> Result<Value, Error> {
    let payload = event.payload;
    if let Some(ms) = payload.get("sleepMs").and_then(Value::as_u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(message) = payload.get("fail").and_then(Value::as_str) {
        return Err(message.into());
    }
    Ok(json!({
        "echo": payload,
        "process": process,
        "functionName": std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let process: u64 = rand::random();
    lambda_runtime::run(service_fn(move |event| handle(event, process))).await
}
