//! A recording proxy in front of a stand-in (the S3 store or the Lambda front): tests point one
//! tenant's `endpoint` at it and then ask which requests that tenant's operator sent, to show
//! at the request level that nothing of another tenant's was written, changed or deleted.
//! Outcome checks (objects still there) miss a write of the same bytes, a write undone later,
//! and a call that failed only by chance; the record does not.
//!
//! Every request is forwarded unchanged (headers included, so that SigV4 signatures over
//! `Host` still verify) on a fresh upstream connection, bodies streamed both ways. Only two
//! bodies are read whole before forwarding, to record what they name: S3's multi-object delete
//! (`POST /<bucket>?delete`, whose keys are in its XML) and Lambda's Invoke and CreateFunction
//! (the payload names the render; the function name of a create is in its body).
//!
//! A proxy lives on the runtime of the test that started it and stops when it is dropped, so
//! every test has its own and no test sees another's requests.
//!
//! A proxy can also fail requests on purpose, as AWS and the network do: give it a
//! [`FaultPlan`] ([`RecordingProxy::set_faults`]) and every request is first put to the plan;
//! what it did is in each request's record ([`Recorded::fault`]).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use remotion_tests::recording_proxy::RecordingProxy;
//! let env = remotion_tests::TestEnv::get();
//! let proxy = RecordingProxy::s3(&env.s3().endpoint).await?;
//! // … a LambdaBucket of the attacker's with `endpoint: proxy.endpoint` …
//! assert!(proxy.writes_to("victims-bucket", "sites/victim/").is_empty());
//! # Ok(()) }
//! ```

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::task::AbortHandle;

use crate::fault_proxy::{Fault, FaultPlan, Faults};

mod parse;
use parse::{delete_objects_keys, function_of, query_has};
pub(crate) use parse::{parse_lambda, parse_s3};

/// The API a proxy stands in front of: how its requests are parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// S3, path-style (`/<bucket>/<key>`), as the operator and the harness address custom endpoints.
    S3,
    /// Lambda's REST API (`/2015-03-31/functions/<name>/…`).
    Lambda,
}

/// One request the proxy forwarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// HTTP method.
    pub method: Method,
    /// The path as sent (percent-encoded).
    pub path: String,
    /// The query as sent, without `?` (empty when none).
    pub query: String,
    /// The API operation, e.g. `PutObject`, `DeleteObjects`, `PutBucketTagging`, `Invoke`,
    /// `UpdateFunctionCode`; for a request this module does not know, `<METHOD> <path>`.
    pub operation: String,
    /// S3: the bucket (decoded).
    pub bucket: Option<String>,
    /// S3: the object key (decoded); for `DeleteObjects`, see [`Recorded::deleted_keys`].
    pub key: Option<String>,
    /// S3 `DeleteObjects`: the keys its XML body names.
    pub deleted_keys: Vec<String>,
    /// S3 `CopyObject`/`UploadPartCopy`: the source (`x-amz-copy-source`, decoded).
    pub copy_source: Option<String>,
    /// Lambda: the function (the name, also when the request named it by ARN).
    pub function: Option<String>,
    /// Lambda `Invoke`/`CreateFunction`: the body.
    pub payload: Option<Bytes>,
    /// The upstream's status code (`None`: no answer, the request failed on the way); for a
    /// request the proxy refused itself, the status it answered with.
    pub status: Option<u16>,
    /// The fault the proxy's plan put on the request, if any.
    pub fault: Option<Fault>,
    /// Lambda `Invoke`: what Lambda would bill, request to answer rounded up to the millisecond
    /// (an `Event` invocation of a served function: its run, once it has ended).
    pub billed_milliseconds: Option<u64>,
}

