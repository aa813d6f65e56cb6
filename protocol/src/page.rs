//! How a render's pages and their browser are set up: Remotion's `envVariables`,
//! `chromiumOptions` and `logLevel`, with Remotion's names, values and defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most environment variables a render may give its pages. With [`MAX_ENV_NAME_CHARS`] and
/// [`MAX_ENV_VALUE_CHARS`] this keeps them to about 74 KB, which the operator counts against
/// the inline props' share of Lambda's 256 KB async payload (as Remotion does), so the launch
/// payload always fits.
pub const MAX_ENV_VARIABLES: usize = 64;

/// Longest name of an environment variable, characters.
pub const MAX_ENV_NAME_CHARS: usize = 128;

/// Longest value of an environment variable, characters.
pub const MAX_ENV_VALUE_CHARS: usize = 1024;

/// Longest `chromiumOptions.userAgent`, characters.
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// Chromium's OpenGL renderer backend (Remotion's `chromiumOptions.gl`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum OpenGlRenderer {
    /// SwiftShader on ANGLE: software WebGL; Remotion's default on Lambda.
    Swangle,
    /// ANGLE on the machine's GPU.
    Angle,
    /// EGL.
    Egl,
    /// SwiftShader (legacy software GL).
    Swiftshader,
    /// Vulkan.
    Vulkan,
    /// ANGLE over EGL (GPU instances on Linux).
    AngleEgl,
}

impl OpenGlRenderer {
    /// Remotion's name of the renderer.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Swangle => "swangle",
            Self::Angle => "angle",
            Self::Egl => "egl",
            Self::Swiftshader => "swiftshader",
            Self::Vulkan => "vulkan",
            Self::AngleEgl => "angle-egl",
        }
    }

    /// The Chromium switches that select the renderer, as Remotion's `open-browser` passes them
    /// (without the leading `--`).
    pub fn chromium_switches(self) -> &'static [&'static str] {
        match self {
            Self::Swangle => &["use-gl=angle", "use-angle=swiftshader"],
            Self::AngleEgl => &["use-gl=angle", "use-angle=gl-egl"],
            Self::Vulkan => &[
                "use-angle=vulkan",
                "use-vulkan=native",
                "disable-vulkan-fallback-to-gl-for-testing",
                "ignore-gpu-blocklist",
                "enable-gpu",
            ],
            Self::Angle => &["use-gl=angle"],
            Self::Egl => &["use-gl=egl"],
            Self::Swiftshader => &["use-gl=swiftshader"],
        }
    }

    /// Whether the renderer needs the GPU process (which the software renderers do without).
    pub fn uses_gpu(self) -> bool {
        !matches!(self, Self::Swangle | Self::Swiftshader)
    }
}

/// Options of the browser a render's pages run in (Remotion's `chromiumOptions`). They are
/// launch switches: a browser launched with other options is never reused for them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChromiumOptions {
    /// OpenGL renderer. Default: `swangle` on Lambda (Remotion's Lambda default), Chromium's
    /// own choice elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gl: Option<OpenGlRenderer>,
    /// Accept invalid TLS certificates (e.g. self-signed) of what the page loads.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_certificate_errors: bool,
    /// Turn off CORS and the other web security checks of the page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_web_security: bool,
    /// The page's `navigator.userAgent` and the User-Agent of its requests: printable ASCII,
    /// as an HTTP header takes it. Default: Chromium's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(length(min = 1, max = 512), regex(pattern = r"^[ -~]+$")))]
    pub user_agent: Option<String>,
}

impl ChromiumOptions {
    /// Whether every option has its default.
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }

    /// The Chromium switches (without `--`) these options add to a browser's launch, given the
    /// renderer in effect when `gl` is unset.
    pub fn chromium_switches(&self, default_gl: Option<OpenGlRenderer>) -> Vec<String> {
        let mut switches: Vec<String> = Vec::new();
        if let Some(gl) = self.gl.or(default_gl) {
            switches.extend(gl.chromium_switches().iter().map(|s| (*s).to_owned()));
        }
        if self.ignore_certificate_errors {
            switches.push("ignore-certificate-errors".into());
        }
        if self.disable_web_security {
            switches.push("disable-web-security".into());
        }
        if let Some(agent) = &self.user_agent {
            switches.push(format!("user-agent={agent}"));
        }
        switches
    }
}

