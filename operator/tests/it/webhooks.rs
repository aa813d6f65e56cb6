//! RenderJob webhooks end to end: jobs driven to their end by the scripted fake function (see
//! [`crate::job_world`]) POST Remotion's webhook to a receiver in this process, which checks
//! the signature the way Remotion's `validateWebhookSignature()` does (in Node, over
//! `JSON.stringify` of the parsed body) and answers as each test scripts it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{eventually, test_secrets};
use crate::job_world::{JobOperator, WAIT, World, condition, tuning};
use anyhow::{Context as _, Result, bail};
use hmac::{Hmac, KeyInit, Mac};
use kube::api::{Patch, PatchParams};
use remotion_crds::RenderJob;
use remotion_crds::render_job::{RenderPhase, WebhookOutcome};
use remotion_operator::aws::{ObjectData, StaticSecrets};
use remotion_operator::controllers::Settings;
use serde_json::{Value, json};
use sha2::Sha512;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// The HMAC key of the tests' webhooks.
const SECRET: &str = "mysecret";

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    /// Header names in lower case.
    headers: BTreeMap<String, String>,
    body: String,
}

/// Answers per path: status codes in order, then 200; each after an optional delay.
type Script = HashMap<String, VecDeque<(u16, Duration)>>;

/// A webhook receiver on 127.0.0.1.
struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Script>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script: Arc<Mutex<Script>> = Arc::default();
        let (log, answers) = (received.clone(), script.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, answers) = (log.clone(), answers.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, log, answers).await;
                });
            }
        });
        Ok(Self { addr, received, script, task })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn answer(&self, path: &str, answers: &[(u16, Duration)]) {
        self.script.lock().unwrap().insert(path.to_owned(), answers.iter().copied().collect());
    }

    fn at(&self, path: &str) -> Vec<Received> {
        self.received.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request per connection: read it, log it, answer as scripted, close.
async fn serve(
    stream: tokio::net::TcpStream,
    log: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Script>>,
) -> Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await?;
        let Some((name, value)) = line.trim_end().split_once(':') else { break };
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    log.lock().unwrap().push(Received { path: path.clone(), headers, body: String::from_utf8(body)? });
    let (code, delay) =
        script.lock().unwrap().get_mut(&path).and_then(VecDeque::pop_front).unwrap_or((200, Duration::ZERO));
    tokio::time::sleep(delay).await;
    let answer = format!("HTTP/1.1 {code} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    reader.get_mut().write_all(answer.as_bytes()).await?;
    reader.get_mut().shutdown().await?;
    Ok(())
}

/// Remotion's `validateWebhookSignature()`, run in Node: HMAC-SHA512 over `JSON.stringify` of
/// the parsed body.
fn valid_for_remotion(body: &str, header: &str) -> Result<()> {
    let script = "const c=require('crypto');let raw='';process.stdin.on('data',d=>raw+=d).on('end',()=>{\
        const body=JSON.parse(raw);\
        const sig='sha512='+c.createHmac('sha512',process.env.SECRET).update(JSON.stringify(body)).digest('hex');\
        process.stdout.write(sig===process.env.HEADER?'valid':'Signatures do not match: '+sig)})";
    let mut node = std::process::Command::new("node")
        .args(["-e", script])
        .env("SECRET", SECRET)
        .env("HEADER", header)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running node (scripts/install-deps.sh installs it)")?;
    std::io::Write::write_all(&mut node.stdin.take().context("node's stdin")?, body.as_bytes())?;
    let output = node.wait_with_output()?;
    let said = String::from_utf8_lossy(&output.stdout);
    if said != "valid" {
        bail!("validateWebhookSignature() would refuse it: {said}");
    }
    Ok(())
}

/// The signature over the raw bytes, computed here.
fn signed(body: &str) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha512={}", hex::encode(mac.finalize().into_bytes()))
}

/// Secrets of the world's namespace plus the webhook's HMAC key as Secret `hook`, key `secret`.
fn secrets(namespace: &str) -> Arc<StaticSecrets> {
    let secrets = test_secrets(namespace);
    let data = [("secret".to_owned(), SECRET.as_bytes().to_vec())].into();
    secrets.put_secret(namespace, "hook", ObjectData { resource_version: "1".into(), data, ..Default::default() });
    secrets
}

