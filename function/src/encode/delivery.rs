//! Remotion's delivery options of a video: how its bits are spent (`videoBitrate`,
//! `encodingMaxRate`, `encodingBufferSize`), what its pixels are converted to and tagged with
//! (`colorSpace`), which ProRes it is (`proResProfile`), how often a GIF plays
//! (`numberOfGifLoops`), whether silence still gets an audio track (`enforceAudioTrack`) and
//! how far apart keyframes may be (`gopSize`).
//!
//! The operator's CRD refuses the same combinations at admission; these checks are for the
//! CLI and for payloads written by hand, so that nothing is silently ignored.

use ffmpeg_next::Dictionary;
use ffmpeg_next::util::color;
use remotion_protocol::media::{Codec, ColorSpace, PixelFormat, ProResProfile, parse_bit_rate};
use remotion_protocol::payload::EncodingSettings;

use crate::error::RenderError;

/// How the encoder spends its bits, beyond the CRF (FFmpeg's `-b:v`, `-maxrate`, `-bufsize`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateControl {
    /// Target bit rate, bits per second: the encoder aims at it instead of a constant quality.
    pub video_bitrate: Option<u64>,
    /// Peak bit rate, bits per second, over [`Self::buffer_size`].
    pub max_rate: Option<u64>,
    /// Rate-control buffer, bits.
    pub buffer_size: Option<u64>,
}

impl RateControl {
    /// Reads Remotion's strings (`4M`, `800k`, `1000000`).
    pub fn parse(
        video_bitrate: Option<&str>,
        max_rate: Option<&str>,
        buffer_size: Option<&str>,
    ) -> Result<Self, RenderError> {
        let read = |name: &str, text: Option<&str>| {
            text.map(|t| {
                parse_bit_rate(t).ok_or_else(|| {
                    RenderError::InvalidInput(format!("{name} {t:?} is not a bit rate like 800k, 4M, 2.5M or 1000000"))
                })
            })
            .transpose()
        };
        Ok(Self {
            video_bitrate: read("videoBitrate", video_bitrate)?,
            max_rate: read("encodingMaxRate", max_rate)?,
            buffer_size: read("encodingBufferSize", buffer_size)?,
        })
    }

    /// Whether any of the three is set.
    pub fn is_set(&self) -> bool {
        self.video_bitrate.is_some() || self.max_rate.is_some() || self.buffer_size.is_some()
    }

    /// Remotion's rules: not with a CRF, a peak rate only with a buffer, and libvpx's peak only
    /// with a target; only for the codecs whose encoder takes a bit rate.
    fn check(&self, codec: Codec, crf: Option<u8>) -> Result<(), RenderError> {
        let refuse = |m: String| Err(RenderError::InvalidInput(m));
        if !self.is_set() {
            return Ok(());
        }
        if !matches!(codec, Codec::H264 | Codec::H265 | Codec::Vp8 | Codec::Vp9) {
            return refuse(format!(
                "videoBitrate, encodingMaxRate and encodingBufferSize apply to h264, h265, vp8 and vp9, not {}",
                codec.as_str()
            ));
        }
        if crf.is_some() && self.video_bitrate.is_some() {
            return refuse("set crf or videoBitrate, not both".into());
        }
        if self.max_rate.is_some() && self.buffer_size.is_none() {
            return refuse("encodingMaxRate needs encodingBufferSize".into());
        }
        if self.max_rate.is_some() && self.video_bitrate.is_none() && matches!(codec, Codec::Vp8 | Codec::Vp9) {
            return refuse("with vp8 and vp9, encodingMaxRate needs videoBitrate too".into());
        }
        Ok(())
    }

    /// Whether the CRF gives way to a target rate (Remotion passes `-b:v` without `-crf`).
    pub fn replaces_crf(&self) -> bool {
        self.video_bitrate.is_some()
    }

    /// Sets the encoder's options (over any `b` already set); the peak and buffer come with a
    /// target or with a CRF.
    pub(crate) fn apply(&self, options: &mut Dictionary) {
        if let Some(rate) = self.video_bitrate {
            options.set("b", &rate.to_string());
        }
        if let Some(rate) = self.max_rate {
            options.set("maxrate", &rate.to_string());
        }
        if let Some(size) = self.buffer_size {
            options.set("bufsize", &size.to_string());
        }
    }
}

