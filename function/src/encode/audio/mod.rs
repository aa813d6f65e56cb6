//! The audio of a composition, mixed and encoded in-process.
//!
//! Like Remotion's renderer, the page is asked for its media assets on every frame
//! (`window.remotion_collectAssets()`): `<Audio>`/`<Video>` tags report their source, the
//! position in the media (`mediaFrame`), volume and playback rate; `@remotion/media` reports
//! the frame's decoded samples inline. Each frame's assets are mixed, in frame order, into
//! exactly that frame's slot of a 48 kHz stereo timeline ([`frame_start_sample`]), so the
//! audio of a frame range does not depend on where a render or a chunk starts: chunks rendered
//! separately join sample-exactly. The assets are typed, and their sources fetched, in
//! [`crate::assets`].
//!
//! * [`source`]: a source decoded and resampled (swresample) as a window over its samples.
//! * [`mix`]: the per-frame mix (sum × volume, clamped), spooled to a temporary file.
//! * [`encoder`]: AAC/Opus/MP3/PCM encoding and muxing beside already encoded video.

pub mod encoder;
pub mod mix;
pub mod source;

use ffmpeg_next::Rational;
use remotion_protocol::media::{AudioCodec, Codec};
use remotion_protocol::payload::EncodingSettings;

use crate::error::RenderError;

/// Sample rate of every mix and every chunk's audio (Remotion's default, the page's
/// `remotion_sampleRate`), and of the output unless the job asks for another.
pub const SAMPLE_RATE: u32 = 48_000;

/// Channels of every mix and every output.
pub const CHANNELS: usize = 2;

/// Remotion's default audio bitrate.
pub const DEFAULT_BITRATE: u64 = 320_000;

/// The first sample (of the 48 kHz timeline) of composition frame `frame`: ⌊frame × 48000 / fps⌋,
/// exact for fractional rates (29.97 = 30000/1001). Absolute, so every chunk agrees on where
/// its frames' audio begins and ends.
pub fn frame_start_sample(frame: u64, fps: Rational) -> u64 {
    let (num, den) = (u128::from(fps.numerator().max(1) as u32), u128::from(fps.denominator().max(1) as u32));
    (u128::from(frame) * u128::from(SAMPLE_RATE) * den / num) as u64
}

/// Samples of the frames `first..=last`.
pub fn samples_of_frames(first: u64, last: u64, fps: Rational) -> u64 {
    frame_start_sample(last + 1, fps) - frame_start_sample(first, fps)
}

/// How the output's audio is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioSettings {
    /// Audio codec of the output.
    pub codec: AudioCodec,
    /// Bits per second (ignored for PCM).
    pub bitrate: u64,
    /// Sample rate of the output's audio, Hz. The mix is always made at [`SAMPLE_RATE`] (the
    /// page's own rate, so chunks join sample-exactly on one timeline); the output's encoder
    /// resamples it once, as Remotion resamples its mix to `sampleRate`.
    pub sample_rate: u32,
}

/// Sample rates a job may ask for, Hz (the encoder may accept fewer).
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 8_000..=192_000;

impl AudioSettings {
    /// The audio of a render: `None` when muted or when the codec's container has no audio
    /// (GIF). The audio codec defaults to the codec's (Remotion's defaults: AAC for MP4 and
    /// QuickTime, Opus for WebM), the bitrate to 320 kbit/s, the sample rate to 48 kHz.
    pub fn for_codec(
        codec: Codec,
        audio_codec: Option<AudioCodec>,
        bitrate: Option<&str>,
        sample_rate: Option<u32>,
        muted: bool,
    ) -> Result<Option<Self>, RenderError> {
        if muted || codec.audio_codecs().is_empty() {
            return Ok(None);
        }
        let audio_codec = match audio_codec {
            Some(a) if !codec.audio_codecs().contains(&a) => {
                let allowed: Vec<&str> = codec.audio_codecs().iter().map(|a| a.as_str()).collect();
                return Err(RenderError::InvalidInput(format!(
                    "{} output cannot carry {} audio: use one of {}",
                    codec.as_str(),
                    a.as_str(),
                    allowed.join(", ")
                )));
            }
            Some(a) => a,
            None => codec.default_audio_codec().expect("non-empty list"),
        };
        let bitrate = bitrate.map(parse_bitrate).transpose()?.unwrap_or(DEFAULT_BITRATE);
        let sample_rate = sample_rate.unwrap_or(SAMPLE_RATE);
        if !SAMPLE_RATES.contains(&sample_rate) {
            return Err(RenderError::InvalidInput(format!(
                "sample rate {sample_rate} Hz is outside {}–{} Hz",
                SAMPLE_RATES.start(),
                SAMPLE_RATES.end()
            )));
        }
        let settings = Self { codec: audio_codec, bitrate, sample_rate };
        encoder::check_sample_rate(settings)?;
        // Chunk renderers check too, so a launch fails on its first chunk, not after the last.
        if let Ok(muxer) = crate::encode::output_muxer(codec, Some(audio_codec)) {
            encoder::check_container(settings, muxer)?;
        }
        Ok(Some(settings))
    }

