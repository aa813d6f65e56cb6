//! Frames on demand, for a tab under begin-frame control (the headless shell launched with
//! `--enable-begin-frame-control`). Such a tab draws nothing by itself: the driver asks for
//! each frame with `HeadlessExperimental.beginFrame`, and a capture is a frame drawn with its
//! screenshot. That saves the frames the page would draw between captures and
//! `Page.captureScreenshot`'s restoring of the view after each one: issue #18 measured 0.68×
//! the CPU of a screenshot on Showcase and 0.81–0.84× on Intro (README, "Cheaper capture
//! paths").
//!
//! Remotion's pixels need the page rasterised afresh for every capture. Chromium stops
//! re-rasterising a layer at each new scale once its scale keeps changing (a title springing in
//! with `scale()`), and keeps drawing the stale raster scaled; Remotion's screenshots, taken with
//! `captureBeyondViewport`, emulate a 1×1 view and then the tab's view again before each
//! capture, which lays the page out afresh and builds every layer's raster anew. So does
//! [`FrameControl::capture`]: the 1×1 view laid out in a frame without display updates, then the
//! tab's view, then the frame with the screenshot. Only the emulated layout changes, never the
//! view's surface (a resized surface draws its first frame without a screenshot). Without this,
//! 212 of Intro's 300 frames differed in up to 0.3 % of their pixels; with it all 300 JPEGs are
//! byte-identical to the screenshots'.
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
//! awaited to its end, never dropped: the pump stops between frames. The tabs of one browser
//! share its frame source: a frame begun in one tab while another tab's was pending came back
//! without its screenshot, and the next one was never answered. Begun one at a time, two tabs
//! of one browser take turns and took 1.2–1.3× the wall time of screenshots; so one tab of a
//! browser draws on demand ([`DrawingSlot`]), and `Browser::new_tab` opens the next in a
//! browser of its own.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
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

/// Frames drawn for one capture at most, when frames do not show the page: without their
/// screenshot, or, in a tab's first capture, not yet settled ([`FirstSight`]).
const SCREENSHOT_ATTEMPTS: u32 = 8;

/// A browser's right to have a tab drawing on demand: one tab at a time, since the tabs of one
/// browser share its frame source (the module's doc says why).
#[derive(Debug, Default)]
pub struct DrawingSlot(Arc<AtomicBool>);

impl DrawingSlot {
    /// The slot, when no open tab holds it.
    pub fn take(&self) -> Option<TakenSlot> {
        let free = self.0.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok();
        free.then(|| TakenSlot(self.0.clone()))
    }
}

/// A [`DrawingSlot`] taken, freed when the tab holding it (its last [`FrameControl`]) is dropped.
#[derive(Debug)]
pub struct TakenSlot(Arc<AtomicBool>);

impl Drop for TakenSlot {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The frames of one tab under begin-frame control.
#[derive(Clone, Debug)]
pub struct FrameControl {
    page: Page,
    /// Held while a frame of the tab is begun and drawn.
    drawing: Arc<Mutex<Drawing>>,
    _slot: Arc<TakenSlot>,
}

/// What a tab's captures need besides the page.
#[derive(Debug, Default)]
struct Drawing {
    /// The tab's emulated view ([`FrameControl::set_view`]), set again around each capture.
    view: Option<SetDeviceMetricsOverrideParams>,
    /// The last screenshot drawn.
    last: Option<LastShot>,
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
    /// Frame control of `page`, a tab opened with `enableBeginFrameControl` in the browser whose
    /// `slot` it holds.
    pub fn new(page: Page, slot: TakenSlot) -> Self {
        Self { page, drawing: Arc::default(), _slot: Arc::new(slot) }
    }

