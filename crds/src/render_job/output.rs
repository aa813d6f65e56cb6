//! Where a RenderJob's output goes besides its key: a store of the job's own (Remotion's
//! `outName.s3OutputProvider`), and the object's metadata, bounded as S3 bounds it.

use kube::KubeSchema;
use kube::core::{Message, Rule};
use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::common::LocalObjectRef;
use remotion_protocol::output::{MAX_METADATA_BYTES, RENDER_ID_METADATA, RESERVED_METADATA_BYTES};

/// Most metadata entries (S3 counts bytes, not entries; this only bounds validation's cost).
const MAX_METADATA_ENTRIES: usize = 64;

/// An S3-compatible store outside AWS or in another account (Cloudflare R2, MinIO, another
/// account's S3), written with the keys of a Secret in the job's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputStoreSpec {
    /// URL of the store's S3 endpoint, e.g. `https://<account>.r2.cloudflarestorage.com`. The
    /// cluster admin's network policy applies to it as to a LambdaBucket's endpoint.
    #[schemars(regex(pattern = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"), length(max = 2048))]
    pub endpoint: String,
    /// Region the requests are signed for. Default `us-east-1` (R2 takes `auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,32}$"))]
    pub region: Option<String>,
    /// Bucket of the output in that store.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"))]
    pub bucket: String,
    /// Address the bucket as `endpoint/bucket` (default) rather than `bucket.endpoint`.
    #[serde(default = "path_style", skip_serializing_if = "is_true")]
    pub force_path_style: bool,
    /// Secret of the job's namespace with keys `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
    /// and optionally `AWS_SESSION_TOKEN`. The operator reads it for each launch and passes the
    /// keys to the function in the launch payload only: they are written to no bucket, status,
    /// Event or log.
    pub secret_ref: LocalObjectRef,
}

fn path_style() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// `output.metadata`: a map of at most [`MAX_METADATA_ENTRIES`] printable-ASCII values.
pub(super) fn metadata_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": MAX_METADATA_ENTRIES,
        "additionalProperties": {"type": "string", "maxLength": MAX_METADATA_BYTES, "pattern": "^[ -~]*$"},
        "description": "User metadata of the output object (x-amz-meta-<key>; Remotion's metadata). Keys are lowercase letters, digits, '.', '_' and '-'; values printable ASCII; keys and values together at most 1952 bytes (S3's 2 KB, less what the operator keeps for remotion-render-id)."
    })
}

/// `output.metadata`: header-token keys, not the operator's own.
pub(super) fn metadata_keys_rule() -> Rule {
    Rule::new(format!("self.all(k, k.matches('^[a-z0-9._-]{{1,128}}$') && k != '{RENDER_ID_METADATA}')")).message(Message::Message(format!(
        "output.metadata keys are 1 to 128 lowercase letters, digits, '.', '_' or '-', and not {RENDER_ID_METADATA} (the operator's own)"
    )))
}

/// `output.metadata`: S3's 2 KB of keys and values, less the operator's entry.
pub(super) fn metadata_size_rule() -> Rule {
    let max = MAX_METADATA_BYTES - RESERVED_METADATA_BYTES;
    Rule::new(format!("self.map(k, size(k) + size(self[k])).sum() <= {max}")).message(Message::Message(format!(
        "output.metadata keys and values add up to more than {max} bytes (S3 allows 2 KB)"
    )))
}

/// `output.downloadBehavior`: a file name only for `download`.
pub(super) fn download_rule() -> Rule {
    Rule::new("self.type == 'download' || !has(self.fileName)")
        .message("downloadBehavior.fileName is for type download only")
}

/// `output.separateAudioTo` needs a video render that has audio to separate: not a still,
/// an image sequence, a muted render, a GIF or an audio-only codec.
pub(super) fn separate_audio_rule() -> Rule {
    Rule::new(
        "!has(self.output) || !has(self.output.separateAudioTo) || !(has(self.still) || has(self.imageSequence) \
         || (has(self.muted) && self.muted) || (has(self.codec) && self.codec in ['gif', 'mp3', 'aac', 'wav']))",
    )
    .message(
        "output.separateAudioTo takes the audio out of a video: remove it from a still, an imageSequence, a muted \
         render, a gif or an audio-only codec (mp3, aac, wav: the output is the audio already)",
    )
}

/// The separate audio file's extension is its audio codec's (Remotion's rule): `.aac`, `.mp3`,
/// `.opus` or `.wav` (pcm-16). Checked here when the spec names the audio codec or a codec
/// whose default decides it; the function checks the codec the composition chose.
pub(super) fn separate_audio_extension_rule() -> Rule {
    Rule::new(
        "!has(self.output) || !has(self.output.separateAudioTo) || \
         (has(self.audioCodec) ? self.output.separateAudioTo.endsWith({'aac': '.aac', 'mp3': '.mp3', 'opus': '.opus', 'pcm-16': '.wav'}[self.audioCodec]) \
         : (!has(self.codec) || !(self.codec in ['h264', 'h265', 'prores', 'vp8', 'vp9']) \
         || self.output.separateAudioTo.endsWith(self.codec in ['vp8', 'vp9'] ? '.opus' : '.aac')))",
    )
    .message(
        "output.separateAudioTo must end in the audio codec's extension: .aac for aac (the default of h264, h265 \
         and prores), .opus for opus (the default of vp8 and vp9), .mp3 for mp3, .wav for pcm-16",
    )
}