/// The largest `gopSize` taken (libvpx's ceiling on its keyframe distance is higher; ten
/// minutes at 60 fps is more than any player seeks well).
pub const MAX_GOP_SIZE: u32 = 36_000;

/// The delivery options of one render.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Bit rates.
    pub rate: RateControl,
    /// Colour space; `None`: BT.709 (see [`Colour::of`]).
    pub color_space: Option<ColorSpace>,
    /// ProRes profile; `None`: HQ, or 4444 for 4:4:4 pixel formats.
    pub pro_res_profile: Option<ProResProfile>,
    /// GIF loops after the first play; `None`: forever.
    pub number_of_gif_loops: Option<u16>,
    /// A silent audio track when nothing is heard.
    pub enforce_audio_track: bool,
    /// Most frames between two keyframes (FFmpeg's `-g`); `None`: the encoder's default.
    pub gop_size: Option<u32>,
}

impl Delivery {
    /// The delivery options of a request.
    pub fn from_encoding(encoding: &EncodingSettings) -> Result<Self, RenderError> {
        let number_of_gif_loops = encoding
            .number_of_gif_loops
            .map(|n| {
                u16::try_from(n).map_err(|_| {
                    RenderError::InvalidInput(format!("numberOfGifLoops {n} is above a GIF's most, 65535"))
                })
            })
            .transpose()?;
        Ok(Self {
            rate: RateControl::parse(
                encoding.video_bitrate.as_deref(),
                encoding.encoding_max_rate.as_deref(),
                encoding.encoding_buffer_size.as_deref(),
            )?,
            color_space: encoding.color_space,
            pro_res_profile: encoding.pro_res_profile,
            number_of_gif_loops,
            enforce_audio_track: encoding.enforce_audio_track,
            gop_size: encoding.gop_size,
        })
    }

    /// Refuses options the codec cannot honour, before anything renders.
    pub fn check(&self, codec: Codec, crf: Option<u8>, pixel_format: Option<PixelFormat>) -> Result<(), RenderError> {
        let refuse = |m: String| Err(RenderError::InvalidInput(m));
        self.rate.check(codec, crf)?;
        if let Some(space) = self.color_space {
            let fits = match codec {
                Codec::H264 | Codec::H265 | Codec::Vp9 | Codec::Prores => true,
                Codec::Vp8 => matches!(space, ColorSpace::Default | ColorSpace::Bt601),
                Codec::Gif | Codec::Mp3 | Codec::Aac | Codec::Wav => false,
            };
            if !fits {
                return refuse(format!(
                    "colorSpace {} does not apply to {}: h264, h265, vp9 and prores take any, vp8 only default or bt601",
                    space.as_str(),
                    codec.as_str()
                ));
            }
        }
        if let Some(profile) = self.pro_res_profile {
            if codec != Codec::Prores {
                return refuse(format!("proResProfile applies to codec prores only, not {}", codec.as_str()));
            }
            if pixel_format == Some(PixelFormat::Yuva444p10le) && !profile.is_4444() {
                return refuse(format!(
                    "pixel format yuva444p10le keeps its alpha only with proResProfile 4444 or 4444-xq, not {}",
                    profile.as_str()
                ));
            }
        }
        if self.number_of_gif_loops.is_some() && codec != Codec::Gif {
            return refuse(format!("numberOfGifLoops applies to codec gif only, not {}", codec.as_str()));
        }
        if self.enforce_audio_track && codec == Codec::Gif {
            return refuse("gif has no audio: remove enforceAudioTrack".into());
        }
        if let Some(gop) = self.gop_size {
            if !matches!(codec, Codec::H264 | Codec::H265 | Codec::Vp8 | Codec::Vp9) {
                return refuse(format!(
                    "gopSize applies to h264, h265, vp8 and vp9, not {} (every ProRes and GIF frame stands alone)",
                    codec.as_str()
                ));
            }
            if gop == 0 || gop > MAX_GOP_SIZE {
                return refuse(format!("gopSize {gop} is outside 1–{MAX_GOP_SIZE}"));
            }
        }
        Ok(())
    }

