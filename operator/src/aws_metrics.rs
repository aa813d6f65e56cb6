//! Metrics of every AWS call the operator makes, taken by an SDK interceptor ([`CallMetrics`])
//! that [`crate::aws`] registers on each S3 and Lambda client.
//!
//! Series (prefixed `remotion_operator_`, registered by [`crate::metrics::Metrics::new`]):
//! - `aws_calls_total{service, operation}`: calls made (one per SDK operation, counted when it
//!   starts; its retries are part of the call);
//! - `aws_call_errors_total{service, operation, code, status}`: calls that ended in an error,
//!   by the error code the service answered with (`AccessDenied`, `NoSuchBucket`; `HTTP 404`
//!   when the answer carried none; `Timeout`, `ConnectionError`, `Other` when no answer came)
//!   and the HTTP status class (`4xx`, `5xx`; `none` without an answer);
//! - `aws_throttles_total{service, operation}`: attempts the service throttled (HTTP 429 or a
//!   throttling code such as `TooManyRequestsException` or S3's `SlowDown`), retried or not;
//! - `lambda_invocations_total{result}`: Lambda `Invoke` calls by result: `ok`,
//!   `function_error` (the call succeeded, the function failed: `X-Amz-Function-Error`),
//!   `throttled`, `error`.
//!
//! The SDK clients are built per AWS access, far from any one [`crate::metrics::Metrics`], so
//! these counters are process-wide ([`AwsMetrics::global`]) and every `Metrics` of the process
//! exposes the same ones.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use aws_sdk_s3::config::interceptors::{BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::tenancy::foreign;

/// Distinct error codes kept as label values; later ones are counted as [`OTHER_CODE`]. A
/// tenant's own S3-compatible endpoint may answer with any code, and every code is a series.
const MAX_CODES: usize = 64;
/// The `code` of errors beyond [`MAX_CODES`].
const OTHER_CODE: &str = "OtherErrorCode";

/// Error codes that mean "slow down" (the SDK's own throttling list, with S3's and Lambda's).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    service: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    service: String,
    operation: String,
    code: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InvocationLabels {
    result: String,
}

/// The counters of AWS calls.
#[derive(Debug, Default)]
pub struct AwsMetrics {
    calls: Family<CallLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    throttles: Family<CallLabels, Counter>,
    invocations: Family<InvocationLabels, Counter>,
    codes: Mutex<HashSet<String>>,
}

impl AwsMetrics {
    /// The process's counters, which every client's interceptor counts into.
    pub fn global() -> Arc<AwsMetrics> {
        static GLOBAL: OnceLock<Arc<AwsMetrics>> = OnceLock::new();
        GLOBAL.get_or_init(|| Arc::new(AwsMetrics::new())).clone()
    }

    /// New counters, with the Invoke results at 0 so that rates exist before the first call.
    pub fn new() -> Self {
        let metrics = Self::default();
        for result in ["ok", "function_error", "throttled", "error"] {
            let _ = metrics.invocations.get_or_create(&InvocationLabels { result: result.to_owned() });
        }
        metrics
    }

    /// Registers the series in `registry` (shared: the counts stay in `self`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register("aws_calls", "AWS API calls made, by service and operation", self.calls.clone());
        registry.register(
            "aws_call_errors",
            "AWS API calls that ended in an error, by error code and HTTP status class",
            self.errors.clone(),
        );
        registry.register(
            "aws_throttles",
            "AWS API attempts answered with throttling (HTTP 429, TooManyRequestsException, SlowDown…)",
            self.throttles.clone(),
        );
        registry.register(
            "lambda_invocations",
            "Lambda Invoke calls by result (ok, function_error, throttled, error)",
            self.invocations.clone(),
        );
    }

    /// An interceptor counting into these counters.
    pub fn interceptor(self: &Arc<Self>) -> CallMetrics {
        CallMetrics { metrics: self.clone() }
    }

    /// `code` as a label value: printable and short, and one of at most [`MAX_CODES`].
    fn code_label(&self, code: &str) -> String {
        let code = foreign::error_code(code);
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        if codes.contains(code) {
            return code.to_owned();
        }
        if codes.len() >= MAX_CODES {
            return OTHER_CODE.to_owned();
        }
        codes.insert(code.to_owned());
        code.to_owned()
    }
}

/// The SDK interceptor: counts calls, errors, throttled attempts and Invoke results.
#[derive(Clone, Debug)]
pub struct CallMetrics {
    metrics: Arc<AwsMetrics>,
}

