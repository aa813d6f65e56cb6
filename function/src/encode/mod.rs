//! Encoding: screenshots into a video, a frame's audio into the mix and the mix into its
//! stream, chunks joined into one output.
//!
//! * [`video`]: screenshots decoded, converted and encoded into the codec's container.
//! * [`colour`]: the hot colour conversion of JPEG screenshots.
//! * [`delivery`]: Remotion's delivery options: bit rates, colour space, ProRes profile, GIF
//!   loops, an enforced audio track.
//! * [`gif`]: animated GIFs, their screenshots kept for one palette over all of them.
//! * [`audio`]: the frames' media assets mixed on a 48 kHz timeline and encoded.
//! * [`stitch`]: chunks joined without re-encoding video, and a video muxed with its audio.
//!
//! Here is what they share: the screenshots' format, the containers and their muxers, frame
//! rates as fractions and the working files beside an output.

pub mod audio;
pub mod colour;
pub mod delivery;
pub mod gif;
pub mod stitch;
pub mod video;

use std::path::{Path, PathBuf};

use ffmpeg_next::Rational;
use remotion_protocol::media::{AudioCodec, Codec};

use crate::error::RenderError;

/// Format of the screenshots fed to the encoder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImageKind {
    /// JPEG screenshots (Remotion's default for videos).
    #[default]
    Jpeg,
    /// PNG screenshots.
    Png,
}

impl ImageKind {
    /// The capture format a render asks for (JPEG unless PNG is asked for).
    pub fn of(format: Option<remotion_protocol::media::VideoImageFormat>) -> Self {
        match format {
            Some(remotion_protocol::media::VideoImageFormat::Png) => Self::Png,
            _ => Self::Jpeg,
        }
    }
}

/// Where the encoded video goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// The codec's own container (MP4, WebM, QuickTime), index at the front where it has one.
    Output,
    /// A chunk of a larger render, in a container whose streams join by packet copy
    /// (MPEG-TS for H.264/H.265, Matroska for the others).
    Chunk,
}

/// FFmpeg's muxer name for a codec's output (without audio) or chunk container.
pub fn muxer(codec: Codec, container: Container) -> Result<&'static str, RenderError> {
    match container {
        Container::Output => output_muxer(codec, None),
        Container::Chunk => muxer_for_extension(codec, codec.chunk_extension()),
    }
}

/// FFmpeg's muxer name for a codec's output carrying `audio` (`None`: no audio stream): PCM
/// makes an MP4 or WebM output Matroska ([`Codec::output_extension`]).
pub fn output_muxer(codec: Codec, audio: Option<AudioCodec>) -> Result<&'static str, RenderError> {
    muxer_for_extension(codec, codec.output_extension(audio))
}

/// The muxer of `container` for `codec` when its audio stream is `audio` (decides only an
/// output's container).
pub fn muxer_with_audio(
    codec: Codec,
    container: Container,
    audio: Option<AudioCodec>,
) -> Result<&'static str, RenderError> {
    match container {
        Container::Output => output_muxer(codec, audio),
        Container::Chunk => muxer(codec, Container::Chunk),
    }
}

fn muxer_for_extension(codec: Codec, extension: &str) -> Result<&'static str, RenderError> {
    match extension {
        "mp4" => Ok("mp4"),
        "mov" => Ok("mov"),
        "webm" => Ok("webm"),
        "ts" => Ok("mpegts"),
        "mkv" => Ok("matroska"),
        "gif" => Ok("gif"),
        "mp3" => Ok("mp3"),
        "aac" => Ok("adts"),
        "wav" => Ok("wav"),
        other => Err(RenderError::InvalidInput(format!(
            "{} renders ({other}) are not supported by render function {} yet: use h264, h265, vp8, vp9, prores or gif",
            codec.as_str(),
            crate::versions::FUNCTION_VERSION
        ))),
    }
}

/// FFmpeg's muxer for a file holding only `codec`'s audio (Remotion's extension for it:
/// `.aac` raw ADTS, `.mp3`, `.opus` in Ogg, `.wav`).
pub fn audio_file_muxer(codec: AudioCodec) -> &'static str {
    match codec {
        AudioCodec::Aac => "adts",
        AudioCodec::Mp3 => "mp3",
        AudioCodec::Opus => "opus",
        AudioCodec::Pcm16 => "wav",
    }
}

/// The four-character code players expect for a stream in MP4/QuickTime, where it matters:
/// `hvc1` makes H.265 playable in Apple's players (FFmpeg's default `hev1` is not).
pub fn codec_tag(codec: Codec, muxer: &str) -> Option<u32> {
    let fourcc = |s: &[u8; 4]| u32::from_le_bytes(*s);
    (codec == Codec::H265 && matches!(muxer, "mp4" | "mov")).then(|| fourcc(b"hvc1"))
}

/// The frame rate as an exact fraction (29.97 → 30000/1001; 7.5, a GIF's 30 fps every 4th
/// frame, → 15/2).
pub fn fps_rational(fps: f64) -> Rational {
    // Small denominators first: NTSC rates need a multiple of 100 or 125 to be whole, so they
    // fall through to ×1000/1001.
    for den in 1..=60 {
        let num = fps * f64::from(den);
        if (num - num.round()).abs() < 1e-6 {
            return Rational::new(num.round() as i32, den);
        }
    }
    Rational::new((fps * 1001.0).round() as i32, 1001)
}

/// A working file of the render writing `out`: hidden, next to it and named after it.
pub(crate) fn working_file(out: &Path, suffix: &str) -> PathBuf {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    out.with_file_name(format!(".{name}.{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates_are_exact_fractions() {
        assert_eq!(fps_rational(30.0), Rational::new(30, 1));
        assert_eq!(fps_rational(29.97), Rational::new(30000, 1001));
        assert_eq!(fps_rational(23.976), Rational::new(24000, 1001));
        // GIFs play at fps / everyNthFrame.
        assert_eq!(fps_rational(30.0 / 4.0), Rational::new(15, 2));
        assert_eq!(fps_rational(30.0 / 7.0), Rational::new(30, 7));
        assert_eq!(fps_rational(25.0 / 3.0), Rational::new(25, 3));
    }
}
