//! A still: one frame of a composition captured as an image.

use std::time::Duration;

use crate::capture::browser::Browser;
use crate::capture::compositions::resolve_composition;
use crate::capture::page::{Capture, RemotionTab, ResolvedComposition, TabSetup};
use crate::capture::site::Site;
use crate::error::RenderError;

/// What to capture.
#[derive(Clone, Debug)]
pub struct StillRequest {
    /// Composition id.
    pub composition: String,
    /// Serialized input props.
    pub serialized_props: String,
    /// Frame (0-based).
    pub frame: u64,
    /// Image format.
    pub format: Capture,
    /// Output scale.
    pub scale: f64,
    /// delayRender timeout.
    pub timeout: Duration,
}

/// A rendered still.
pub struct Still {
    /// The encoded image.
    pub image: Vec<u8>,
    /// The composition it shows.
    pub composition: ResolvedComposition,
}

/// Renders one frame of a composition as an image, exactly as Remotion's `renderStill`.
pub async fn render_still(browser: &Browser, site: &Site, request: &StillRequest) -> Result<Still, RenderError> {
    let composition =
        resolve_composition(browser, site, &request.composition, &request.serialized_props, request.timeout).await?;
    if request.frame >= composition.duration_in_frames {
        return Err(RenderError::InvalidInput(format!(
            "frame {} is out of range: {} has frames 0–{}",
            request.frame,
            composition.id,
            composition.duration_in_frames.saturating_sub(1)
        )));
    }
    let frames = site.frame_server().await?;
    let setup = TabSetup {
        width: composition.width,
        height: composition.height,
        scale: request.scale,
        timeout: request.timeout,
        initial_frame: request.frame,
        is_main_tab: true,
        serialized_input_props: request.serialized_props.clone(),
        env_variables: "{}".into(),
        audio_enabled: false,
        video_enabled: true,
        frame_server_port: frames.port(),
    };
    let mut tab = RemotionTab::open(browser.new_tab().await?, &site.url, &setup).await?;
    let result = async {
        // The tab starts at the requested frame, so even setting the composition renders it.
        tab.set_composition(&composition).await.map_err(|e| e.at_frame(request.frame))?;
        // Remotion's renderStill seeks with attempt 0.
        tab.seek(request.frame, 0).await?;
        tab.capture(request.format).await
    }
    .await;
    tab.close().await;
    // A page that failed because its <OffthreadVideo> source could not be shown says which.
    let image = result.map_err(|e| frames.explain(e))?;
    Ok(Still { image, composition })
}
