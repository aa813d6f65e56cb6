//! Everything a render can fail with, each mapped to a protocol [`ErrorKind`] so the
//! orchestrator knows what to retry and the operator what to tell the user.

use remotion_protocol::payload::ErrorKind;

/// A failed render step.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Chromium could not be started.
    #[error("could not start Chromium: {0}")]
    BrowserLaunch(String),
    /// Chromium crashed or the DevTools connection broke.
    #[error("the browser failed: {0}")]
    Browser(String),
    /// The site could not be loaded.
    #[error("could not load the site {url}: {message}")]
    SiteUnavailable {
        /// Serve URL.
        url: String,
        /// Why.
        message: String,
    },
    /// The site did not load in time: an overloaded browser or a slow store, which a retry on
    /// another invocation usually gets past (unlike a missing or broken site).
    #[error("the site {url} did not load in time: {message}")]
    SiteTimedOut {
        /// Serve URL.
        url: String,
        /// Which wait ran out.
        message: String,
    },
    /// The page is not a Remotion bundle.
    #[error("{url} is not a Remotion bundle (no window.getStaticCompositions); the page begins: {snippet:?}")]
    NotRemotion {
        /// Serve URL.
        url: String,
        /// Start of the page's body.
        snippet: String,
    },
    /// The bundle was made by an incompatible Remotion.
    #[error("incompatible site: {0}")]
    IncompatibleSite(String),
    /// The composition does not exist.
    #[error("composition {id:?} does not exist in the site; it has: {}", available.join(", "))]
    CompositionNotFound {
        /// Requested id.
        id: String,
        /// Ids the site has.
        available: Vec<String>,
    },
    /// A `delayRender()` was not cleared in time.
    #[error("{}: a delayRender() was not cleared after {timeout_ms} ms{}: {message}", where_(.composition, .frame), open_handles(.handles))]
    DelayRenderTimeout {
        /// Composition, if known.
        composition: Option<String>,
        /// Frame, if rendering one.
        frame: Option<u64>,
        /// Timeout in force.
        timeout_ms: u64,
        /// Labels of the handles still open.
        handles: Vec<String>,
        /// The page's message.
        message: String,
    },
    /// The page threw or called `cancelRender()`.
    #[error("{}: {message}", where_(.composition, .frame))]
    Page {
        /// Composition, if known.
        composition: Option<String>,
        /// Frame, if rendering one.
        frame: Option<u64>,
        /// The page's message (error stack when available).
        message: String,
    },
    /// The payload was written for another protocol version.
    #[error(
        "the payload speaks protocol {payload}, this function speaks {function}: deploy matching versions of the operator and the function"
    )]
    ProtocolMismatch {
        /// The payload's version.
        payload: u32,
        /// The function's version.
        function: u32,
    },
    /// A chunk failed for good (after its retries, or with an error retrying cannot fix).
    #[error("chunk {index} (frames {start}–{end}) failed on attempt {attempt}: {message}")]
    Chunk {
        /// What the renderer failed with.
        kind: ErrorKind,
        /// Chunk index.
        index: u32,
        /// First frame.
        start: u64,
        /// Last frame.
        end: u64,
        /// The last attempt.
        attempt: u32,
        /// The renderer's message.
        message: String,
    },
    /// The render was cancelled on request.
    #[error("the render was cancelled")]
    Cancelled,
    /// A render longer than the function's timeout could not go on in a new invocation.
    #[error("the render could not go on past this invocation: {message}")]
    Continuation {
        /// Why, as a protocol kind.
        kind: ErrorKind,
        /// What happened.
        message: String,
    },
    /// The input is unusable.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Encoding or muxing failed.
    #[error("encoding failed: {0}")]
    Encoding(String),
    /// Reading or writing the bucket failed.
    #[error("storage: {0}")]
    Storage(String),
    /// The output's key is taken and the render may not replace what is there.
    #[error(
        "s3://{bucket}/{key} already exists and output.overwrite is false: choose another output.key, delete the object, or set overwrite: true"
    )]
    OutputExists {
        /// The output's bucket.
        bucket: String,
        /// The output's key.
        key: String,
    },
    /// A media file the composition plays (`<Audio>`, `<Video>`) could not be fetched or read.
    #[error("audio source {}: {message}", shorten(.src))]
    AudioSource {
        /// The asset's `src` as the page reported it.
        src: String,
        /// Why.
        message: String,
        /// Network errors may pass on a retry; a missing or undecodable file will not.
        kind: ErrorKind,
    },
    /// The video an `<OffthreadVideo>` shows could not be fetched or decoded (the frame
    /// server answered the page with this error, and the page failed the frame with it).
    #[error("{}: <OffthreadVideo> source {} at {time} s: {message}", where_(.composition, .frame), shorten(.src))]
    VideoSource {
        /// Composition, if known.
        composition: Option<String>,
        /// Frame being rendered, if known.
        frame: Option<u64>,
        /// The source as the page asked for it.
        src: String,
        /// Time in the source, seconds.
        time: f64,
        /// Why.
        message: String,
        /// Network errors may pass on a retry; a missing or undecodable file will not.
        kind: ErrorKind,
    },
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn where_(composition: &Option<String>, frame: &Option<u64>) -> String {
    match (composition, frame) {
        (Some(c), Some(f)) => format!("composition {c:?}, frame {f}"),
        (Some(c), None) => format!("composition {c:?}"),
        (None, Some(f)) => format!("frame {f}"),
        (None, None) => "the page".to_owned(),
    }
}

