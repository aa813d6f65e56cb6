//! Codecs, image and pixel formats, and what each implies (extension, content type, defaults).
//!
//! The compatibility tables here are the single source of the rules the CRD schema enforces
//! with CEL (see `render_job`), so the operator, the function and the schema cannot disagree.

use serde::{Deserialize, Serialize};

/// Output codec of a video or audio render (Remotion's names).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// H.264 in MP4 (default).
    #[default]
    H264,
    /// H.265/HEVC in MP4.
    H265,
    /// VP8 in WebM.
    Vp8,
    /// VP9 in WebM.
    Vp9,
    /// Apple ProRes in QuickTime.
    Prores,
    /// Animated GIF.
    Gif,
    /// MP3 audio only.
    Mp3,
    /// AAC audio only.
    Aac,
    /// WAV (PCM) audio only.
    Wav,
}

impl Codec {
    /// Every codec, in declaration order.
    pub const ALL: [Codec; 9] =
        [Self::H264, Self::H265, Self::Vp8, Self::Vp9, Self::Prores, Self::Gif, Self::Mp3, Self::Aac, Self::Wav];

    /// Remotion's name of the codec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::H264 => "h264",
            Self::H265 => "h265",
            Self::Vp8 => "vp8",
            Self::Vp9 => "vp9",
            Self::Prores => "prores",
            Self::Gif => "gif",
            Self::Mp3 => "mp3",
            Self::Aac => "aac",
            Self::Wav => "wav",
        }
    }

    /// The output produces no picture.
    pub fn is_audio_only(self) -> bool {
        matches!(self, Self::Mp3 | Self::Aac | Self::Wav)
    }

    /// File extension of the final output.
    pub fn extension(self) -> &'static str {
        match self {
            Self::H264 | Self::H265 => "mp4",
            Self::Vp8 | Self::Vp9 => "webm",
            Self::Prores => "mov",
            Self::Gif => "gif",
            Self::Mp3 => "mp3",
            Self::Aac => "aac",
            Self::Wav => "wav",
        }
    }

    /// Content-Type of the final output.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::H264 | Self::H265 => "video/mp4",
            Self::Vp8 | Self::Vp9 => "video/webm",
            Self::Prores => "video/quicktime",
            Self::Gif => "image/gif",
            Self::Mp3 => "audio/mpeg",
            Self::Aac => "audio/aac",
            Self::Wav => "audio/wav",
        }
    }

    /// Whether the output is Matroska rather than this codec's own container because its
    /// audio is `audio`: PCM, which MP4 and WebM cannot carry (Remotion's
    /// `defaultFileExtensionMap` gives `mkv` for h264, h265, vp8 and vp9 with pcm-16).
    pub fn is_matroska_with(self, audio: Option<AudioCodec>) -> bool {
        audio == Some(AudioCodec::Pcm16) && matches!(self, Self::H264 | Self::H265 | Self::Vp8 | Self::Vp9)
    }

    /// File extension of the final output carrying `audio` (`None`: no audio stream).
    pub fn output_extension(self, audio: Option<AudioCodec>) -> &'static str {
        if self.is_matroska_with(audio) { "mkv" } else { self.extension() }
    }

    /// Content-Type of the final output carrying `audio`.
    pub fn output_content_type(self, audio: Option<AudioCodec>) -> &'static str {
        if self.is_matroska_with(audio) { "video/x-matroska" } else { self.content_type() }
    }

    /// Extension of the per-chunk files: containers whose streams can be joined by copying
    /// packets (MPEG-TS for H.264/H.265 like Remotion Lambda, Matroska for the rest of the
    /// video codecs, PCM WAV for audio-only renders, encoded once after joining).
    pub fn chunk_extension(self) -> &'static str {
        match self {
            Self::H264 | Self::H265 => "ts",
            Self::Vp8 | Self::Vp9 | Self::Prores | Self::Gif => "mkv",
            Self::Mp3 | Self::Aac | Self::Wav => "wav",
        }
    }

    /// Audio codecs this container takes; the first is the default. Empty: no audio.
    pub fn audio_codecs(self) -> &'static [AudioCodec] {
        use AudioCodec::*;
        match self {
            Self::H264 => &[Aac, Mp3, Pcm16],
            Self::H265 | Self::Prores => &[Aac, Pcm16],
            Self::Vp8 | Self::Vp9 => &[Opus, Pcm16],
            Self::Gif => &[],
            Self::Mp3 => &[Mp3],
            Self::Aac => &[Aac],
            Self::Wav => &[Pcm16],
        }
    }

    /// Default audio codec, if the output carries audio at all.
    pub fn default_audio_codec(self) -> Option<AudioCodec> {
        self.audio_codecs().first().copied()
    }

    /// Valid CRF range, if the codec is CRF-controlled.
    pub fn crf_range(self) -> Option<(i32, i32)> {
        match self {
            Self::H264 | Self::H265 => Some((0, 51)),
            Self::Vp8 => Some((4, 63)),
            Self::Vp9 => Some((0, 63)),
            _ => None,
        }
    }

    /// Remotion's default CRF.
    pub fn default_crf(self) -> Option<i32> {
        match self {
            Self::H264 => Some(18),
            Self::H265 => Some(23),
            Self::Vp8 => Some(9),
            Self::Vp9 => Some(28),
            _ => None,
        }
    }

    /// Pixel formats the codec can encode; the first is the default. Empty: not applicable.
    pub fn pixel_formats(self) -> &'static [PixelFormat] {
        use PixelFormat::*;
        match self {
            Self::H264 => &[Yuv420p, Yuv422p, Yuv444p, Yuv420p10le, Yuv422p10le, Yuv444p10le],
            Self::H265 => &[Yuv420p, Yuv422p, Yuv444p, Yuv420p10le, Yuv422p10le, Yuv444p10le],
            Self::Vp8 | Self::Vp9 => &[Yuv420p, Yuva420p, Yuv422p, Yuv444p],
            Self::Prores => &[Yuv422p10le, Yuv444p10le, Yuva444p10le],
            Self::Gif | Self::Mp3 | Self::Aac | Self::Wav => &[],
        }
    }
}

