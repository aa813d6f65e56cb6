//! Faults for the [recording proxy](crate::recording_proxy): a plan of which requests to answer
//! with which failure, in the shapes AWS really answers with, so that tests can show the code
//! under test survives throttling, outages, slow answers and dropped connections, and ends a
//! render with a clear condition where nothing can be done.
//!
//! A plan is a list of [`Rule`]s, tried in order for every request; the first that fires
//! decides. A rule names the requests it applies to (operation, Lambda payload `type`, S3 key)
//! and fires on every one of them, at a rate (decided by a generator seeded from the plan, so
//! that a run's sequence of decisions can be repeated), up to a count, or during a storm: a
//! window that opens at the first request it matches.
//!
//! The faults ([`Fault`]):
//!
//! - Lambda's `429 TooManyRequestsException` and `500 ServiceException`, with the
//!   `x-amzn-ErrorType` header and JSON document the Lambda API answers with;
//! - S3's `503 SlowDown` and `500 InternalError`, with S3's XML error document;
//! - a bare `502`/`503` from a gateway in front of either (no AWS document);
//! - a slow answer (the request held before it is forwarded);
//! - a dropped connection, before the request is forwarded (nothing ran), or after the
//!   upstream answered (the call ran, the caller never heard: the dangerous one).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::recording_proxy::{ProxyBody, Recorded, Service};

/// One way a request can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Lambda: `429 TooManyRequestsException` (the function's reserved concurrency is taken).
    Throttle,
    /// Lambda: `500 ServiceException` (Lambda's own failure; the function did not run).
    ServiceError,
    /// S3: `503 SlowDown` (the prefix's request rate is exceeded).
    SlowDown,
    /// S3: `500 InternalError`.
    InternalError,
    /// `502 Bad Gateway` from a gateway in front of the service, without an AWS error document.
    BadGateway,
    /// `503 Service Unavailable` from a gateway in front of the service, without an AWS error
    /// document.
    Unavailable,
    /// The request is held this long before it is forwarded.
    Slow(Duration),
    /// The connection is closed before the request is forwarded: nothing ran.
    DropBefore,
    /// The request is forwarded and answered, then the connection is closed without the
    /// answer: the call ran, and its caller cannot know.
    DropAfter,
}

impl Fault {
    /// Every fault of Lambda's Invoke API (a slow answer held `slow`).
    pub fn lambda_mix(slow: Duration) -> Vec<Fault> {
        vec![
            Self::Throttle,
            Self::ServiceError,
            Self::BadGateway,
            Self::Unavailable,
            Self::Slow(slow),
            Self::DropBefore,
            Self::DropAfter,
        ]
    }

    /// Every fault of S3 (a slow answer held `slow`).
    pub fn s3_mix(slow: Duration) -> Vec<Fault> {
        vec![
            Self::SlowDown,
            Self::InternalError,
            Self::BadGateway,
            Self::Unavailable,
            Self::Slow(slow),
            Self::DropBefore,
            Self::DropAfter,
        ]
    }

