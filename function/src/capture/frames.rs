//! Frames on demand, for a tab under begin-frame control (the headless shell launched with
//! `--enable-begin-frame-control`). Such a tab draws nothing by itself: the driver asks for
//! each frame with `HeadlessExperimental.beginFrame`. That saves the renderer the frames it
//! never captures, and a capture is one frame drawn with its screenshot instead of a frame and
//! then a separate screenshot pass; issue #18 measured 0.60× the CPU per captured frame. It is
//! not the renderer's path (`BrowserOptions::begin_frame_control` is off unless asked for): its
//! frames are `Page.captureScreenshot`'s without `captureBeyondViewport`, whereas Remotion's
//! screenshots set it, and that rasterises a scaled layer afresh (41 of Intro's first 100 frames
//! differ, in 0.3 % of their pixels); a second tab's frames come without screenshots; and the
//! emulated device scale is ignored. `render_floor --shot begin-frame` measures it.
//!
//! The page still needs frames while it waits: its `requestAnimationFrame` callbacks (Remotion
//! polls readiness on them, and React's effects follow a paint) run only in a frame. So while
//! an evaluation has not answered, [`FrameControl::during`] pumps frames without display
//! updates (the main frame's work, no raster, no readback), and stops when it answers. A
//! synchronous evaluation answers before the first pump frame would start and costs none.
//!
//! Chromium refuses a second `beginFrame` while one is pending ("Another frame is pending"), and
//! a DevTools command cannot be taken back once sent. So one frame of a tab is begun at a time
//! (the capture of a still runs beside an evaluation that pumps), and a pump frame is always
//! awaited to its end, never dropped: the pump stops between frames.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::headless_experimental::{
    BeginFrameParams, ScreenshotParams, ScreenshotParamsFormat,
};
use chromiumoxide::page::Page;
use tokio::sync::{Mutex, watch};

use crate::error::RenderError;

/// How long an evaluation may take before frames are pumped for it: a synchronous one answers
/// within a DevTools round trip, so it gets none.
const PUMP_AFTER: Duration = Duration::from_millis(1);

/// Frames pumped back to back before the pump slows down: a seek waits for one or two animation
/// frames, a set-up for a few more.
const EAGER_FRAMES: u32 = 8;

/// The pump's pace in a long wait (a `delayRender()` over a network fetch): a display's rate,
/// so `requestAnimationFrame` polling behaves as in a visible tab without spinning the CPU.
const SLOW_PUMP_INTERVAL: Duration = Duration::from_millis(16);

/// The frames of one tab under begin-frame control.
#[derive(Clone, Debug)]
pub struct FrameControl {
    page: Page,
    /// Held while a frame of the tab is begun and drawn, with the last screenshot drawn.
    drawing: Arc<Mutex<Option<LastShot>>>,
}

/// The screenshot of the last frame drawn to the display. Chromium takes none of a frame with
/// nothing new to draw (a composition that holds still), whose picture is this one's.
#[derive(Debug)]
struct LastShot {
    format: FrameFormat,
    data: chromiumoxide::Binary,
}

/// An image format `beginFrame` can capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameFormat {
    /// JPEG at a quality.
    Jpeg(u8),
    /// PNG.
    Png,
    /// WebP.
    Webp,
}

impl FrameControl {
    /// Frame control of `page`, a tab opened with `enableBeginFrameControl`.
    pub fn new(page: Page) -> Self {
        Self { page, drawing: Arc::new(Mutex::new(None)) }
    }

    /// Runs `work` (DevTools commands that may wait on the page), producing frames without
    /// display updates for as long as it has not finished.
    pub async fn during<T>(&self, work: impl Future<Output = T>) -> T {
        let (finished, until) = watch::channel(false);
        let work = async move {
            let out = work.await;
            let _ = finished.send(true);
            out
        };
        let (out, ()) = tokio::join!(work, self.pump(until));
        out
    }

    /// Frames without display updates until `until` turns true, each awaited to its end.
    async fn pump(&self, mut until: watch::Receiver<bool>) {
        let mut pause = PUMP_AFTER;
        let mut pumped = 0u32;
        loop {
            tokio::select! {
                biased;
                _ = until.wait_for(|done| *done) => return,
                () = tokio::time::sleep(pause) => {}
            }
            let idle = BeginFrameParams { no_display_updates: Some(true), ..Default::default() };
            let drawn = {
                let _drawing = self.drawing.lock().await;
                self.page.execute(idle).await
            };
            if let Err(e) = drawn {
                // A tab closing under a failed render; the evaluation reports the cause.
                tracing::debug!(error = %e, "a frame without display updates failed");
                let _ = until.wait_for(|done| *done).await;
                return;
            }
            pumped += 1;
            pause = if pumped < EAGER_FRAMES { Duration::ZERO } else { SLOW_PUMP_INTERVAL };
        }
    }

    /// Draws a frame and returns its screenshot of the viewport, base64.
    pub async fn capture(&self, format: FrameFormat) -> Result<chromiumoxide::Binary, RenderError> {
        let requested = format;
        let (format, quality) = match format {
            FrameFormat::Jpeg(q) => (ScreenshotParamsFormat::Jpeg, Some(i64::from(q))),
            FrameFormat::Png => (ScreenshotParamsFormat::Png, None),
            FrameFormat::Webp => (ScreenshotParamsFormat::Webp, None),
        };
        // Remotion's screenshots are taken with `optimizeForSpeed`; so is this one.
        let screenshot = ScreenshotParams { format: Some(format), quality, optimize_for_speed: Some(true) };
        let mut last = self.drawing.lock().await;
        let frame = self.page.execute(BeginFrameParams { screenshot: Some(screenshot), ..Default::default() }).await?;
        let has_damage = frame.result.has_damage;
        match (frame.result.screenshot_data, last.as_ref()) {
            (Some(data), _) => {
                *last = Some(LastShot { format: requested, data: data.clone() });
                Ok(data)
            }
            (None, Some(shot)) if !has_damage && shot.format == requested => Ok(shot.data.clone()),
            (None, _) => Err(RenderError::Browser(format!(
                "Chromium drew a frame (damage: {has_damage}) without its screenshot, and no earlier screenshot shows it"
            ))),
        }
    }
}
