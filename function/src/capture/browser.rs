//! Headless Chromium, launched with the flags Remotion's renderer uses that matter for
//! identical output (sRGB colour profile, no font hinting, no background throttling).
//!
//! One Chromium is kept warm between the invocations of a function process, which may belong
//! to different renders of different tenants, so no invocation may see what an earlier one's
//! pages stored (cookies, localStorage, IndexedDB, Cache Storage, service workers, HTTP cache,
//! permissions). Every invocation's tabs open in a browser context of their own, disposed of
//! when the invocation releases the browser, in Lambda as elsewhere: Chromium runs in its
//! ordinary multi-process mode there too (its single-process mode has one context only, crashed
//! now and then when starved of CPU, and drew the headless shell's frames unlike Remotion's).
//!
//! A render's `chromiumOptions` are launch switches (as in Remotion): a warm browser launched
//! with other switches is closed, never reused, so no render runs in a browser set up for
//! another. The browser also carries its invocation's [`PageSettings`], which every tab opened
//! for the invocation is set up with (environment variables, log level).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chromiumoxide::browser::{Browser as CdpBrowser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::target::{CreateBrowserContextParams, CreateTargetParams, TargetId};
use chromiumoxide::error::CdpError;
use futures::StreamExt;
use remotion_protocol::page::{OpenGlRenderer, PageSettings};
use tokio::task::JoinHandle;

use crate::capture::frames::{DrawingSlot, FrameControl, TakenSlot};
use crate::capture::tab::BrowserTab;
use crate::capture::warm_page::{PageKey, WarmPage};
use crate::error::RenderError;

/// How to start the browser.
#[derive(Clone, Debug)]
pub struct BrowserOptions {
    /// The Chromium executable.
    pub executable: PathBuf,
    /// Longest time a DevTools command may take (page-side waits are bounded separately).
    pub command_timeout: Duration,
    /// Running inside AWS Lambda: no zygote process (nothing to sandbox with, and one process
    /// fewer to start), and Remotion's Lambda default OpenGL renderer.
    pub in_lambda: bool,
    /// The invocation's page settings: its `chromiumOptions` decide the launch switches, the
    /// rest is what its tabs are set up with.
    pub page: PageSettings,
    /// Frames are produced only when asked for (`HeadlessExperimental.beginFrame`), in every tab
    /// ([`crate::capture::frames`]). Needs a headless shell; see
    /// [`BrowserOptions::drawing_on_demand_for`] for when the renderer turns it on.
    pub begin_frame_control: bool,
}

impl BrowserOptions {
    /// Options for the Chromium found on this machine.
    pub fn detect() -> Result<Self, RenderError> {
        let executable = crate::versions::find_chromium().map_err(|e| RenderError::BrowserLaunch(e.to_string()))?;
        Ok(Self {
            executable,
            command_timeout: Duration::from_secs(300),
            in_lambda: std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some(),
            page: PageSettings::default(),
            begin_frame_control: false,
        })
    }

    /// These options with frames drawn on demand where that is the cheaper way to Remotion's
    /// pixels: the headless shell at scale 1, with Chromium's own OpenGL choice or SwiftShader
    /// through ANGLE (Lambda's default), in Lambda as elsewhere; each tab beyond the first then
    /// runs in a browser of its own ([`Browser::new_tab`]). Elsewhere the tabs draw their own
    /// frames: only the shell offers begin-frame control; at another scale Remotion's frame is
    /// the scale-1 frame's copy scaled as the screenshot is taken, which `beginFrame` cannot
    /// ask for (a display at that scale rasterises text differently, README); and other OpenGL
    /// renderers are not checked.
    pub fn drawing_on_demand_for(self, scale: f64) -> Self {
        let checked_gl =
            matches!(self.page.chromium_options.gl.or(self.default_gl()), None | Some(OpenGlRenderer::Swangle));
        let begin_frame_control = crate::versions::is_headless_shell(&self.executable) && scale == 1.0 && checked_gl;
        Self { begin_frame_control, ..self }
    }

    /// These options, for an invocation whose pages are set up with `page`.
    pub fn for_page(self, page: &PageSettings) -> Self {
        Self { page: page.clone(), ..self }
    }

