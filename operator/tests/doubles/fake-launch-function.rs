//! A scripted stand-in for the render function's `info` and `launch` actions, for testing the
//! operator's RenderJob controller without a browser: `launch` plays a script of progress
//! documents into `renders/<id>/progress.json` of the request's bucket, like the real
//! orchestrator (a rising `sequence`, a write every `intervalMs`), and uploads an output object.
//!
//! The script is the composition id:
//! - `succeed`: evaluating, rendering `steps` steps, stitching, uploading, done with an output;
//! - `fail`: renders half the steps with a retried chunk error, then fails with a fatal error;
//! - `stall`: writes two documents, then goes silent (the invocation ends without a final one);
//! - `crash`: fails the invocation at once, before any progress document.
//!
//! Every script but `stall` stops within one step when `renders/<id>/cancel` appears and
//! writes a Cancelled document, unless the props say `"ignoreCancel": true`.
//! Input props (inline) tune it: `{"steps": 10, "intervalMs": 300}`.
//!
//! Like the real orchestrator it follows `renders/<id>/allotment.json` (read on every step) and
//! reports its remote lane: the cap it read, and as many chunk invocations running as the cap
//! it read one step earlier (it takes a step to drain to a smaller cap), at most the chunks
//! left.
//!
//! Each `launch` received leaves `renders/<id>/fake-launches/<nanos>` so that tests can count
//! launches; like the real function, a launch for a render that already has a progress
//! document starts nothing and answers with the existing keys.
//!
//! S3 is reached through the standard environment (`AWS_ENDPOINT_URL_S3`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`).
//!
//! `FAKE_LAUNCH_DETACH=1` (used by the scale benchmark, `benches/many_jobs.rs`): `launch` plays
//! its script in a background task and answers at once, so one process holds many renders at a
//! time — like AWS answering an Event invocation with 202 — instead of one render per process.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::payload::Allotment;
use remotion_protocol::payload::{
    ErrorKind, FrameSpan, InfoResponse, LaunchRequest, LaunchResponse, PROTOCOL_VERSION, Payload, SerializedProps,
};
use remotion_protocol::pricing::{self, FunctionShape, LambdaUsage, S3Usage};
use remotion_protocol::progress::{FatalError, OutputInfo, ProgressDocument, ProgressError, RemoteLane, Stage};
use serde_json::Value;

/// Bytes of the fake output.
const OUTPUT: &[u8] = b"\x00\x00\x00\x18ftypmp42 fake render output";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

struct Script {
    steps: u64,
    interval: Duration,
    ignore_cancel: bool,
}

impl Script {
    fn from_props(props: &SerializedProps) -> Self {
        let value: Value = match props {
            SerializedProps::Inline { serialized } => serde_json::from_str(serialized).unwrap_or(Value::Null),
            SerializedProps::Bucket { .. } => Value::Null,
        };
        Self {
            steps: value.get("steps").and_then(Value::as_u64).unwrap_or(10).max(1),
            interval: Duration::from_millis(value.get("intervalMs").and_then(Value::as_u64).unwrap_or(300)),
            ignore_cancel: value.get("ignoreCancel").and_then(Value::as_bool).unwrap_or(false),
        }
    }
}

struct Render {
    s3: aws_sdk_s3::Client,
    request: LaunchRequest,
    id: RenderId,
    doc: ProgressDocument,
    shape: FunctionShape,
    usage: LambdaUsage,
}

impl Render {
    async fn write(&mut self) -> Result<(), Error> {
        self.doc.sequence += 1;
        self.doc.updated_at_ms = now_ms();
        self.doc.invocations = self.usage.invocations;
        self.doc.billed_milliseconds = self.usage.billed_milliseconds;
        self.doc.accrued_usd = pricing::cost(&self.shape, self.usage, S3Usage::default())?.total;
        self.s3
            .put_object()
            .bucket(&self.request.bucket)
            .key(keys::progress(&self.id))
            .content_type("application/json")
            .body(ByteStream::from(serde_json::to_vec(&self.doc)?))
            .send()
            .await?;
        Ok(())
    }