    /// The audio of a render requested through the protocol.
    pub fn from_encoding(encoding: &EncodingSettings) -> Result<Option<Self>, RenderError> {
        Self::preferring(
            encoding.codec,
            encoding.audio_codec,
            encoding.prefer_lossless,
            encoding.audio_bitrate.as_deref(),
            encoding.sample_rate,
            encoding.muted,
        )
    }

    /// [`Self::for_codec`] with Remotion's `preferLossless` ([`preferred_audio_codec`]).
    pub fn preferring(
        codec: Codec,
        audio_codec: Option<AudioCodec>,
        prefer_lossless: bool,
        bitrate: Option<&str>,
        sample_rate: Option<u32>,
        muted: bool,
    ) -> Result<Option<Self>, RenderError> {
        let chosen = preferred_audio_codec(codec, audio_codec, prefer_lossless)?;
        Self::for_codec(codec, chosen, bitrate, sample_rate, muted)
    }
}

/// The audio codec asked for: `audio_codec`, else with `prefer_lossless` (Remotion's
/// `preferLossless`) the codec's lossless one, pcm-16 for every codec with audio, as in
/// Remotion (an MP4 or WebM output then becomes Matroska); `None` leaves the codec's default. An `audio_codec` other than pcm-16 conflicts
/// with `prefer_lossless` (Remotion's docs and code disagree on which wins): refused.
pub fn preferred_audio_codec(
    codec: Codec,
    audio_codec: Option<AudioCodec>,
    prefer_lossless: bool,
) -> Result<Option<AudioCodec>, RenderError> {
    if !prefer_lossless || codec.audio_codecs().is_empty() {
        return Ok(audio_codec);
    }
    match audio_codec {
        Some(AudioCodec::Pcm16) | None => Ok(Some(AudioCodec::Pcm16)),
        Some(other) => Err(RenderError::InvalidInput(format!(
            "preferLossless asks for pcm-16 audio but audioCodec is {}: remove one of them",
            other.as_str()
        ))),
    }
}

