//! The function's Lambda entry point: one JSON payload per invocation, tagged by `type`,
//! dispatched to the actions. Errors carry the protocol kind as Lambda's `errorType`. The
//! orchestrator learns the invocation's deadline and its own function's name here, to hand a
//! render over to a continuation of itself in time.

use std::time::{Duration, Instant};

use lambda_runtime::{Diagnostic, LambdaEvent};
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::payload::{
    CompositionsRequest, CompositionsResponse, ContinueRequest, PROTOCOL_VERSION, Payload, RenderRequest,
    RenderResponse, StillRequest, StillResponse,
};
use serde_json::Value;

use crate::capture::browser::{Browser, BrowserOptions};
use crate::capture::compositions::list_compositions;
use crate::capture::site::open_site;
use crate::capture::still::{StillRequest as LocalStill, render_still};
use crate::error::RenderError;
use crate::orchestrate::Invocation;
use crate::orchestrate::cancel::{CancelWatch, cancelled};
use crate::orchestrate::still::capture_of;
use crate::props::read_payload_props;
use crate::{orchestrate, storage, versions};

/// Runs the Lambda runtime loop until the process is stopped.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(|event: LambdaEvent<Value>| async move {
        let invocation = Invocation {
            deadline: Some(event.context.deadline()),
            function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok().filter(|n| !n.is_empty()),
        };
        handle(event.payload, invocation)
            .await
            .map_err(|e| Diagnostic { error_type: e.kind().as_str().into(), error_message: e.to_string() })
    }))
    .await
}

/// Handles one payload, in `invocation`.
pub async fn handle(payload: Value, invocation: Invocation) -> Result<Value, RenderError> {
    let payload: Payload = serde_json::from_value(payload)
        .map_err(|e| RenderError::InvalidInput(format!("the payload is not a render-function payload: {e}")))?;
    if let Some(version) = payload.protocol_version()
        && version != PROTOCOL_VERSION
    {
        return Err(RenderError::ProtocolMismatch { payload: version, function: PROTOCOL_VERSION });
    }
    let to_value = |v: Result<Value, serde_json::Error>| v.map_err(|e| RenderError::Encoding(e.to_string()));
    match payload {
        Payload::Info => {
            let info = versions::info().await.map_err(|e| RenderError::BrowserLaunch(e.to_string()))?;
            to_value(serde_json::to_value(info))
        }
        Payload::Compositions(request) => to_value(serde_json::to_value(compositions(&request).await?)),
        Payload::Still(request) => to_value(serde_json::to_value(still(&request).await?)),
        Payload::Render(request) => to_value(serde_json::to_value(render_chunk(&request).await?)),
        Payload::Launch(request) => {
            to_value(serde_json::to_value(orchestrate::launch(request, None, invocation).await?))
        }
        Payload::Continue(ContinueRequest { number, launch }) => {
            to_value(serde_json::to_value(orchestrate::launch(launch, Some(number), invocation).await?))
        }
    }
}

async fn compositions(request: &CompositionsRequest) -> Result<CompositionsResponse, RenderError> {
    let s3 = storage::client().await;
    let bucket = request.site.s3.as_ref().map(|p| p.bucket.as_str());
    let props = read_payload_props(&request.input_props, bucket, &s3).await?;
    let (site, _server) = open_site(&request.site, &s3).await?;
    let browser = Browser::warm(&BrowserOptions::detect()?).await?;
    let result = list_compositions(&browser, &site, &props, Duration::from_millis(request.timeout_ms)).await;
    browser.release().await;
    Ok(CompositionsResponse { compositions: result? })
}

async fn still(request: &StillRequest) -> Result<StillResponse, RenderError> {
    let started = Instant::now();
    let s3 = storage::client().await;
    let props = read_payload_props(&request.input_props, Some(&request.bucket), &s3).await?;
    let (site, _server) = open_site(&request.site, &s3).await?;
    let local = LocalStill {
        composition: request.composition.clone(),
        serialized_props: props,
        frame: request.frame,
        format: capture_of(request.image_format, request.jpeg_quality),
        scale: request.scale.unwrap_or(1.0),
        timeout: Duration::from_millis(request.timeout_ms),
    };
    let browser = Browser::warm(&BrowserOptions::detect()?).await?;
    let result = render_still(&browser, &site, &local).await;
    browser.release().await;
    let image = result?.image;
    let size_bytes = image.len() as u64;
    let content_type = request.image_format.content_type();
    storage::put(&s3, &request.bucket, &request.output.key, image, content_type).await?;
    Ok(StillResponse {
        key: request.output.key.clone(),
        size_bytes,
        content_type: content_type.to_owned(),
        duration_ms: remotion_protocol::pricing::billed_milliseconds_from_duration(started.elapsed()),
    })
}

/// Renders one chunk for an orchestrator, stopping within 2 s when the render is cancelled.
async fn render_chunk(request: &RenderRequest) -> Result<RenderResponse, RenderError> {
    let s3 = storage::client().await;
    let id = RenderId::new(request.render_id.clone()).map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    let watch = CancelWatch::start(s3.clone(), request.bucket.clone(), keys::cancel(&id), || {});
    orchestrate::chunk::render(request, &s3, cancelled(watch.signal())).await
}