    /// The options every invocation of the function launches its browser with: the machine's
    /// Chromium for `page`, drawing on demand where a render at `scale` would. Invocations that
    /// capture no frames pass the common scale, 1, so that the warm browser they release serves
    /// the chunks after them (a warm browser is reused for the same switches only).
    pub fn for_invocation(page: &PageSettings, scale: f64) -> Result<Self, RenderError> {
        Ok(Self::detect()?.for_page(page).drawing_on_demand_for(scale))
    }

    /// The renderer in effect when `chromiumOptions.gl` is unset: Remotion's Lambda default
    /// (`swangle`) inside Lambda, Chromium's own choice elsewhere (as Remotion's `renderMedia`).
    fn default_gl(&self) -> Option<OpenGlRenderer> {
        self.in_lambda.then_some(OpenGlRenderer::Swangle)
    }

    /// The switches that depend on the invocation's `chromiumOptions` (a warm browser is reused
    /// only for the same ones).
    fn option_switches(&self) -> Vec<String> {
        self.page.chromium_options.chromium_switches(self.default_gl())
    }

    /// Whether the renderer in effect needs the GPU process, which `--disable-gpu` would turn off.
    fn uses_gpu(&self) -> bool {
        self.page.chromium_options.gl.or(self.default_gl()).is_some_and(OpenGlRenderer::uses_gpu)
    }
}

/// Flags for the browser process. The rendering ones follow Remotion's renderer; a driver with
/// this set produced frames byte-identical to Remotion's (see reference/remotion.md §3). The
/// OpenGL renderer and the other `chromiumOptions` come from [`ChromiumOptions::chromium_switches`]
/// (`swangle` by default in Lambda), as Remotion's `open-browser` adds them.
///
/// [`ChromiumOptions::chromium_switches`]: remotion_protocol::page::ChromiumOptions::chromium_switches
fn browser_args(options: &BrowserOptions) -> Vec<String> {
    let mut args = vec![
        "disable-quic",
        "no-first-run",
        "no-default-browser-check",
        "disable-background-networking",
        "disable-component-update",
        "disable-sync",
        "disable-default-apps",
        "disable-breakpad",
        "disable-domain-reliability",
        "no-pings",
        "no-proxy-server",
        "force-color-profile=srgb",
        "hide-scrollbars",
        "font-render-hinting=none",
        "disable-background-timer-throttling",
        "disable-renderer-backgrounding",
        "disable-backgrounding-occluded-windows",
        "disable-ipc-flooding-protection",
        "disable-hang-monitor",
        "disable-popup-blocking",
        "disable-prompt-on-repost",
        "mute-audio",
        "disable-dev-shm-usage",
        "allow-running-insecure-content",
        "disable-features=Translate,BackForwardCache,IntensiveWakeUpThrottling,LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults",
        "password-store=basic",
        "use-mock-keychain",
    ];
    if !options.uses_gpu() {
        args.push("disable-gpu");
    }
    if options.in_lambda {
        args.push("no-zygote");
    }
    if options.begin_frame_control {
        args.extend(["enable-begin-frame-control", "run-all-compositor-stages-before-draw"]);
    }
    let mut args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    args.extend(options.option_switches());
    args
}

/// A running browser; closed (and its profile removed) on [`Browser::close`] or drop.
pub struct Browser {
    inner: CdpBrowser,
    handler: JoinHandle<()>,
    _profile: tempfile::TempDir,
    /// The isolated context this invocation's tabs open in; none for a browser not taken with
    /// [`Browser::warm`].
    context: Option<BrowserContextId>,
    /// A loaded page kept for the next chunk of the same render, with the context it lives in.
    kept: Option<(WarmPage, Option<BrowserContextId>)>,
    /// The page this invocation hands on when it releases the browser.
    keeping: Option<WarmPage>,
    /// Tabs open with their frames under the driver's control ([`BrowserOptions::begin_frame_control`]).
    begin_frame_control: bool,
    /// Taken by the tab drawing on demand in this browser, while it is open.
    drawing_slot: DrawingSlot,
    /// Browsers of their own for the tabs that draw on demand beside this browser's: a
    /// browser's tabs share one frame source and would take turns (`capture::frames`).
    siblings: tokio::sync::Mutex<Vec<Browser>>,
    /// What it was launched with, for its siblings.
    options: BrowserOptions,
    /// The switches of its `chromiumOptions` it was launched with.
    switches: Vec<String>,
    /// The page settings of the invocation holding it.
    page: PageSettings,
}

