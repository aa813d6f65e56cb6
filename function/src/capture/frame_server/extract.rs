//! One video source's frames at any time, the way Remotion's compositor picks them: the time
//! is rounded to the stream's time base and the frame shown is the last one whose timestamp is
//! not after it (before the first frame: the first; after the last: the last). Measured with
//! the compositor of Remotion 4.0.527 on a 30 fps clip (time base 1/15360): 0.0333005 s
//! (511.496 ticks) gives frame 0, 0.033301 s (511.503 ticks) frame 1, 0.051 s frame 1. Times
//! are the file's own timestamps, its start time not subtracted (the compositor's choice too:
//! an MPEG-TS starting at 1.4667 s shows its first frame until then).
//!
//! The decoder stays where it stopped: a tab asks for increasing times, so the next frame is
//! usually the next packet or two, never a seek. Seeking happens only backwards or when the
//! target is further ahead than decoding through would be worth.

use std::path::{Path, PathBuf};

use ffmpeg::util::frame;
use ffmpeg::{Rational, media};
use ffmpeg_next as ffmpeg;

/// Decoding further ahead than this (seconds) seeks instead: a seek lands on the keyframe
/// before the target, and keyframes are rarely further apart than this.
const SEEK_AHEAD_SECONDS: f64 = 2.0;

/// Why a source cannot give frames.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// Not a media file, or no video stream, or no decoder for it.
    #[error("{0}")]
    Unreadable(String),
    /// Decoding failed part-way.
    #[error("decoding failed: {0}")]
    Decode(String),
}

/// The rotation a stream's display matrix asks for, in clockwise quarter turns, the way
/// `ffmpeg`'s autorotation reads it (phone videos are stored sideways with a matrix). Remotion's
/// compositor shows them upright too: its frame of a clip tagged `rotate=90` was pixel-identical
/// to `ffmpeg`'s autorotated one.
fn quarter_turns(stream: &ffmpeg::format::stream::Stream) -> u32 {
    for data in stream.side_data() {
        if data.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix && data.data().len() >= 9 * 4 {
            let mut matrix = [0i32; 9];
            for (value, bytes) in matrix.iter_mut().zip(data.data().chunks_exact(4)) {
                *value = i32::from_ne_bytes(bytes.try_into().expect("four bytes"));
            }
            // SAFETY: the matrix is nine integers, as the function reads.
            let counter_clockwise = unsafe { ffmpeg::ffi::av_display_rotation_get(matrix.as_ptr()) };
            if !counter_clockwise.is_finite() {
                return 0;
            }
            return ((-counter_clockwise).rem_euclid(360.0) / 90.0).round() as u32 % 4;
        }
    }
    0
}

/// A video stream of a local file, decodable at any time.
pub struct VideoFrames {
    path: PathBuf,
    /// Decoded with libvpx so that VP8/VP9 alpha survives (Remotion does the same for
    /// `transparent` sources; FFmpeg's own VP8/VP9 decoders drop the alpha side data).
    with_alpha: bool,
    input: ffmpeg::format::context::Input,
    stream: usize,
    time_base: Rational,
    decoder: ffmpeg::decoder::Video,
    /// Every packet has been read and the decoder told so.
    input_done: bool,
    /// The decoder has given its last frame.
    drained: bool,
    /// The last frame not after the last target (or the first frame, when the target came
    /// before it), with its timestamp.
    current: Option<(i64, frame::Video)>,
    /// The first decoded frame after `current`, kept for the next target.
    ahead: Option<(i64, frame::Video)>,
    /// `current` is the first frame after a (re)start and came after the target: the target
    /// lies before the stream's first frame, and seeking again would find the same frame.
    current_is_first: bool,
    /// Timestamp given to a frame that carries none.
    last_timestamp: i64,
    /// Clockwise quarter turns the picture is shown with (its display matrix).
    quarter_turns: u32,
}

fn unreadable(path: &Path, what: &str, e: impl std::fmt::Display) -> ExtractError {
    ExtractError::Unreadable(format!("{what} ({}: {e})", path.display()))
}

