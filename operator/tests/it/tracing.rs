//! Span export over OTLP, end to end: the real operator binary, started with an OTLP endpoint,
//! reconciles a LambdaBucket against the stand-ins (API server, SeaweedFS) and sends its spans to
//! a receiver in this test, an OTLP/HTTP server decoding the protobuf requests as a collector
//! would. The spans are flushed at shutdown (the batch interval is set far beyond the test), and
//! an endpoint that is down never holds up a reconcile.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kube::Client;
use kube::api::{Api, PostParams};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use remotion_crds::common::find_condition;
use remotion_crds::{LambdaBucket, LambdaBucketSpec};
use remotion_tests::TestEnv;
use remotion_tests::process::{Spawned, free_port, spawn_logged, tail};
use serde_json::json;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(60);

/// A span as received, with the resource it came with.
#[derive(Clone, Debug)]
struct Received {
    resource: BTreeMap<String, String>,
    span: Span,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<String> {
        text_attributes(&self.span.attributes).remove(key)
    }
}

fn text_attributes(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => s.clone(),
                any_value::Value::IntValue(i) => i.to_string(),
                any_value::Value::BoolValue(b) => b.to_string(),
                any_value::Value::DoubleValue(d) => d.to_string(),
                _ => return None,
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

/// An OTLP/HTTP receiver on 127.0.0.1: POST /v1/traces with a protobuf body, as a collector
/// takes them; everything else is refused.
struct Receiver {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<Received>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let spans: Arc<Mutex<Vec<Received>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (kept, seen) = (spans.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (kept, seen) = (kept.clone(), seen.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (kept, seen) = (kept.clone(), seen.clone());
                        async move { Ok::<_, Infallible>(receive(request, &kept, &seen).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { addr, spans, requests })
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }
}

async fn receive(
    request: Request<Incoming>,
    kept: &Mutex<Vec<Received>>,
    seen: &Mutex<Vec<String>>,
) -> Response<Full<Bytes>> {
    let content_type =
        request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    seen.lock().unwrap().push(format!("{} {} {content_type}", request.method(), request.uri().path()));
    if request.method() != hyper::Method::POST
        || request.uri().path() != "/v1/traces"
        || content_type != "application/x-protobuf"
    {
        return reply(StatusCode::NOT_FOUND, Bytes::new());
    }
    let Ok(body) = request.into_body().collect().await.map(|b| b.to_bytes()) else {
        return reply(StatusCode::BAD_REQUEST, Bytes::new());
    };
    let Ok(export) = ExportTraceServiceRequest::decode(body) else {
        return reply(StatusCode::BAD_REQUEST, Bytes::new());
    };
    let mut kept = kept.lock().unwrap();
    for resource_spans in export.resource_spans {
        let resource = text_attributes(&resource_spans.resource.map(|r| r.attributes).unwrap_or_default());
        for scope_spans in resource_spans.scope_spans {
            kept.extend(scope_spans.spans.into_iter().map(|span| Received { resource: resource.clone(), span }));
        }
    }
    reply(StatusCode::OK, ExportTraceServiceResponse::default().encode_to_vec().into())
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", "application/x-protobuf".parse().unwrap());
    response
}

/// The tenancy policy of the binary: the test namespace may use the operator's own AWS identity
/// (the API server stand-in serves no Secrets), and the S3 stand-in is on the loopback address.
fn policy(namespace: &str) -> Result<std::path::PathBuf> {
    let path = TestEnv::get().run_dir().join(format!("tenancy-{namespace}.yaml"));
    let policy = format!(
        "operatorIdentity: [{namespace}]\nnetwork:\n  allowedPrivateNetworks: [\"127.0.0.0/8\", \"::1/128\"]\n"
    );
    std::fs::write(&path, policy)?;
    Ok(path)
}

/// The operator binary watching `namespace`, exporting to `otlp_endpoint`, with `env`.
fn operator(namespace: &str, otlp_endpoint: &str, env: &[(&str, &str)]) -> Result<Spawned> {
    let test_env = TestEnv::get();
    let http = format!("127.0.0.1:{}", free_port()?);
    let mut command = Command::new(env!("CARGO_BIN_EXE_remotion-operator"));
    command
        .args(["--namespace", namespace, "--http-addr", &http, "--log-format", "json"])
        .args(["--otlp-endpoint", otlp_endpoint])
        .arg("--tenancy-policy")
        .arg(policy(namespace)?)
        .env("KUBECONFIG", &test_env.kube().kubeconfig)
        // The operator's own identity: the S3 stand-in's test user.
        .env("AWS_ACCESS_KEY_ID", remotion_tests::s3::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", remotion_tests::s3::SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "info");
    for variable in ["OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] {
        command.env_remove(variable);
    }
    command.envs(env.iter().copied());
    let log = test_env.run_dir().join(format!("operator-{namespace}.log"));
    spawn_logged(test_env.reaper(), command, &log)
}

/// A LambdaBucket of a bucket of its own in `namespace`, reached with the operator's identity.
async fn bucket_in(client: &Client, namespace: &str) -> Result<(Api<LambdaBucket>, String)> {
    // As JSON, the way a user writes it: fields added to the spec later keep their defaults.
    let spec: LambdaBucketSpec = serde_json::from_value(json!({
        "region": "eu-west-1",
        "endpoint": TestEnv::get().s3().endpoint,
        "bucketName": TestEnv::get().unique_name("traced"),
        "deletionPolicy": "Delete",
    }))?;
    let api: Api<LambdaBucket> = Api::namespaced(client.clone(), namespace);
    api.create(&PostParams::default(), &LambdaBucket::new("videos", spec)).await?;
    Ok((api, "videos".into()))
}

async fn wait_ready(api: &Api<LambdaBucket>, name: &str, operator: &mut Spawned) -> Result<LambdaBucket> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        operator.check_alive("the operator")?;
        let bucket = api.get(name).await?;
        let ready = bucket.status.as_ref().and_then(|s| find_condition(&s.conditions, "Ready"));
        if ready.is_some_and(|c| c.status == "True") {
            return Ok(bucket);
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "{name} not Ready within {WAIT:?}: {:?}\noperator log:\n{}",
            bucket.status,
            tail(&operator.log, 30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SIGTERM, and the exit code once the operator has drained and flushed.
async fn stop(operator: Spawned) -> Result<(Spawned, std::process::ExitStatus)> {
    let status = Command::new("kill").args(["-TERM", &operator.pid().to_string()]).status()?;
    ensure!(status.success(), "kill -TERM failed");
    let exit = tokio::task::spawn_blocking(move || {
        let mut operator = operator;
        let status = operator.child.wait();
        (operator, status)
    });
    let (operator, status) = tokio::time::timeout(Duration::from_secs(30), exit).await??;
    Ok((operator, status?))
}

#[tokio::test]
async fn reconcile_spans_reach_an_otlp_receiver() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name("traces");
    let receiver = Receiver::start().await?;
    let (api, name) = bucket_in(&client, &namespace).await?;
    let mut operator = operator(
        &namespace,
        &format!("http://{}", receiver.addr),
        &[
            ("OTEL_SERVICE_NAME", "remotion-operator-under-test"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=ci,service.name=overridden"),
            // Nothing is sent on the batch interval within this test: the spans arrive because
            // they are flushed at shutdown.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
            // kube's request lines, logged inside the reconciles.
            ("RUST_LOG", "info,kube_client::client::builder=debug"),
        ],
    )?;
    let bucket = wait_ready(&api, &name, &mut operator).await?;
    let (operator, exit) = stop(operator).await?;
    let log = tail(&operator.log, 60);
    ensure!(exit.success(), "the operator did not exit cleanly ({exit}):\n{log}");

    // A line logged inside a reconcile carries the reconcile's fields.
    let full_log = std::fs::read_to_string(&operator.log)?;
    let object = format!("\"k8s.object.name\":\"{name}\"");
    let in_reconcile = full_log.lines().find(|l| l.contains("\"requesting\"") && l.contains(&object));
    let in_reconcile = in_reconcile.with_context(|| format!("no request line names {name}:\n{log}"))?;
    assert!(in_reconcile.contains(&format!("\"k8s.namespace.name\":\"{namespace}\"")), "{in_reconcile}");
    assert!(in_reconcile.contains("\"k8s.object.kind\":\"LambdaBucket\""), "{in_reconcile}");

    let spans = receiver.spans();
    let requests = receiver.requests.lock().unwrap().clone();
    let reconciles: Vec<&Received> = spans
        .iter()
        .filter(|r| r.span.name == "reconcile" && r.attribute("k8s.object.name").as_deref() == Some(&name))
        .collect();
    ensure!(!reconciles.is_empty(), "no reconcile span of {name}; requests {requests:?}; operator log:\n{log}");
    for reconcile in &reconciles {
        assert_eq!(reconcile.attribute("k8s.namespace.name").as_deref(), Some(namespace.as_str()));
        assert_eq!(reconcile.attribute("k8s.object.kind").as_deref(), Some("LambdaBucket"));
        assert_eq!(reconcile.attribute("k8s.object.uid"), bucket.metadata.uid);
        assert_eq!(reconcile.attribute("controller").as_deref(), Some("lambdabucket"));
        assert!(reconcile.attribute("k8s.object.resource_version").is_some());
        assert!(reconcile.attribute("reconcile.outcome").is_some(), "{:?}", reconcile.span.attributes);
        // OTEL_SERVICE_NAME wins over OTEL_RESOURCE_ATTRIBUTES' service.name, whose other
        // attributes are kept.
        assert_eq!(reconcile.resource.get("service.name").map(String::as_str), Some("remotion-operator-under-test"));
        assert_eq!(reconcile.resource.get("deployment.environment.name").map(String::as_str), Some("ci"));
        assert_eq!(reconcile.resource.get("service.version").map(String::as_str), Some(env!("CARGO_PKG_VERSION")));
    }
    // The reconcile that made the bucket Ready ended with a requeue (the drift check).
    assert!(
        reconciles.iter().any(|r| r.attribute("reconcile.outcome").as_deref() == Some("requeue")),
        "{:?}",
        reconciles.iter().map(|r| r.attribute("reconcile.outcome")).collect::<Vec<_>>()
    );

    // The S3 calls and the Kubernetes API requests made in a reconcile are its children.
    let children: Vec<&Received> = spans
        .iter()
        .filter(|child| {
            reconciles
                .iter()
                .any(|r| r.span.span_id == child.span.parent_span_id && r.span.trace_id == child.span.trace_id)
        })
        .collect();
    let s3_children: Vec<&Received> = children.iter().copied().filter(|c| c.span.name.starts_with("S3.")).collect();
    let api_requests: Vec<String> = children
        .iter()
        .filter_map(|c| Some(format!("{} {} {}", c.span.name, c.attribute("http.method")?, c.attribute("http.url")?)))
        .collect();
    assert!(
        api_requests
            .iter()
            .any(|r| r.contains("PATCH") && r.contains(&format!("/namespaces/{namespace}/lambdabuckets/"))),
        "no status write among the reconciles' API requests: {api_requests:?}"
    );
    let operations: Vec<&str> = s3_children.iter().map(|c| c.span.name.as_str()).collect();
    assert!(operations.contains(&"S3.CreateBucket"), "the bucket was created in a reconcile: {operations:?}");
    assert!(s3_children.iter().all(|c| c.attribute("rpc.service").as_deref() == Some("S3")), "{operations:?}");
    Ok(())
}

#[tokio::test]
async fn an_unreachable_receiver_never_holds_up_reconciles() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name("traces-down");
    // A port nothing listens on: every export fails at once.
    let closed = format!("http://127.0.0.1:{}", free_port()?);
    let (api, name) = bucket_in(&client, &namespace).await?;
    let mut operator = operator(&namespace, &closed, &[("OTEL_BSP_SCHEDULE_DELAY", "100")])?;
    wait_ready(&api, &name, &mut operator).await?;
    // Several batch intervals with spans to send: failures, logged once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    operator.check_alive("the operator")?;
    let (operator, exit) = stop(operator).await?;
    let log = std::fs::read_to_string(&operator.log).context("reading the operator's log")?;
    ensure!(exit.success(), "the operator did not exit cleanly ({exit}):\n{}", tail(&operator.log, 40));
    let failures = log.lines().filter(|l| l.contains("exporting spans over OTLP failed")).count();
    assert_eq!(failures, 1, "export failures are logged once per interval:\n{}", tail(&operator.log, 40));
    Ok(())
}