/// Audio codec of the output's audio stream.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum AudioCodec {
    /// AAC-LC.
    #[serde(rename = "aac")]
    Aac,
    /// MP3.
    #[serde(rename = "mp3")]
    Mp3,
    /// Opus.
    #[serde(rename = "opus")]
    Opus,
    /// 16-bit PCM.
    #[serde(rename = "pcm-16")]
    Pcm16,
}

impl AudioCodec {
    /// Remotion's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aac => "aac",
            Self::Mp3 => "mp3",
            Self::Opus => "opus",
            Self::Pcm16 => "pcm-16",
        }
    }

    /// Extension of a file holding only this audio (Remotion's `getExtensionFromAudioCodec`,
    /// what its `separateAudioTo` expects): raw ADTS for AAC, Ogg for Opus, WAV for PCM.
    pub fn file_extension(self) -> &'static str {
        match self {
            Self::Aac => "aac",
            Self::Mp3 => "mp3",
            Self::Opus => "opus",
            Self::Pcm16 => "wav",
        }
    }

    /// Content-Type of such a file.
    pub fn file_content_type(self) -> &'static str {
        match self {
            Self::Aac => "audio/aac",
            Self::Mp3 => "audio/mpeg",
            Self::Opus => "audio/ogg",
            Self::Pcm16 => "audio/wav",
        }
    }
}

/// Format of the screenshots a video is made of.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum VideoImageFormat {
    /// JPEG (default): 4–5× faster to capture than PNG.
    #[default]
    Jpeg,
    /// PNG: lossless, and needed for transparency.
    Png,
    /// No picture (audio-only outputs).
    None,
}