/// The RenderJob controller with webhooks to loopback allowed (the receiver is on 127.0.0.1).
async fn operator(world: &World, secrets: Arc<StaticSecrets>) -> JobOperator {
    let settings = Settings { webhook_allow_private_networks: true, ..Settings::new(Some(world.namespace.clone()), 4) };
    JobOperator::start_with(&world.client, settings, tuning(), secrets).await
}

fn webhook(url: &str, signed: bool, custom: Value) -> Value {
    let mut hook = json!({"url": url, "customData": custom});
    if signed {
        hook["secretRef"] = json!({"name": "hook", "key": "secret"});
    }
    json!({"webhook": hook})
}

/// Waits until the job's webhook has an outcome.
async fn delivered(world: &World, name: &str) -> Result<RenderJob> {
    let outcome = eventually(&format!("{name}'s webhook outcome"), WAIT, || async {
        let job = world.jobs.get(name).await?;
        let done = job.status.as_ref().and_then(|s| s.webhook.as_ref()).is_some_and(|w| w.outcome.is_some());
        Ok(done.then_some(job))
    })
    .await;
    match outcome {
        Ok(job) => Ok(job),
        Err(error) => {
            let job = world.jobs.get(name).await.map(|job| (job.spec.webhook, job.status));
            let events = world.events(name).await;
            bail!("{error:#}; the job: {job:?}; its events: {events:?}")
        }
    }
}

/// The one request at `path`, its signature checked as Remotion's receivers check it.
fn the_request(receiver: &Receiver, path: &str, secret: bool) -> Result<(Received, Value)> {
    let requests = receiver.at(path);
    assert_eq!(requests.len(), 1, "exactly one webhook at {path}: {requests:?}");
    let request = requests.into_iter().next().unwrap();
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.headers["x-remotion-mode"], "production");
    let signature = &request.headers["x-remotion-signature"];
    if secret {
        assert_eq!(signature, &signed(&request.body), "the signature covers the bytes sent");
        valid_for_remotion(&request.body, signature)?;
    } else {
        assert_eq!(signature, "NO_SECRET_PROVIDED");
    }
    let body: Value = serde_json::from_str(&request.body)?;
    assert_eq!(request.headers["x-remotion-status"], body["type"]);
    Ok((request, body))
}

