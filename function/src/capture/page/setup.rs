//! How a tab is set up before a bundle loads: its viewport and the globals Remotion's page
//! protocol reads (reference/remotion.md §3), evaluated before the bundle's own scripts.

use std::time::Duration;

use remotion_protocol::page::{LogLevel, PageSettings};

/// How a tab is set up before the bundle loads.
#[derive(Clone, Debug)]
pub struct TabSetup {
    /// Viewport width (the composition's).
    pub width: u32,
    /// Viewport height.
    pub height: u32,
    /// Device scale factor (output scale).
    pub scale: f64,
    /// delayRender timeout.
    pub timeout: Duration,
    /// First frame this tab renders.
    pub initial_frame: u64,
    /// Whether this is the first tab.
    pub is_main_tab: bool,
    /// Input props, serialized as the page reads them.
    pub serialized_input_props: String,
    /// Environment variables for the page, a JSON object, serialized
    /// ([`PageSettings::serialized_env_variables`]).
    pub env_variables: String,
    /// Remotion's log level in the page; `verbose` also forwards the page's console messages
    /// to the function's log.
    pub log_level: LogLevel,
    /// The budget of `@remotion/media`'s decoded-media cache
    /// ([`PageSettings::media_cache_size_in_bytes`]); `None`: the library's default.
    pub media_cache_size_in_bytes: Option<u64>,
    /// Collect audio.
    pub audio_enabled: bool,
    /// Render pictures.
    pub video_enabled: bool,
    /// Port of the `<OffthreadVideo>` frame server on 127.0.0.1 (`window.remotion_proxyPort`,
    /// see [`crate::capture::frame_server`]); 0 on tabs that render no frames.
    pub frame_server_port: u16,
}

impl TabSetup {
    /// The metadata tab: 1280×720, frame 0, no audio or video (Remotion's `selectComposition`).
    pub fn metadata(serialized_input_props: String, timeout: Duration) -> Self {
        Self {
            width: 1280,
            height: 720,
            scale: 1.0,
            timeout,
            initial_frame: 0,
            is_main_tab: true,
            serialized_input_props,
            env_variables: "{}".into(),
            log_level: LogLevel::default(),
            media_cache_size_in_bytes: None,
            audio_enabled: false,
            video_enabled: false,
            // The metadata tab evaluates the Root and calculateMetadata, never a frame.
            frame_server_port: 0,
        }
    }

    /// This set-up with the environment variables and log level of `page` (what the render
    /// asked for; `calculateMetadata` sees the same `process.env` as the frames).
    pub fn with_page(self, page: &PageSettings) -> Self {
        Self {
            env_variables: page.serialized_env_variables(),
            log_level: page.log_level,
            media_cache_size_in_bytes: page.media_cache_size_in_bytes,
            ..self
        }
    }

    /// The scripts evaluated before the bundle, in Remotion's order. Without
    /// `remotion_puppeteerTimeout` and `NODE_ENV = 'production'` the page is not in rendering mode.
    pub(super) fn init_scripts(&self) -> Vec<String> {
        let js = |s: &str| serde_json::to_string(s).expect("strings serialize");
        let timeout_ms = self.timeout.as_millis();
        vec![
            format!(
                "window.remotion_puppeteerTimeout = {timeout_ms}; window.remotion_isMainTab = {main}; \
                 window.remotion_mediaCacheSizeInBytes = {media_cache}; window.remotion_initialMemoryAvailable = {mem}; \
                 window.remotion_sampleRate = 48000; window.process = window.process || {{}}; \
                 window.process.env = window.process.env || {{}}; window.process.env.NODE_ENV = 'production';",
                main = self.is_main_tab,
                media_cache = self.media_cache_size_in_bytes.map_or_else(|| "null".to_owned(), |b| b.to_string()),
                mem = 2u64 * 1024 * 1024 * 1024,
            ),
            "window.remotion_broadcastChannel = new BroadcastChannel('remotion-video-frame-extraction');".into(),
            format!("window.remotion_envVariables = {};", js(&self.env_variables)),
            format!(
                "window.remotion_inputProps = {props}; window.remotion_initialFrame = {frame}; window.remotion_attempt = 1; \
                 window.remotion_proxyPort = {proxy_port}; window.remotion_audioEnabled = {audio}; window.remotion_videoEnabled = {video}; \
                 window.remotion_logLevel = '{log_level}'; \
                 window.alert = (message) => {{ window.remotion_cancelledError = new Error('alert(' + message + ') was called; it is not supported while rendering').stack; }}; \
                 window.confirm = (message) => {{ window.remotion_cancelledError = new Error('confirm(' + message + ') was called; it is not supported while rendering').stack; return false; }};",
                props = js(&self.serialized_input_props),
                frame = self.initial_frame,
                audio = self.audio_enabled,
                video = self.video_enabled,
                proxy_port = self.frame_server_port,
                log_level = self.log_level.as_str(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_scripts_put_the_page_in_rendering_mode() {
        let setup = TabSetup::metadata("{\"a\":\"it's \\\"quoted\\\"\"}".into(), Duration::from_secs(30));
        let scripts = setup.init_scripts();
        assert_eq!(scripts.len(), 4);
        assert!(scripts[0].contains("window.remotion_puppeteerTimeout = 30000"));
        assert!(scripts[0].contains("NODE_ENV = 'production'"));
        // Props are a JS string literal holding the serialized JSON.
        assert!(scripts[3].starts_with("window.remotion_inputProps = \"{\\\"a\\\":"));
        assert!(scripts[3].contains("window.remotion_proxyPort = 0;"));
        let render = TabSetup { frame_server_port: 43_210, ..setup };
        assert!(render.init_scripts()[3].contains("window.remotion_proxyPort = 43210;"));
        assert!(render.init_scripts()[3].contains("window.remotion_logLevel = 'info';"));
    }

    #[test]
    fn page_settings_reach_the_init_scripts() {
        let page = PageSettings {
            env_variables: [("GREETING".to_owned(), "it's \"hi\"".to_owned())].into(),
            log_level: LogLevel::Verbose,
            media_cache_size_in_bytes: Some(600_000_000),
            ..Default::default()
        };
        let scripts = TabSetup::metadata("{}".into(), Duration::from_secs(30)).with_page(&page).init_scripts();
        assert!(scripts[0].contains("window.remotion_mediaCacheSizeInBytes = 600000000;"), "{}", scripts[0]);
        let unset = TabSetup::metadata("{}".into(), Duration::from_secs(30)).init_scripts();
        assert!(unset[0].contains("window.remotion_mediaCacheSizeInBytes = null;"), "{}", unset[0]);
        // A JS string literal holding the serialized JSON object, as Remotion sets it.
        assert_eq!(scripts[2], r#"window.remotion_envVariables = "{\"GREETING\":\"it's \\\"hi\\\"\"}";"#);
        assert!(scripts[3].contains("window.remotion_logLevel = 'verbose';"));
    }
}