/// The browser kept between invocations of one function process (Lambda runs one invocation
/// at a time per process and reuses warm processes): launching Chromium costs far more than a
/// small chunk's frames.
static WARM: Mutex<Option<Browser>> = Mutex::new(None);

/// Chromium processes this process launched (for logs and tests of the warm browser).
static LAUNCHES: AtomicU64 = AtomicU64::new(0);

/// How many browsers this process has launched so far.
pub fn launches() -> u64 {
    LAUNCHES.load(Ordering::Relaxed)
}

/// A new tab that fails this fast failed its set-up, not the command timeout: it is retried.
const TAB_SETUP_RETRY_WITHIN: Duration = Duration::from_secs(60);

/// Longest wait for a kept browser to answer before a new one is launched instead.
const WARM_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether Chromium's process ended before its DevTools endpoint was up: chromiumoxide sees
/// either the exit itself, or, when the process's stderr closes first, the end of that stream,
/// or, when it dies just after printing the endpoint, a connection closed mid-handshake.
fn exited_while_starting(error: &CdpError) -> bool {
    use tungstenite::error::{Error as WsError, ProtocolError};
    match error {
        CdpError::LaunchExit(..) => true,
        CdpError::LaunchIo(io, _) => io.kind() == std::io::ErrorKind::UnexpectedEof,
        CdpError::Ws(WsError::Protocol(ProtocolError::HandshakeIncomplete)) => true,
        _ => false,
    }
}

/// Whether a DevTools connection error means the connection is gone: Chromium exited, crashed
/// or was closed.
fn connection_lost(error: &CdpError) -> bool {
    use tungstenite::error::{Error as WsError, ProtocolError};
    matches!(
        error,
        CdpError::Ws(
            WsError::ConnectionClosed
                | WsError::AlreadyClosed
                | WsError::Io(_)
                | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)
        )
    )
}

/// Pauses before launching again a Chromium that exited while starting.
const LAUNCH_RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(250), Duration::from_secs(1)];

/// Drops the browser kept warm between invocations, killing its process: for a process that is
/// about to exit (statics are never dropped).
pub fn discard_warm() {
    drop(WARM.lock().unwrap_or_else(|e| e.into_inner()).take());
}

impl Browser {
    /// Launches Chromium with a fresh profile. A Chromium that dies before its DevTools
    /// endpoint is up (a crash at start-up, seen on loaded machines) is launched again, with a
    /// new profile, after each of [`LAUNCH_RETRY_PAUSES`]; a launch that times out is not.
    pub async fn launch(options: &BrowserOptions) -> Result<Self, RenderError> {
        let mut pauses = LAUNCH_RETRY_PAUSES.iter();
        loop {
            let profile = tempfile::Builder::new()
                .prefix("remotion-chromium-")
                .tempdir()
                .map_err(|e| RenderError::io("creating the browser profile folder", e))?;
            let config = Self::config(options, &profile)?;
            let launch = LAUNCHES.fetch_add(1, Ordering::Relaxed) + 1;
            // The switches of the render's chromiumOptions (no secrets: gl, certificate and web
            // security checks, User-Agent), so that a log says which browser rendered what.
            tracing::info!(launch, switches = ?options.option_switches(), "launching Chromium");
            match CdpBrowser::launch(config).await {
                Ok((inner, handler)) => return Ok(Self::started(options, inner, handler, profile)),
                Err(error) if exited_while_starting(&error) => match pauses.next() {
                    Some(pause) => {
                        tracing::warn!(%error, "Chromium exited while starting; launching it again");
                        tokio::time::sleep(*pause).await;
                    }
                    None => return Err(RenderError::BrowserLaunch(error.to_string())),
                },
                Err(error) => return Err(RenderError::BrowserLaunch(error.to_string())),
            }
        }
    }

