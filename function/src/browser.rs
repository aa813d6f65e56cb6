//! Headless Chromium, launched with the flags Remotion's renderer uses that matter for
//! identical output (sRGB colour profile, no font hinting, no background throttling).

use std::path::PathBuf;
use std::time::Duration;

use chromiumoxide::browser::{Browser as CdpBrowser, BrowserConfig};
use chromiumoxide::page::Page;
use futures::StreamExt;
use tokio::task::JoinHandle;

use crate::error::RenderError;

/// How to start the browser.
#[derive(Clone, Debug)]
pub struct BrowserOptions {
    /// The Chromium executable.
    pub executable: PathBuf,
    /// Longest time a DevTools command may take (page-side waits are bounded separately).
    pub command_timeout: Duration,
    /// Running inside AWS Lambda (single process, no /dev/shm).
    pub in_lambda: bool,
}

impl BrowserOptions {
    /// Options for the Chromium found on this machine.
    pub fn detect() -> Result<Self, RenderError> {
        let executable = crate::versions::find_chromium().map_err(|e| RenderError::BrowserLaunch(e.to_string()))?;
        Ok(Self {
            executable,
            command_timeout: Duration::from_secs(300),
            in_lambda: std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some(),
        })
    }
}

/// Flags for the browser process. The rendering ones follow Remotion's renderer; a driver with
/// this set produced frames byte-identical to Remotion's (see reference/remotion.md §3).
fn browser_args(in_lambda: bool) -> Vec<&'static str> {
    let mut args = vec![
        "disable-gpu",
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
    if in_lambda {
        args.extend(["single-process", "no-zygote", "use-gl=angle", "use-angle=swiftshader"]);
    }
    args
}

/// A running browser; closed (and its profile removed) on [`Browser::close`] or drop.
pub struct Browser {
    inner: CdpBrowser,
    handler: JoinHandle<()>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Launches Chromium with a fresh profile.
    pub async fn launch(options: &BrowserOptions) -> Result<Self, RenderError> {
        let profile = tempfile::Builder::new()
            .prefix("remotion-chromium-")
            .tempdir()
            .map_err(|e| RenderError::io("creating the browser profile folder", e))?;
        let mut builder = BrowserConfig::builder()
            .chrome_executable(&options.executable)
            .user_data_dir(profile.path())
            // Headless is the builder's default (`--headless`, Chromium's new headless mode).
            .no_sandbox()
            .disable_default_args()
            .viewport(None)
            .launch_timeout(Duration::from_secs(25))
            .request_timeout(options.command_timeout);
        for arg in browser_args(options.in_lambda) {
            builder = builder.arg(arg);
        }
        let config = builder.build().map_err(RenderError::BrowserLaunch)?;
        let (inner, mut handler) =
            CdpBrowser::launch(config).await.map_err(|e| RenderError::BrowserLaunch(e.to_string()))?;
        // The handler drives the DevTools connection; it ends when the browser goes away.
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if let Err(e) = event {
                    tracing::debug!(error = %e, "devtools connection event error");
                }
            }
        });
        Ok(Self { inner, handler, _profile: profile })
    }

    /// A new blank tab.
    pub async fn new_tab(&self) -> Result<Page, RenderError> {
        Ok(self.inner.new_page("about:blank").await?)
    }

    /// Closes the browser and waits for its process to end.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.inner.close()).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.inner.wait()).await;
        let _ = self.inner.kill().await;
        self.handler.abort();
    }
}