    /// A short name, for counts and messages (`throttle`, `slow`, `drop-after`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Throttle => "throttle",
            Self::ServiceError => "service-error",
            Self::SlowDown => "slow-down",
            Self::InternalError => "internal-error",
            Self::BadGateway => "bad-gateway",
            Self::Unavailable => "unavailable",
            Self::Slow(_) => "slow",
            Self::DropBefore => "drop-before",
            Self::DropAfter => "drop-after",
        }
    }

    /// Whether the request reached the upstream (and, for an Invoke, ran the function).
    pub fn reaches_upstream(self) -> bool {
        matches!(self, Self::Slow(_) | Self::DropAfter)
    }

    /// Whether the caller cannot tell from what it got whether the call ran: no answer at all,
    /// or a gateway's answer that says nothing of the service behind it.
    pub fn fate_unknown_to_caller(self) -> bool {
        matches!(self, Self::DropBefore | Self::DropAfter | Self::BadGateway | Self::Unavailable)
    }

    /// The answer the proxy gives instead of forwarding, for the refusals; `None` for the
    /// faults that forward or drop.
    pub(crate) fn refusal(self, service: Service, method: &Method) -> Option<Response<ProxyBody>> {
        let (status, error_type, body, content_type): (StatusCode, Option<&str>, String, &str) = match self {
            // Lambda's throttling document: `Type` User, the reason of a reserved-concurrency
            // limit (the operator caps each function's concurrency).
            Self::Throttle => (
                StatusCode::TOO_MANY_REQUESTS,
                Some("TooManyRequestsException"),
                r#"{"Type":"User","message":"Rate Exceeded.","Reason":"ReservedFunctionConcurrentInvocationLimitExceeded"}"#.to_owned(),
                "application/json",
            ),
            Self::ServiceError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("ServiceException"),
                r#"{"Type":"Service","message":"An internal error occurred. Retry the request."}"#.to_owned(),
                "application/json",
            ),
            Self::SlowDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                s3_error("SlowDown", "Please reduce your request rate."),
                "application/xml",
            ),
            Self::InternalError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                s3_error("InternalError", "We encountered an internal error. Please try again."),
                "application/xml",
            ),
            Self::BadGateway => (
                StatusCode::BAD_GATEWAY,
                None,
                "<html><body><h1>502 Bad Gateway</h1></body></html>".to_owned(),
                "text/html",
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "<html><body><h1>503 Service Unavailable</h1></body></html>".to_owned(),
                "text/html",
            ),
            Self::Slow(_) | Self::DropBefore | Self::DropAfter => return None,
        };
        // A HEAD answer has no body; S3's error code then travels in the status alone.
        let body = if *method == Method::HEAD { String::new() } else { body };
        let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed());
        *response.status_mut() = status;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        let request_id = HeaderValue::from_static("fault-proxy-0000-0000-0000-000000000000");
        match service {
            Service::Lambda => {
                response.headers_mut().insert("x-amzn-requestid", request_id);
                if let Some(error_type) = error_type {
                    response.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static(error_type));
                }
            }
            Service::S3 => {
                response.headers_mut().insert("x-amz-request-id", request_id);
            }
        }
        Some(response)
    }
}

/// S3's error document.
fn s3_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
         <RequestId>FAULTPROXY000000</RequestId><HostId>fault-proxy</HostId></Error>"
    )
}

/// Which requests a rule applies to, and what it does to them.
#[derive(Clone, Debug)]
pub struct Rule {
    operation: Option<String>,
    payload_type: Option<String>,
    key_contains: Option<String>,
    faults: Vec<Fault>,
    rate: f64,
    limit: Option<u64>,
    storm: Option<Duration>,
}

impl Rule {
    /// Every matching request fails with one of `faults` (picked at random).
    pub fn every(faults: &[Fault]) -> Self {
        Self::random(1.0, faults)
    }

    /// A matching request fails with probability `rate`, with one of `faults`.
    pub fn random(rate: f64, faults: &[Fault]) -> Self {
        Self {
            operation: None,
            payload_type: None,
            key_contains: None,
            faults: faults.to_vec(),
            rate,
            limit: None,
            storm: None,
        }
    }

    /// Only requests of this operation (as [`Recorded::operation`] names it: `Invoke`,
    /// `PutObject`, …).
    pub fn on(mut self, operation: &str) -> Self {
        self.operation = Some(operation.to_owned());
        self
    }

    /// Only Lambda invocations whose payload has this `type` (`launch`, `render`, …).
    pub fn payload_type(mut self, payload_type: &str) -> Self {
        self.payload_type = Some(payload_type.to_owned());
        self
    }

    /// Only S3 requests whose key contains `part`.
    pub fn key_contains(mut self, part: &str) -> Self {
        self.key_contains = Some(part.to_owned());
        self
    }

    /// Fires at most `times` times.
    pub fn limit(mut self, times: u64) -> Self {
        self.limit = Some(times);
        self
    }

    /// Fires only during `length` from the first request it matches (a storm).
    pub fn storm(mut self, length: Duration) -> Self {
        self.storm = Some(length);
        self
    }

    fn matches(&self, request: &Recorded) -> bool {
        self.operation.as_ref().is_none_or(|op| *op == request.operation)
            && self.payload_type.as_ref().is_none_or(|t| payload_type(request).as_deref() == Some(t.as_str()))
            && self.key_contains.as_ref().is_none_or(|part| request.keys().iter().any(|k| k.contains(part.as_str())))
    }
}

