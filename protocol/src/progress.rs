//! The progress document `renders/<id>/progress.json`, written by the orchestrator at least
//! every 2 s and read by the operator. Its size is bounded whatever the number of chunks:
//! counts instead of per-chunk lists, the last errors only, the top frame ranges only.

use serde::{Deserialize, Serialize};

use crate::money::Usd;
use crate::payload::{ErrorKind, FrameSpan};

/// Most errors kept in the document (older ones are only counted).
pub const MAX_ERRORS: usize = 10;
/// Most expensive frame ranges reported.
pub const MAX_EXPENSIVE_RANGES: usize = 5;

/// What a render is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// The orchestrator started.
    #[default]
    Launched,
    /// Opening the site and resolving the composition.
    Evaluating,
    /// Chunks are rendering.
    Rendering,
    /// Joining chunks.
    Stitching,
    /// Uploading the output.
    Uploading,
    /// Finished; the output is in the bucket.
    Done,
    /// Ended with an error.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl Stage {
    /// Nothing more will happen.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }

    /// Lower-case name (for status `stage`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Launched => "launched",
            Self::Evaluating => "evaluating",
            Self::Rendering => "rendering",
            Self::Stitching => "stitching",
            Self::Uploading => "uploading",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// An error recorded during a render.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressError {
    /// Kind.
    pub kind: ErrorKind,
    /// What happened.
    pub message: String,
    /// Chunk, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk: Option<u32>,
    /// Frames of the chunk, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<FrameSpan>,
    /// Attempt (1 = first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Whether it will be (was) retried.
    pub will_retry: bool,
    /// When, ms since the Unix epoch.
    pub at_ms: u64,
}

/// A frame range and what it cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameRangeCost {
    /// Frames.
    pub frames: FrameSpan,
    /// Billed milliseconds spent on them.
    pub milliseconds: u64,
}

/// Time spent per stage, ms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageTimings {
    /// Opening the site and resolving the composition.
    pub evaluating_ms: u64,
    /// Launch of the first chunk to the last chunk done.
    pub rendering_ms: u64,
    /// Joining chunks.
    pub stitching_ms: u64,
    /// Uploading the output.
    pub uploading_ms: u64,
}

/// The finished output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputInfo {
    /// Bucket.
    pub bucket: String,
    /// Key; for an image sequence, the frames' folder (ending in `/`).
    pub key: String,
    /// Size; for an image sequence, of all its frames.
    pub size_bytes: u64,
    /// Content-Type (of each frame of an image sequence).
    pub content_type: String,
    /// An image sequence's frame files, named after `sequence_pattern`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<u64>,
    /// An image sequence's frame names with the frame number and extension in place
    /// (`element-[frame].[ext]` with `[ext]` resolved, e.g. `element-[frame].jpeg`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_pattern: Option<String>,
    /// The archive of an image sequence's frames, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<OutputObject>,
    /// The render's audio as a file of its own (`separateAudioTo`), in the output's bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separate_audio: Option<OutputObject>,
}

/// One more object a render produced beside its output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputObject {
    /// Key (in the output's bucket).
    pub key: String,
    /// Size.
    pub size_bytes: u64,
    /// Content-Type.
    pub content_type: String,
}

/// A file the composition emitted with `<Artifact>`, saved in the render's bucket (Remotion
/// Lambda's `artifacts` of `getRenderProgress`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactInfo {
    /// The filename the composition gave it.
    pub filename: String,
    /// Its key in the render's bucket (`renders/<id>/artifacts/<filename>`).
    pub key: String,
    /// Its size.
    pub size_bytes: u64,
    /// Content-Type (by the filename's extension).
    pub content_type: String,
    /// The frame that emitted it.
    pub frame: u64,
}

/// What the render turned out to be once its composition was resolved: the codec and output
/// key the job may have left to the composition's defaults, and the size, frame rate and length
/// the frames are rendered at (overrides applied).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedRender {
    /// The codec in effect (none for a still).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<crate::media::Codec>,
    /// The pixel format in effect, when the job or the composition named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_format: Option<crate::media::PixelFormat>,
    /// Key of the output.
    pub output_key: String,
    /// Width, px (before `scale`).
    pub width: u32,
    /// Height, px (before `scale`).
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Length of the composition, frames.
    pub duration_in_frames: u64,
    /// The frame a still shows (a negative frame counted from the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub still_frame: Option<u64>,
}