impl VideoFrames {
    /// Opens the first video stream of `path`. With `with_alpha`, VP8/VP9 streams are decoded
    /// by libvpx when this FFmpeg has it (their alpha plane survives).
    pub fn open(path: &Path, with_alpha: bool) -> Result<Self, ExtractError> {
        crate::ffmpeg::init();
        let input = ffmpeg::format::input(path).map_err(|e| unreadable(path, "not a media file", e))?;
        let stream = input
            .streams()
            .find(|s| s.parameters().medium() == media::Type::Video)
            .ok_or_else(|| ExtractError::Unreadable(format!("{} has no video stream", path.display())))?;
        let parameters = stream.parameters();
        // One decoding thread (libavcodec's default): Chromium renders on the other cores
        // meanwhile, and frame threading would hold several frames per open source.
        let context = ffmpeg::codec::context::Context::from_parameters(parameters.clone())
            .map_err(|e| unreadable(path, "unusable stream parameters", e))?;
        let alpha_decoder = match (with_alpha, parameters.id()) {
            (true, ffmpeg::codec::Id::VP9) => ffmpeg::decoder::find_by_name("libvpx-vp9"),
            (true, ffmpeg::codec::Id::VP8) => ffmpeg::decoder::find_by_name("libvpx"),
            _ => None,
        };
        let decoder = match alpha_decoder {
            Some(codec) => context.decoder().open_as(codec).and_then(|o| o.video()),
            None => context.decoder().video(),
        }
        .map_err(|e| unreadable(path, "no decoder for its video", e))?;
        let quarter_turns = quarter_turns(&stream);
        let (time_base, stream) = (stream.time_base(), stream.index());
        if time_base.numerator() <= 0 || time_base.denominator() <= 0 {
            return Err(ExtractError::Unreadable(format!("{} has no usable time base", path.display())));
        }
        Ok(Self {
            path: path.to_owned(),
            with_alpha,
            input,
            stream,
            time_base,
            decoder,
            input_done: false,
            drained: false,
            current: None,
            ahead: None,
            current_is_first: false,
            last_timestamp: i64::MIN,
            quarter_turns,
        })
    }

    /// Clockwise quarter turns (0–3) the picture must be rotated by to be shown upright.
    pub fn quarter_turns(&self) -> u32 {
        self.quarter_turns
    }

    /// The file this decodes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether VP8/VP9 alpha was asked for when it was opened.
    pub fn with_alpha(&self) -> bool {
        self.with_alpha
    }

    /// The memory this decoder holds, estimated: its reference frames (as many as the stream
    /// declares, at least one) and the two frames kept here, at 4 bytes a pixel (8-bit 4:4:4
    /// with alpha; most sources need less).
    pub fn estimated_bytes(&self) -> u64 {
        let pixels = u64::from(self.decoder.width()) * u64::from(self.decoder.height());
        let references = u64::try_from(self.decoder.references()).unwrap_or(1).max(1);
        pixels * 4 * (references + 2)
    }

    /// `time` in stream ticks, rounded like Remotion's compositor.
    pub fn ticks(&self, time: f64) -> i64 {
        let (num, den) = (f64::from(self.time_base.numerator()), f64::from(self.time_base.denominator()));
        (time.max(0.0) * den / num).round() as i64
    }

    /// Timestamp of the frame last shown (ticks), if any: where the decoder stands.
    pub fn position(&self) -> Option<i64> {
        self.current.as_ref().map(|(t, _)| *t)
    }

    /// Whether showing `time` next can decode forward from here (no seek).
    pub fn reaches_without_seek(&self, time: f64) -> bool {
        let target = self.ticks(time);
        match self.position() {
            // At the end, the last frame shows for any later time.
            Some(at) => target >= at && (self.drained || target - at <= self.ticks(SEEK_AHEAD_SECONDS)),
            None => target <= self.ticks(SEEK_AHEAD_SECONDS),
        }
    }

