//! A front for the Lambda emulator's Invoke API that answers the way AWS does, so that the code
//! under test only ever meets AWS's shapes:
//!
//! - an `Event` invocation is answered `202 Accepted` at once, as AWS does (cargo-lambda holds
//!   the request until the run ends), and handed on in the background, the request kept open
//!   until the emulator answers (the emulator drops a queued invocation whose caller went away);
//! - a function error is answered `200` with `X-Amz-Function-Error: Unhandled` and the error
//!   document as the payload, as AWS does (cargo-lambda answers HTTP 500 with the document).
//!
//! Everything else, an invocation of a function the emulator does not serve included, passes
//! through unchanged. Function processes reach the emulator's runtime API directly.
//!
//! Tests can make it refuse the next invocations of a function the way AWS does when it
//! throttles or fails ([`refuse_next`]), to test the callers' retries.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HOST, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::lambda::function_names;

/// How long an invocation may run in the emulator (Lambda's own limit is 15 minutes).
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// An error AWS answers an invocation with instead of running it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `429 TooManyRequestsException` (concurrency or rate limit).
    Throttled,
    /// `500 ServiceException` (Lambda's own failure).
    ServiceError,
}

impl Refusal {
    fn answer(self) -> Response<Full<Bytes>> {
        let (status, kind, message) = match self {
            Self::Throttled => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", "Rate Exceeded."),
            Self::ServiceError => (StatusCode::INTERNAL_SERVER_ERROR, "ServiceException", "Lambda is unavailable."),
        };
        let body = serde_json::json!({"Type": "Service", "message": message}).to_string();
        let headers = [
            ("x-amzn-errortype".to_owned(), HeaderValue::from_static(kind)),
            ("content-type".to_owned(), HeaderValue::from_static("application/json")),
        ];
        answer(status, &headers, Bytes::from(body))
    }
}

/// Refusals still to be answered, per function, in order.
fn refusals() -> &'static Mutex<HashMap<String, VecDeque<Refusal>>> {
    static REFUSALS: OnceLock<Mutex<HashMap<String, VecDeque<Refusal>>>> = OnceLock::new();
    REFUSALS.get_or_init(Mutex::default)
}

/// Makes the fronts of this process answer the next invocations of `function` with `refusals`,
/// one each, before passing invocations on again.
pub fn refuse_next(function: &str, next: &[Refusal]) {
    let mut all = refusals().lock().unwrap_or_else(|e| e.into_inner());
    all.entry(function.to_owned()).or_default().extend(next);
}

/// The refusal due for an invocation of `function`, if one is scripted.
fn scripted_refusal(function: &str) -> Option<Refusal> {
    refusals().lock().unwrap_or_else(|e| e.into_inner()).get_mut(function)?.pop_front()
}

/// A running front.
#[derive(Clone, Debug)]
pub struct LambdaFront {
    /// Invoke API endpoint, `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl LambdaFront {
    /// Starts a front for the emulator at `upstream`, on a free port and on a thread and runtime
    /// of its own (it lives as long as the process).
    pub fn start(upstream: String) -> Result<Self> {
        Self::start_on(0, upstream)
    }

    /// [`LambdaFront::start`] on `port` of 127.0.0.1 (0: a free one).
    pub fn start_on(port: u16, upstream: String) -> Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).context("binding the Lambda front")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let client = reqwest::Client::builder().timeout(INVOCATION_TIMEOUT).build()?;
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        std::thread::Builder::new().name("lambda-front".into()).spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => serve(listener, client, upstream).await,
                    Err(e) => eprintln!("lambda front: {e}"),
                }
            })
        })?;
        Ok(Self { endpoint: format!("http://127.0.0.1:{port}") })
    }
}

async fn serve(listener: tokio::net::TcpListener, client: reqwest::Client, upstream: String) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors or similar: back off instead of spinning.
                eprintln!("lambda front: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| forward(request, client.clone(), upstream.clone()));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// The function an Invoke API path names (`/2015-03-31/functions/{name}/invocations`).
fn invoked_function(path: &str) -> Option<&str> {
    path.strip_prefix("/2015-03-31/functions/")?.strip_suffix("/invocations")
}

/// Whether a body is a function's error document (`{"errorType": …, "errorMessage": …}`).
fn is_function_error(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.get("errorType").is_some())
}

async fn forward(
    request: Request<Incoming>,
    client: reqwest::Client,
    upstream: String,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut onward = client.request(parts.method.clone(), format!("{upstream}{path}")).body(body);
    for (name, value) in &parts.headers {
        if name != HOST && name != CONTENT_LENGTH {
            onward = onward.header(name, value);
        }
    }
    if let Some(refusal) = invoked_function(parts.uri.path()).and_then(scripted_refusal) {
        return Ok(refusal.answer());
    }
    let served = invoked_function(parts.uri.path()).is_some_and(|name| function_names().iter().any(|n| n == name));
    let event = parts.headers.get("x-amz-invocation-type").is_some_and(|v| v == "Event");
    if event && served {
        tokio::spawn(async move {
            if let Err(e) = onward.send().await {
                eprintln!("lambda front: the Event invocation {path} failed: {e}");
            }
        });
        return Ok(answer(StatusCode::ACCEPTED, &[], Bytes::new()));
    }
    match onward.send().await {
        Ok(upstream_answer) => {
            let status = upstream_answer.status();
            let headers: Vec<_> = upstream_answer
                .headers()
                .iter()
                .filter(|(name, _)| *name != CONTENT_LENGTH)
                .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
                .collect();
            let bytes = upstream_answer.bytes().await.unwrap_or_default();
            if served && status == StatusCode::INTERNAL_SERVER_ERROR && is_function_error(&bytes) {
                let error = [("x-amz-function-error".to_owned(), HeaderValue::from_static("Unhandled"))];
                return Ok(answer(StatusCode::OK, &error, bytes));
            }
            Ok(answer(status, &headers, bytes))
        }
        Err(e) => Ok(answer(StatusCode::BAD_GATEWAY, &[], Bytes::from(format!("lambda front: {e}")))),
    }
}

fn answer(status: StatusCode, headers: &[(String, HeaderValue)], body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    for (name, value) in headers {
        if let Ok(name) = hyper::header::HeaderName::from_bytes(name.as_bytes()) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_paths_name_their_function() {
        assert_eq!(invoked_function("/2015-03-31/functions/test-fn-01/invocations"), Some("test-fn-01"));
        assert_eq!(invoked_function("/2015-03-31/functions/test-fn-01/configuration"), None);
        assert!(is_function_error(br#"{"errorType":"PageError","errorMessage":"boom"}"#));
        assert!(!is_function_error(br#"{"message":"service"}"#));
    }
}