/// The `type` of a Lambda payload (`launch`, `render`, `continue`, `info`, …).
pub fn payload_type(request: &Recorded) -> Option<String> {
    let payload = request.payload.as_ref()?;
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    value.get("type")?.as_str().map(str::to_owned)
}

/// Rules and the seed of their random decisions.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    seed: u64,
    rules: Vec<Rule>,
}

impl FaultPlan {
    /// No faults: every request is forwarded.
    pub fn none() -> Self {
        Self::default()
    }

    /// An empty plan whose random decisions follow `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self { seed, rules: Vec::new() }
    }

    /// Adds a rule, tried after the ones before it.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }
}

/// A plan as it runs: its generator, its storms' starts and its rules' counts.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    plan: FaultPlan,
    random: SplitMix64,
    storm_began: Vec<Option<Instant>>,
    fired: Vec<u64>,
}

impl Faults {
    pub(crate) fn new(plan: FaultPlan) -> Self {
        let rules = plan.rules.len();
        Self { random: SplitMix64(plan.seed), plan, storm_began: vec![None; rules], fired: vec![0; rules] }
    }

    /// The fault for `request`, if a rule fires.
    pub(crate) fn decide(&mut self, request: &Recorded) -> Option<Fault> {
        let now = Instant::now();
        for (i, rule) in self.plan.rules.iter().enumerate() {
            if !rule.matches(request) || rule.limit.is_some_and(|limit| self.fired[i] >= limit) {
                continue;
            }
            if let Some(length) = rule.storm {
                let began = *self.storm_began[i].get_or_insert(now);
                if now.duration_since(began) > length {
                    continue;
                }
            }
            // Drawn for every matching request, fired or not, so the sequence depends on the
            // requests alone.
            let draw = self.random.unit();
            let pick = self.random.next() as usize;
            if draw < rule.rate && !rule.faults.is_empty() {
                self.fired[i] += 1;
                return Some(rule.faults[pick % rule.faults.len()]);
            }
        }
        None
    }
}

