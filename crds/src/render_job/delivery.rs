//! CEL rules of the delivery encoding options (`videoBitrate`, `encodingMaxRate`,
//! `encodingBufferSize`, `colorSpace`, `proResProfile`, `numberOfGifLoops`,
//! `enforceAudioTrack`, `sampleRate`, `gopSize`, `preferLossless`): Remotion's own validation where it refuses, and a refusal where
//! Remotion would silently ignore an option the codec cannot use.

use kube::core::Rule;

use super::CEL_CODEC;

/// A still has no video encoding.
pub(super) fn still_rule() -> Rule {
    Rule::new(
        "!has(self.still) || !(has(self.videoBitrate) || has(self.encodingMaxRate) || has(self.encodingBufferSize) \
         || has(self.colorSpace) || has(self.proResProfile) || has(self.numberOfGifLoops) \
         || (has(self.enforceAudioTrack) && self.enforceAudioTrack) || has(self.sampleRate))",
    )
    .message(
        "a still renders one image: remove videoBitrate, encodingMaxRate, encodingBufferSize, colorSpace, \
         proResProfile, numberOfGifLoops, enforceAudioTrack and sampleRate",
    )
}

/// Remotion: `"crf" and "videoBitrate" can not both be set. Choose one of either.`
pub(super) fn crf_or_bitrate_rule() -> Rule {
    Rule::new("!(has(self.crf) && has(self.videoBitrate))")
        .message("set crf or videoBitrate, not both: a video is encoded at a constant quality or at a target bit rate")
}

/// Remotion: `"encodingMaxRate" can not be set without also setting "encodingBufferSize".`
pub(super) fn max_rate_needs_buffer_rule() -> Rule {
    Rule::new("!has(self.encodingMaxRate) || has(self.encodingBufferSize)").message(
        "encodingMaxRate needs encodingBufferSize: the peak rate is enforced over that buffer (FFmpeg's -maxrate with -bufsize)",
    )
}

/// Codecs whose encoder takes a bit rate (Remotion ignores it for ProRes and audio codecs,
/// and never passes it to the GIF encoder).
const BIT_RATE_CODECS: &str = "['h264', 'h265', 'vp8', 'vp9']";

pub(super) fn bitrate_codec_rule() -> Rule {
    Rule::new(format!(
        "!(has(self.videoBitrate) || has(self.encodingMaxRate) || has(self.encodingBufferSize)) || {CEL_CODEC} in {BIT_RATE_CODECS}"
    ))
    .message(
        "videoBitrate, encodingMaxRate and encodingBufferSize apply to h264, h265, vp8 and vp9: \
         prores, gif and the audio codecs have no video bit rate to set",
    )
}

/// Remotion (`encodingMaxRate`): "With the VP8, VP9 and AV1 codecs, a video bitrate must also
/// be set."
pub(super) fn libvpx_max_rate_rule() -> Rule {
    Rule::new(format!("!has(self.encodingMaxRate) || !({CEL_CODEC} in ['vp8', 'vp9']) || has(self.videoBitrate)"))
        .message("with vp8 and vp9, encodingMaxRate needs videoBitrate too: libvpx caps a target bit rate, not a CRF")
}

/// `colorSpace` for the codecs that can say it. VP8 cannot: its decoders read BT.601 whatever
/// the container says, so only `default`/`bt601` render what they show.
pub(super) fn color_space_rule() -> Rule {
    Rule::new(format!(
        "!has(self.colorSpace) || {CEL_CODEC} in ['h264', 'h265', 'vp9', 'prores'] \
         || ({CEL_CODEC} == 'vp8' && self.colorSpace in ['default', 'bt601'])"
    ))
    .message(
        "colorSpace applies to h264, h265, vp9 and prores; vp8 takes only default or bt601 (its decoders \
         always read BT.601); gif and the audio codecs have no colour space to set",
    )
}

/// Remotion: "You have set a ProRes profile but the codec is …".
pub(super) fn pro_res_profile_rule() -> Rule {
    Rule::new(
        "!has(self.proResProfile) || ((has(self.codec) && self.codec == 'prores') \
         && (!has(self.pixelFormat) || self.pixelFormat != 'yuva444p10le' || self.proResProfile in ['4444', '4444-xq']))",
    )
    .message(
        "proResProfile applies to codec prores only, and pixelFormat yuva444p10le keeps its alpha only with \
         proResProfile 4444 or 4444-xq",
    )
}

/// `numberOfGifLoops` is the GIF's loop extension.
pub(super) fn gif_loops_rule() -> Rule {
    Rule::new("!has(self.numberOfGifLoops) || (has(self.codec) && self.codec == 'gif')")
        .message("numberOfGifLoops applies to codec gif only")
}

/// A GIF has no audio track to enforce.
pub(super) fn enforce_audio_track_rule() -> Rule {
    Rule::new(format!("!has(self.enforceAudioTrack) || !self.enforceAudioTrack || {CEL_CODEC} != 'gif'"))
        .message("gif has no audio: remove enforceAudioTrack")
}

/// A GIF has no audio to sample.
pub(super) fn gif_sample_rate_rule() -> Rule {
    Rule::new(format!("!has(self.sampleRate) || {CEL_CODEC} != 'gif'")).message("gif has no audio: remove sampleRate")
}

/// Opus (the audio of vp8 and vp9 unless `audioCodec` says otherwise) encodes at these rates
/// only; the function checks the codec a composition chooses.
pub(super) fn opus_sample_rate_rule() -> Rule {
    Rule::new(format!(
        "!has(self.sampleRate) || !(has(self.audioCodec) ? self.audioCodec == 'opus' : {CEL_CODEC} in ['vp8', 'vp9']) \
         || self.sampleRate in [8000, 12000, 16000, 24000, 48000]"
    ))
    .message("opus audio (the default of vp8 and vp9) takes sampleRate 8000, 12000, 16000, 24000 or 48000")
}

/// Keyframes are placed by the encoders that predict between frames; every ProRes and GIF
/// frame stands alone, and stills and image sequences are no video.
pub(super) fn gop_size_rule() -> Rule {
    Rule::new(format!(
        "!has(self.gopSize) || (!has(self.still) && !has(self.imageSequence) && {CEL_CODEC} in ['h264', 'h265', 'vp8', 'vp9'])"
    ))
    .message("gopSize applies to videos of codec h264, h265, vp8 or vp9")
}

/// pcm-16 goes with every codec that has a video and audio (an MP4 or WebM output becomes
/// Matroska) and with wav; an mp3 or aac render is encoded audio by definition (Remotion writes
/// a WAV instead, which codec wav says here); the function checks a codec the composition chose.
pub(super) fn prefer_lossless_codec_rule() -> Rule {
    Rule::new(
        "!has(self.preferLossless) || !self.preferLossless \
         || (!has(self.still) && !has(self.imageSequence) && !(has(self.codec) && self.codec in ['gif', 'mp3', 'aac']))",
    )
    .message(
        "preferLossless picks pcm-16 audio: stills, GIFs and image sequences have none, and for lossless audio \
         alone use codec wav instead of mp3 or aac",
    )
}

/// Remotion's docs and code disagree on which of the two wins: both at once are refused.
pub(super) fn prefer_lossless_audio_codec_rule() -> Rule {
    Rule::new(
        "!has(self.preferLossless) || !self.preferLossless || !has(self.audioCodec) || self.audioCodec == 'pcm-16'",
    )
    .message("preferLossless asks for pcm-16 audio: remove audioCodec or preferLossless")
}