    async fn cancelled(&self, script: &Script) -> bool {
        !script.ignore_cancel
            && self.s3.head_object().bucket(&self.request.bucket).key(keys::cancel(&self.id)).send().await.is_ok()
    }

    /// The remote chunk slots the render's allotment gives, or the launch's.
    async fn chunk_slots(&self) -> u32 {
        let read = self.s3.get_object().bucket(&self.request.bucket).key(keys::allotment(&self.id)).send().await;
        let allotment = match read {
            Ok(object) => {
                object.body.collect().await.ok().and_then(|b| serde_json::from_slice::<Allotment>(&b.into_bytes()).ok())
            }
            Err(_) => None,
        };
        allotment.map_or(self.request.renderer.max_concurrency, |a| a.chunk_slots)
    }

    /// The remote lane after a step: `cap` read now, the cap read a step earlier still
    /// running, never more than the chunks left.
    fn report_lane(&mut self, cap: u32, left: u64) {
        let draining = self.doc.remote_lane.map_or(cap, |lane| lane.cap);
        let running = u64::from(draining).min(left) as u32;
        self.doc.remote_lane = Some(RemoteLane { cap, running });
    }

    /// One step of rendering: a chunk done, its frames and billed time counted.
    fn render_step(&mut self, step: u64, steps: u64) {
        self.doc.stage = Stage::Rendering;
        self.doc.frames_rendered = self.doc.frames_total * (step + 1) / steps;
        self.doc.frames_encoded = self.doc.frames_rendered;
        self.doc.chunks_done = step + 1;
        self.usage.record(1500);
    }

    async fn play(mut self, script_name: &str, script: Script) -> Result<LaunchResponse, Error> {
        let response = LaunchResponse {
            render_id: self.id.to_string(),
            progress_key: keys::progress(&self.id),
            output_key: self.request.output.key.clone().unwrap_or_default(),
        };
        self.doc.frames_total = script.steps * 10;
        self.doc.chunks_total = script.steps;
        self.doc.estimated_total_usd = Some(
            pricing::cost(
                &self.shape,
                LambdaUsage { invocations: script.steps + 1, billed_milliseconds: script.steps * 1500 },
                S3Usage::default(),
            )?
            .total,
        );
        self.usage.record(0);
        self.write().await?;
        self.doc.stage = Stage::Evaluating;
        self.write().await?;
        let steps = match script_name {
            "fail" => script.steps / 2,
            "stall" => 0,
            _ => script.steps,
        };
        for step in 0..steps {
            tokio::time::sleep(script.interval).await;
            if self.cancelled(&script).await {
                self.doc.stage = Stage::Cancelled;
                self.write().await?;
                return Ok(response);
            }
            self.render_step(step, script.steps);
            let cap = self.chunk_slots().await;
            self.report_lane(cap, script.steps - step - 1);
            if script_name == "fail" && step == 0 {
                self.doc.push_error(ProgressError {
                    kind: ErrorKind::BrowserCrashed,
                    message: "the browser of chunk 0 crashed".into(),
                    chunk: Some(0),
                    frames: Some(FrameSpan { start: 0, end: 9 }),
                    attempt: Some(1),
                    will_retry: true,
                    at_ms: now_ms(),
                });
            }
            self.write().await?;
        }
        match script_name {
            // Silent from now on, like an orchestrator that was killed mid-render (returning
            // frees the emulator, which serves a bounded number of open invocations).
            "stall" => Ok(response),
            "fail" => {
                self.doc.stage = Stage::Failed;
                self.doc.fatal = Some(FatalError {
                    kind: ErrorKind::PageError,
                    message: "the composition threw: Error: scripted failure at frame 42".into(),
                });
                self.write().await?;
                Err("PageError: scripted failure".into())
            }
            _ => {
                self.doc.stage = Stage::Stitching;
                self.write().await?;
                self.doc.stage = Stage::Uploading;
                self.write().await?;
                let content_type = "video/mp4";
                // Unnamed by the job: the real function's name for an h264 render.
                let key = self.request.output.key.clone().unwrap_or_else(|| keys::default_output(&self.id, "mp4"));
                self.s3
                    .put_object()
                    .bucket(&self.request.bucket)
                    .key(&key)
                    .content_type(content_type)
                    .body(ByteStream::from_static(OUTPUT))
                    .send()
                    .await?;
                self.doc.stage = Stage::Done;
                self.doc.output = Some(OutputInfo {
                    bucket: self.request.bucket.clone(),
                    key,
                    size_bytes: OUTPUT.len() as u64,
                    content_type: content_type.into(),
                    ..Default::default()
                });
                self.write().await?;
                Ok(response)
            }
        }
    }
}