/// `320k`, `1M`, `128000` → bits per second (FFmpeg's notation, as Remotion takes it).
pub fn parse_bitrate(text: &str) -> Result<u64, RenderError> {
    let invalid = || RenderError::InvalidInput(format!("audio bitrate {text:?} is not like 320k, 1M or 128000"));
    let trimmed = text.trim();
    let (number, factor) = match trimmed.char_indices().last() {
        Some((i, 'k' | 'K')) => (&trimmed[..i], 1_000.0),
        Some((i, 'm' | 'M')) => (&trimmed[..i], 1_000_000.0),
        _ => (trimmed, 1.0),
    };
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let bits = (value * factor).round();
    if !(8_000.0..=10_000_000.0).contains(&bits) {
        return Err(RenderError::InvalidInput(format!("audio bitrate {text:?} is outside 8k–10M")));
    }
    Ok(bits as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_own_exact_sample_slots() {
        let fps30 = Rational::new(30, 1);
        assert_eq!(frame_start_sample(1, fps30), 1600);
        assert_eq!(samples_of_frames(0, 89, fps30), 144_000);
        // 29.97 fps: 1601.6 samples a frame; slots of consecutive ranges add up exactly.
        let ntsc = Rational::new(30000, 1001);
        let whole = samples_of_frames(0, 99, ntsc);
        assert_eq!(samples_of_frames(0, 46, ntsc) + samples_of_frames(47, 99, ntsc), whole);
        assert_eq!(whole, 160_160);
    }

    #[test]
    fn defaults_follow_remotion() {
        let aac = AudioSettings::for_codec(Codec::H264, None, None, None, false).unwrap().unwrap();
        assert_eq!((aac.codec, aac.bitrate), (AudioCodec::Aac, 320_000));
        assert_eq!(
            AudioSettings::for_codec(Codec::Vp9, None, None, None, false).unwrap().unwrap().codec,
            AudioCodec::Opus
        );
        assert_eq!(
            AudioSettings::for_codec(Codec::Prores, None, None, None, false).unwrap().unwrap().codec,
            AudioCodec::Aac
        );
        assert_eq!(AudioSettings::for_codec(Codec::H264, None, None, None, true).unwrap(), None);
        assert_eq!(AudioSettings::for_codec(Codec::Gif, None, None, None, false).unwrap(), None);
        let custom = AudioSettings::for_codec(Codec::H264, Some(AudioCodec::Mp3), Some("128k"), None, false).unwrap();
        assert_eq!(custom, Some(AudioSettings { codec: AudioCodec::Mp3, bitrate: 128_000, sample_rate: 48_000 }));
        match AudioSettings::for_codec(Codec::Vp8, Some(AudioCodec::Aac), None, None, false) {
            Err(RenderError::InvalidInput(m)) => assert!(m.contains("opus"), "{m}"),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        // PCM goes into QuickTime, and into Matroska instead of MP4 or WebM.
        assert!(AudioSettings::for_codec(Codec::Prores, Some(AudioCodec::Pcm16), None, None, false).is_ok());
        assert!(AudioSettings::for_codec(Codec::H264, Some(AudioCodec::Pcm16), None, None, false).is_ok());
        assert!(AudioSettings::for_codec(Codec::Vp9, Some(AudioCodec::Pcm16), None, None, false).is_ok());
    }

    #[test]
    fn prefer_lossless_picks_pcm() {
        let lossless = |codec, audio| {
            let mut encoding: EncodingSettings = serde_json::from_value(serde_json::json!({"codec": codec})).unwrap();
            encoding.audio_codec = audio;
            encoding.prefer_lossless = true;
            AudioSettings::from_encoding(&encoding)
        };
        assert_eq!(lossless("prores", None).unwrap().unwrap().codec, AudioCodec::Pcm16);
        assert_eq!(lossless("wav", None).unwrap().unwrap().codec, AudioCodec::Pcm16);
        assert_eq!(lossless("gif", None).unwrap(), None, "no audio to prefer anything for");
        for codec in ["h264", "h265", "vp8", "vp9"] {
            assert_eq!(lossless(codec, None).unwrap().unwrap().codec, AudioCodec::Pcm16, "{codec}");
        }
        // An mp3 render is MP3: Remotion writes a WAV instead, here codec wav does.
        assert!(lossless("mp3", None).is_err());
        match lossless("prores", Some(AudioCodec::Aac)) {
            Err(RenderError::InvalidInput(m)) => assert!(m.contains("audioCodec is aac"), "{m}"),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        assert_eq!(lossless("prores", Some(AudioCodec::Pcm16)).unwrap().unwrap().codec, AudioCodec::Pcm16);
    }

    #[test]
    fn sample_rates_are_checked_against_the_encoder() {
        let at = |codec, audio, rate| AudioSettings::for_codec(codec, audio, None, Some(rate), false);
        assert_eq!(at(Codec::H264, None, 44_100).unwrap().unwrap().sample_rate, 44_100);
        assert_eq!(at(Codec::Wav, None, 22_050).unwrap().unwrap().sample_rate, 22_050);
        assert_eq!(at(Codec::Vp9, None, 24_000).unwrap().unwrap().sample_rate, 24_000);
        match at(Codec::Vp9, None, 44_100) {
            Err(RenderError::InvalidInput(m)) => assert!(m.contains("opus") && m.contains("48000"), "{m}"),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        match at(Codec::H264, None, 4_000) {
            Err(RenderError::InvalidInput(m)) => assert!(m.contains("8000"), "{m}"),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn bitrates_parse_like_ffmpeg() {
        assert_eq!(parse_bitrate("320k").unwrap(), 320_000);
        assert_eq!(parse_bitrate("1M").unwrap(), 1_000_000);
        assert_eq!(parse_bitrate("96000").unwrap(), 96_000);
        assert_eq!(parse_bitrate("1.5M").unwrap(), 1_500_000);
        assert!(parse_bitrate("loud").is_err());
        assert!(parse_bitrate("1").is_err());
    }
}