/// The service and operation of the call (the SDK stores them in the config bag).
fn call_labels(cfg: &ConfigBag) -> CallLabels {
    match cfg.load::<Metadata>() {
        Some(meta) => CallLabels { service: meta.service().to_owned(), operation: meta.name().to_owned() },
        None => CallLabels { service: "unknown".to_owned(), operation: "unknown".to_owned() },
    }
}

/// The error code of an error answer, as the protocol carries it: the `x-amzn-errortype`
/// header (JSON protocols, e.g. Lambda: `TooManyRequestsException:http://…`), else the
/// `<Code>` of an XML body (S3).
fn answered_code(response: &HttpResponse) -> Option<String> {
    if let Some(header) = response.headers().get("x-amzn-errortype") {
        let code = header.split([':', '#']).find(|part| !part.is_empty()).unwrap_or(header);
        return Some(code.trim().to_owned()).filter(|c| !c.is_empty());
    }
    let body = std::str::from_utf8(response.body().bytes()?).ok()?;
    let start = body.find("<Code>")? + "<Code>".len();
    let end = start + body[start..].find("</Code>")?;
    Some(body[start..end].trim().to_owned()).filter(|c| !c.is_empty())
}

fn is_throttling(response: &HttpResponse, code: Option<&str>) -> bool {
    response.status().as_u16() == 429 || code.is_some_and(|c| THROTTLING_CODES.contains(&c))
}