/// Format of a still image.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum StillImageFormat {
    /// PNG (default).
    #[default]
    Png,
    /// JPEG.
    Jpeg,
    /// WebP.
    Webp,
    /// PDF: one page of the composition's size (CSS pixels at 96 dpi), backgrounds printed.
    Pdf,
}

impl StillImageFormat {
    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
            Self::Webp => "webp",
            Self::Pdf => "pdf",
        }
    }

    /// Content-Type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Pdf => "application/pdf",
        }
    }
}

/// Pixel format of the encoded video (FFmpeg's names).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// 8-bit 4:2:0 (default for most codecs).
    Yuv420p,
    /// 8-bit 4:2:0 with alpha (VP8/VP9).
    Yuva420p,
    /// 8-bit 4:2:2.
    Yuv422p,
    /// 8-bit 4:4:4.
    Yuv444p,
    /// 10-bit 4:2:0.
    Yuv420p10le,
    /// 10-bit 4:2:2 (ProRes default).
    Yuv422p10le,
    /// 10-bit 4:4:4.
    Yuv444p10le,
    /// 10-bit 4:4:4 with alpha (ProRes 4444).
    Yuva444p10le,
}

impl PixelFormat {
    /// FFmpeg's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yuv420p => "yuv420p",
            Self::Yuva420p => "yuva420p",
            Self::Yuv422p => "yuv422p",
            Self::Yuv444p => "yuv444p",
            Self::Yuv420p10le => "yuv420p10le",
            Self::Yuv422p10le => "yuv422p10le",
            Self::Yuv444p10le => "yuv444p10le",
            Self::Yuva444p10le => "yuva444p10le",
        }
    }
}

/// libx264 speed/size trade-off.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum X264Preset {
    /// Fastest, largest.
    Ultrafast,
    /// Very fast.
    Superfast,
    /// Faster than veryfast.
    Veryfast,
    /// Faster.
    Faster,
    /// Fast.
    Fast,
    /// libx264's default.
    Medium,
    /// Slow.
    Slow,
    /// Slower.
    Slower,
    /// Very slow.
    Veryslow,
    /// Slowest, smallest.
    Placebo,
}

impl X264Preset {
    /// libx264's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ultrafast => "ultrafast",
            Self::Superfast => "superfast",
            Self::Veryfast => "veryfast",
            Self::Faster => "faster",
            Self::Fast => "fast",
            Self::Medium => "medium",
            Self::Slow => "slow",
            Self::Slower => "slower",
            Self::Veryslow => "veryslow",
            Self::Placebo => "placebo",
        }
    }
}

/// What a video's pixels are converted to and tagged with (Remotion's `colorSpace`; h264,
/// h265, vp9, prores; vp8 only default/bt601).
///
/// `bt709` and `bt2020-ncl` convert to that matrix, limited range, and tag the stream, as
/// Remotion does; `default` (and `bt601`, its alias since Remotion 4.0.424) is Remotion 4's
/// default: BT.601 matrix, limited range, no colour tags. Unset: `bt709` (Remotion 5's
/// default), and BT.601 for vp8, whose decoders read nothing else.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum ColorSpace {
    /// BT.601 matrix, limited range, untagged (Remotion 4's default).
    #[serde(rename = "default")]
    Default,
    /// The same as `default` (Remotion's explicit name for it).
    #[serde(rename = "bt601")]
    Bt601,
    /// BT.709 matrix, limited range, tagged BT.709 (matrix, primaries, transfer).
    #[serde(rename = "bt709")]
    Bt709,
    /// BT.2020 non-constant-luminance matrix, limited range, tagged as Remotion tags it:
    /// matrix bt2020nc, primaries bt2020, transfer arib-std-b67 (HLG).
    #[serde(rename = "bt2020-ncl")]
    Bt2020Ncl,
}

