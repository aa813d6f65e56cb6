//! Invoking the render function for one chunk, and classifying what came back: an answer, a
//! function error (with its kind), throttling (retried without counting as a failure), no
//! answer from the function at all (Lambda's own 5xx, a gateway's, a dropped connection:
//! retried on a budget of its own, for it says nothing of the chunk) or an invocation the
//! request itself got refused. A function error is Lambda's 200 with `X-Amz-Function-Error`
//! and the error as the payload.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine;
use remotion_protocol::payload::{ErrorKind, FunctionError, Payload, RenderRequest, RenderResponse};

/// What one chunk invocation came to.
#[derive(Debug)]
pub enum Outcome {
    /// The chunk was rendered.
    Rendered(RenderResponse),
    /// Lambda refused to run it now (account or function concurrency, rate); try again later.
    Throttled(String),
    /// No answer came from the function: Lambda failed the call itself (a 5xx of its own), a
    /// gateway did, or the connection broke. The chunk may not have run, or run unheard; it is
    /// invoked again (its chunk key is the same, so a second run overwrites the first).
    Unreachable(String),
    /// It failed.
    Failed {
        /// Why, as a protocol kind (decides whether it is retried).
        kind: ErrorKind,
        /// The message.
        message: String,
    },
}

/// An invocation's outcome with what it cost.
#[derive(Debug)]
pub struct Invoked {
    /// What happened.
    pub outcome: Outcome,
    /// Billed milliseconds when known: the REPORT line of the log tail, else the function's own
    /// measured duration. `None` when the invocation never ran (throttled) or the duration is
    /// unknown (the caller then uses its own wall time).
    pub billed_milliseconds: Option<u64>,
}

/// Runs chunk invocations (a trait so the scheduler can be tested without Lambda).
pub trait ChunkInvoker: Send + Sync + 'static {
    /// Invokes `render` for one chunk and waits for its answer.
    fn invoke(&self, request: RenderRequest) -> impl Future<Output = Invoked> + Send;
}

/// Invokes the render function through the Lambda API.
#[derive(Clone, Debug)]
pub struct LambdaInvoker {
    client: aws_sdk_lambda::Client,
    function_name: String,
}

impl LambdaInvoker {
    /// An invoker for `function_name`, with a client from the function's environment.
    pub async fn from_env(function_name: &str) -> Self {
        Self { client: lambda_client().await, function_name: function_name.to_owned() }
    }
}

/// A Lambda client from the function's environment (`AWS_ENDPOINT_URL_LAMBDA` points at a local
/// emulator). SDK retries are off: the caller decides what to retry, and a silent SDK retry of
/// a failed render would run it twice.
pub async fn lambda_client() -> aws_sdk_lambda::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(aws_config::timeout::TimeoutConfig::builder().connect_timeout(Duration::from_secs(5)).build())
        .load()
        .await;
    aws_sdk_lambda::Client::new(&config)
}

impl ChunkInvoker for LambdaInvoker {
    async fn invoke(&self, request: RenderRequest) -> Invoked {
        let payload = match serde_json::to_vec(&Payload::Render(request)) {
            Ok(p) => p,
            Err(e) => return failed(ErrorKind::Internal, format!("serializing the render payload: {e}"), None),
        };
        let started = Instant::now();
        let sent = self
            .client
            .invoke()
            .function_name(&self.function_name)
            .invocation_type(InvocationType::RequestResponse)
            .log_type(LogType::Tail)
            .payload(Blob::new(payload))
            .send()
            .await;
        let wall = remotion_protocol::pricing::billed_milliseconds_from_duration(started.elapsed());
        match sent {
            Ok(out) => {
                let billed = out.log_result().and_then(billed_from_log_tail);
                let body = out.payload().map(Blob::as_ref).unwrap_or(b"null");
                if out.function_error().is_some() {
                    let error = parse_function_error(body);
                    return failed(error.0, error.1, billed.or(Some(wall)));
                }
                match serde_json::from_slice::<RenderResponse>(body) {
                    Ok(answer) => {
                        let billed = billed.unwrap_or(answer.duration_ms);
                        Invoked { outcome: Outcome::Rendered(answer), billed_milliseconds: Some(billed) }
                    }
                    Err(e) => failed(
                        ErrorKind::Invocation,
                        format!("the renderer's answer is not a render result: {e}"),
                        Some(wall),
                    ),
                }
            }
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let message =
                    format!("invoking {}: {}", self.function_name, aws_sdk_lambda::error::DisplayErrorContext(&e));
                if is_throttling(&e, status) {
                    return Invoked { outcome: Outcome::Throttled(message), billed_milliseconds: None };
                }
                match unanswered(&e, status) {
                    // Lambda's own error document: the function did not run, nothing is billed.
                    Some(Unanswered::ByLambda) => {
                        Invoked { outcome: Outcome::Unreachable(message), billed_milliseconds: None }
                    }
                    // The function may have run without being heard: count it, as Lambda bills it.
                    Some(Unanswered::Unknown) => {
                        Invoked { outcome: Outcome::Unreachable(message), billed_milliseconds: Some(wall) }
                    }
                    None => failed(ErrorKind::Invocation, message, None),
                }
            }
        }
    }
}

fn failed(kind: ErrorKind, message: String, billed_milliseconds: Option<u64>) -> Invoked {
    Invoked { outcome: Outcome::Failed { kind, message }, billed_milliseconds }
}