    /// The frame shown at `time` seconds, with its timestamp.
    pub fn frame_at(&mut self, time: f64) -> Result<(i64, &frame::Video), ExtractError> {
        let target = self.ticks(time);
        let seek_ahead = self.ticks(SEEK_AHEAD_SECONDS);
        match self.position() {
            Some(at) if target < at && !self.current_is_first => self.seek(target)?,
            Some(at)
                if target - at > seek_ahead
                    && !self.drained
                    && self.ahead.as_ref().is_none_or(|(t, _)| *t <= target) =>
            {
                self.seek(target)?
            }
            None if target > seek_ahead && !self.drained => self.seek(target)?,
            _ => {}
        }
        loop {
            if self.ahead.as_ref().is_some_and(|(t, _)| *t > target) && self.current.is_some() {
                break;
            }
            let next = match self.ahead.take() {
                Some(next) => next,
                None => match self.decode_next()? {
                    Some(next) => next,
                    // The end: the last frame goes on showing.
                    None => break,
                },
            };
            if next.0 <= target {
                self.current = Some(next);
                self.current_is_first = false;
            } else if self.current.is_none() {
                // The target lies before the first frame: the first frame is shown.
                self.current = Some(next);
                self.current_is_first = true;
                break;
            } else {
                self.ahead = Some(next);
                break;
            }
        }
        match &self.current {
            Some((at, frame)) => Ok((*at, frame)),
            None => Err(ExtractError::Decode(format!("{} has no decodable video frame", self.path.display()))),
        }
    }

    /// Moves to the keyframe at or before `target`; reopens the file when it cannot seek.
    fn seek(&mut self, target: i64) -> Result<(), ExtractError> {
        // SAFETY: rescaling two plain integers.
        let micros = unsafe {
            ffmpeg::ffi::av_rescale_q(target, self.time_base.into(), ffmpeg::ffi::AVRational { num: 1, den: 1_000_000 })
        };
        if self.input.seek(micros, ..micros + 1).is_ok() {
            self.decoder.flush();
        } else {
            // Unseekable input: decode again from the start.
            let with_alpha = self.with_alpha;
            let path = self.path.clone();
            *self = Self::open(&path, with_alpha)?;
        }
        self.input_done = false;
        self.drained = false;
        self.current = None;
        self.ahead = None;
        self.current_is_first = false;
        self.last_timestamp = i64::MIN;
        Ok(())
    }

    /// The next frame the decoder gives, with its timestamp; `None` at the end.
    fn decode_next(&mut self) -> Result<Option<(i64, frame::Video)>, ExtractError> {
        if self.drained {
            return Ok(None);
        }
        let mut decoded = frame::Video::empty();
        loop {
            match self.decoder.receive_frame(&mut decoded) {
                Ok(()) => {
                    let timestamp = decoded
                        .timestamp()
                        .or(decoded.pts())
                        .unwrap_or(self.last_timestamp.saturating_add(1))
                        .max(self.last_timestamp.saturating_add(i64::from(self.last_timestamp != i64::MIN)));
                    self.last_timestamp = timestamp;
                    return Ok(Some((timestamp, decoded)));
                }
                Err(ffmpeg::Error::Eof) => {
                    self.drained = true;
                    return Ok(None);
                }
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::error::EAGAIN => {}
                Err(e) => return Err(ExtractError::Decode(e.to_string())),
            }
            if self.input_done {
                // The decoder was told the input ended and still wants more: nothing comes.
                self.drained = true;
                return Ok(None);
            }
            self.feed()?;
        }
    }

    /// Sends the stream's next packet to the decoder (or the end of input).
    fn feed(&mut self) -> Result<(), ExtractError> {
        let mut packet = ffmpeg::Packet::empty();
        loop {
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() != self.stream => continue,
                Ok(()) => {
                    return match self.decoder.send_packet(&packet) {
                        // A damaged packet: skipped, like `ffmpeg -i` does.
                        Ok(()) | Err(ffmpeg::Error::InvalidData) => Ok(()),
                        Err(e) => Err(ExtractError::Decode(e.to_string())),
                    };
                }
                Err(ffmpeg::Error::Eof) => {
                    self.input_done = true;
                    return self.decoder.send_eof().map_err(|e| ExtractError::Decode(e.to_string()));
                }
                Err(e) => return Err(ExtractError::Decode(format!("reading {}: {e}", self.path.display()))),
            }
        }
    }
}
