//! CEL rules that tie an option to the codec: which audio codecs, CRFs and pixel formats each
//! codec takes (tables from `remotion_protocol::media::Codec`).

use kube::core::Rule;
use remotion_protocol::media::Codec;

/// The codec in effect in CEL (h264 when the spec names none).
pub(super) const CEL_CODEC: &str = "(has(self.codec) ? self.codec : 'h264')";

/// `audioCodec` must be one the codec's container takes (table: `Codec::audio_codecs`).
pub(super) fn audio_codec_rule() -> Rule {
    let table = cel_codec_table(|c| c.audio_codecs().iter().map(|a| a.as_str()).collect());
    Rule::new(format!("!has(self.audioCodec) || self.audioCodec in {table}[{CEL_CODEC}]")).message(
        "audioCodec does not fit the codec: h264 takes aac, mp3 or pcm-16; h265 and prores take aac or pcm-16; \
         vp8 and vp9 take opus or pcm-16; gif has no audio; mp3 takes mp3, aac takes aac and wav takes pcm-16",
    )
}

/// `crf` only for CRF-controlled codecs and within their range (table: `Codec::crf_range`).
pub(super) fn crf_rule() -> Rule {
    let ranges: Vec<String> = remotion_protocol::media::Codec::ALL
        .iter()
        .filter_map(|c| c.crf_range().map(|(lo, hi)| format!("'{}': [{lo}, {hi}]", c.as_str())))
        .collect();
    let table = format!("{{{}}}", ranges.join(", "));
    Rule::new(format!(
        "!has(self.crf) || ({CEL_CODEC} in {table} && self.crf >= {table}[{CEL_CODEC}][0] && self.crf <= {table}[{CEL_CODEC}][1])"
    ))
    .message("crf is for h264/h265 (0–51), vp8 (4–63) and vp9 (0–63) only")
}

/// `pixelFormat` must be one the codec can encode (table: `Codec::pixel_formats`).
pub(super) fn pixel_format_rule() -> Rule {
    let table = cel_codec_table(|c| c.pixel_formats().iter().map(|p| p.as_str()).collect());
    Rule::new(format!("!has(self.pixelFormat) || self.pixelFormat in {table}[{CEL_CODEC}]")).message(
        "pixelFormat does not fit the codec: yuva420p needs vp8/vp9, yuva444p10le needs prores, \
         10-bit needs h264/h265/prores; gif and audio codecs take none",
    )
}

/// A CEL map literal from codec name to a list of names.
fn cel_codec_table(values: impl Fn(Codec) -> Vec<&'static str>) -> String {
    let entries: Vec<String> = Codec::ALL
        .iter()
        .map(|c| {
            let list: Vec<String> = values(*c).iter().map(|v| format!("'{v}'")).collect();
            format!("'{}': [{}]", c.as_str(), list.join(", "))
        })
        .collect();
    format!("{{{}}}", entries.join(", "))
}