    fn config(options: &BrowserOptions, profile: &tempfile::TempDir) -> Result<BrowserConfig, RenderError> {
        let mut builder = BrowserConfig::builder()
            .chrome_executable(&options.executable)
            .user_data_dir(profile.path())
            // Headless is the builder's default (`--headless`, Chromium's new headless mode).
            .no_sandbox()
            .disable_default_args()
            .viewport(None)
            .launch_timeout(Duration::from_secs(25))
            .request_timeout(options.command_timeout);
        for arg in browser_args(options) {
            builder = builder.arg(arg);
        }
        // chromiumoxide tells every page to ignore certificate errors unless asked not to;
        // Remotion's pages respect them unless `ignoreCertificateErrors` is set.
        if !options.page.chromium_options.ignore_certificate_errors {
            builder = builder.respect_https_errors();
        }
        builder.build().map_err(RenderError::BrowserLaunch)
    }

    fn started(
        options: &BrowserOptions,
        inner: CdpBrowser,
        mut handler: chromiumoxide::Handler,
        profile: tempfile::TempDir,
    ) -> Self {
        // The handler drives the DevTools connection. chromiumoxide keeps polling a connection
        // that is gone, and its commands would each wait out their 30 s timeout; dropping the
        // handler fails them at once (`RenderError::from`), so a crashed browser costs a chunk
        // its retry and not half a minute of billed time first.
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                match event {
                    Err(e) if connection_lost(&e) => {
                        tracing::warn!(error = %e, "the DevTools connection to Chromium was lost");
                        break;
                    }
                    Err(e) => tracing::debug!(error = %e, "devtools connection event error"),
                    Ok(()) => {}
                }
            }
        });
        Self {
            inner,
            handler,
            _profile: profile,
            context: None,
            kept: None,
            keeping: None,
            begin_frame_control: options.begin_frame_control,
            drawing_slot: DrawingSlot::default(),
            siblings: tokio::sync::Mutex::default(),
            options: options.clone(),
            switches: options.option_switches(),
            page: options.page.clone(),
        }
    }

    /// The page settings of the invocation holding this browser: every tab it opens for the
    /// invocation is set up with them.
    pub fn page_settings(&self) -> &PageSettings {
        &self.page
    }

    /// The browser this process kept from its last invocation when it still answers, else a
    /// new one; either way with nothing of an earlier invocation's state (a new browser
    /// context). Hand it back with [`Browser::release`].
    pub async fn warm(options: &BrowserOptions) -> Result<Self, RenderError> {
        Ok(Self::warm_with_page(options, None).await?.0)
    }

    /// [`Browser::warm`], also handing over the page the previous invocation kept (see
    /// [`crate::capture::warm_page`]) when it was loaded for `key` and still works. This
    /// invocation then goes on in that page's context, which holds the state of the same render
    /// only: the key names the render. A kept page that does not fit is closed with its context.
    pub async fn warm_with_page(
        options: &BrowserOptions,
        key: Option<&PageKey>,
    ) -> Result<(Self, Option<WarmPage>), RenderError> {
        if let Some(mut browser) = Self::take_warm(options).await {
            browser.page = options.page.clone();
            let fits = match &browser.kept {
                Some((page, _)) => key == Some(&page.key) && page.tab.reusable(WARM_CHECK_TIMEOUT).await,
                None => false,
            };
            match browser.kept.take() {
                Some((page, context)) if fits => {
                    tracing::info!("reusing the page kept from the previous chunk");
                    browser.context = context;
                    return Ok((browser, Some(page)));
                }
                Some((page, context)) => {
                    tracing::debug!("closing the page kept from the previous invocation");
                    page.close().await;
                    if let Some(context) = context {
                        let _ =
                            tokio::time::timeout(WARM_CHECK_TIMEOUT, browser.inner.dispose_browser_context(context))
                                .await;
                    }
                }
                None => {}
            }
            tracing::info!("reusing the warm browser, in a new browser context");
            return Ok((browser.in_fresh_context().await?, None));
        }
        Ok((Self::launch(options).await?.in_fresh_context().await?, None))
    }

    /// The browser the previous invocation released, if it was launched with the switches
    /// `options` ask for and still answers (else it is closed).
    async fn take_warm(options: &BrowserOptions) -> Option<Self> {
        let browser = WARM.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        if browser.switches != options.option_switches() || browser.begin_frame_control != options.begin_frame_control {
            tracing::info!("the warm browser was launched with other chromiumOptions; launching a new one");
            browser.close().await;
            return None;
        }
        if browser.answers().await {
            tracing::debug!("the warm browser answers");
            Some(browser)
        } else {
            tracing::info!("the kept browser does not answer; launching a new one");
            browser.close().await;
            None
        }
    }

    /// This browser with a new isolated context for this invocation's tabs: its own cookies,
    /// storage, caches, service workers and permissions, none of them written to disk.
    async fn in_fresh_context(mut self) -> Result<Self, RenderError> {
        match self.inner.create_browser_context(CreateBrowserContextParams::default()).await {
            Ok(context) => {
                self.context = Some(context);
                Ok(self)
            }
            Err(e) => {
                self.close().await;
                Err(RenderError::BrowserLaunch(format!("creating an isolated browser context: {e}")))
            }
        }
    }

    /// Keeps `page` loaded for the next invocation of this process: [`Browser::release`] keeps
    /// it, with the context it lives in.
    pub fn keep_page(&mut self, page: WarmPage) {
        self.keeping = Some(page);
    }

    /// Ends this invocation's context (unless a page is kept in it) and keeps the browser for
    /// the next invocation. A browser that cannot be cleaned up (e.g. after a crash) is closed,
    /// and so is one whose tabs used its default context (a browser not taken with
    /// [`Browser::warm`]) with no page kept: that context cannot be emptied.
    pub async fn release(mut self) {
        for sibling in std::mem::take(self.siblings.get_mut()) {
            Box::pin(sibling.close()).await;
        }
        let cleared = match (self.keeping.take(), self.context.take()) {
            (Some(page), context) => {
                let cleared = self.close_tabs_except(page.tab.target_id()).await;
                self.kept = Some((page, context));
                cleared
            }
            (None, Some(context)) => {
                let disposed = tokio::time::timeout(WARM_CHECK_TIMEOUT, self.inner.dispose_browser_context(context));
                matches!(disposed.await, Ok(Ok(())))
            }
            (None, None) => {
                tracing::debug!("closing the browser: its only context holds this invocation's state");
                self.close().await;
                return;
            }
        };
        if cleared {
            tracing::debug!("keeping the browser warm for the next invocation");
            let previous = WARM.lock().unwrap_or_else(|e| e.into_inner()).replace(self);
            if let Some(previous) = previous {
                previous.close().await;
            }
        } else {
            tracing::info!("the browser could not be cleaned up after the invocation; closing it");
            self.close().await;
        }
    }

    /// Closes every tab but the kept one: tabs an interrupted render left open would go on
    /// using CPU in the next invocation.
    async fn close_tabs_except(&self, keep: &TargetId) -> bool {
        let Ok(Ok(pages)) = tokio::time::timeout(WARM_CHECK_TIMEOUT, self.inner.pages()).await else {
            return false;
        };
        // A tab the render closed itself may still be listed; failing to close it again is fine.
        for page in pages.into_iter().filter(|p| p.target_id() != keep) {
            let _ = tokio::time::timeout(WARM_CHECK_TIMEOUT, page.close()).await;
        }
        true
    }

    async fn answers(&self) -> bool {
        matches!(tokio::time::timeout(WARM_CHECK_TIMEOUT, self.inner.version()).await, Ok(Ok(_)))
    }

    /// A new blank tab (in this invocation's context when there is one), its frames on demand in
    /// a browser under begin-frame control. There, a tab opened while another draws on demand
    /// opens in a browser of its own, launched with the same options and closed with this one.
    pub async fn new_tab(&self) -> Result<BrowserTab, RenderError> {
        if !self.begin_frame_control {
            return self.open_tab(None).await;
        }
        if let Some(slot) = self.drawing_slot.take() {
            return self.open_tab(Some(slot)).await;
        }
        let mut siblings = self.siblings.lock().await;
        for sibling in siblings.iter() {
            if let Some(slot) = sibling.drawing_slot.take() {
                return sibling.open_tab(Some(slot)).await;
            }
        }
        tracing::debug!("another tab draws on demand in this browser; launching one for the new tab");
        let sibling = Self::launch(&self.options).await?;
        let slot = sibling.drawing_slot.take().expect("a new browser's slot is free");
        let tab = sibling.open_tab(Some(slot)).await;
        siblings.push(sibling);
        tab
    }

    /// Opens a tab in this browser; under begin-frame control, holding `slot`.
    async fn open_tab(&self, slot: Option<TakenSlot>) -> Result<BrowserTab, RenderError> {
        let mut target = CreateTargetParams::new("about:blank");
        target.browser_context_id = self.context.clone();
        // A window of its own: in Chromium's new headless mode the tabs of one window are real
        // tabs, and only the front one is visible. A hidden page gets no animation frames, so
        // a second tab's `remotion_setFrame` never finished until the first tab closed — two
        // tabs rendered one after the other, and a tab kept open for the next chunk stalled
        // the other until the delayRender timeout.
        target.new_window = Some(true);
        target.enable_begin_frame_control = self.begin_frame_control.then_some(true);
        let started = std::time::Instant::now();
        let page = match self.inner.new_page(target.clone()).await {
            // chromiumoxide reports any failure of a new target's set-up commands (e.g. a
            // session detached while Chromium was starved of CPU) as a timeout, and closes that
            // target itself. Well short of the command timeout that is a flaky browser error,
            // which Remotion retries too: try once more before failing the render.
            Err(chromiumoxide::error::CdpError::Timeout) if started.elapsed() < TAB_SETUP_RETRY_WITHIN => {
                tracing::warn!("a new tab failed to set up; opening another");
                self.inner.new_page(target).await?
            }
            result => result?,
        };
        let frames = slot.map(|slot| FrameControl::new(page.clone(), slot));
        Ok(BrowserTab { page, frames })
    }

    /// Closes the browser and waits for its processes to end (a shutdown ends the renderer
    /// and GPU processes, which killing the browser process alone could leave behind).
    pub async fn close(mut self) {
        for sibling in std::mem::take(self.siblings.get_mut()) {
            Box::pin(sibling.close()).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.inner.close()).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.inner.wait()).await;
        let _ = self.inner.kill().await;
        self.handler.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_drawn_on_demand_by_a_headless_shell_at_scale_1_with_a_checked_gl() {
        let options = |executable: &str, in_lambda: bool| BrowserOptions {
            executable: executable.into(),
            command_timeout: Duration::from_secs(1),
            in_lambda,
            page: PageSettings::default(),
            begin_frame_control: false,
        };
        let shell = "/usr/lib/chromium/chromium-headless-shell";
        assert!(options(shell, false).drawing_on_demand_for(1.0).begin_frame_control);
        assert!(!options(shell, false).drawing_on_demand_for(0.5).begin_frame_control, "another scale");
        assert!(options(shell, true).drawing_on_demand_for(1.0).begin_frame_control, "Lambda's swangle");
        let mut vulkan = options(shell, true);
        vulkan.page.chromium_options.gl = Some(OpenGlRenderer::Vulkan);
        assert!(!vulkan.drawing_on_demand_for(1.0).begin_frame_control, "an OpenGL renderer not checked");
        assert!(!options("/usr/bin/chromium", false).drawing_on_demand_for(1.0).begin_frame_control);
    }

    #[test]
    fn a_browser_gone_before_or_during_its_devtools_handshake_is_launched_again() {
        use tungstenite::error::{Error as WsError, ProtocolError};
        let mid_handshake = CdpError::Ws(WsError::Protocol(ProtocolError::HandshakeIncomplete));
        assert!(exited_while_starting(&mid_handshake));
        let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        let stderr = chromiumoxide::error::BrowserStderr::new(Vec::new());
        assert!(exited_while_starting(&CdpError::LaunchIo(eof, stderr)));
        assert!(!exited_while_starting(&CdpError::Timeout), "a launch that timed out is not retried");
        assert!(!exited_while_starting(&CdpError::Ws(WsError::ConnectionClosed)));
    }

    #[test]
    fn a_closed_or_reset_connection_is_lost_and_a_bad_message_is_not() {
        use tungstenite::error::{Error as WsError, ProtocolError};
        assert!(connection_lost(&CdpError::Ws(WsError::ConnectionClosed)));
        assert!(connection_lost(&CdpError::Ws(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))));
        assert!(!connection_lost(&CdpError::Ws(WsError::Protocol(ProtocolError::HandshakeIncomplete))));
        assert!(!connection_lost(&CdpError::Timeout));
        assert!(!connection_lost(&CdpError::NoResponse));
    }
}
