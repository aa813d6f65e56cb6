//! Remotion's page protocol over the DevTools protocol: the globals a bundle expects before it
//! loads, bundle modes, rAF-polled readiness, composition metadata, seeking and capture —
//! exactly as Remotion's own renderer drives a bundle (reference/remotion.md §3).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::emulation::{
    ScreenOrientation, ScreenOrientationType, SetDeviceMetricsOverrideParams,
};
use chromiumoxide::cdp::browser_protocol::page::AddScriptToEvaluateOnNewDocumentParams;
use chromiumoxide::cdp::browser_protocol::target::TargetId;
use chromiumoxide::cdp::js_protocol::runtime::{
    EvaluateParams, EventConsoleApiCalled, EventExceptionThrown, ExceptionDetails, RemoteObject,
};
use chromiumoxide::page::Page;
use futures::StreamExt;
use remotion_protocol::page::LogLevel;
use remotion_protocol::remotion_version::Compatibility;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod setup;

pub use setup::TabSetup;

use super::frames::FrameControl;
use super::sliced_evaluation;
use super::tab::BrowserTab;
use crate::error::RenderError;

/// Pause before a site that did not load in time is loaded again (Remotion's is 2 s).
const VISIT_RETRY_PAUSE: Duration = Duration::from_secs(2);

/// Extra time the driver waits beyond the page's own delayRender timeout (Remotion: 3 s).
const READY_GRACE: Duration = Duration::from_secs(3);

/// A function resolving to `'ready'` once the page has no open `delayRender()` (polled on every
/// animation frame, as Remotion does) or to `'cancelled'` after `cancelRender()`.
const UNTIL_READY: &str = "() => new Promise((resolve) => { const check = () => { \
    if (window.remotion_renderReady === true) { resolve('ready'); return; } \
    if (window.remotion_cancelledError !== undefined) { resolve('cancelled'); return; } \
    requestAnimationFrame(check); }; check(); })";

/// A composition as `remotion_calculateComposition` resolves it (props applied).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedComposition {
    /// Id.
    pub id: String,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Length.
    pub duration_in_frames: u64,
    /// Default codec, if declared.
    #[serde(default)]
    pub default_codec: Option<String>,
    /// Default output name, if declared.
    #[serde(default)]
    pub default_out_name: Option<String>,
    /// Props after `calculateMetadata`, serialized for `setBundleMode`.
    #[serde(default)]
    pub serialized_resolved_props_with_custom_schema: String,
    /// Everything the page returned (passed back to `setBundleMode` as is).
    #[serde(skip)]
    pub raw: Value,
}

impl ResolvedComposition {
    fn from_value(raw: Value) -> Result<Self, RenderError> {
        let mut c: ResolvedComposition = serde_json::from_value(raw.clone())
            .map_err(|e| RenderError::IncompatibleSite(format!("unexpected composition metadata ({e}): {raw}")))?;
        c.raw = raw;
        Ok(c)
    }

    /// A composition resolved elsewhere (by the orchestrator), from its metadata and the
    /// serialized resolved props.
    pub fn from_metadata(
        metadata: &remotion_protocol::payload::CompositionMetadata,
        serialized_resolved_props: String,
    ) -> Self {
        let raw = json!({
            "id": metadata.id,
            "width": metadata.width,
            "height": metadata.height,
            "fps": metadata.fps,
            "durationInFrames": metadata.duration_in_frames,
            "defaultCodec": metadata.default_codec,
            "defaultOutName": metadata.default_out_name,
            "serializedResolvedPropsWithCustomSchema": serialized_resolved_props,
        });
        Self {
            id: metadata.id.clone(),
            width: metadata.width,
            height: metadata.height,
            fps: metadata.fps,
            duration_in_frames: metadata.duration_in_frames,
            default_codec: metadata.default_codec.clone(),
            default_out_name: metadata.default_out_name.clone(),
            serialized_resolved_props_with_custom_schema: serialized_resolved_props,
            raw,
        }
    }

    /// The protocol's metadata view.
    pub fn metadata(&self) -> remotion_protocol::payload::CompositionMetadata {
        remotion_protocol::payload::CompositionMetadata {
            id: self.id.clone(),
            width: self.width,
            height: self.height,
            fps: self.fps,
            duration_in_frames: self.duration_in_frames,
            default_codec: self.default_codec.clone(),
            default_out_name: self.default_out_name.clone(),
        }
    }

