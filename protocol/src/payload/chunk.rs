//! The `render` action: one chunk of a render, asked by the orchestrator and answered by a
//! renderer, with the progress a renderer reports while it works.

use serde::{Deserialize, Serialize};

use super::{CompositionMetadata, EncodingSettings, OutputTarget, SequenceTarget, SerializedProps, SiteLocation};
use crate::page::PageSettings;

/// Request of `render`: one chunk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderRequest {
    /// Protocol version of the caller.
    pub protocol_version: u32,
    /// The render's id.
    pub render_id: String,
    /// The render's bucket.
    pub bucket: String,
    /// The site.
    pub site: SiteLocation,
    /// The composition, resolved by the orchestrator.
    pub composition: CompositionMetadata,
    /// Input props as given.
    pub input_props: SerializedProps,
    /// Props resolved by `calculateMetadata` (what `setBundleMode` receives).
    pub resolved_props: SerializedProps,
    /// Encoding settings.
    pub encoding: EncodingSettings,
    /// Chunk index.
    pub chunk: u32,
    /// First and last frame of the chunk (inclusive).
    pub frames: FrameSpan,
    /// 1 for the first try.
    pub attempt: u32,
    /// delayRender timeout, ms.
    pub timeout_ms: u64,
    /// Key to upload the chunk to.
    pub chunk_key: String,
    /// Key to upload per-frame timings to.
    pub timings_key: String,
    /// Key the renderer rewrites with its [`ChunkProgress`] while it renders (at most once a
    /// second); none: it does not report progress before it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_key: Option<String>,
    /// The page's environment, the browser's options and the log level (the launch's).
    #[serde(default, skip_serializing_if = "PageSettings::is_default")]
    pub page: PageSettings,
    /// An image sequence's frames: each uploaded to its own key, no chunk file (`chunk_key`
    /// unused). The response's `key` is then the frames' folder and its size their total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<SequenceTarget>,
    /// The launch's output: the files the chunk's frames emit (`<Artifact>`) are saved with
    /// its privacy and expiry (its key is the orchestrator's concern).
    #[serde(default)]
    pub output: OutputTarget,
    /// Tabs capturing the chunk's frames at once (Remotion's `concurrencyPerLambda`).
    #[serde(default = "one_tab", skip_serializing_if = "is_one_tab")]
    pub concurrency_per_lambda: u32,
}

impl RenderRequest {
    /// The tabs the chunk is rendered with: as many as asked, but no more than its frames.
    pub fn tabs(&self) -> u32 {
        let frames = u32::try_from(self.frames.len(self.encoding.every_nth_frame.unwrap_or(1))).unwrap_or(u32::MAX);
        self.concurrency_per_lambda.clamp(1, frames.max(1))
    }
}

/// Most tabs one invocation may capture with: each is a renderer process of its own, and
/// Lambda's largest function (10,240 MB, 6 vCPUs) runs out of cores and memory beyond this.
pub const MAX_CONCURRENCY_PER_LAMBDA: u32 = 16;

/// One tab, Remotion's default.
pub(super) fn one_tab() -> u32 {
    1
}

fn is_one_tab(tabs: &u32) -> bool {
    *tabs == 1
}

/// What a renderer has done of its chunk so far (the object at
/// [`RenderRequest::progress_key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkProgress {
    /// Chunk index.
    pub chunk: u32,
    /// The attempt that wrote it.
    pub attempt: u32,
    /// Frames captured so far.
    pub rendered: u64,
    /// Frames encoded so far.
    pub encoded: u64,
    /// Frames of the chunk.
    pub total: u64,
}

/// An inclusive span of frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameSpan {
    /// First frame.
    pub start: u64,
    /// Last frame (inclusive).
    pub end: u64,
}

impl FrameSpan {
    /// Frames in the span (taking every `nth` frame).
    pub fn len(&self, every_nth_frame: u32) -> u64 {
        if self.end < self.start {
            return 0;
        }
        (self.end - self.start) / u64::from(every_nth_frame.max(1)) + 1
    }

    /// Never true for a valid span (kept for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }
}

impl std::fmt::Display for FrameSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Response of `render`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderResponse {
    /// Chunk index.
    pub chunk: u32,
    /// Attempt that produced it.
    pub attempt: u32,
    /// Key of the uploaded chunk.
    pub key: String,
    /// Its size.
    pub size_bytes: u64,
    /// Frames rendered.
    pub frames: u64,
    /// Capture + encode time of each frame, ms, in frame order.
    pub frame_milliseconds: Vec<u32>,
    /// Wall time of the invocation, ms (billed duration when no REPORT line is available).
    pub duration_ms: u64,
    /// Where the invocation's time went (absent from renderers that predate it).
    #[serde(default)]
    pub phases: ChunkPhases,
    /// Writes of the chunk's progress object (S3 requests the render is charged for).
    #[serde(default)]
    pub progress_writes: u64,
    /// The files the chunk's frames emitted with `<Artifact>`, already in the bucket.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<crate::progress::ArtifactInfo>,
    /// Tabs that captured the frames (absent from renderers that predate it: one).
    #[serde(default = "one_tab")]
    pub tabs: u32,
}

/// Where a chunk invocation's time went, ms: everything but `frames_ms` is the fixed cost a
/// chunk pays whatever its length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkPhases {
    /// S3 client, props, the cancel watch.
    pub prepare_ms: u64,
    /// Leasing the browser (kept warm, or launched) with this invocation's context, and
    /// checking a page kept from the previous chunk.
    pub browser_ms: u64,
    /// Opening the site (the local server over the bucket prefix), unless a kept page's is used.
    pub site_ms: u64,
    /// The page ready for the first frame: tab, globals, navigation, bundle load and
    /// `setBundleMode` (nothing for a kept page).
    pub page_ms: u64,
    /// From the page being ready to the last frame encoded and the file finished.
    pub frames_ms: u64,
    /// Handing the browser back for the next invocation.
    pub release_ms: u64,
    /// Uploading the chunk and its timings.
    pub upload_ms: u64,
    /// Whether a page kept loaded from the previous chunk of the same render was used.
    #[serde(default)]
    pub page_reused: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_spans_count_every_nth() {
        let s = FrameSpan { start: 0, end: 19 };
        assert_eq!(s.len(1), 20);
        assert_eq!(s.len(3), 7);
        assert_eq!(s.to_string(), "0-19");
    }
}