    /// Records the view the tab was set up with (`Emulation.setDeviceMetricsOverride`): each
    /// capture lays the page out at 1×1 and back at this view. Captures fail until it is set.
    pub async fn set_view(&self, view: SetDeviceMetricsOverrideParams) {
        self.drawing.lock().await.view = Some(view);
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

    /// Draws a frame rasterised afresh and returns its screenshot of the viewport, base64.
    pub async fn capture(&self, format: FrameFormat) -> Result<chromiumoxide::Binary, RenderError> {
        let requested = format;
        let (format, quality) = match format {
            FrameFormat::Jpeg(q) => (ScreenshotParamsFormat::Jpeg, Some(i64::from(q))),
            FrameFormat::Png => (ScreenshotParamsFormat::Png, None),
            FrameFormat::Webp => (ScreenshotParamsFormat::Webp, None),
        };
        // Remotion's screenshots are taken with `optimizeForSpeed`; so is this one.
        let screenshot = ScreenshotParams { format: Some(format), quality, optimize_for_speed: Some(true) };
        let mut drawing = self.drawing.lock().await;
        let view = drawing
            .view
            .clone()
            .ok_or_else(|| RenderError::Browser("a frame was captured before the tab's view was set".into()))?;
        let keep_surface = Some(true);
        let tiny =
            SetDeviceMetricsOverrideParams { width: 1, height: 1, dont_set_visible_size: keep_surface, ..view.clone() };
        self.page.execute(tiny).await?;
        self.page.execute(BeginFrameParams { no_display_updates: Some(true), ..Default::default() }).await?;
        self.page.execute(SetDeviceMetricsOverrideParams { dont_set_visible_size: keep_surface, ..view }).await?;
        let with_screenshot = BeginFrameParams { screenshot: Some(screenshot), ..Default::default() };
        let mut first = drawing.last.is_none().then(FirstSight::default);
        for _ in 0..SCREENSHOT_ATTEMPTS {
            let frame = self.page.execute(with_screenshot.clone()).await?.result;
            let new_picture = match (&mut first, frame.screenshot_data, drawing.last.as_ref()) {
                (Some(first), screenshot, _) => first.picture(screenshot),
                (None, Some(screenshot), _) => Some(screenshot),
                // Nothing new drawn: the picture is the last screenshot's.
                (None, None, Some(last)) if !frame.has_damage && last.format == requested => {
                    return Ok(last.data.clone());
                }
                (None, None, _) => None,
            };
            if let Some(screenshot) = new_picture {
                drawing.last = Some(LastShot { format: requested, data: screenshot.clone() });
                return Ok(screenshot);
            }
            tracing::debug!(damage = frame.has_damage, "a frame did not show the page; drawing another");
        }
        Err(RenderError::Browser(format!(
            "Chromium drew {SCREENSHOT_ATTEMPTS} frames and none showed the page (their screenshots missing or changing)"
        )))
    }
}

/// The first capture of a tab: the first frames it draws to the display. Frames may come
/// without their screenshot while the display is not ready (a tab's first frames while an HTML5
/// video's picture has not reached it, a surface that cannot be copied yet on a loaded machine);
/// and the frame after such a one, damage or not, may show a blank white view drawn before
/// the page's own picture arrived. So once a frame has come without its screenshot, a
/// screenshot counts when the next frame's is the same: the display has settled on the page.
#[derive(Debug, Default)]
struct FirstSight {
    /// A frame of this capture came without its screenshot.
    unsettled: bool,
    /// The screenshot of the frame before, while unsettled.
    previous: Option<chromiumoxide::Binary>,
}

impl FirstSight {
    /// The page's picture, from the screenshot of the frame just drawn, once it can be trusted.
    fn picture(&mut self, screenshot: Option<chromiumoxide::Binary>) -> Option<chromiumoxide::Binary> {
        let Some(screenshot) = screenshot else {
            self.unsettled = true;
            self.previous = None;
            return None;
        };
        if !self.unsettled || self.previous.as_ref() == Some(&screenshot) {
            return Some(screenshot);
        }
        self.previous = Some(screenshot);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_has_one_tab_drawing_on_demand_until_that_tab_goes() {
        let slot = DrawingSlot::default();
        let taken = slot.take().expect("a new browser's slot is free");
        assert!(slot.take().is_none(), "a second tab must open in a browser of its own");
        drop(taken);
        assert!(slot.take().is_some(), "the slot is free again once the tab is gone");
    }

    #[test]
    fn a_tabs_first_picture_is_its_first_screenshot_or_once_unsettled_two_alike() {
        let shot = |s: &str| Some(chromiumoxide::Binary::from(s.to_owned()));
        // Drawn at once: the first screenshot.
        assert_eq!(FirstSight::default().picture(shot("page")), shot("page"));
        // After a frame without its screenshot, a blank view may come before the page.
        let mut first = FirstSight::default();
        assert_eq!(first.picture(None), None);
        assert_eq!(first.picture(shot("blank")), None);
        assert_eq!(first.picture(shot("page")), None);
        assert_eq!(first.picture(shot("page")), shot("page"));
        // Two alike must be consecutive frames with their screenshots.
        let mut first = FirstSight::default();
        assert_eq!(first.picture(None), None);
        assert_eq!(first.picture(shot("page")), None);
        assert_eq!(first.picture(None), None);
        assert_eq!(first.picture(shot("page")), None);
        assert_eq!(first.picture(shot("page")), shot("page"));
    }
}