/// Lambda's throttling answers: 429 TooManyRequestsException (reserved or account
/// concurrency, rate), and the capacity errors Lambda asks callers to retry.
fn is_throttling<R>(
    e: &aws_sdk_lambda::error::SdkError<aws_sdk_lambda::operation::invoke::InvokeError, R>,
    status: Option<u16>,
) -> bool {
    use aws_sdk_lambda::operation::invoke::InvokeError;
    if status == Some(429) {
        return true;
    }
    matches!(
        e.as_service_error(),
        Some(
            InvokeError::TooManyRequestsException(_)
                | InvokeError::Ec2ThrottledException(_)
                | InvokeError::EniLimitReachedException(_)
                | InvokeError::ResourceNotReadyException(_)
        )
    )
}

/// Why an invocation brought no answer from the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unanswered {
    /// Lambda answered with a 5xx error document of its own (`x-amzn-ErrorType`): it did not
    /// run the function.
    ByLambda,
    /// No answer, or a 5xx without Lambda's document (a gateway's): whether the function ran
    /// cannot be told.
    Unknown,
}

/// Whether (and how) an invocation failed short of the function's answer, as opposed to
/// being refused for what it asked (a 4xx: no such function, access denied, payload too
/// large), which asking again cannot mend.
fn unanswered<R>(
    e: &aws_sdk_lambda::error::SdkError<aws_sdk_lambda::operation::invoke::InvokeError, R>,
    status: Option<u16>,
) -> Option<Unanswered>
where
    R: std::fmt::Debug,
{
    use aws_sdk_lambda::error::SdkError;
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Some(Unanswered::Unknown)
        }
        SdkError::ServiceError(_) if status.is_some_and(|s| s >= 500) => {
            let lambda_document = e
                .as_service_error()
                .and_then(aws_sdk_lambda::error::ProvideErrorMetadata::code)
                .is_some_and(|code| code.ends_with("Exception"));
            Some(if lambda_document { Unanswered::ByLambda } else { Unanswered::Unknown })
        }
        _ => None,
    }
}

/// The kind and message of a function error body. Errors raised by Lambda itself rather than
/// by our code (`Runtime.ExitError` when the process died, `Sandbox.Timedout`) are invocation
/// failures, which are retried.
fn parse_function_error(body: &[u8]) -> (ErrorKind, String) {
    match serde_json::from_slice::<FunctionError>(body) {
        Ok(e) if e.error_type.starts_with("Runtime.") || e.error_type.starts_with("Sandbox.") => {
            (ErrorKind::Invocation, format!("{}: {}", e.error_type, e.error_message))
        }
        Ok(e) => (e.kind(), e.error_message),
        Err(_) => (ErrorKind::Invocation, format!("the renderer failed: {}", String::from_utf8_lossy(body))),
    }
}

/// The billed milliseconds from the base64 log tail of a `LogType::Tail` invocation: the
/// last report, in the text log format (`REPORT … Billed Duration: N ms`) or the JSON one
/// (a `platform.report` record's `metrics.billedDurationMs`).
pub fn billed_from_log_tail(tail_base64: &str) -> Option<u64> {
    let text = base64::engine::general_purpose::STANDARD.decode(tail_base64).ok()?;
    let text = String::from_utf8_lossy(&text);
    text.lines().rev().find_map(|line| billed_from_text_report(line).or_else(|| billed_from_json_report(line)))
}

fn billed_from_text_report(line: &str) -> Option<u64> {
    let after = line.strip_prefix("REPORT ")?.split("Billed Duration: ").nth(1)?;
    after.split_whitespace().next()?.parse().ok()
}

fn billed_from_json_report(line: &str) -> Option<u64> {
    let record: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    if record.get("type")?.as_str()? != "platform.report" {
        return None;
    }
    let billed = &record["record"]["metrics"]["billedDurationMs"];
    billed.as_u64().or_else(|| billed.as_f64().map(|ms| ms.ceil() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billed_duration_comes_from_the_report_line() {
        let tail = "START RequestId: 1 Version: $LATEST\nEND RequestId: 1\nREPORT RequestId: 1\tDuration: 2001.31 ms\tBilled Duration: 2002 ms\tMemory Size: 2048 MB\tMax Memory Used: 612 MB\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(tail);
        assert_eq!(billed_from_log_tail(&encoded), Some(2002));
        let json = concat!(
            r#"{"time":"2026-01-01T00:00:00.000Z","type":"platform.start","record":{"requestId":"1"}}"#,
            "\n",
            r#"{"time":"2026-01-01T00:00:02.001Z","type":"platform.report","record":{"requestId":"1","#,
            r#""metrics":{"durationMs":2001.31,"billedDurationMs":2002,"memorySizeMB":2048,"maxMemoryUsedMB":612},"#,
            r#""status":"success"}}"#,
            "\n"
        );
        assert_eq!(billed_from_log_tail(&base64::engine::general_purpose::STANDARD.encode(json)), Some(2002));
        let encoded = base64::engine::general_purpose::STANDARD.encode("no report here\n");
        assert_eq!(billed_from_log_tail(&encoded), None);
        assert_eq!(billed_from_log_tail("%%% not base64"), None);
    }

    #[test]
    fn lambda_runtime_errors_are_retriable_invocation_failures() {
        let (kind, message) =
            parse_function_error(br#"{"errorType":"Runtime.ExitError","errorMessage":"exit status 137"}"#);
        assert_eq!(kind, ErrorKind::Invocation);
        assert!(kind.is_retriable());
        assert!(message.contains("exit status 137"));
        let (kind, _) = parse_function_error(br#"{"errorType":"PageError","errorMessage":"boom at frame 3"}"#);
        assert_eq!(kind, ErrorKind::PageError);
        assert!(!kind.is_retriable());
        let (kind, _) = parse_function_error(b"<html>bad gateway</html>");
        assert_eq!(kind, ErrorKind::Invocation);
    }
}