/// A `src` short enough for a message (data: URLs can be megabytes long).
fn shorten(src: &str) -> String {
    const MAX: usize = 160;
    match src.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &src[..cut]),
        None => src.to_owned(),
    }
}

fn open_handles(handles: &[String]) -> String {
    if handles.is_empty() { String::new() } else { format!(" (open handles: {})", handles.join("; ")) }
}

impl RenderError {
    /// The protocol kind (Lambda `errorType`).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::BrowserLaunch(_) | Self::Browser(_) => ErrorKind::BrowserCrashed,
            Self::SiteUnavailable { .. } => ErrorKind::SiteUnavailable,
            Self::SiteTimedOut { .. } => ErrorKind::Network,
            Self::NotRemotion { .. } | Self::IncompatibleSite(_) => ErrorKind::SiteUnavailable,
            Self::CompositionNotFound { .. } => ErrorKind::CompositionNotFound,
            Self::DelayRenderTimeout { .. } => ErrorKind::DelayRenderTimeout,
            Self::Page { .. } => ErrorKind::PageError,
            Self::Cancelled => ErrorKind::Cancelled,
            Self::Chunk { kind, .. } | Self::Continuation { kind, .. } => *kind,
            Self::ProtocolMismatch { .. } => ErrorKind::ProtocolMismatch,
            Self::InvalidInput(_) => ErrorKind::InvalidPayload,
            Self::Encoding(_) => ErrorKind::Encoding,
            Self::Storage(_) => ErrorKind::Storage,
            Self::OutputExists { .. } => ErrorKind::OutputExists,
            Self::AudioSource { kind, .. } | Self::VideoSource { kind, .. } => *kind,
            Self::Io { .. } => ErrorKind::Internal,
        }
    }

    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }

    /// Attaches the frame to page errors that lack one.
    pub fn at_frame(self, at: u64) -> Self {
        match self {
            Self::Page { composition, frame: None, message } => Self::Page { composition, frame: Some(at), message },
            Self::DelayRenderTimeout { composition, frame: None, timeout_ms, handles, message } => {
                Self::DelayRenderTimeout { composition, frame: Some(at), timeout_ms, handles, message }
            }
            Self::VideoSource { composition, frame: None, src, time, message, kind } => {
                Self::VideoSource { composition, frame: Some(at), src, time, message, kind }
            }
            other => other,
        }
    }
}

impl From<chromiumoxide::error::CdpError> for RenderError {
    fn from(e: chromiumoxide::error::CdpError) -> Self {
        match e {
            // chromiumoxide's own words ("Request timed out.") do not say what waited.
            chromiumoxide::error::CdpError::Timeout => {
                Self::Browser("Chromium did not answer a DevTools command within 30 s (starved of CPU or hung)".into())
            }
            // The handler was dropped because the connection went (`capture::browser`).
            chromiumoxide::error::CdpError::ChannelSendError(_) => {
                Self::Browser("the DevTools connection to Chromium was lost: Chromium exited or crashed".into())
            }
            other => Self::Browser(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_that_loads_too_slowly_is_retried_and_a_missing_one_is_not() {
        let slow = RenderError::SiteTimedOut { url: "http://127.0.0.1/".into(), message: "not loaded".into() };
        let missing = RenderError::SiteUnavailable { url: "http://127.0.0.1/".into(), message: "404".into() };
        assert!(slow.kind().is_retriable());
        assert!(!missing.kind().is_retriable());
    }
}