/// The fatal error that ended a render.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FatalError {
    /// Kind.
    pub kind: ErrorKind,
    /// What happened, actionable.
    pub message: String,
}

/// `renders/<id>/progress.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressDocument {
    /// Protocol version of the writer.
    pub protocol_version: u32,
    /// Render id.
    pub render_id: String,
    /// Increases with every write: readers ignore a document older than one they have seen.
    pub sequence: u64,
    /// Stage.
    pub stage: Stage,
    /// When the orchestrator started, ms since the Unix epoch.
    pub started_at_ms: u64,
    /// When this document was written, ms since the Unix epoch.
    pub updated_at_ms: u64,
    /// Frames to render.
    pub frames_total: u64,
    /// Frames captured.
    pub frames_rendered: u64,
    /// Frames encoded.
    pub frames_encoded: u64,
    /// Chunks planned.
    pub chunks_total: u64,
    /// Chunks finished.
    pub chunks_done: u64,
    /// Of the finished chunks, those the orchestrator rendered in its own invocation (they
    /// count no invocation of their own: their time is the orchestrator's).
    #[serde(default)]
    pub chunks_rendered_locally: u64,
    /// Continuations of the orchestrator so far: a render longer than the function's timeout
    /// goes on in a new invocation of the orchestrator each time the previous one nears its
    /// timeout (each counts in `invocations` and `billedMilliseconds` too).
    #[serde(default)]
    pub continuations: u64,
    /// Lambda invocations so far (the orchestrator's included, each continuation of it too).
    pub invocations: u64,
    /// Chunk retries so far.
    pub retries: u64,
    /// Billed Lambda milliseconds so far.
    pub billed_milliseconds: u64,
    /// Accrued cost so far.
    pub accrued_usd: Usd,
    /// Estimated total cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_total_usd: Option<Usd>,
    /// The last errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProgressError>,
    /// All errors ever recorded.
    pub error_count: u64,
    /// Time per stage.
    pub timings: StageTimings,
    /// What the render is, once its composition is resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<ResolvedRender>,
    /// The output, once uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputInfo>,
    /// The files the composition emitted with `<Artifact>`, in frame order (when done).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactInfo>,
    /// The most expensive frame ranges (when done).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub most_expensive_frame_ranges: Vec<FrameRangeCost>,
    /// Why the render failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fatal: Option<FatalError>,
    /// The remote chunk lane as the orchestrator runs it, once it renders chunks. The operator
    /// gives slots taken from a render to another only once this shows them unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_lane: Option<RemoteLane>,
}

/// The orchestrator's remote chunk lane: how many chunk invocations it may keep in flight and
/// how many it has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteLane {
    /// The cap it obeys: the render's allotment as last read (or the launch's share).
    pub cap: u32,
    /// Chunk invocations running now (those a continuation follows included).
    pub running: u32,
}

impl RemoteLane {
    /// Whether the lane keeps within `chunk_slots`: it has read a cap that small and has no
    /// more invocations running.
    pub fn within(&self, chunk_slots: u32) -> bool {
        self.cap <= chunk_slots && self.running <= chunk_slots
    }
}

impl ProgressDocument {
    /// A document for a render that just started.
    pub fn new(render_id: impl Into<String>, started_at_ms: u64) -> Self {
        Self {
            protocol_version: crate::payload::PROTOCOL_VERSION,
            render_id: render_id.into(),
            started_at_ms,
            updated_at_ms: started_at_ms,
            ..Self::default()
        }
    }

    /// Records an error, keeping only the last [`MAX_ERRORS`].
    pub fn push_error(&mut self, error: ProgressError) {
        self.error_count += 1;
        if self.errors.len() == MAX_ERRORS {
            self.errors.remove(0);
        }
        self.errors.push(error);
    }

