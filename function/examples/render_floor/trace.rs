//! Chromium's own trace of a capture (`render_floor capture --trace FILE`), for issue #18's
//! question of where a frame's CPU goes inside Chromium: every process's trace events with
//! their thread CPU time, written as a Chrome trace file (`{"traceEvents": [...]}`) that
//! `bench/lib/trace-stages.py` sums by stage and `chrome://tracing` or Perfetto can open.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chromiumoxide::cdp::browser_protocol::tracing::{
    EndParams, EventDataCollected, EventTracingComplete, StartParams, StartTransferMode, TraceConfig,
    TraceConfigRecordMode,
};
use chromiumoxide::page::Page;
use futures::{FutureExt, StreamExt};
use tokio::task::JoinHandle;

/// The categories a frame's stages are seen in: the task each thread runs and where it was
/// posted from (`toplevel`), the page's script, layout and paint (`devtools.timeline`, `v8`,
/// `blink`), the compositor's frames and raster (`cc`, `viz`, `gpu`), and the messages
/// between processes (`ipc`, `mojom`).
const CATEGORIES: [&str; 11] = [
    "toplevel",
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "v8",
    "blink",
    "cc",
    "viz",
    "gpu",
    "ipc",
    "mojom",
    "benchmark",
];

/// How long Chromium may take to hand over a finished trace.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(120);

/// A trace being recorded through one tab's DevTools session (which traces every process of
/// its browser).
pub struct Recording {
    page: Page,
    collected: JoinHandle<Vec<serde_json::Value>>,
}

impl Recording {
    /// Starts tracing through `page`.
    pub async fn start(page: &Page) -> Result<Self> {
        let mut data = page.event_listener::<EventDataCollected>().await?;
        let mut completions = page.event_listener::<EventTracingComplete>().await?;
        // The events arrive in batches until Chromium says the trace is complete.
        let collected = tokio::spawn(async move {
            let mut events = Vec::new();
            let mut take = |batch: Arc<EventDataCollected>| match Arc::try_unwrap(batch) {
                Ok(batch) => events.extend(batch.value),
                Err(shared) => events.extend(shared.value.iter().cloned()),
            };
            loop {
                tokio::select! {
                    Some(batch) = data.next() => take(batch),
                    _ = completions.next() => break,
                }
            }
            // Each event type has a channel of its own: batches Chromium sent before the
            // completion are already queued in theirs.
            while let Some(Some(batch)) = data.next().now_or_never() {
                take(batch);
            }
            events
        });
        let config = TraceConfig {
            record_mode: Some(TraceConfigRecordMode::RecordAsMuchAsPossible),
            included_categories: Some(CATEGORIES.iter().map(|c| (*c).to_owned()).collect()),
            ..Default::default()
        };
        let start = StartParams {
            transfer_mode: Some(StartTransferMode::ReportEvents),
            trace_config: Some(config),
            ..Default::default()
        };
        page.execute(start).await.context("starting Chromium's trace")?;
        Ok(Self { page: page.clone(), collected })
    }

    /// Ends the trace and writes its events to `out`.
    pub async fn finish(self, out: &Path) -> Result<usize> {
        self.page.execute(EndParams::default()).await.context("ending Chromium's trace")?;
        let events = tokio::time::timeout(COLLECT_TIMEOUT, self.collected)
            .await
            .context("Chromium did not hand over its trace in time")??;
        let count = events.len();
        let file = serde_json::json!({ "traceEvents": events });
        std::fs::write(out, serde_json::to_vec(&file)?).with_context(|| format!("writing {}", out.display()))?;
        Ok(count)
    }
}