    /// Sets the keyframe interval on the encoder's options.
    pub(crate) fn apply_gop(&self, options: &mut Dictionary) {
        if let Some(gop) = self.gop_size {
            options.set("g", &gop.to_string());
        }
    }

    /// The ProRes profile to encode with: the one asked for, else Remotion's HQ, except that
    /// 4:4:4 pixel formats get 4444 (the only profile that keeps yuva444p10le's alpha).
    pub fn pro_res_profile(&self, pixel_format: Option<PixelFormat>) -> ProResProfile {
        match (self.pro_res_profile, pixel_format) {
            (Some(profile), _) => profile,
            (None, Some(PixelFormat::Yuv444p10le | PixelFormat::Yuva444p10le)) => ProResProfile::P4444,
            (None, _) => ProResProfile::Hq,
        }
    }

    /// The value of FFmpeg's GIF muxer `loop` option: Remotion's
    /// `convertNumberOfGifLoopsToFfmpegSyntax` (none: 0, forever; 0: -1, no loop extension,
    /// played once; n: n).
    pub fn gif_loop_option(&self) -> i32 {
        match self.number_of_gif_loops {
            None => 0,
            Some(0) => -1,
            Some(n) => i32::from(n),
        }
    }
}

/// What a video's pixels are converted with and what the stream says about them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colour {
    /// The YUV matrix the RGB (or JPEG) pixels are converted with, into limited range.
    pub matrix: color::Space,
    /// Tags written on the stream and its frames: matrix, primaries, transfer.
    pub tags: (color::Space, color::Primaries, color::TransferCharacteristic),
}