/// A small seeded generator (SplitMix64): the same seed, the same decisions.
#[derive(Debug, Default)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording_proxy::{parse_lambda, parse_s3};
    use hyper::HeaderMap;

    fn invoke(payload: &str) -> Recorded {
        let mut r = parse_lambda(&Method::POST, "/2015-03-31/functions/test-fn-13/invocations");
        r.payload = Some(Bytes::from(payload.to_owned()));
        r
    }

    #[test]
    fn rules_match_operations_payload_types_and_keys() {
        let plan = FaultPlan::seeded(1)
            .rule(Rule::every(&[Fault::Throttle]).on("Invoke").payload_type("render").limit(2))
            .rule(Rule::every(&[Fault::SlowDown]).on("PutObject").key_contains("/out."));
        let mut faults = Faults::new(plan);
        let render = invoke(r#"{"type":"render","chunk":1}"#);
        let launch = invoke(r#"{"type":"launch"}"#);
        assert_eq!(faults.decide(&launch), None);
        assert_eq!(faults.decide(&render), Some(Fault::Throttle));
        assert_eq!(faults.decide(&render), Some(Fault::Throttle));
        assert_eq!(faults.decide(&render), None, "the limit is spent");
        let output = parse_s3(&Method::PUT, "/b/renders/r1/out.mp4", "x-id=PutObject", &HeaderMap::new());
        let chunk = parse_s3(&Method::PUT, "/b/renders/r1/chunks/0.mp4", "x-id=PutObject", &HeaderMap::new());
        assert_eq!(faults.decide(&output), Some(Fault::SlowDown));
        assert_eq!(faults.decide(&chunk), None);
    }

    #[test]
    fn the_same_seed_makes_the_same_decisions_at_about_the_rate() {
        let decisions = |seed| {
            let mut faults =
                Faults::new(FaultPlan::seeded(seed).rule(Rule::random(0.05, &Fault::s3_mix(Duration::ZERO))));
            let get = parse_s3(&Method::GET, "/b/k", "", &HeaderMap::new());
            (0..4000).map(|_| faults.decide(&get)).collect::<Vec<_>>()
        };
        let (a, b, c) = (decisions(7), decisions(7), decisions(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let fired = a.iter().flatten().count();
        assert!((120..=280).contains(&fired), "5 % of 4000: {fired}");
        let kinds: std::collections::HashSet<_> = a.iter().flatten().map(|f| f.name()).collect();
        assert_eq!(kinds.len(), 7, "every kind comes up: {kinds:?}");
    }

    #[test]
    fn a_storm_ends_its_window_after_the_first_match() {
        let mut faults = Faults::new(
            FaultPlan::none().rule(Rule::every(&[Fault::Throttle]).on("Invoke").storm(Duration::from_millis(50))),
        );
        let render = invoke(r#"{"type":"render"}"#);
        assert_eq!(faults.decide(&render), Some(Fault::Throttle));
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(faults.decide(&render), None);
    }

    #[tokio::test]
    async fn refusals_have_the_aws_shapes() -> anyhow::Result<()> {
        let throttled = Fault::Throttle.refusal(Service::Lambda, &Method::POST).expect("a refusal");
        assert_eq!(throttled.status(), 429);
        assert_eq!(throttled.headers()["x-amzn-errortype"], "TooManyRequestsException");
        let body = throttled.into_body().collect().await?.to_bytes();
        let doc: serde_json::Value = serde_json::from_slice(&body)?;
        assert_eq!(doc["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
        let slow_down = Fault::SlowDown.refusal(Service::S3, &Method::PUT).expect("a refusal");
        assert_eq!(slow_down.status(), 503);
        let body = slow_down.into_body().collect().await?.to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("<Code>SlowDown</Code>"));
        assert!(Fault::DropAfter.refusal(Service::S3, &Method::PUT).is_none());
        let head = Fault::InternalError.refusal(Service::S3, &Method::HEAD).expect("a refusal");
        assert!(head.into_body().collect().await?.to_bytes().is_empty());
        Ok(())
    }

    /// Through the proxy to the real S3 stand-in: a dropped-after write landed though its
    /// caller failed; a dropped-before one did not; a SlowDown reaches the SDK as S3's code.
    #[tokio::test]
    async fn faults_through_the_proxy_to_a_real_store() -> anyhow::Result<()> {
        use crate::TestEnv;
        use crate::recording_proxy::RecordingProxy;
        use aws_sdk_s3::primitives::ByteStream;

        let env = TestEnv::get();
        let bucket = env.s3().create_test_bucket("fault-proxy").await?;
        let proxy = RecordingProxy::s3(&env.s3().endpoint).await?;
        let direct = env.s3().client().await;
        let config = direct
            .config()
            .to_builder()
            .endpoint_url(&proxy.endpoint)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build();
        let through = aws_sdk_s3::Client::from_conf(config);
        proxy.set_faults(
            FaultPlan::none()
                .rule(Rule::every(&[Fault::DropAfter]).on("PutObject").key_contains("after").limit(1))
                .rule(Rule::every(&[Fault::DropBefore]).on("PutObject").key_contains("before").limit(1))
                .rule(Rule::every(&[Fault::SlowDown]).on("GetObject").limit(1)),
        );
        let put = |key: &'static str| {
            through.put_object().bucket(&bucket).key(key).body(ByteStream::from_static(b"x")).send()
        };
        assert!(put("after").await.is_err(), "the caller hears nothing");
        assert!(direct.head_object().bucket(&bucket).key("after").send().await.is_ok(), "but the write landed");
        assert!(put("before").await.is_err());
        assert!(direct.head_object().bucket(&bucket).key("before").send().await.is_err(), "nothing was written");
        let slowed = through.get_object().bucket(&bucket).key("after").send().await;
        let code = slowed.as_ref().err().and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e));
        assert_eq!(code, Some("SlowDown"), "{slowed:?}");
        // The plan spent, everything is forwarded again.
        assert!(put("after").await.is_ok());
        let counts = proxy.faults_injected();
        assert_eq!(counts.values().sum::<u64>(), 3, "{counts:?}");
        let forwarded = proxy.recorded().iter().filter(|r| r.reached_upstream()).count();
        assert_eq!(forwarded, 2, "the dropped-after write and the last one: {:?}", proxy.recorded());
        Ok(())
    }
}
