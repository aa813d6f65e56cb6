//! What the function is made of: its own version, the protocol, Chromium and FFmpeg (the
//! `info` action), so the operator can refuse a function that speaks another protocol.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use remotion_protocol::lambda::Architecture;
use remotion_protocol::payload::{InfoResponse, PROTOCOL_VERSION};

/// Version of this function's code.
pub const FUNCTION_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Environment variable naming the Chromium executable to use.
pub const CHROMIUM_ENV: &str = "REMOTION_CHROMIUM";

/// How long `chromium --version` may take. It is not on a hot path, and a cold start (a fresh
/// Lambda sandbox, or a machine whose page cache does not yet hold Chromium's ~250 MB) can take
/// several seconds before it prints a line.
const VERSION_TIMEOUT: Duration = Duration::from_secs(45);

/// Where Chromium is looked for when `REMOTION_CHROMIUM` is not set, best first: Debian's
/// headless shell (Chromium's old headless mode, Remotion's default browser too), which
/// captures a frame for 0.6× the CPU of `chromium` under begin-frame control (issue #18); then
/// Debian's `chromium`, the Lambda image's layer path and other common installs. The shell is
/// its binary, not Debian's `/usr/bin/chromium-headless-shell`: that is a script which runs
/// the browser as its child, so stopping the launched process would leave the browser running.
/// The Lambda image names its browser itself (`REMOTION_CHROMIUM`, docs/images.md).
const CHROMIUM_CANDIDATES: &[&str] = &[
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/bin/chromium",
    "/opt/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
];

/// Debian's launcher script of the headless shell, and the binary it runs.
const DEBIAN_SHELL_SCRIPT: (&str, &str) =
    ("/usr/bin/chromium-headless-shell", "/usr/lib/chromium/chromium-headless-shell");

/// Whether `executable` is a headless shell (Debian's `chromium-headless-shell`, or the
/// `chrome-headless-shell` Remotion downloads): the browser that offers begin-frame control.
pub fn is_headless_shell(executable: &Path) -> bool {
    executable
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains("headless-shell") || n.contains("headless_shell"))
}

/// Chromium could not be found or asked for its version.
#[derive(Debug, thiserror::Error)]
pub enum ChromiumError {
    /// No executable found.
    #[error("no Chromium found: set {CHROMIUM_ENV} or install Debian's chromium package (looked in {0})")]
    NotFound(String),
    /// It did not run.
    #[error("running {path} --version failed: {source}")]
    Run {
        /// The executable.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It did not answer in time.
    #[error("{0} --version did not answer within {secs}s", secs = VERSION_TIMEOUT.as_secs())]
    Timeout(PathBuf),
    /// It answered something else.
    #[error("{path} --version printed no version: {output:?}")]
    Unparsable {
        /// The executable.
        path: PathBuf,
        /// What it printed.
        output: String,
    },
}

/// The Chromium executable to use.
pub fn find_chromium() -> Result<PathBuf, ChromiumError> {
    if let Some(path) = std::env::var_os(CHROMIUM_ENV) {
        let path = PathBuf::from(path);
        // The script's browser outlives a stopped launch (see CHROMIUM_CANDIDATES).
        let (script, binary) = DEBIAN_SHELL_SCRIPT;
        if path == Path::new(script) && Path::new(binary).is_file() {
            return Ok(PathBuf::from(binary));
        }
        return Ok(path);
    }
    CHROMIUM_CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| ChromiumError::NotFound(CHROMIUM_CANDIDATES.join(", ")))
}

/// The version of a Chromium executable, e.g. `156.0.8078.79`.
pub async fn chromium_version(path: &Path) -> Result<String, ChromiumError> {
    let run = tokio::process::Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(VERSION_TIMEOUT, run)
        .await
        .map_err(|_| ChromiumError::Timeout(path.to_path_buf()))?
        .map_err(|source| ChromiumError::Run { path: path.to_path_buf(), source })?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    parse_chromium_version(&text).ok_or(ChromiumError::Unparsable { path: path.to_path_buf(), output: text })
}

/// The first dotted version number in `Chromium 156.0.8078.79 built on Debian …`.
fn parse_chromium_version(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| {
            w.split('.').count() >= 3 && w.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
}

/// FFmpeg's release of the linked libraries, e.g. `5.1.9-0+deb12u1`.
pub fn ffmpeg_version() -> String {
    // SAFETY: av_version_info returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(ffmpeg_next::ffi::av_version_info()) }.to_string_lossy().into_owned()
}

/// The architecture this binary was built for.
pub fn architecture() -> Option<Architecture> {
    match std::env::consts::ARCH {
        "x86_64" => Some(Architecture::X86_64),
        "aarch64" => Some(Architecture::Arm64),
        _ => None,
    }
}

/// Memory of the running Lambda function, MB (absent outside Lambda).
pub fn lambda_memory_mb() -> Option<i32> {
    std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").ok()?.parse().ok()
}

/// The answer to `info`.
pub async fn info() -> Result<InfoResponse, ChromiumError> {
    let chromium = find_chromium()?;
    Ok(InfoResponse {
        function_version: FUNCTION_VERSION.to_owned(),
        protocol_version: PROTOCOL_VERSION,
        chromium_version: chromium_version(&chromium).await?,
        ffmpeg_version: ffmpeg_version(),
        memory_size_mb: lambda_memory_mb(),
        architecture: architecture(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chromium_version_lines() {
        assert_eq!(
            parse_chromium_version("Chromium 156.0.8078.79 built on Debian GNU/Linux 12 (bookworm)\n").as_deref(),
            Some("156.0.8078.79")
        );
        assert_eq!(parse_chromium_version("Google Chrome 120.0.6099.109 ").as_deref(), Some("120.0.6099.109"));
        assert_eq!(parse_chromium_version("no version here"), None);
    }

    #[test]
    fn headless_shells_are_told_from_other_browsers() {
        for shell in ["/usr/lib/chromium/chromium-headless-shell", "/opt/chrome-headless-shell", "/x/headless_shell"] {
            assert!(is_headless_shell(Path::new(shell)), "{shell}");
        }
        for other in ["/usr/bin/chromium", "/usr/bin/google-chrome", "/opt/bin/chromium"] {
            assert!(!is_headless_shell(Path::new(other)), "{other}");
        }
    }

    #[test]
    fn ffmpeg_reports_the_linked_release() {
        let v = ffmpeg_version();
        assert!(v.chars().next().is_some_and(|c| c.is_ascii_digit()), "{v}");
    }

    #[tokio::test]
    async fn info_describes_this_machine() {
        let info = info().await.expect("Chromium is installed (see .ci/run)");
        assert_eq!(info.protocol_version, PROTOCOL_VERSION);
        assert_eq!(info.function_version, FUNCTION_VERSION);
        assert!(info.chromium_version.split('.').count() == 4, "{}", info.chromium_version);
        assert_eq!(info.architecture, architecture());
    }
}