impl ColorSpace {
    /// Remotion's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Bt601 => "bt601",
            Self::Bt709 => "bt709",
            Self::Bt2020Ncl => "bt2020-ncl",
        }
    }
}

/// Apple ProRes profile of a `prores` render (Remotion's `proResProfile`). Default: `hq`, or
/// `4444` for the 4:4:4 pixel formats (only 4444 and 4444-xq keep yuva444p10le's alpha).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum ProResProfile {
    /// ProRes 4444 XQ: the highest data rate, 4:4:4 with alpha.
    #[serde(rename = "4444-xq")]
    P4444Xq,
    /// ProRes 4444: 4:4:4 with alpha.
    #[serde(rename = "4444")]
    P4444,
    /// ProRes 422 HQ (Remotion's default).
    #[serde(rename = "hq")]
    Hq,
    /// ProRes 422.
    #[serde(rename = "standard")]
    Standard,
    /// ProRes 422 LT.
    #[serde(rename = "light")]
    Light,
    /// ProRes 422 Proxy: the lowest data rate.
    #[serde(rename = "proxy")]
    Proxy,
}

impl ProResProfile {
    /// Every profile, best first.
    pub const ALL: [ProResProfile; 6] =
        [Self::P4444Xq, Self::P4444, Self::Hq, Self::Standard, Self::Light, Self::Proxy];

    /// Remotion's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P4444Xq => "4444-xq",
            Self::P4444 => "4444",
            Self::Hq => "hq",
            Self::Standard => "standard",
            Self::Light => "light",
            Self::Proxy => "proxy",
        }
    }

    /// FFmpeg `prores_ks`'s `profile` number (what Remotion passes as `-profile:v`).
    pub fn encoder_profile(self) -> u8 {
        match self {
            Self::Proxy => 0,
            Self::Light => 1,
            Self::Standard => 2,
            Self::Hq => 3,
            Self::P4444 => 4,
            Self::P4444Xq => 5,
        }
    }

    /// Whether the profile is a 4:4:4 one (the only ones that carry alpha).
    pub fn is_4444(self) -> bool {
        matches!(self, Self::P4444 | Self::P4444Xq)
    }
}

/// The shape of a bit rate as Remotion passes it to FFmpeg (`videoBitrate`, `encodingMaxRate`,
/// `encodingBufferSize`): a number of bits, optionally decimal, with an optional SI suffix
/// (`k`, `M`, `G`), e.g. `800k`, `4M`, `2.5M`, `1000000`. The CRD's pattern is this one.
pub const BIT_RATE_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?[kKMG]?$";

/// Bits (per second, or in all for a buffer) of a bit rate written as [`BIT_RATE_PATTERN`]
/// says; `None` for anything else, or for zero.
pub fn parse_bit_rate(text: &str) -> Option<u64> {
    let (number, factor) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 1e3),
        (i, 'M') => (&text[..i], 1e6),
        (i, 'G') => (&text[..i], 1e9),
        _ => (text, 1.0),
    };
    let well_formed = !number.is_empty()
        && !number.starts_with('.')
        && !number.ends_with('.')
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && number.matches('.').count() <= 1;
    if !well_formed {
        return None;
    }
    let bits = (number.parse::<f64>().ok()? * factor).round();
    (bits >= 1.0 && bits < u64::MAX as f64).then_some(bits as u64)
}

/// How long a render's files stay in the bucket (S3 lifecycle rule by tag, like Remotion).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum DeleteAfter {
    /// One day.
    #[serde(rename = "1-day")]
    OneDay,
    /// Three days.
    #[serde(rename = "3-days")]
    ThreeDays,
    /// Seven days.
    #[serde(rename = "7-days")]
    SevenDays,
    /// Thirty days.
    #[serde(rename = "30-days")]
    ThirtyDays,
}

impl DeleteAfter {
    /// Every value, shortest first.
    pub const ALL: [DeleteAfter; 4] = [Self::OneDay, Self::ThreeDays, Self::SevenDays, Self::ThirtyDays];