/// One S3 client per process (shared by its renders).
async fn s3_client() -> aws_sdk_s3::Client {
    static CLIENT: std::sync::OnceLock<aws_sdk_s3::Client> = std::sync::OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return client.clone();
    }
    let sdk = aws_config::load_from_env().await;
    let client = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    CLIENT.get_or_init(|| client).clone()
}

/// Whether renders play in the background (`FAKE_LAUNCH_DETACH=1`).
fn detached() -> bool {
    std::env::var("FAKE_LAUNCH_DETACH").is_ok_and(|v| v == "1")
}

async fn launch(request: LaunchRequest) -> Result<Value, Error> {
    let s3 = s3_client().await;
    let id = RenderId::new(request.render_id.clone())?;
    s3.put_object()
        .bucket(&request.bucket)
        .key(format!(
            "{}fake-launches/{}",
            keys::render_prefix(&id),
            SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos()
        ))
        .body(ByteStream::from_static(b""))
        .send()
        .await?;
    let response = LaunchResponse {
        render_id: id.to_string(),
        progress_key: keys::progress(&id),
        output_key: request.output.key.clone().unwrap_or_default(),
    };
    if s3.head_object().bucket(&request.bucket).key(keys::progress(&id)).send().await.is_ok() {
        return Ok(serde_json::to_value(response)?);
    }
    let script_name = request.composition.clone();
    if script_name == "crash" {
        return Err("InvalidPayload: scripted crash before the first progress document".into());
    }
    let script = Script::from_props(&request.input_props);
    let shape = FunctionShape {
        region: request.renderer.region.clone(),
        architecture: request.renderer.architecture,
        memory_mb: request.renderer.memory_mb,
        disk_mb: request.renderer.disk_mb,
    };
    let render = Render {
        s3,
        doc: ProgressDocument::new(id.as_str(), now_ms()),
        id,
        request,
        shape,
        usage: LambdaUsage::default(),
    };
    if detached() {
        let response = LaunchResponse {
            render_id: render.id.to_string(),
            progress_key: keys::progress(&render.id),
            output_key: render.request.output.key.clone().unwrap_or_default(),
        };
        tokio::spawn(async move {
            if let Err(error) = render.play(&script_name, script).await {
                eprintln!("detached render ended with an error: {error}");
            }
        });
        return Ok(serde_json::to_value(response)?);
    }
    Ok(serde_json::to_value(render.play(&script_name, script).await?)?)
}

async fn handle(event: LambdaEvent<Payload>) -> Result<Value, Error> {
    match event.payload {
        Payload::Info => Ok(serde_json::to_value(InfoResponse {
            function_version: "fake-launch".into(),
            protocol_version: PROTOCOL_VERSION,
            chromium_version: "none".into(),
            ffmpeg_version: "none".into(),
            memory_size_mb: None,
            architecture: None,
        })?),
        Payload::Launch(request) => launch(request).await,
        other => Err(format!("InvalidPayload: the fake launch function does not do {}", other.kind()).into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