impl Intercept for CallMetrics {
    fn name(&self) -> &'static str {
        "remotion-operator-call-metrics"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Here rather than in `read_before_execution`: a client's interceptors run that hook
        // before the operation has stored its name in the config bag.
        self.metrics.calls.get_or_create(&call_labels(cfg)).inc();
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Per attempt: a throttled attempt the SDK retries successfully still means the
        // account is at its limit.
        if let Some(response) = context.response()
            && !response.status().is_success()
            && is_throttling(response, answered_code(response).as_deref())
        {
            self.metrics.throttles.get_or_create(&call_labels(cfg)).inc();
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let call = call_labels(cfg);
        let failed = context.output_or_error().and_then(Result::err);
        let response = context.response();
        // Error answers only: a successful body is the caller's data (an Invoke payload may
        // hold anything), never an error code.
        let throttled =
            response.is_some_and(|r| !r.status().is_success() && is_throttling(r, answered_code(r).as_deref()));
        if let Some(error) = failed {
            let (code, status) = match response {
                Some(response) => {
                    let status = response.status().as_u16();
                    let code = match answered_code(response) {
                        Some(code) => self.metrics.code_label(&code),
                        // A HEAD answer has no body to carry a code: the status says it.
                        None => format!("HTTP {status}"),
                    };
                    (code, format!("{}xx", status / 100))
                }
                None if error.is_timeout_error() => ("Timeout".to_owned(), "none".to_owned()),
                None if error.is_connector_error() => ("ConnectionError".to_owned(), "none".to_owned()),
                None => ("Other".to_owned(), "none".to_owned()),
            };
            let labels = ErrorLabels { service: call.service.clone(), operation: call.operation.clone(), code, status };
            self.metrics.errors.get_or_create(&labels).inc();
        }
        if call.service == "Lambda" && call.operation == "Invoke" {
            let function_error = response.is_some_and(|r| r.headers().contains_key("x-amz-function-error"));
            let result = match (failed.is_some(), throttled, function_error) {
                (true, true, _) => "throttled",
                (true, false, _) => "error",
                (false, _, true) => "function_error",
                (false, _, false) => "ok",
            };
            self.metrics.invocations.get_or_create(&InvocationLabels { result: result.to_owned() }).inc();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::primitives::Blob;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A canned answer: status, extra headers, body.
    type Answer = (u16, Vec<(&'static str, &'static str)>, &'static str);

    /// An HTTP server answering each connection's one request with the next of `answers`,
    /// closing the connection after it.
    async fn serve(answers: Vec<Answer>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for (status, headers, body) in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                // Read the request's head and its Content-Length of body before answering.
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = socket.read(&mut buf).await.unwrap();
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let length = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= head_end + 4 + length {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                let mut answer =
                    format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
                for (name, value) in headers {
                    answer.push_str(&format!("{name}: {value}\r\n"));
                }
                answer.push_str("\r\n");
                answer.push_str(body);
                socket.write_all(answer.as_bytes()).await.unwrap();
                socket.shutdown().await.unwrap();
            }
        });
        format!("http://{addr}")
    }

    fn sdk(endpoint: &str) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                aws_sdk_s3::config::Credentials::new("AKID", "SECRET", None, None, "test"),
            ))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build()
    }

    #[tokio::test]
    async fn calls_errors_throttles_and_invocations_are_counted() {
        let metrics = Arc::new(AwsMetrics::new());
        let endpoint = serve(vec![
            (200, vec![], "{}"),
            // A payload that looks like a throttling answer is still the function's payload.
            (200, vec![("x-amz-function-error", "Unhandled")], "<Error><Code>SlowDown</Code></Error>"),
            (429, vec![("x-amzn-errortype", "TooManyRequestsException:http://internal")], r#"{"message":"slow"}"#),
            (404, vec![("content-type", "application/xml")], "<Error><Code>NoSuchBucket</Code></Error>"),
            (403, vec![], ""),
            (503, vec![("content-type", "application/xml")], "<Error><Code>SlowDown</Code></Error>"),
        ])
        .await;
        let config = sdk(&endpoint);
        let lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&config).interceptor(metrics.interceptor()).build(),
        );
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .interceptor(metrics.interceptor())
                .build(),
        );
        for _ in 0..3 {
            let _ = lambda.invoke().function_name("f").payload(Blob::new("{}")).send().await;
        }
        let _ = s3.list_objects_v2().bucket("b").send().await;
        let _ = s3.head_bucket().bucket("b").send().await;
        let _ = s3.put_object().bucket("b").key("k").send().await;
        // Nothing listens on port 1: no answer at all.
        let unreachable = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk("http://127.0.0.1:1"))
                .force_path_style(true)
                .interceptor(metrics.interceptor())
                .build(),
        );
        let _ = unreachable.head_bucket().bucket("b").send().await;
        // A call its caller gives up on (as the launch does after its timeout) is a call, and
        // no result: nothing answers on this listener.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&sdk(&format!("http://{}", silent.local_addr().unwrap())))
                .interceptor(metrics.interceptor())
                .build(),
        );
        let abandoned = silent_lambda.invoke().function_name("f").send();
        assert!(tokio::time::timeout(std::time::Duration::from_millis(300), abandoned).await.is_err());

        let mut registry = Registry::with_prefix("remotion_operator");
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"remotion_operator_aws_calls_total{service="Lambda",operation="Invoke"} 4"#,
            r#"remotion_operator_aws_calls_total{service="S3",operation="ListObjectsV2"} 1"#,
            r#"remotion_operator_aws_call_errors_total{service="Lambda",operation="Invoke",code="TooManyRequestsException",status="4xx"} 1"#,
            r#"remotion_operator_aws_call_errors_total{service="S3",operation="ListObjectsV2",code="NoSuchBucket",status="4xx"} 1"#,
            r#"remotion_operator_aws_call_errors_total{service="S3",operation="HeadBucket",code="HTTP 403",status="4xx"} 1"#,
            r#"remotion_operator_aws_call_errors_total{service="S3",operation="PutObject",code="SlowDown",status="5xx"} 1"#,
            r#"remotion_operator_aws_call_errors_total{service="S3",operation="HeadBucket",code="ConnectionError",status="none"} 1"#,
            r#"remotion_operator_aws_calls_total{service="S3",operation="HeadBucket"} 2"#,
            r#"remotion_operator_aws_throttles_total{service="Lambda",operation="Invoke"} 1"#,
            r#"remotion_operator_aws_throttles_total{service="S3",operation="PutObject"} 1"#,
            r#"remotion_operator_lambda_invocations_total{result="ok"} 1"#,
            r#"remotion_operator_lambda_invocations_total{result="function_error"} 1"#,
            r#"remotion_operator_lambda_invocations_total{result="throttled"} 1"#,
            r#"remotion_operator_lambda_invocations_total{result="error"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert!(
            !text.contains(r#"aws_call_errors_total{service="Lambda",operation="Invoke",code="HTTP 200""#),
            "{text}"
        );
    }

    #[test]
    fn foreign_error_codes_are_bounded() {
        let metrics = AwsMetrics::new();
        assert_eq!(metrics.code_label("Bad Code <script>"), "UnreadableErrorCode");
        for i in 0..(MAX_CODES * 2) {
            metrics.code_label(&format!("Code{i}"));
        }
        assert_eq!(metrics.code_label("YetAnother"), OTHER_CODE);
        assert_eq!(metrics.code_label("Code0"), "Code0", "a code seen before keeps its label");
    }
}