    /// The argument of `remotion_setBundleMode` that renders this composition.
    fn bundle_mode(&self) -> Value {
        let field = |k: &str| self.raw.get(k).cloned().unwrap_or(Value::Null);
        json!({
            "type": "composition",
            "compositionName": self.id,
            "serializedResolvedPropsWithSchema": self.serialized_resolved_props_with_custom_schema,
            "compositionDurationInFrames": self.duration_in_frames,
            "compositionFps": self.fps,
            "compositionHeight": self.height,
            "compositionWidth": self.width,
            "compositionDefaultCodec": field("defaultCodec"),
            "compositionDefaultOutName": field("defaultOutName"),
            "compositionDefaultVideoImageFormat": field("defaultVideoImageFormat"),
            "compositionDefaultPixelFormat": field("defaultPixelFormat"),
            "compositionDefaultProResProfile": field("defaultProResProfile"),
            "compositionDefaultSampleRate": field("defaultSampleRate"),
        })
    }
}

/// Format of a captured frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capture {
    /// JPEG at a quality (black background, like Remotion).
    Jpeg(u8),
    /// PNG (transparent background).
    Png,
    /// WebP (transparent background).
    Webp,
    /// PDF: the page printed on one sheet of the composition's size, backgrounds included
    /// (stills only, like Remotion).
    Pdf,
}

/// A tab with a Remotion bundle loaded.
pub struct RemotionTab {
    pub(super) page: Page,
    errors: watch::Receiver<Option<String>>,
    listener: JoinHandle<()>,
    /// Forwards the page's console messages to the function's log (log level `verbose`).
    console: Option<JoinHandle<()>>,
    pub(super) timeout: Duration,
    composition: Option<String>,
    pub(super) width: u32,
    pub(super) height: u32,
    /// Keys of the page-side promises [`Self::eval_within`] awaits.
    evaluations: AtomicU64,
    /// The tab's frames, when the driver produces them ([`BrowserTab::frames`]).
    pub(super) frames: Option<FrameControl>,
}

fn exception_message(details: &ExceptionDetails) -> String {
    details
        .exception
        .as_ref()
        .and_then(|e| e.description.clone().or_else(|| e.value.as_ref().map(|v| v.to_string())))
        .unwrap_or_else(|| details.text.clone())
}