impl Recorded {
    /// Whether the request can change something: anything but `GET`, `HEAD` and `OPTIONS`.
    /// A conservative reading: a `POST` that only reads (S3 Select) counts as a write.
    pub fn is_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }

    /// The object keys the request names: its key, or a multi-object delete's keys.
    pub fn keys(&self) -> Vec<&str> {
        self.key.iter().map(String::as_str).chain(self.deleted_keys.iter().map(String::as_str)).collect()
    }

    /// Whether the request names `bucket` and, unless `prefix` is empty, a key under `prefix`
    /// (a bucket-level request, e.g. PutBucketTagging, matches the empty prefix only).
    pub fn touches(&self, bucket: &str, prefix: &str) -> bool {
        self.bucket.as_deref() == Some(bucket)
            && (prefix.is_empty() || self.keys().iter().any(|key| key.starts_with(prefix)))
    }

    /// Whether the request reached the upstream (no fault, or one that forwards it).
    pub fn reached_upstream(&self) -> bool {
        self.fault.is_none_or(Fault::reaches_upstream)
    }

    /// The Lambda payload's `type` (`launch`, `render`, …), if it has one.
    pub fn payload_type(&self) -> Option<String> {
        crate::fault_proxy::payload_type(self)
    }

    /// The Lambda payload as text (lossy), empty when there is none.
    pub fn payload_text(&self) -> String {
        self.payload.as_ref().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or_default()
    }
}

impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.operation, self.method, self.path)?;
        if !self.query.is_empty() {
            write!(f, "?{}", self.query)?;
        }
        if !self.deleted_keys.is_empty() {
            write!(f, " keys={:?}", self.deleted_keys)?;
        }
        if self.payload.is_some() {
            // Enough to tell which render or request it was.
            let text = self.payload_text();
            let shown: String = text.chars().take(160).collect();
            let more = if shown.len() < text.len() { "…" } else { "" };
            write!(f, " payload={shown}{more}")?;
        }
        if let Some(fault) = self.fault {
            write!(f, " [{}]", fault.name())?;
        }
        match self.status {
            Some(status) => write!(f, " -> {status}"),
            None => write!(f, " -> no answer"),
        }
    }
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct RecordingProxy {
    /// `http://127.0.0.1:<port>`: the endpoint to give the code under test.
    pub endpoint: String,
    log: Arc<Mutex<Vec<Recorded>>>,
    faults: Arc<Mutex<Faults>>,
    accept: AbortHandle,
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl RecordingProxy {
    /// A proxy in front of the S3 store at `upstream` (`http://127.0.0.1:<port>`).
    pub async fn s3(upstream: &str) -> Result<Self> {
        Self::start(Service::S3, upstream).await
    }

    /// A proxy in front of the Lambda API at `upstream` (the harness's Lambda front).
    pub async fn lambda(upstream: &str) -> Result<Self> {
        Self::start(Service::Lambda, upstream).await
    }

    /// Starts a proxy for `service` in front of `upstream` on a free port of 127.0.0.1, on the
    /// calling runtime.
    pub async fn start(service: Service, upstream: &str) -> Result<Self> {
        let Some(authority) = upstream.strip_prefix("http://").map(|a| a.trim_end_matches('/')) else {
            bail!("the recording proxy forwards to http:// upstreams only, not {upstream}");
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the recording proxy")?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let log = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(Mutex::new(Faults::default()));
        let shared =
            Arc::new(Forwarding { service, upstream: authority.to_owned(), log: log.clone(), faults: faults.clone() });
        let accept = tokio::spawn(serve(listener, shared)).abort_handle();
        Ok(Self { endpoint, log, faults, accept })
    }

    /// Puts every request from now on to `plan` (its storms and counts start afresh);
    /// [`FaultPlan::none`] forwards everything again.
    pub fn set_faults(&self, plan: FaultPlan) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = Faults::new(plan);
    }

    /// How many requests the plan failed, by fault name (`throttle`, `drop-after`, …).
    pub fn faults_injected(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let mut counts = std::collections::BTreeMap::new();
        for fault in self.recorded().iter().filter_map(|r| r.fault) {
            *counts.entry(fault.name()).or_insert(0) += 1;
        }
        counts
    }

    /// Every request so far, in the order they arrived.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many requests so far (a mark for [`RecordingProxy::since`]).
    pub fn len(&self) -> usize {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no request arrived yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The requests after the first `mark`.
    pub fn since(&self, mark: usize) -> Vec<Recorded> {
        self.recorded().into_iter().skip(mark).collect()
    }

    /// Every request naming `bucket`, reads included.
    pub fn requests_to(&self, bucket: &str) -> Vec<Recorded> {
        self.recorded().into_iter().filter(|r| r.touches(bucket, "")).collect()
    }

    /// The writes (PUT, POST, DELETE: PutObject, CopyObject, DeleteObject(s), multipart
    /// uploads, CreateBucket, DeleteBucket, PutBucketTagging, PutBucketLifecycleConfiguration,
    /// PutPublicAccessBlock, …) naming `bucket` and, unless `prefix` is empty, a key under
    /// `prefix`. Attempts count, whatever the store answered: a refused write was still tried.
    pub fn writes_to(&self, bucket: &str, prefix: &str) -> Vec<Recorded> {
        self.recorded().into_iter().filter(|r| r.is_write() && r.touches(bucket, prefix)).collect()
    }

    /// The requests naming `function` that can change it or run it: UpdateFunctionCode,
    /// UpdateFunctionConfiguration, DeleteFunction, PutFunctionConcurrency, TagResource, Invoke, …
    /// (everything but reads).
    pub fn lambda_mutations(&self, function: &str) -> Vec<Recorded> {
        self.recorded().into_iter().filter(|r| r.is_write() && r.function.as_deref() == Some(function)).collect()
    }

    /// The Invoke requests (of any function), with their payloads.
    pub fn invocations(&self) -> Vec<Recorded> {
        self.recorded().into_iter().filter(|r| r.operation == "Invoke").collect()
    }
}

/// What every connection of one proxy shares.
struct Forwarding {
    service: Service,
    /// `127.0.0.1:<port>` of the upstream.
    upstream: String,
    log: Arc<Mutex<Vec<Recorded>>>,
    faults: Arc<Mutex<Faults>>,
}

pub(crate) type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// What a request whose connection the proxy drops ends in: hyper closes a connection whose
/// service fails, without an answer.
#[derive(Debug, thiserror::Error)]
#[error("the fault plan dropped the connection")]
struct Dropped;

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Forwarding>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors or similar: back off instead of spinning.
                eprintln!("recording proxy: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| forward(request, shared.clone()));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Whether the proxy reads `parts`' body whole before forwarding, to record what it names.
fn reads_body(service: Service, method: &Method, path: &str, query: &str) -> bool {
    match service {
        Service::S3 => *method == Method::POST && query_has(query, "delete"),
        Service::Lambda => {
            *method == Method::POST
                && (path.ends_with("/invocations") || path.trim_end_matches('/').ends_with("/functions"))
        }
    }
}

async fn forward(request: Request<Incoming>, shared: Arc<Forwarding>) -> Result<Response<ProxyBody>, Dropped> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let mut record = match shared.service {
        Service::S3 => parse_s3(&parts.method, &path, &query, &parts.headers),
        Service::Lambda => parse_lambda(&parts.method, &path),
    };
    let body: ProxyBody = if reads_body(shared.service, &parts.method, &path, &query) {
        let bytes = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => return Ok(text(StatusCode::BAD_REQUEST, format!("recording proxy: reading the body: {e}"))),
        };
        match shared.service {
            Service::S3 => record.deleted_keys = delete_objects_keys(&bytes),
            Service::Lambda => {
                if record.function.is_none() {
                    // CreateFunction names its function in the body.
                    record.function = serde_json::from_slice::<serde_json::Value>(&bytes)
                        .ok()
                        .and_then(|v| v.get("FunctionName")?.as_str().map(function_of));
                }
                record.payload = Some(bytes.clone());
            }
        }
        Full::new(bytes).map_err(|never| match never {}).boxed()
    } else {
        body.boxed()
    };
    record.fault = shared.faults.lock().unwrap_or_else(|e| e.into_inner()).decide(&record);
    let fault = record.fault;
    let refusal = fault.and_then(|f| f.refusal(shared.service, &parts.method));
    record.status = refusal.as_ref().map(|r| r.status().as_u16());
    // Recorded before it is forwarded: a test that sees the effect sees the request too.
    let index = {
        let mut log = shared.log.lock().unwrap_or_else(|e| e.into_inner());
        log.push(record);
        log.len() - 1
    };
    if let Some(refusal) = refusal {
        // Read to its end first, so the client is not cut off while still sending.
        let _ = body.collect().await;
        return Ok(refusal);
    }
    match fault {
        Some(Fault::DropBefore) => return Err(Dropped),
        Some(Fault::Slow(hold)) => tokio::time::sleep(hold).await,
        _ => {}
    }
    // A synchronous invocation is measured as Lambda bills it, and its answer carries the log
    // tail when asked for, as Lambda's does.
    let event = parts.headers.get("x-amz-invocation-type").is_some_and(|v| v == "Event");
    let metered = shared.service == Service::Lambda && !event && path.ends_with("/invocations");
    let wants_tail = metered && parts.headers.get("x-amz-log-type").is_some_and(|v| v == "Tail");
    let function = metered.then(|| parse_lambda(&parts.method, &path).function).flatten();
    let served = |function: Option<String>| function.is_some_and(|f| crate::lambda::function_names().contains(&f));
    if shared.service == Service::Lambda
        && event
        && path.ends_with("/invocations")
        && served(parse_lambda(&parts.method, &path).function)
    {
        return run_event(parts, body, shared, index, fault).await;
    }
    let onward = Request::from_parts(parts, body);
    let started = std::time::Instant::now();
    match send(&shared.upstream, onward).await {
        Ok(mut answer) => {
            let took = started.elapsed();
            {
                let mut log = shared.log.lock().unwrap_or_else(|e| e.into_inner());
                log[index].status = Some(answer.status().as_u16());
                if metered {
                    log[index].billed_milliseconds = Some(crate::lambda_report::billed_milliseconds(took));
                }
            }
            if wants_tail && let Some(function) = &function {
                let request_id = answer
                    .headers()
                    .get("x-amzn-requestid")
                    .and_then(|v| v.to_str().ok())
                    .map_or_else(|| format!("{:032x}", rand::random::<u128>()), str::to_owned);
                let memory = crate::lambda_report::function_memory(function);
                let tail = crate::lambda_report::log_tail(&request_id, took, memory);
                if let Ok(value) = hyper::header::HeaderValue::from_str(&tail) {
                    answer.headers_mut().insert("x-amz-log-result", value);
                }
            }
            if fault == Some(Fault::DropAfter) {
                // The call ran to its end upstream; its caller hears nothing of it.
                let _ = answer.into_body().collect().await;
                return Err(Dropped);
            }
            Ok(answer.map(BodyExt::boxed))
        }
        Err(e) => Ok(text(StatusCode::BAD_GATEWAY, format!("recording proxy: {e:#}"))),
    }
}

/// An `Event` invocation of a function the emulator serves: answered `202` at once, as Lambda
/// answers, and run synchronously upstream in the background so that its run is measured as
/// Lambda bills it. A dropped-after fault drops the answer; the run goes on.
async fn run_event(
    mut parts: hyper::http::request::Parts,
    body: ProxyBody,
    shared: Arc<Forwarding>,
    index: usize,
    fault: Option<Fault>,
) -> Result<Response<ProxyBody>, Dropped> {
    parts.headers.insert("x-amz-invocation-type", hyper::header::HeaderValue::from_static("RequestResponse"));
    let onward = Request::from_parts(parts, body);
    shared.log.lock().unwrap_or_else(|e| e.into_inner())[index].status = Some(StatusCode::ACCEPTED.as_u16());
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        match send(&shared.upstream, onward).await {
            Ok(answer) => {
                let took = started.elapsed();
                let _ = answer.into_body().collect().await;
                shared.log.lock().unwrap_or_else(|e| e.into_inner())[index].billed_milliseconds =
                    Some(crate::lambda_report::billed_milliseconds(took));
            }
            Err(e) => eprintln!("recording proxy: the Event invocation failed upstream: {e:#}"),
        }
    });
    if fault == Some(Fault::DropAfter) {
        return Err(Dropped);
    }
    Ok(text(StatusCode::ACCEPTED, String::new()))
}