    /// Overall progress 0–100, monotonic in stage and frames: evaluating 0–5, rendering 5–85
    /// (by frames), stitching 85–95, uploading 95–99, done 100.
    pub fn percent(&self) -> u8 {
        let frames = if self.frames_total == 0 {
            0.0
        } else {
            (self.frames_rendered.min(self.frames_total) as f64) / (self.frames_total as f64)
        };
        let p = match self.stage {
            Stage::Launched => 0.0,
            Stage::Evaluating => 2.0,
            Stage::Rendering => 5.0 + 80.0 * frames,
            Stage::Stitching => 85.0,
            Stage::Uploading => 95.0,
            Stage::Done => 100.0,
            // A failed or cancelled render keeps the progress it had reached.
            Stage::Failed | Stage::Cancelled => 5.0 + 80.0 * frames,
        };
        // Never show 100 before the output is there.
        let p = if self.stage == Stage::Done { p } else { p.min(99.0) };
        p.floor() as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_monotonic_through_a_render() {
        let mut doc = ProgressDocument::new("r", 1);
        doc.frames_total = 300;
        let mut last = 0;
        let mut check = |doc: &ProgressDocument| {
            let p = doc.percent();
            assert!(p >= last, "{p} < {last} at {:?}", doc.stage);
            last = p;
        };
        check(&doc);
        doc.stage = Stage::Evaluating;
        check(&doc);
        doc.stage = Stage::Rendering;
        for f in (0..=300).step_by(30) {
            doc.frames_rendered = f;
            check(&doc);
        }
        assert_eq!(doc.percent(), 85);
        doc.stage = Stage::Stitching;
        check(&doc);
        doc.stage = Stage::Uploading;
        check(&doc);
        doc.stage = Stage::Done;
        check(&doc);
        assert_eq!(doc.percent(), 100);
    }

    #[test]
    fn a_document_without_local_chunks_reads_as_none_rendered_locally() {
        let mut doc = ProgressDocument::new("r", 1);
        doc.chunks_rendered_locally = 3;
        let mut json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["chunksRenderedLocally"], 3);
        json.as_object_mut().unwrap().remove("chunksRenderedLocally");
        let older: ProgressDocument = serde_json::from_value(json).unwrap();
        assert_eq!(older.chunks_rendered_locally, 0);
    }

    #[test]
    fn a_document_without_continuations_reads_as_none() {
        let mut doc = ProgressDocument::new("r", 1);
        doc.continuations = 2;
        let mut json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["continuations"], 2);
        json.as_object_mut().unwrap().remove("continuations");
        let older: ProgressDocument = serde_json::from_value(json).unwrap();
        assert_eq!(older.continuations, 0);
    }

    #[test]
    fn errors_are_bounded() {
        let mut doc = ProgressDocument::new("r", 1);
        for i in 0..25 {
            doc.push_error(ProgressError {
                kind: ErrorKind::BrowserCrashed,
                message: format!("e{i}"),
                chunk: Some(i),
                frames: None,
                attempt: Some(1),
                will_retry: true,
                at_ms: u64::from(i),
            });
        }
        assert_eq!(doc.errors.len(), MAX_ERRORS);
        assert_eq!(doc.error_count, 25);
        assert_eq!(doc.errors.first().unwrap().message, "e15");
        let json = serde_json::to_string(&doc).unwrap();
        let back: ProgressDocument = serde_json::from_str(&json).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn a_remote_lane_is_within_a_share_once_it_has_read_it_and_drained_to_it() {
        let lane: RemoteLane = serde_json::from_value(serde_json::json!({"cap": 3, "running": 3})).unwrap();
        assert_eq!(lane, RemoteLane { cap: 3, running: 3 });
        assert!(lane.within(3));
        // The smaller share not read yet: the orchestrator may still start chunks up to 3.
        assert!(!RemoteLane { cap: 3, running: 1 }.within(1));
        // Read, but two invocations still run.
        assert!(!RemoteLane { cap: 1, running: 2 }.within(1));
        assert!(RemoteLane { cap: 1, running: 1 }.within(1));
        assert!(RemoteLane { cap: 0, running: 0 }.within(0));
        // Older orchestrators write no lane; the document still reads.
        let doc: ProgressDocument =
            serde_json::from_str(&serde_json::to_string(&ProgressDocument::new("r", 1)).unwrap()).unwrap();
        assert_eq!(doc.remote_lane, None);
    }
}
