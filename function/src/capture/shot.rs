//! Capturing what a tab shows: a screenshot of the viewport in Remotion's exact parameters,
//! or (for PDF stills) the page printed at the composition's size.

use base64::Engine;
use chromiumoxide::cdp::browser_protocol::dom::Rgba;
use chromiumoxide::cdp::browser_protocol::emulation::SetDefaultBackgroundColorOverrideParams;
use chromiumoxide::cdp::browser_protocol::page::{
    CaptureScreenshotFormat, CaptureScreenshotParams, PrintToPdfParams, Viewport,
};

use super::frames::FrameFormat;
use super::page::{Capture, RemotionTab};
use crate::error::RenderError;

/// CSS pixels per inch: Chromium's paper sizes are in inches, the composition's in CSS pixels.
const CSS_PIXELS_PER_INCH: f64 = 96.0;

/// Whether the page's background stays transparent (Remotion sets the body's background to
/// black only for JPEG).
fn transparent_body(format: Capture) -> bool {
    !matches!(format, Capture::Jpeg(_))
}

/// Chromium's print parameters for a PDF of a `width`×`height` CSS-pixel composition: a
/// paper of exactly that size, no margins, backgrounds printed, one page.
pub fn pdf_params(width: u32, height: u32) -> PrintToPdfParams {
    PrintToPdfParams {
        paper_width: Some(f64::from(width) / CSS_PIXELS_PER_INCH),
        paper_height: Some(f64::from(height) / CSS_PIXELS_PER_INCH),
        margin_top: Some(0.0),
        margin_bottom: Some(0.0),
        margin_left: Some(0.0),
        margin_right: Some(0.0),
        scale: Some(1.0),
        print_background: Some(true),
        // Remotion prints every page; a composition fills exactly one, and a sub-pixel
        // overflow must not add a blank second sheet.
        page_ranges: Some("1".into()),
        ..Default::default()
    }
}

impl RemotionTab {
    /// Captures the viewport with Remotion's exact screenshot parameters, or prints it to PDF.
    pub async fn capture(&self, format: Capture) -> Result<Vec<u8>, RenderError> {
        let background = if transparent_body(format) { "transparent" } else { "black" };
        self.eval(&format!("document.body.style.background = '{background}'"), self.timeout).await?;
        self.page.activate().await?;
        let data = match format {
            // Printing lays the page out again, which may run its frame callbacks.
            Capture::Pdf => self.with_frames(self.page.execute(pdf_params(self.width, self.height))).await?.result.data,
            Capture::Jpeg(_) | Capture::Png | Capture::Webp => self.screenshot(format).await?,
        };
        base64::engine::general_purpose::STANDARD
            .decode(AsRef::<str>::as_ref(&data))
            .map_err(|e| RenderError::Browser(format!("the captured frame is not base64: {e}")))
    }

    /// A screenshot of the viewport, base64 (PNG and WebP with a transparent default
    /// background, as Remotion's `omitBackground`).
    async fn screenshot(&self, format: Capture) -> Result<chromiumoxide::Binary, RenderError> {
        let transparent = transparent_body(format);
        if transparent {
            self.page
                .execute(SetDefaultBackgroundColorOverrideParams {
                    color: Some(Rgba { r: 0, g: 0, b: 0, a: Some(0.0) }),
                })
                .await?;
        }
        let data = match &self.frames {
            Some(frames) => frames.capture(frame_format(format)).await,
            None => self.capture_screenshot(format).await,
        };
        if transparent {
            self.page.execute(SetDefaultBackgroundColorOverrideParams { color: None }).await?;
        }
        data
    }

    /// `Page.captureScreenshot` of the viewport, base64: the capture of a tab that draws its
    /// own frames.
    async fn capture_screenshot(&self, format: Capture) -> Result<chromiumoxide::Binary, RenderError> {
        let (cdp_format, quality) = match format {
            Capture::Jpeg(q) => (CaptureScreenshotFormat::Jpeg, Some(i64::from(q))),
            Capture::Webp => (CaptureScreenshotFormat::Webp, None),
            Capture::Png | Capture::Pdf => (CaptureScreenshotFormat::Png, None),
        };
        let shot = self
            .page
            .execute(CaptureScreenshotParams {
                format: Some(cdp_format),
                quality,
                clip: Some(Viewport {
                    x: 0.0,
                    y: 0.0,
                    width: f64::from(self.width),
                    height: f64::from(self.height),
                    scale: 1.0,
                }),
                from_surface: Some(true),
                capture_beyond_viewport: Some(true),
                optimize_for_speed: Some(true),
            })
            .await?;
        Ok(shot.result.data)
    }
}

/// The `beginFrame` screenshot format of a capture format (PDF is printed, never drawn).
fn frame_format(format: Capture) -> FrameFormat {
    match format {
        Capture::Jpeg(q) => FrameFormat::Jpeg(q),
        Capture::Webp => FrameFormat::Webp,
        Capture::Png | Capture::Pdf => FrameFormat::Png,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_paper_is_the_composition_at_96_dpi() {
        let params = pdf_params(1920, 1080);
        assert_eq!((params.paper_width, params.paper_height), (Some(20.0), Some(11.25)));
        assert_eq!(params.print_background, Some(true));
        let margins = [params.margin_top, params.margin_bottom, params.margin_left, params.margin_right];
        assert!(margins.iter().all(|m| *m == Some(0.0)));
        assert_eq!(params.page_ranges.as_deref(), Some("1"));
    }
}