#[tokio::test]
async fn success_failure_and_cancel_send_remotions_webhook_once_signed() -> Result<()> {
    let world =
        World::with_function_env("rj-webhook", "test-fn-28", &["succeed", "fail"], 60, &[("FAKE_LAUNCH_DETACH", "1")])
            .await?;
    let receiver = Receiver::start().await?;
    let operator = operator(&world, secrets(&world.namespace)).await;
    let quick = json!({"steps": 3, "intervalMs": 200});
    let custom = json!({"job": "ok", "id": 42, "ratio": 0.5, "nested": {"10": "a", "2": "b"}});
    world
        .create_job_with("ok", "succeed", quick.clone(), webhook(&receiver.url("/ok"), true, custom.clone()), json!({}))
        .await?;
    world
        .create_job_with(
            "bad",
            "fail",
            quick.clone(),
            webhook(&receiver.url("/bad"), true, json!({"job": "bad"})),
            json!({}),
        )
        .await?;
    world
        .create_job_with("plain", "succeed", quick, webhook(&receiver.url("/plain"), false, json!({})), json!({}))
        .await?;
    let long = json!({"steps": 100, "intervalMs": 300});
    world
        .create_job_with(
            "stop",
            "succeed",
            long,
            webhook(&receiver.url("/stop"), true, json!({"job": "stop"})),
            json!({}),
        )
        .await?;
    eventually("stop under way", WAIT, || async {
        let job = world.jobs.get("stop").await?;
        Ok(job.status.as_ref().and_then(|s| s.progress.as_ref()).filter(|p| p.chunks_done >= 1).map(|_| ()))
    })
    .await?;
    world.jobs.patch("stop", &PatchParams::default(), &Patch::Merge(json!({"spec": {"cancel": true}}))).await?;

    // Success: Remotion's success payload, the output URL the status has.
    let ok = delivered(&world, "ok").await?;
    let status = ok.status.clone().unwrap();
    assert_eq!(status.phase, Some(RenderPhase::Succeeded));
    let (_, body) = the_request(&receiver, "/ok", true)?;
    assert_eq!(body["type"], "success");
    assert_eq!(body["renderId"], json!(status.render_id));
    assert_eq!(body["bucketName"], json!(world.bucket));
    assert_eq!(body["customData"], custom);
    assert_eq!(body["outputUrl"], json!(status.output.as_ref().unwrap().url));
    assert_eq!(body["outputFile"], body["outputUrl"]);
    // The status keeps whole seconds: a render of a second or less may take "0" ms.
    assert!(body["timeToFinish"].as_i64().is_some_and(|ms| ms >= 0 && ms % 1000 == 0), "{body}");
    assert_eq!(body["costs"]["currency"], "USD");
    assert_eq!(body["costs"]["estimatedDisplayCost"], format!("${}", status.cost.as_ref().unwrap().accrued_usd));
    assert!(body["lambdaErrors"].is_array() && body.get("errors").is_none(), "{body}");
    let record = status.webhook.clone().unwrap();
    assert_eq!(
        (record.outcome, record.attempts, record.last_status_code),
        (Some(WebhookOutcome::Delivered), 1, Some(200))
    );
    assert!(record.delivered.is_some());
    let (state, reason, message) = condition(&ok, "WebhookDelivered");
    assert_eq!((state.as_str(), reason.as_str()), ("True", "WebhookDelivered"));
    assert!(message.contains("127.0.0.1"), "{message}");

    // Failure: an error naming the render's failure.
    let bad = delivered(&world, "bad").await?;
    assert_eq!(bad.status.as_ref().unwrap().phase, Some(RenderPhase::Failed));
    let (_, body) = the_request(&receiver, "/bad", true)?;
    let (_, reason, message) = condition(&bad, "Failed");
    assert_eq!(body["type"], "error");
    assert_eq!(body["errors"], json!([{"message": message, "name": reason, "stack": ""}]));
    assert_eq!(body["customData"], json!({"job": "bad"}));

    // Unsigned: no secret, as Remotion's `secret: null`.
    delivered(&world, "plain").await?;
    let (_, body) = the_request(&receiver, "/plain", false)?;
    assert_eq!(body["type"], "success");

    // Cancel: an error named as Remotion's cancelled renders are.
    let stop = delivered(&world, "stop").await?;
    assert_eq!(stop.status.as_ref().unwrap().phase, Some(RenderPhase::Cancelled));
    let (_, body) = the_request(&receiver, "/stop", true)?;
    assert_eq!(body["type"], "error");
    assert_eq!(body["errors"][0]["name"], "CancelledError");

    let events = world.events("ok").await?;
    assert!(events.iter().any(|(t, r)| t == "Normal" && r == "WebhookDelivered"), "{events:?}");
    // Nothing more is sent once delivered.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for path in ["/ok", "/bad", "/plain", "/stop"] {
        assert_eq!(receiver.at(path).len(), 1, "{path}");
    }
    operator.stop().await
}

#[tokio::test]
async fn a_failing_receiver_gets_three_attempts_resumed_across_a_restart_and_never_a_fourth() -> Result<()> {
    let world = World::new("rj-webhook-retry", "test-fn-29", &["succeed"], 60).await?;
    let receiver = Receiver::start().await?;
    // The first answer is slow, so that the operator can be stopped while it is under way.
    receiver.answer("/flaky", &[(500, Duration::from_secs(2)), (500, Duration::ZERO)]);
    receiver.answer("/down", &[(500, Duration::ZERO); 5]);
    let operator_a = operator(&world, secrets(&world.namespace)).await;
    let quick = json!({"steps": 2, "intervalMs": 200});
    world
        .create_job_with(
            "flaky",
            "succeed",
            quick.clone(),
            webhook(&receiver.url("/flaky"), true, json!({})),
            json!({}),
        )
        .await?;

    // Stopped after the first request left, before its answer: its record is written anyway,
    // and no second attempt happens while no operator runs.
    eventually("the first attempt", WAIT, || async { Ok((!receiver.at("/flaky").is_empty()).then_some(())) }).await?;
    operator_a.stop().await?;
    let first = eventually("the first attempt recorded", WAIT, || async {
        let job = world.jobs.get("flaky").await?;
        Ok(job.status.and_then(|s| s.webhook).filter(|w| w.attempts == 1))
    })
    .await?;
    assert_eq!((first.outcome, first.last_status_code), (None, Some(500)));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.at("/flaky").len(), 1, "no attempt without an operator");

    // A new operator resumes: attempts 2 (500) and 3 (200), the same body and signature.
    let operator_b = operator(&world, secrets(&world.namespace)).await;
    let flaky = delivered(&world, "flaky").await?;
    let record = flaky.status.clone().unwrap().webhook.unwrap();
    assert_eq!(
        (record.outcome, record.attempts, record.last_status_code),
        (Some(WebhookOutcome::Delivered), 3, Some(200))
    );
    let requests = receiver.at("/flaky");
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.body == requests[0].body && r.headers == requests[0].headers), "{requests:?}");
    valid_for_remotion(&requests[0].body, &requests[0].headers["x-remotion-signature"])?;
    let events = world.events("flaky").await?;
    assert!(events.iter().any(|(t, r)| t == "Warning" && r == "WebhookRetrying"), "{events:?}");

    // A receiver that never accepts: three attempts, then a condition and a Warning; the job
    // itself stays Succeeded.
    world
        .create_job_with("down", "succeed", quick, webhook(&receiver.url("/down"), true, json!({})), json!({}))
        .await?;
    let down = delivered(&world, "down").await?;
    let status = down.status.clone().unwrap();
    assert_eq!(status.phase, Some(RenderPhase::Succeeded));
    let record = status.webhook.unwrap();
    assert_eq!((record.outcome, record.attempts), (Some(WebhookOutcome::Failed), 3));
    assert_eq!(record.last_error.as_deref(), Some("answered HTTP 500"));
    let (state, reason, message) = condition(&down, "WebhookDelivered");
    assert_eq!((state.as_str(), reason.as_str()), ("False", "WebhookFailed"));
    assert!(message.contains("after 3 attempts") && message.contains("unaffected"), "{message}");
    let events = world.events("down").await?;
    assert!(events.iter().any(|(t, r)| t == "Warning" && r == "WebhookFailed"), "{events:?}");
    operator_b.stop().await?;

    // Another restart sends nothing again.
    let operator_c = operator(&world, secrets(&world.namespace)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!((receiver.at("/flaky").len(), receiver.at("/down").len()), (3, 3));
    operator_c.stop().await
}