/// How much a render logs (Remotion's `logLevel`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything, including the page's console messages in the function's log.
    Verbose,
    /// Progress and outcome (the default).
    #[default]
    Info,
    /// Warnings and errors only.
    Warn,
    /// Errors only.
    Error,
}

impl LogLevel {
    /// Remotion's name of the level (what the page's `window.remotion_logLevel` holds).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verbose => "verbose",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// Whether this is the default level.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Everything a render's pages are set up with beside its props: what `process.env` holds,
/// the browser's options and the log level. Part of the `launch`, `render` and `still`
/// payloads; empty (all defaults) is left out of them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct PageSettings {
    /// The page's `process.env` (Remotion adds `NODE_ENV`, which the page keeps at
    /// `production` whatever is given).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_variables: BTreeMap<String, String>,
    /// The browser's options.
    #[serde(default, skip_serializing_if = "ChromiumOptions::is_default")]
    pub chromium_options: ChromiumOptions,
    /// The log level.
    #[serde(default, skip_serializing_if = "LogLevel::is_default")]
    pub log_level: LogLevel,
    /// Remotion's `mediaCacheSizeInBytes`: the budget of decoded media that `<Video>` and
    /// `<Audio>` of `@remotion/media` keep (the page's `remotion_mediaCacheSizeInBytes`;
    /// unset: theirs, half the memory the page reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_cache_size_in_bytes: Option<u64>,
    /// Remotion's `offthreadVideoCacheSizeInBytes`: the memory the `<OffthreadVideo>` frame
    /// server keeps decoders and their frames in between requests (unset: four decoders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offthread_video_cache_size_in_bytes: Option<u64>,
    /// Remotion's `offthreadVideoThreads`: how many `<OffthreadVideo>` frames are decoded at
    /// once (unset: one per tab asking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offthread_video_threads: Option<u32>,
}

impl PageSettings {
    /// Whether everything has its default.
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }

    /// The environment variables as the page reads them: a JSON object, serialized
    /// (`window.remotion_envVariables` is a string).
    pub fn serialized_env_variables(&self) -> String {
        serde_json::to_string(&self.env_variables).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renderers_switch_as_remotion_does() {
        let none = ChromiumOptions::default();
        assert!(none.chromium_switches(None).is_empty(), "Chromium decides when nothing is set");
        assert_eq!(none.chromium_switches(Some(OpenGlRenderer::Swangle)), ["use-gl=angle", "use-angle=swiftshader"]);
        let angle = ChromiumOptions { gl: Some(OpenGlRenderer::AngleEgl), ..Default::default() };
        assert_eq!(
            angle.chromium_switches(Some(OpenGlRenderer::Swangle)),
            ["use-gl=angle", "use-angle=gl-egl"],
            "a chosen renderer replaces the default"
        );
        assert!(OpenGlRenderer::Vulkan.uses_gpu() && !OpenGlRenderer::Swangle.uses_gpu());
    }

    #[test]
    fn browser_options_become_launch_switches() {
        let options = ChromiumOptions {
            gl: None,
            ignore_certificate_errors: true,
            disable_web_security: true,
            user_agent: Some("Render bot/1.0 (x, y)".into()),
        };
        assert_eq!(
            options.chromium_switches(None),
            ["ignore-certificate-errors", "disable-web-security", "user-agent=Render bot/1.0 (x, y)"]
        );
    }

    #[test]
    fn settings_use_remotion_names_and_leave_defaults_out() {
        let settings = PageSettings {
            env_variables: BTreeMap::from([("API_URL".into(), "https://x".into())]),
            chromium_options: ChromiumOptions { gl: Some(OpenGlRenderer::AngleEgl), ..Default::default() },
            log_level: LogLevel::Verbose,
            media_cache_size_in_bytes: Some(600_000_000),
            offthread_video_cache_size_in_bytes: Some(300_000_000),
            offthread_video_threads: Some(1),
        };
        let json = serde_json::to_value(&settings).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "envVariables": {"API_URL": "https://x"}, "chromiumOptions": {"gl": "angle-egl"}, "logLevel": "verbose",
                "mediaCacheSizeInBytes": 600_000_000u64, "offthreadVideoCacheSizeInBytes": 300_000_000u64,
                "offthreadVideoThreads": 1
            })
        );
        assert_eq!(serde_json::to_value(PageSettings::default()).unwrap(), serde_json::json!({}));
        assert_eq!(settings.serialized_env_variables(), r#"{"API_URL":"https://x"}"#);
    }
}
