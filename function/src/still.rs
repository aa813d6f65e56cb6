//! Compositions and stills: open the site, resolve a composition, capture one frame.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use remotion_crds::protocol::CompositionMetadata;

use crate::audio::fetch::AssetCache;
use crate::browser::Browser;
use crate::error::RenderError;
use crate::page::{Capture, RemotionTab, ResolvedComposition, TabSetup};
use crate::proxy::FrameServer;
use crate::site::SiteServer;

/// A site ready to be opened: an http(s) URL, or a local bundle folder served on 127.0.0.1.
///
/// The site also owns what its pages use while rendering: the media sources fetched from it
/// (audio, `<OffthreadVideo>`) and the `<OffthreadVideo>` frame server whose port its pages
/// are given. Both start on first use and live as long as the site, so a page kept loaded
/// for the next chunk (with its site, see [`crate::warm_page`]) finds its frame server still
/// on the port its init script names, with the sources already fetched.
pub struct Site {
    /// URL the page loads.
    pub url: String,
    _server: Option<SiteServer>,
    assets: std::sync::OnceLock<Arc<AssetCache>>,
    frames: tokio::sync::OnceCell<FrameServer>,
}

impl Site {
    /// A site at an http(s) URL served by someone else (e.g. a [`SiteServer`] the caller keeps).
    pub fn at_url(url: String) -> Self {
        Self::with_server(url, None)
    }

    fn with_server(url: String, server: Option<SiteServer>) -> Self {
        Self { url, _server: server, assets: Default::default(), frames: Default::default() }
    }

    /// `serve_url` is an `http(s)://` URL or a local bundle folder.
    pub async fn open(serve_url: &str) -> Result<Self, RenderError> {
        if serve_url.starts_with("http://") || serve_url.starts_with("https://") {
            return Ok(Self::at_url(serve_url.to_owned()));
        }
        let dir = Path::new(serve_url);
        if !dir.is_dir() {
            return Err(RenderError::InvalidInput(format!(
                "--serve-url {serve_url:?} is neither an http(s) URL nor a folder"
            )));
        }
        let server = SiteServer::serve_dir(dir).await?;
        Ok(Self::with_server(server.index_url(), Some(server)))
    }

    /// The media sources of this site's pages, each fetched at most once.
    pub fn assets(&self) -> Result<Arc<AssetCache>, RenderError> {
        if let Some(assets) = self.assets.get() {
            return Ok(assets.clone());
        }
        let assets = AssetCache::new(&self.url)?;
        Ok(self.assets.get_or_init(|| assets).clone())
    }

    /// The `<OffthreadVideo>` frame server of this site's pages, started on first use.
    pub async fn frame_server(&self) -> Result<&FrameServer, RenderError> {
        self.frames.get_or_try_init(|| async { FrameServer::start(self.assets()?).await }).await
    }
}

/// Every composition of a site with metadata resolved for `props`.
pub async fn list_compositions(
    browser: &Browser,
    site: &Site,
    serialized_props: &str,
    timeout: Duration,
) -> Result<Vec<CompositionMetadata>, RenderError> {
    let tab = RemotionTab::open(browser, &site.url, &TabSetup::metadata(serialized_props.to_owned(), timeout)).await?;
    let result = async {
        tab.evaluate_root().await?;
        tab.compositions().await
    }
    .await;
    tab.close().await;
    Ok(result?.iter().map(ResolvedComposition::metadata).collect())
}

/// One composition, metadata resolved for `props` (Remotion's `selectComposition`).
pub async fn resolve_composition(
    browser: &Browser,
    site: &Site,
    id: &str,
    serialized_props: &str,
    timeout: Duration,
) -> Result<ResolvedComposition, RenderError> {
    let mut tab =
        RemotionTab::open(browser, &site.url, &TabSetup::metadata(serialized_props.to_owned(), timeout)).await?;
    let result = async {
        tab.evaluate_root().await?;
        tab.calculate_composition(id).await
    }
    .await;
    tab.close().await;
    result
}

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
        proxy_port: frames.port(),
    };
    let mut tab = RemotionTab::open(browser, &site.url, &setup).await?;
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
