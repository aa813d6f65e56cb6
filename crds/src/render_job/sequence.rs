//! `imageSequence`: every frame as an image file instead of a video (Remotion's `--sequence`
//! and `imageSequencePattern`), and the CEL rules that keep video-only options away from it.

use kube::KubeSchema;
use kube::core::Rule;
use serde::{Deserialize, Serialize};

/// Render every frame of the frame range as an image file (the job's `imageFormat`, jpeg or
/// png) under `renders/<renderId>/frames/`, instead of a video.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageSequenceSpec {
    /// Name of each frame's file (Remotion's `imageSequencePattern`): `[frame]` becomes the
    /// frame number, zero-padded to the digits of the last frame rendered, `[ext]` the image
    /// format (`jpeg` or `png`). Default `element-[frame].[ext]`, as Remotion names frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    #[x_kube(validation = Rule::new("self.contains('[frame]')").message("imageSequence.pattern needs [frame]: without it every frame gets the same name"))]
    #[x_kube(validation = Rule::new("!self.contains('/') && !self.contains('\\\\')").message("imageSequence.pattern names a file in the frames folder: no slash or backslash"))]
    pub pattern: Option<String>,
    /// Also write one ZIP archive of every frame to `renders/<renderId>/frames.zip` (it must
    /// fit the RenderFunction's `diskMb` while it is written).
    #[serde(default)]
    pub archive: bool,
}

impl From<&ImageSequenceSpec> for remotion_protocol::payload::ImageSequence {
    fn from(spec: &ImageSequenceSpec) -> Self {
        Self { pattern: spec.pattern.clone(), archive: spec.archive }
    }
}

/// Options an image sequence has no use for: it encodes no video and no audio.
pub(super) fn video_options_rule() -> Rule {
    Rule::new(
        "!has(self.imageSequence) || !(has(self.still) || has(self.codec) || has(self.crf) || has(self.pixelFormat) \
         || has(self.x264Preset) || has(self.audioCodec) || has(self.audioBitrate) || has(self.videoBitrate) \
         || has(self.encodingMaxRate) || has(self.encodingBufferSize) || has(self.colorSpace) \
         || has(self.proResProfile) || has(self.numberOfGifLoops) \
         || (has(self.enforceAudioTrack) && self.enforceAudioTrack) || has(self.sampleRate))",
    )
    .message(
        "an imageSequence writes every frame as an image, with no video or audio: remove still, codec, crf, \
         pixelFormat, x264Preset, audioCodec, audioBitrate, videoBitrate, encodingMaxRate, encodingBufferSize, \
         colorSpace, proResProfile, numberOfGifLoops, enforceAudioTrack and sampleRate",
    )
}

/// The frames' keys follow from the render's folder and the pattern, in the render's bucket.
pub(super) fn output_key_rule() -> Rule {
    Rule::new(
        "!has(self.imageSequence) || !has(self.output) || \
         !(has(self.output.key) || has(self.output.bucketRef) || has(self.output.store))",
    )
    .message(
        "an imageSequence's frames go to renders/<renderId>/frames/ of the render's bucket (named by \
         imageSequence.pattern): remove output.key, output.bucketRef and output.store",
    )
}
