//! A still: one frame of a composition captured as an image.

use std::time::Duration;

use crate::assets::artifacts::{self, Artifact, ArtifactSet};
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
    /// The files the frame emitted with `<Artifact>` (an `Artifact.Thumbnail` holds `image`).
    pub artifacts: Vec<Artifact>,
}

/// The frame a still shows: `frame` itself, or counted from the end when negative (-1 is the
/// last frame), as Remotion's stills count; refused outside the composition.
pub fn still_frame(frame: i64, composition: &ResolvedComposition) -> Result<u64, RenderError> {
    let length = composition.duration_in_frames;
    let index = if frame < 0 { i128::from(length) + i128::from(frame) } else { i128::from(frame) };
    u64::try_from(index).ok().filter(|i| *i < length).ok_or_else(|| {
        RenderError::InvalidInput(format!(
            "frame {frame} is out of range: {} has frames 0–{} (-1 is the last, -{length} the first)",
            composition.id,
            length.saturating_sub(1)
        ))
    })
}

/// Renders one frame of a composition as an image, exactly as Remotion's `renderStill`.
pub async fn render_still(browser: &Browser, site: &Site, request: &StillRequest) -> Result<Still, RenderError> {
    let composition =
        resolve_composition(browser, site, &request.composition, &request.serialized_props, request.timeout).await?;
    render_resolved_still(browser, site, request, composition).await
}

/// Renders one frame of a composition resolved beforehand (and perhaps overridden: the tab
/// takes its size and the page its timing from `composition`).
pub async fn render_resolved_still(
    browser: &Browser,
    site: &Site,
    request: &StillRequest,
    composition: ResolvedComposition,
) -> Result<Still, RenderError> {
    let frame = i64::try_from(request.frame).unwrap_or(i64::MAX);
    still_frame(frame, &composition)?;
    let frames = site.frame_server().await?;
    frames.set_limits(browser.page_settings());
    let setup = TabSetup {
        width: composition.width,
        height: composition.height,
        scale: request.scale,
        timeout: request.timeout,
        initial_frame: request.frame,
        is_main_tab: true,
        serialized_input_props: request.serialized_props.clone(),
        env_variables: browser.page_settings().serialized_env_variables(),
        log_level: browser.page_settings().log_level,
        media_cache_size_in_bytes: browser.page_settings().media_cache_size_in_bytes,
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
        // The frame's artifacts beside the capture, as Remotion's renderStill collects them.
        let (image, assets) = tokio::join!(tab.capture(request.format), tab.collect_assets());
        let image = image?;
        let mut emitted = ArtifactSet::default();
        for artifact in artifacts::parse(&assets?, Some(&image))? {
            emitted.add(artifact, Some(&composition.id))?;
        }
        Ok((image, emitted.into_sorted()))
    }
    .await;
    tab.close().await;
    // A page that failed because its <OffthreadVideo> source could not be shown says which.
    let (image, artifacts) = result.map_err(|e: RenderError| frames.explain(e.at_frame(request.frame)))?;
    Ok(Still { image, composition, artifacts })
}

#[cfg(test)]
mod tests {
    use remotion_protocol::payload::CompositionMetadata;

    use super::*;

    #[test]
    fn negative_frames_count_from_the_end_as_in_remotion() {
        let metadata = CompositionMetadata {
            id: "Intro".into(),
            width: 64,
            height: 64,
            fps: 30.0,
            duration_in_frames: 300,
            default_codec: None,
            default_out_name: None,
        };
        let composition = ResolvedComposition::from_metadata(&metadata, "{}".into());
        assert_eq!(still_frame(-1, &composition).unwrap(), 299);
        assert_eq!(still_frame(-300, &composition).unwrap(), 0);
        assert_eq!(still_frame(0, &composition).unwrap(), 0);
        assert_eq!(still_frame(299, &composition).unwrap(), 299);
        for outside in [300, -301, i64::MIN] {
            let message = still_frame(outside, &composition).unwrap_err().to_string();
            assert!(message.contains("0–299"), "{outside}: {message}");
        }
    }
}