#[tokio::test]
async fn metadata_addresses_are_refused_and_bad_webhooks_fail_before_launch() -> Result<()> {
    let world = World::new("rj-webhook-guard", "test-fn-53", &["succeed"], 60).await?;
    let receiver = Receiver::start().await?;
    let operator = operator(&world, secrets(&world.namespace)).await;
    let quick = json!({"steps": 2, "intervalMs": 200});

    // The instance metadata service: refused even with private networks allowed; the job ends
    // as it would have.
    let metadata = webhook("http://169.254.169.254/latest/meta-data/iam/", true, json!({}));
    world.create_job_with("imds", "succeed", quick.clone(), metadata, json!({})).await?;
    let imds = delivered(&world, "imds").await?;
    let status = imds.status.clone().unwrap();
    assert_eq!(status.phase, Some(RenderPhase::Succeeded));
    let record = status.webhook.unwrap();
    assert_eq!((record.outcome, record.attempts), (Some(WebhookOutcome::Refused), 0));
    let (state, reason, message) = condition(&imds, "WebhookDelivered");
    assert_eq!((state.as_str(), reason.as_str()), ("False", "WebhookRefused"));
    assert!(message.contains("link-local") && message.contains("169.254.169.254"), "{message}");
    let events = world.events("imds").await?;
    assert!(events.iter().any(|(t, r)| t == "Warning" && r == "WebhookRefused"), "{events:?}");

    // customData over Remotion's 1 KB: the job fails before launch, and nothing is sent.
    let large = webhook(&receiver.url("/large"), true, json!({"blob": "x".repeat(2000)}));
    world.create_job_with("large", "succeed", quick.clone(), large, json!({})).await?;
    let failed = world.wait_phase("large", RenderPhase::Failed).await?;
    let (_, reason, message) = condition(&failed, "Failed");
    assert_eq!(reason, "InvalidWebhook");
    assert!(message.contains("1024"), "{message}");
    assert_eq!(world.launches(&failed).await?, 0);

    // A job that ends before launch still tells its receiver.
    world
        .create_job_with("missing", "nope", quick, webhook(&receiver.url("/missing"), true, json!({})), json!({}))
        .await?;
    let missing = delivered(&world, "missing").await?;
    assert_eq!(missing.status.as_ref().unwrap().phase, Some(RenderPhase::Failed));
    let (_, body) = the_request(&receiver, "/missing", true)?;
    assert_eq!(
        (body["type"].as_str(), body["errors"][0]["name"].as_str()),
        (Some("error"), Some("CompositionNotFound"))
    );
    assert!(receiver.at("/large").is_empty());
    operator.stop().await
}
