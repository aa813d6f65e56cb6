//! The function's Lambda entry point: one JSON payload per invocation, tagged by `type`,
//! dispatched to the actions. Errors carry the protocol kind as Lambda's `errorType`. The
//! orchestrator learns the invocation's deadline and its own function's name here, to hand a
//! render over to a continuation of itself in time.

use std::time::{Duration, Instant};

use lambda_runtime::{Diagnostic, LambdaEvent};
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::page::PageSettings;
use remotion_protocol::payload::{
    CompositionsRequest, CompositionsResponse, ContinueRequest, PROTOCOL_VERSION, Payload, RenderRequest,
    RenderResponse, StillRequest, StillResponse,
};
use serde_json::Value;

use crate::capture::browser::{Browser, BrowserOptions};
use crate::capture::compositions::{list_compositions, overridden, resolve_composition};
use crate::capture::site::open_site;
use crate::capture::still::{StillRequest as LocalStill, render_resolved_still, still_frame};
use crate::error::RenderError;
use crate::orchestrate::Invocation;
use crate::orchestrate::cancel::{CancelWatch, cancelled};
use crate::orchestrate::still::capture_of;
use crate::props::read_payload_props;
use crate::{orchestrate, storage, versions};

/// Runs the Lambda runtime loop until the process is stopped; `process_started` is when the
/// process began its own set-up.
pub async fn run(process_started: Instant) -> Result<(), lambda_runtime::Error> {
    // Lambda bills a container image's init with its first invocation: the time until the
    // runtime asks for its first event, from the process's start to the loop below. The wait
    // for that event is not init: Lambda starts a sandbox for an event already there, and a
    // process started ahead of its first event (an emulator's) idles unbilled.
    let init = process_started.elapsed();
    let first = std::sync::atomic::AtomicBool::new(true);
    let first = &first;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<Value>| async move {
        let arrived = Instant::now();
        let cold = first.swap(false, std::sync::atomic::Ordering::Relaxed);
        let invocation = Invocation {
            deadline: Some(event.context.deadline()),
            function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok().filter(|n| !n.is_empty()),
            billed_since: Some(if cold { arrived.checked_sub(init).unwrap_or(arrived) } else { arrived }),
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
    let browser = Browser::warm(&BrowserOptions::for_invocation(&PageSettings::default(), 1.0)?).await?;
    let result = list_compositions(&browser, &site, &props, Duration::from_millis(request.timeout_ms)).await;
    browser.release().await;
    Ok(CompositionsResponse { compositions: result? })
}

async fn still(request: &StillRequest) -> Result<StillResponse, RenderError> {
    let started = Instant::now();
    // This payload writes the image to the render's bucket as it is: the output options of a
    // RenderJob travel in `launch` (which renders stills too), never silently dropped here.
    let output = &request.output;
    if output.store.is_some()
        || output.bucket.is_some()
        || output.download_behavior.is_some()
        || output.storage_class.is_some()
        || !output.metadata.is_empty()
    {
        return Err(RenderError::InvalidInput(
            "the still payload takes no output bucket, store, downloadBehavior, storageClass or metadata: launch a still render for them".into(),
        ));
    }
    let s3 = storage::client().await;
    let props = read_payload_props(&request.input_props, Some(&request.bucket), &s3).await?;
    let (site, _server) = open_site(&request.site, &s3).await?;
    let id = RenderId::new(request.render_id.clone()).map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    let timeout = Duration::from_millis(request.timeout_ms);
    let browser = Browser::warm(&BrowserOptions::for_invocation(&request.page, request.scale.unwrap_or(1.0))?).await?;
    let result = async {
        let resolved = resolve_composition(&browser, &site, &request.composition, &props, timeout).await?;
        let composition = overridden(resolved, &request.overrides);
        let frame = still_frame(request.frame, &composition)?;
        let key = match (&request.output.key, composition.default_out_name.as_deref()) {
            (Some(key), _) => key.clone(),
            (None, Some(name)) => keys::named_output(&id, name, request.image_format.extension())
                .map_err(|e| RenderError::InvalidInput(e.to_string()))?,
            (None, None) => keys::default_output(&id, request.image_format.extension()),
        };
        let local = LocalStill {
            composition: request.composition.clone(),
            serialized_props: props,
            frame,
            format: capture_of(request.image_format, request.jpeg_quality),
            scale: request.scale.unwrap_or(1.0),
            timeout,
        };
        Ok::<_, RenderError>((render_resolved_still(&browser, &site, &local, composition).await?, key))
    }
    .await;
    browser.release().await;
    let (still, key) = result?;
    let image = still.image;
    let size_bytes = image.len() as u64;
    let content_type = request.image_format.content_type();
    storage::put(&s3, &request.bucket, &key, image, content_type).await?;
    Ok(StillResponse {
        key,
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

#[cfg(test)]
mod tests {
    use remotion_protocol::payload::{ErrorKind, PROTOCOL_VERSION};
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn the_still_payload_refuses_output_options_it_would_not_honour() {
        let payload = json!({
            "type": "still", "protocolVersion": PROTOCOL_VERSION, "renderId": "r1", "bucket": "b",
            "site": {"serveUrl": "http://127.0.0.1:9/index.html"}, "composition": "Intro",
            "inputProps": {"type": "inline", "serialized": "{}"}, "frame": 0, "imageFormat": "png",
            "timeoutMs": 30000,
            "output": {"key": "renders/r1/out.png", "storageClass": "STANDARD_IA"},
        });
        let error = handle(payload, Invocation::default()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidPayload, "{error}");
        assert!(error.to_string().contains("launch a still render"), "{error}");
    }
}