/// Sends `request` as it is (origin-form URI, the client's `Host`) on a new connection.
async fn send(upstream: &str, request: Request<ProxyBody>) -> Result<Response<Incoming>> {
    let stream = tokio::net::TcpStream::connect(upstream).await.with_context(|| format!("connecting to {upstream}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // Drives the connection until the answer's body is read to its end.
    tokio::spawn(connection);
    Ok(sender.send_request(request).await?)
}

fn text(status: StatusCode, message: String) -> Response<ProxyBody> {
    let mut response = Response::new(Full::new(Bytes::from(message)).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use hyper::HeaderMap;

    use super::parse::xml_unescape;
    use super::*;
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::{Delete, ObjectIdentifier, Tag, Tagging};

    use crate::TestEnv;
    use crate::s3::S3Store;

    fn s3(method: Method, path: &str, query: &str) -> Recorded {
        parse_s3(&method, path, query, &HeaderMap::new())
    }

    #[test]
    fn recording_names_s3_operations_buckets_and_keys() {
        let put = s3(Method::PUT, "/b/sites/team%20a/x%2By.js", "x-id=PutObject");
        assert_eq!(
            (put.operation.as_str(), put.bucket.as_deref(), put.key.as_deref()),
            ("PutObject", Some("b"), Some("sites/team a/x+y.js"))
        );
        assert!(put.is_write() && put.touches("b", "sites/team a/") && !put.touches("b", "sites/team b/"));
        for (method, query, operation) in [
            (Method::PUT, "tagging", "PutBucketTagging"),
            (Method::PUT, "lifecycle", "PutBucketLifecycleConfiguration"),
            (Method::PUT, "publicAccessBlock", "PutPublicAccessBlock"),
            (Method::PUT, "ownershipControls", "PutBucketOwnershipControls"),
            (Method::PUT, "", "CreateBucket"),
            (Method::DELETE, "", "DeleteBucket"),
            (Method::DELETE, "lifecycle", "DeleteBucketLifecycle"),
            (Method::GET, "tagging", "GetBucketTagging"),
            (Method::GET, "list-type=2&prefix=sites%2F", "ListObjects"),
            (Method::HEAD, "", "HeadBucket"),
            (Method::POST, "delete", "DeleteObjects"),
        ] {
            let recorded = s3(method, "/b", query);
            assert_eq!(recorded.operation, operation, "{query}");
            // A bucket-level request names no key: it touches the bucket, not a folder.
            assert!(recorded.touches("b", "") && !recorded.touches("b", "sites/"), "{query}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-copy-source", "src/renders/r%201/out.mp4".parse().unwrap());
        let copy = parse_s3(&Method::PUT, "/b/outputs/ns/out.mp4", "x-id=CopyObject", &headers);
        assert_eq!(copy.operation, "CopyObject");
        assert_eq!(copy.copy_source.as_deref(), Some("src/renders/r 1/out.mp4"));
        assert!(!s3(Method::GET, "/b/sites/a/index.html", "").is_write());
        assert_eq!(s3(Method::DELETE, "/b/k", "uploadId=1").operation, "AbortMultipartUpload");
        assert_eq!(s3(Method::GET, "/", "").operation, "ListBuckets");
    }

    #[test]
    fn recording_reads_the_keys_of_a_multi_object_delete() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>sites/a/x&amp;y.js</Key></Object><Object><Key>sites/a/&#233;&#x41;</Key><VersionId>1</VersionId></Object><Quiet>true</Quiet></Delete>"#;
        assert_eq!(delete_objects_keys(body), ["sites/a/x&y.js", "sites/a/éA"]);
        assert_eq!(xml_unescape("a &unknown; b &lt;"), "a &unknown; b <");
    }

    #[test]
    fn recording_names_lambda_operations_and_functions() {
        let cases = [
            (Method::POST, "/2015-03-31/functions/test-fn-01/invocations", "Invoke", Some("test-fn-01")),
            (Method::PUT, "/2015-03-31/functions/render/code", "UpdateFunctionCode", Some("render")),
            (Method::PUT, "/2015-03-31/functions/render/configuration", "UpdateFunctionConfiguration", Some("render")),
            (Method::GET, "/2015-03-31/functions/render/configuration", "GetFunctionConfiguration", Some("render")),
            (Method::DELETE, "/2015-03-31/functions/render", "DeleteFunction", Some("render")),
            (Method::GET, "/2015-03-31/functions/render", "GetFunction", Some("render")),
            (Method::PUT, "/2017-10-31/functions/render/concurrency", "PutFunctionConcurrency", Some("render")),
            (
                Method::PUT,
                "/2019-09-25/functions/render/event-invoke-config",
                "PutFunctionEventInvokeConfig",
                Some("render"),
            ),
            (
                Method::POST,
                "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Arender",
                "TagResource",
                Some("render"),
            ),
            (
                Method::POST,
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Arender%3Alive/invocations",
                "Invoke",
                Some("render"),
            ),
            (Method::POST, "/2015-03-31/functions", "CreateFunction", None),
        ];
        for (method, path, operation, function) in cases {
            let recorded = parse_lambda(&method, path);
            assert_eq!((recorded.operation.as_str(), recorded.function.as_deref()), (operation, function), "{path}");
        }
        let mut invoke = parse_lambda(&Method::POST, "/2015-03-31/functions/render/invocations");
        invoke.payload = Some(Bytes::from_static(br#"{"type":"info"}"#));
        invoke.status = Some(202);
        let shown = invoke.to_string();
        assert_eq!(shown, r#"Invoke POST /2015-03-31/functions/render/invocations payload={"type":"info"} -> 202"#);
        assert!(!parse_lambda(&Method::GET, "/2015-03-31/functions/render").is_write());
        assert!(parse_lambda(&Method::POST, "/2015-03-31/functions/render/invocations").is_write());
    }

    /// Through the proxy to the real S3 stand-in: requests arrive signed and intact both ways
    /// (a large body streamed), and every write is recorded with its bucket and keys.
    #[tokio::test]
    async fn recording_a_real_store_through_the_proxy() -> Result<()> {
        let env = TestEnv::get();
        let proxy = RecordingProxy::s3(&env.s3().endpoint).await?;
        let client = S3Store { endpoint: proxy.endpoint.clone() }.client().await;
        let bucket = env.unique_name("recording-proxy");
        client.create_bucket().bucket(&bucket).send().await?;
        let large: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        client
            .put_object()
            .bucket(&bucket)
            .key("sites/ns/a b+c.bin")
            .body(ByteStream::from(large.clone()))
            .send()
            .await?;
        let read = client.get_object().bucket(&bucket).key("sites/ns/a b+c.bin").send().await?;
        assert_eq!(read.body.collect().await?.into_bytes().as_ref(), large.as_slice());
        client
            .copy_object()
            .bucket(&bucket)
            .key("sites/other/copy.bin")
            .copy_source(format!("{bucket}/sites/ns/a%20b%2Bc.bin"))
            .send()
            .await?;
        let tag = Tag::builder().key("remotion-operator.io/owner").value("default/ns/bucket").build()?;
        client.put_bucket_tagging().bucket(&bucket).tagging(Tagging::builder().tag_set(tag).build()?).send().await?;
        let objects = ["sites/ns/a b+c.bin", "sites/other/copy.bin"]
            .map(|key| ObjectIdentifier::builder().key(key).build())
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let deleted = client
            .delete_objects()
            .bucket(&bucket)
            .delete(Delete::builder().set_objects(Some(objects)).build()?)
            .send()
            .await?;
        assert_eq!(deleted.deleted().len(), 2, "{deleted:?}");
        client.delete_bucket().bucket(&bucket).send().await?;

        let names = |recorded: Vec<Recorded>| recorded.iter().map(|r| r.operation.clone()).collect::<Vec<_>>();
        assert_eq!(names(proxy.writes_to(&bucket, "sites/ns/")), ["PutObject", "DeleteObjects"]);
        assert_eq!(names(proxy.writes_to(&bucket, "sites/other/")), ["CopyObject", "DeleteObjects"]);
        assert_eq!(
            names(proxy.writes_to(&bucket, "")),
            ["CreateBucket", "PutObject", "CopyObject", "PutBucketTagging", "DeleteObjects", "DeleteBucket"]
        );
        let all = proxy.requests_to(&bucket);
        assert!(all.iter().any(|r| r.operation == "GetObject" && !r.is_write()), "{all:?}");
        // Every request reached the store and was answered as it answers the store's own clients.
        assert!(all.iter().all(|r| r.status.is_some_and(|s| s < 300)), "{all:?}");
        let delete = all.iter().find(|r| r.operation == "DeleteObjects").unwrap();
        assert_eq!(delete.deleted_keys, ["sites/ns/a b+c.bin", "sites/other/copy.bin"]);
        let copy = all.iter().find(|r| r.operation == "CopyObject").unwrap();
        assert_eq!(copy.copy_source.as_deref(), Some(format!("{bucket}/sites/ns/a b+c.bin").as_str()));
        assert!(proxy.writes_to("another-bucket", "").is_empty());

        // Dropped, it stops: nothing listens on its port any more.
        let endpoint = proxy.endpoint.clone();
        drop(proxy);
        let address = endpoint.trim_start_matches("http://").to_owned();
        // The aborted task lets go of its listener the next time the runtime runs it.
        for _ in 0..50 {
            if tokio::net::TcpStream::connect(&address).await.is_err() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the dropped proxy still listens on {address}");
    }
}