impl Colour {
    /// Remotion's semantics of each colour space (its `generateFfmpegArgs`):
    /// * `bt709`: zscale to the BT.709 matrix, limited range; tagged bt709 throughout.
    /// * `bt2020-ncl`: zscale to the BT.2020 NCL matrix, limited range (no gamut mapping);
    ///   tagged bt2020nc, bt2020 and arib-std-b67, as Remotion tags it.
    /// * `default`/`bt601`: no filter, so FFmpeg's own BT.601 conversion; no tags.
    ///
    /// Unset is `bt709` (Remotion 5's default; what this function always did), except for
    /// VP8, whose decoders read BT.601 whatever is tagged: it stays BT.601, tagged so.
    pub fn of(codec: Codec, space: Option<ColorSpace>) -> Self {
        use color::{Primaries, Space, TransferCharacteristic as Trc};
        let bt709 = Self { matrix: Space::BT709, tags: (Space::BT709, Primaries::BT709, Trc::BT709) };
        match space {
            None if codec == Codec::Vp8 => {
                Self { matrix: Space::SMPTE170M, tags: (Space::SMPTE170M, Primaries::BT709, Trc::BT709) }
            }
            None | Some(ColorSpace::Bt709) => bt709,
            Some(ColorSpace::Bt2020Ncl) => {
                Self { matrix: Space::BT2020NCL, tags: (Space::BT2020NCL, Primaries::BT2020, Trc::ARIB_STD_B67) }
            }
            Some(ColorSpace::Default | ColorSpace::Bt601) => {
                Self { matrix: Space::SMPTE170M, tags: (Space::Unspecified, Primaries::Unspecified, Trc::Unspecified) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(json: serde_json::Value) -> Result<Delivery, RenderError> {
        let mut encoding = serde_json::json!({"codec": "h264"});
        encoding.as_object_mut().unwrap().extend(json.as_object().unwrap().clone());
        Delivery::from_encoding(&serde_json::from_value(encoding).unwrap())
    }

    fn refusal(codec: Codec, crf: Option<u8>, json: serde_json::Value) -> String {
        match delivery(json).and_then(|d| d.check(codec, crf, None)) {
            Err(RenderError::InvalidInput(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn bit_rates_follow_remotions_rules() {
        let d =
            delivery(serde_json::json!({"videoBitrate": "4M", "encodingMaxRate": "5M", "encodingBufferSize": "10M"}))
                .unwrap();
        assert_eq!(
            d.rate,
            RateControl { video_bitrate: Some(4_000_000), max_rate: Some(5_000_000), buffer_size: Some(10_000_000) }
        );
        d.check(Codec::Vp9, None, None).unwrap();
        assert!(
            refusal(Codec::H264, Some(18), serde_json::json!({"videoBitrate": "4M"})).contains("crf or videoBitrate")
        );
        assert!(
            refusal(Codec::H264, None, serde_json::json!({"encodingMaxRate": "4M"})).contains("encodingBufferSize")
        );
        let vp9 = serde_json::json!({"encodingMaxRate": "4M", "encodingBufferSize": "8M"});
        assert!(refusal(Codec::Vp9, None, vp9.clone()).contains("needs videoBitrate"));
        delivery(vp9).unwrap().check(Codec::H264, Some(18), None).unwrap();
        assert!(refusal(Codec::Prores, None, serde_json::json!({"videoBitrate": "4M"})).contains("not prores"));
        match delivery(serde_json::json!({"videoBitrate": "4 Mbit"})) {
            Err(RenderError::InvalidInput(m)) => assert!(m.contains("videoBitrate \"4 Mbit\""), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_target_rate_replaces_the_crf() {
        let mut options = Dictionary::new();
        options.set("b", "0");
        let target = RateControl { video_bitrate: Some(800_000), max_rate: None, buffer_size: Some(1_600_000) };
        target.apply(&mut options);
        assert!(target.replaces_crf());
        assert_eq!(
            (options.get("b"), options.get("maxrate"), options.get("bufsize")),
            (Some("800000"), None, Some("1600000"))
        );
        assert!(!RateControl { video_bitrate: None, ..target }.replaces_crf());
    }

    #[test]
    fn codec_specific_options_are_refused_elsewhere() {
        assert!(refusal(Codec::H264, None, serde_json::json!({"proResProfile": "hq"})).contains("prores only"));
        assert!(refusal(Codec::H264, None, serde_json::json!({"numberOfGifLoops": 1})).contains("gif only"));
        assert!(refusal(Codec::Gif, None, serde_json::json!({"enforceAudioTrack": true})).contains("no audio"));
        assert!(refusal(Codec::Vp8, None, serde_json::json!({"colorSpace": "bt709"})).contains("vp8 only"));
        assert!(refusal(Codec::Gif, None, serde_json::json!({"colorSpace": "default"})).contains("gif"));
        let hq = delivery(serde_json::json!({"proResProfile": "hq"})).unwrap();
        assert!(hq.check(Codec::Prores, None, Some(PixelFormat::Yuva444p10le)).is_err());
        hq.check(Codec::Prores, None, Some(PixelFormat::Yuv422p10le)).unwrap();
        assert!(refusal(Codec::Prores, None, serde_json::json!({"gopSize": 10})).contains("not prores"));
        assert!(refusal(Codec::H264, None, serde_json::json!({"gopSize": 0})).contains("outside 1–36000"));
        let gop = delivery(serde_json::json!({"gopSize": 12})).unwrap();
        gop.check(Codec::Vp9, None, None).unwrap();
        let mut options = Dictionary::new();
        gop.apply_gop(&mut options);
        assert_eq!(options.get("g"), Some("12"));
    }

    #[test]
    fn defaults_are_remotions() {
        let none = Delivery::default();
        assert_eq!(none.pro_res_profile(None), ProResProfile::Hq);
        assert_eq!(none.pro_res_profile(Some(PixelFormat::Yuva444p10le)), ProResProfile::P4444);
        assert_eq!(none.gif_loop_option(), 0, "loops forever");
        let once = Delivery { number_of_gif_loops: Some(0), ..Delivery::default() };
        assert_eq!(once.gif_loop_option(), -1, "played once, no loop extension");
        assert_eq!(Delivery { number_of_gif_loops: Some(3), ..once }.gif_loop_option(), 3);
        assert_eq!(Colour::of(Codec::H264, None), Colour::of(Codec::H264, Some(ColorSpace::Bt709)));
        assert_eq!(Colour::of(Codec::H264, Some(ColorSpace::Default)).tags.0, color::Space::Unspecified);
        assert_eq!(Colour::of(Codec::Vp8, None).matrix, color::Space::SMPTE170M);
        let hlg = Colour::of(Codec::H265, Some(ColorSpace::Bt2020Ncl));
        assert_eq!((hlg.matrix, hlg.tags.2), (color::Space::BT2020NCL, color::TransferCharacteristic::ARIB_STD_B67));
    }
}