/// Writes a console message of the page to the function's log (CloudWatch under Lambda), as
/// Remotion's renderer does at log level `verbose`: `[browser] <level> [<tag>] <text>` with the
/// place it was logged from. Remotion's own messages carry their level and tag as leading
/// `Symbol(__remotion_level_…)` / `Symbol(__remotion_tag_…)` arguments, which become the
/// level and tag.
fn log_console_message(event: &EventConsoleApiCalled) {
    let mut level = format!("{:?}", event.r#type).to_lowercase();
    let mut tag = String::new();
    let mut text = Vec::new();
    for argument in &event.args {
        let symbol = argument.description.as_deref().filter(|_| argument.value.is_none());
        if let Some(name) = symbol.and_then(|d| d.strip_prefix("Symbol(__remotion_level_")) {
            level = name.trim_end_matches(')').to_owned();
        } else if let Some(name) = symbol.and_then(|d| d.strip_prefix("Symbol(__remotion_tag_")) {
            tag = format!(" [{}]", name.strip_suffix(')').unwrap_or(name));
        } else {
            text.push(console_argument(argument));
        }
    }
    let text = text.join(" ");
    let place = event
        .stack_trace
        .as_ref()
        .and_then(|trace| trace.call_frames.first())
        .map(|frame| format!(" ({}:{}:{})", frame.url, frame.line_number + 1, frame.column_number + 1))
        .unwrap_or_default();
    tracing::info!(target: "browser", "[browser] {level}{tag} {text}{place}");
}

/// One argument of a console call as text: strings as they are, other values as JSON, objects
/// by their description.
fn console_argument(argument: &RemoteObject) -> String {
    match (&argument.value, &argument.description) {
        (Some(Value::String(text)), _) => text.clone(),
        (Some(value), _) => value.to_string(),
        (None, Some(description)) => description.clone(),
        (None, None) => format!("{:?}", argument.r#type).to_lowercase(),
    }
}

/// Recognises Remotion's delayRender timeout (`A delayRender() "<label>" was called but not
/// cleared after <n>ms`): the label and the timeout, when the message is one.
fn delay_render_timeout(message: &str) -> Option<(Option<String>, Option<u64>)> {
    let start = message.find("delayRender()")?;
    let rest = &message[start..];
    if !rest.contains("not cleared") {
        return None;
    }
    let label = rest
        .strip_prefix("delayRender() \"")
        .and_then(|r| r.split_once("\" was called"))
        .map(|(label, _)| label.to_owned());
    let timeout = rest
        .split_once("not cleared after ")
        .and_then(|(_, r)| r.split_once("ms"))
        .and_then(|(n, _)| n.trim().parse().ok());
    Some((label, timeout))
}

/// Remotion's serve URL normalisation: the query string is dropped and `index.html` appended.
pub fn normalize_serve_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    if url.ends_with(".html") {
        url.to_owned()
    } else if url.ends_with('/') {
        format!("{url}index.html")
    } else {
        format!("{url}/index.html")
    }
}

impl RemotionTab {
    /// Sets up a new blank tab (`Browser::new_tab`): installs the globals and loads the bundle
    /// at `serve_url`.
    pub async fn open(tab: BrowserTab, serve_url: &str, setup: &TabSetup) -> Result<Self, RenderError> {
        let BrowserTab { page, frames } = tab;
        let mut exceptions = page.event_listener::<EventExceptionThrown>().await?;
        let (tx, errors) = watch::channel(None);
        let listener = tokio::spawn(async move {
            if let Some(event) = exceptions.next().await {
                let _ = tx.send(Some(exception_message(&event.exception_details)));
            }
        });
        let console = if setup.log_level == LogLevel::Verbose {
            let mut messages = page.event_listener::<EventConsoleApiCalled>().await?;
            Some(tokio::spawn(async move {
                while let Some(event) = messages.next().await {
                    log_console_message(&event);
                }
            }))
        } else {
            None
        };
        let tab = Self {
            page,
            errors,
            listener,
            console,
            timeout: setup.timeout,
            composition: None,
            width: setup.width,
            height: setup.height,
            evaluations: AtomicU64::new(0),
            frames,
        };
        let view = SetDeviceMetricsOverrideParams {
            width: i64::from(setup.width),
            height: i64::from(setup.height),
            device_scale_factor: setup.scale,
            mobile: false,
            scale: None,
            screen_width: None,
            screen_height: None,
            position_x: None,
            position_y: None,
            dont_set_visible_size: None,
            screen_orientation: Some(ScreenOrientation { r#type: ScreenOrientationType::PortraitPrimary, angle: 0 }),
            viewport: None,
        };
        if let Some(frames) = &tab.frames {
            frames.set_view(view.clone()).await;
        }
        tab.page.execute(view).await?;
        for source in setup.init_scripts() {
            tab.page.execute(AddScriptToEvaluateOnNewDocumentParams::new(source)).await?;
        }
        let url = normalize_serve_url(serve_url);
        tab.visit(&url, setup.timeout).await?;
        let is_remotion = tab.eval("typeof window.getStaticCompositions !== 'undefined'", setup.timeout).await?;
        if is_remotion != Value::Bool(true) {
            let snippet = tab
                .eval("(document.body ? document.body.innerHTML : '').slice(0, 500)", setup.timeout)
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(RenderError::NotRemotion { url, snippet });
        }
        let declared = tab.eval("[String(window.siteVersion), window.remotion_version]", setup.timeout).await?;
        let site_version = declared.get(0).and_then(Value::as_str);
        let remotion_version = declared.get(1).and_then(Value::as_str);
        match Compatibility::of(site_version, remotion_version) {
            incompatible @ Compatibility::Incompatible { .. } => {
                return Err(RenderError::IncompatibleSite(incompatible.describe()));
            }
            untested @ Compatibility::Untested(_) => tracing::warn!(site = %url, "{}", untested.describe()),
            Compatibility::Tested(_) | Compatibility::Unknown => {}
        }
        Ok(tab)
    }

    /// Loads `url` into the tab. A load that does not complete in time is tried once more
    /// after [`VISIT_RETRY_PAUSE`] (as Remotion retries a visit that timed out on the
    /// connection): on a starved machine the first load of a bundle can miss the deadline
    /// (chromiumoxide's own, 30 s, or `timeout`) and the second, from the browser's cache, not.
    async fn visit(&self, url: &str, timeout: Duration) -> Result<(), RenderError> {
        let mut retries = 1;
        loop {
            let message = match tokio::time::timeout(timeout, self.with_frames(self.page.goto(url))).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e @ chromiumoxide::error::CdpError::Timeout)) if retries == 0 => {
                    tracing::debug!(error = %e, "navigation timed out");
                    "the browser did not answer the navigation in time".to_owned()
                }
                Err(_) if retries == 0 => format!("not loaded within {} ms", timeout.as_millis()),
                Ok(Err(chromiumoxide::error::CdpError::Timeout)) | Err(_) => {
                    retries -= 1;
                    tracing::warn!(%url, "the site did not load in time; loading it once more");
                    tokio::time::sleep(VISIT_RETRY_PAUSE).await;
                    continue;
                }
                Ok(Err(e)) => return Err(RenderError::SiteUnavailable { url: url.to_owned(), message: e.to_string() }),
            };
            return Err(RenderError::SiteTimedOut { url: url.to_owned(), message });
        }
    }

    /// Runs `work`, producing the tab's frames while it waits when the driver produces them
    /// ([`FrameControl::during`]); as it is otherwise.
    pub(super) async fn with_frames<T>(&self, work: impl Future<Output = T>) -> T {
        match &self.frames {
            Some(frames) => frames.during(work).await,
            None => work.await,
        }
    }

    /// The typed error for a message the page reported (an exception or `cancelRender()`).
    fn page_error(&self, message: String) -> RenderError {
        match delay_render_timeout(&message) {
            Some((label, timeout_ms)) => RenderError::DelayRenderTimeout {
                composition: self.composition.clone(),
                frame: None,
                timeout_ms: timeout_ms.unwrap_or(self.timeout.as_millis() as u64),
                handles: label.into_iter().collect(),
                message,
            },
            None => RenderError::Page { composition: self.composition.clone(), frame: None, message },
        }
    }

    /// Evaluates `expression` in the page (promises awaited, result by value), failing on an
    /// uncaught page exception; `None` when it did not answer within `wait`.
    ///
    /// chromiumoxide fails any DevTools command after 30 s, whatever the page's own
    /// delayRender timeout allows (and a starved Chromium can take that long for a short
    /// wait), so the page keeps the promise and it is awaited in slices of [`sliced_evaluation::AWAIT_SLICE`],
    /// one command each, until `wait` runs out.
    async fn eval_within(&self, expression: &str, wait: Duration) -> Result<Option<Value>, RenderError> {
        if let Some(message) = self.errors.borrow().clone() {
            return Err(self.page_error(message));
        }
        let key = self.evaluations.fetch_add(1, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + wait;
        let mut script = sliced_evaluation::start(expression, key);
        let mut errors = self.errors.clone();
        self.with_frames(async {
            loop {
                tokio::select! {
                    slice = self.await_slice(&script) => match slice? {
                        Some(value) => return Ok(Some(value)),
                        None => script = sliced_evaluation::resume(key),
                    },
                    _ = errors.changed() => {
                        let message = errors.borrow().clone().unwrap_or_default();
                        return Err(self.page_error(message));
                    }
                    _ = tokio::time::sleep_until(deadline) => return Ok(None),
                }
            }
        })
        .await
    }

    /// One slice of a [`Self::eval_within`]: the value, or `None` while the page still waits.
    async fn await_slice(&self, script: &str) -> Result<Option<Value>, RenderError> {
        let mut params = EvaluateParams::new(script);
        params.await_promise = Some(true);
        params.return_by_value = Some(true);
        params.user_gesture = Some(true);
        let returns = self.page.execute(params).await?.result;
        if let Some(details) = returns.exception_details {
            return Err(self.page_error(exception_message(&details)));
        }
        let slice: sliced_evaluation::Slice = serde_json::from_value(returns.result.value.unwrap_or(Value::Null))
            .map_err(|e| RenderError::Page {
                composition: self.composition.clone(),
                frame: None,
                message: format!("the page answered an evaluation unexpectedly: {e}"),
            })?;
        Ok(slice.done.then_some(slice.value))
    }

    /// [`Self::eval_within`], a page that does not answer being an error.
    pub(super) async fn eval(&self, expression: &str, wait: Duration) -> Result<Value, RenderError> {
        self.eval_within(expression, wait).await?.ok_or_else(|| RenderError::Page {
            composition: self.composition.clone(),
            frame: None,
            message: format!("the page did not answer within {} ms (evaluating {expression:?})", wait.as_millis()),
        })
    }

    /// Waits until the page is ready to be captured (no open `delayRender()`), like Remotion:
    /// polled on every animation frame, failing on `cancelRender()` and on the timeout with
    /// the labels of the handles still open.
    pub async fn wait_for_ready(&self) -> Result<(), RenderError> {
        let answer = self.eval_within(&format!("({UNTIL_READY})()"), self.timeout + READY_GRACE).await;
        self.ready_outcome(answer).await
    }

    /// What a page's answer to [`UNTIL_READY`] (or a script ending with it) means.
    async fn ready_outcome(&self, answer: Result<Option<Value>, RenderError>) -> Result<(), RenderError> {
        match answer {
            Ok(Some(v)) if v == "ready" => Ok(()),
            Ok(Some(_)) => {
                let stack = self.eval("String(window.remotion_cancelledError)", self.timeout).await?;
                Err(self.page_error(stack.as_str().unwrap_or_default().to_owned()))
            }
            Ok(None) => Err(RenderError::DelayRenderTimeout {
                composition: self.composition.clone(),
                frame: None,
                timeout_ms: self.timeout.as_millis() as u64,
                handles: self.open_handles().await,
                message: "the page never became ready".into(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Labels of the `delayRender()` handles still open.
    async fn open_handles(&self) -> Vec<String> {
        let expression = "JSON.stringify(Object.values(window.remotion_delayRenderTimeouts || {}).map((h) => h.label))";
        match self.eval(expression, Duration::from_secs(5)).await {
            Ok(Value::String(s)) => serde_json::from_str::<Vec<Option<String>>>(&s)
                .unwrap_or_default()
                .into_iter()
                .map(|l| l.unwrap_or_else(|| "(no label)".into()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// `remotion_setBundleMode({type: 'evaluation'})` and wait: the Root renders its compositions.
    pub async fn evaluate_root(&self) -> Result<(), RenderError> {
        // React renders the Root in time slices, and the compositions register while it does:
        // the page can report ready with only some of them registered. Wait until the list
        // stays the same over two animation frames.
        const SETTLED: &str = "new Promise((resolve) => { let last = null; let stable = 0; const tick = () => { \
            let names = null; try { names = JSON.stringify(window.remotion_getCompositionNames()); } catch (e) {} \
            if (window.remotion_renderReady === true && names !== null && names === last) { \
              if (++stable >= 2) { resolve(true); return; } } else { stable = 0; } \
            last = names; requestAnimationFrame(tick); }; tick(); })";
        self.eval("window.remotion_setBundleMode({type: 'evaluation'})", self.timeout).await?;
        self.wait_for_ready().await?;
        self.eval(SETTLED, self.timeout).await?;
        Ok(())
    }

    /// Every composition of the site, metadata resolved (`getStaticCompositions`).
    pub async fn compositions(&self) -> Result<Vec<ResolvedComposition>, RenderError> {
        let value = self.eval("window.getStaticCompositions()", self.timeout + READY_GRACE).await?;
        let Value::Array(items) = value else {
            return Err(RenderError::IncompatibleSite(format!("getStaticCompositions returned {value}")));
        };
        items.into_iter().map(ResolvedComposition::from_value).collect()
    }

    /// One composition, metadata resolved for the tab's props (`calculateMetadata` applied).
    pub async fn calculate_composition(&mut self, id: &str) -> Result<ResolvedComposition, RenderError> {
        self.composition = Some(id.to_owned());
        let id_js = serde_json::to_string(id).expect("strings serialize");
        // The page itself waits for the composition to register ("Waiting for Composition …");
        // listing the names first would race the Root's first render.
        match self.eval(&format!("window.remotion_calculateComposition({id_js})"), self.timeout + READY_GRACE).await {
            Ok(value) => ResolvedComposition::from_value(value),
            Err(RenderError::Page { composition, frame, message }) => {
                let names = self.eval("window.remotion_getCompositionNames()", self.timeout).await?;
                let available: Vec<String> = serde_json::from_value(names).unwrap_or_default();
                if available.iter().any(|n| n == id) {
                    Err(RenderError::Page { composition, frame, message })
                } else {
                    Err(RenderError::CompositionNotFound { id: id.to_owned(), available })
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Switches the page to rendering `composition`.
    pub async fn set_composition(&mut self, composition: &ResolvedComposition) -> Result<(), RenderError> {
        self.composition = Some(composition.id.clone());
        let mode = serde_json::to_string(&composition.bundle_mode()).expect("json serializes");
        self.eval(&format!("window.remotion_setBundleMode({mode})"), self.timeout).await?;
        self.wait_for_ready().await?;
        // The first render's effects run after it is painted, and one may open a delayRender()
        // (an HTML5 <Video> seeking its element to the frame's time): the page can be ready
        // for an animation frame before it does. Two more frames, then ready again.
        self.eval(
            "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))",
            self.timeout,
        )
        .await?;
        self.wait_for_ready().await
    }

    /// Shows `frame` and waits until it is fully rendered (delayRenders, fonts), in Remotion's
    /// four separate calls. Not one script in the page: polling for ready right after
    /// `remotion_setFrame`, in the same task, can see the page ready on the animation frame that
    /// releases "Setting the current frame" before React has rendered the new frame (a stale
    /// or, with `<OffthreadVideo>`, black screenshot under load); a round trip between the calls
    /// is what Remotion's own renderer has too.
    pub async fn seek(&self, frame: u64, attempt: u32) -> Result<(), RenderError> {
        let result = async {
            self.wait_for_ready().await?;
            let id = serde_json::to_string(self.composition.as_deref().unwrap_or_default()).expect("serializes");
            self.eval(&format!("window.remotion_setFrame({frame}, {id}, {attempt})"), self.timeout).await?;
            self.wait_for_ready().await?;
            self.eval("document.fonts.ready.then(() => true)", self.timeout).await?;
            Ok(())
        }
        .await;
        result.map_err(|e: RenderError| e.at_frame(frame))
    }

    /// The frame's media assets (`remotion_collectAssets`), for audio mixing.
    pub async fn collect_assets(&self) -> Result<Value, RenderError> {
        self.eval("window.remotion_collectAssets()", self.timeout).await
    }

    /// Whether the tab can go on rendering its composition: no page error so far, and the page
    /// answers within `wait`, ready and not cancelled (checked before a kept tab is reused).
    pub async fn reusable(&self, wait: Duration) -> bool {
        if self.errors.borrow().is_some() || self.composition.is_none() {
            return false;
        }
        let check = "window.remotion_renderReady === true && window.remotion_cancelledError === undefined";
        matches!(self.eval_within(check, wait).await, Ok(Some(Value::Bool(true))))
    }

    /// The tab's DevTools target.
    pub fn target_id(&self) -> &TargetId {
        self.page.target_id()
    }

    /// Closes the tab.
    pub async fn close(self) {
        self.listener.abort();
        if let Some(console) = &self.console {
            console.abort();
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.page.close()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_delay_render_timeouts() {
        let m =
            "Error: A delayRender() \"This handle is never cleared\" was called but not cleared after 2000ms. See …";
        assert_eq!(delay_render_timeout(m), Some((Some("This handle is never cleared".into()), Some(2000))));
        assert_eq!(delay_render_timeout("Error: thrown at frame 5"), None);
    }

    #[test]
    fn serve_urls_are_normalised_like_remotion() {
        assert_eq!(normalize_serve_url("http://h/sites/s/index.html?x=1"), "http://h/sites/s/index.html");
        assert_eq!(normalize_serve_url("http://h/sites/s"), "http://h/sites/s/index.html");
        assert_eq!(normalize_serve_url("http://h/sites/s/"), "http://h/sites/s/index.html");
    }
}