    /// The tag value and name used in the lifecycle rule.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneDay => "1-day",
            Self::ThreeDays => "3-days",
            Self::SevenDays => "7-days",
            Self::ThirtyDays => "30-days",
        }
    }

    /// Days until expiry.
    pub fn days(self) -> i32 {
        match self {
            Self::OneDay => 1,
            Self::ThreeDays => 3,
            Self::SevenDays => 7,
            Self::ThirtyDays => 30,
        }
    }
}

/// Object tag key carrying a render's `deleteAfter` value.
pub const DELETE_AFTER_TAG: &str = "remotion-delete-after";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_rates_are_read_as_ffmpeg_reads_them() {
        assert_eq!(parse_bit_rate("800k"), Some(800_000));
        assert_eq!(parse_bit_rate("4M"), Some(4_000_000));
        assert_eq!(parse_bit_rate("2.5M"), Some(2_500_000));
        assert_eq!(parse_bit_rate("1000000"), Some(1_000_000));
        assert_eq!(parse_bit_rate("1G"), Some(1_000_000_000));
        for bad in ["", "0", "0k", "k", "4 M", "-1M", "1.M", ".5M", "1..2M", "4m", "4Mb", "1e6"] {
            assert_eq!(parse_bit_rate(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn prores_profiles_and_colour_spaces_use_remotions_names() {
        for profile in ProResProfile::ALL {
            assert_eq!(serde_json::to_value(profile).unwrap(), profile.as_str());
        }
        let numbers: Vec<u8> = ProResProfile::ALL.iter().map(|p| p.encoder_profile()).collect();
        assert_eq!(numbers, [5, 4, 3, 2, 1, 0]);
        assert_eq!(serde_json::to_value(ColorSpace::Bt2020Ncl).unwrap(), "bt2020-ncl");
        assert_eq!(serde_json::from_str::<ColorSpace>("\"default\"").unwrap(), ColorSpace::Default);
    }

    #[test]
    fn every_codec_has_consistent_tables() {
        for codec in Codec::ALL {
            assert_eq!(codec.crf_range().is_some(), codec.default_crf().is_some(), "{codec:?}");
            if let (Some((lo, hi)), Some(d)) = (codec.crf_range(), codec.default_crf()) {
                assert!(lo <= d && d <= hi, "{codec:?} default crf out of range");
            }
            if codec.is_audio_only() {
                assert!(codec.pixel_formats().is_empty());
                assert!(codec.default_audio_codec().is_some());
            }
            assert!(!codec.extension().is_empty() && codec.content_type().contains('/'));
        }
        assert_eq!(Codec::H264.default_audio_codec(), Some(AudioCodec::Aac));
        assert_eq!(Codec::Gif.default_audio_codec(), None);
        let pcm = Some(AudioCodec::Pcm16);
        assert_eq!((Codec::H264.output_extension(pcm), Codec::Vp9.output_extension(pcm)), ("mkv", "mkv"));
        assert_eq!(Codec::H265.output_content_type(pcm), "video/x-matroska");
        assert_eq!((Codec::Prores.output_extension(pcm), Codec::Wav.output_extension(pcm)), ("mov", "wav"));
        assert_eq!(Codec::H264.output_extension(Some(AudioCodec::Aac)), "mp4");
        assert_eq!(Codec::Vp8.output_content_type(None), "video/webm");
        assert_eq!(serde_json::to_string(&AudioCodec::Pcm16).unwrap(), "\"pcm-16\"");
        assert_eq!(serde_json::to_string(&DeleteAfter::ThreeDays).unwrap(), "\"3-days\"");
        for p in [PixelFormat::Yuva444p10le, PixelFormat::Yuv420p] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        assert_eq!(serde_json::to_value(X264Preset::Veryslow).unwrap(), X264Preset::Veryslow.as_str());
    }
}
