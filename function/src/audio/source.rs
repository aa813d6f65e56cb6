//! A media file's audio as a sliding window of 48 kHz stereo samples: decoded on demand with
//! FFmpeg, converted with swresample, seeking when playback jumps. Only the window is held in
//! memory, never the whole file.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use ffmpeg::format::Sample;
use ffmpeg::format::sample::Type as SampleType;
use ffmpeg::software::resampling;
use ffmpeg::util::frame;
use ffmpeg::{ChannelLayout, media};
use ffmpeg_next as ffmpeg;
use remotion_crds::protocol::ErrorKind;

use super::SAMPLE_RATE;
use crate::error::RenderError;

/// Samples kept before the position last asked for (small backward steps, interpolation).
const KEEP_BEHIND: i64 = SAMPLE_RATE as i64 / 10;
/// A jump further ahead than this seeks instead of decoding through.
const SEEK_AHEAD: i64 = 2 * SAMPLE_RATE as i64;
/// Seeks land this much before the target so the decoder is primed when it gets there.
const SEEK_MARGIN_SECONDS: f64 = 0.25;

/// Converts decoded frames of any layout, format and rate to interleaved 48 kHz stereo `f32`
/// with swresample (FFmpeg's default matrix: the same up/down-mix `ffmpeg -ac 2` applies).
pub struct Resampler {
    context: resampling::Context,
    input: (Sample, u64, u32),
}

// SAFETY: the context is owned and only used through `&mut self`; swresample keeps no
// thread-local state.
unsafe impl Send for Resampler {}

fn layout_of(frame: &frame::Audio) -> ChannelLayout {
    let layout = frame.channel_layout();
    if layout.bits() != 0 && layout.channels() == i32::from(frame.channels()) {
        layout
    } else {
        ChannelLayout::default(i32::from(frame.channels().max(1)))
    }
}

impl Resampler {
    /// A converter for frames shaped like `frame`.
    pub fn for_frame(frame: &frame::Audio) -> Result<Self, ffmpeg::Error> {
        let layout = layout_of(frame);
        let context = resampling::Context::get(
            frame.format(),
            layout,
            frame.rate(),
            Sample::F32(SampleType::Packed),
            ChannelLayout::STEREO,
            SAMPLE_RATE,
        )?;
        Ok(Self { context, input: (frame.format(), layout.bits(), frame.rate()) })
    }

    /// Whether this converter takes frames shaped like `frame`.
    pub fn fits(&self, frame: &frame::Audio) -> bool {
        self.input == (frame.format(), layout_of(frame).bits(), frame.rate())
    }

    /// Converts `frame` (or, with `None`, flushes what the converter still holds) and appends
    /// the interleaved samples to `out`.
    pub fn convert(&mut self, frame: Option<&frame::Audio>, out: &mut Vec<f32>) -> Result<(), ffmpeg::Error> {
        let in_samples = frame.map_or(0, |f| f.samples()) as i32;
        // SAFETY: the context was initialised by Context::get; the output buffer holds
        // `capacity` stereo f32 samples; the input pointers are the frame's own planes, valid
        // for `in_samples` samples, or null to flush.
        unsafe {
            let context = self.context.as_mut_ptr();
            let capacity = ffmpeg::ffi::swr_get_out_samples(context, in_samples).max(0) + 32;
            let start = out.len();
            out.resize(start + capacity as usize * 2, 0.0);
            let mut out_ptr = out.as_mut_ptr().add(start) as *mut u8;
            let in_ptr = frame.map_or(std::ptr::null_mut(), |f| (*f.as_ptr()).extended_data as *mut *const u8);
            let written = ffmpeg::ffi::swr_convert(context, &mut out_ptr, capacity, in_ptr, in_samples);
            if written < 0 {
                out.truncate(start);
                return Err(ffmpeg::Error::from(written));
            }
            out.truncate(start + written as usize * 2);
        }
        Ok(())
    }
}

/// One audio stream of a local media file, readable at any 48 kHz sample position.
pub struct SourceReader {
    path: PathBuf,
    /// Which audio stream (ordinal among the audio streams), to reopen it.
    audio_index: u32,
    input: ffmpeg::format::context::Input,
    stream: usize,
    time_base: f64,
    /// The file's start time, subtracted from timestamps like `ffmpeg -i` does, so position 0
    /// is the start of the file (an audio stream starting later begins with silence).
    origin: f64,
    decoder: ffmpeg::decoder::Audio,
    resampler: Option<Resampler>,
    decoded: frame::Audio,
    scratch: Vec<f32>,
    window: VecDeque<[f32; 2]>,
    /// Position of the sample after the window; `None` until the first frame after a (re)start.
    next: Option<i64>,
    eof: bool,
    /// Where the last seek aimed: a file that seeks imprecisely may start decoding after it,
    /// and asking for the same region again must not seek again.
    seeked_to: Option<i64>,
}

// SAFETY: FFmpeg's demuxer and decoder contexts are owned by this value and used only through
// `&mut self`; they are moved between threads, never shared.
unsafe impl Send for SourceReader {}

fn unreadable(path: &Path, what: &str, e: impl std::fmt::Display) -> RenderError {
    RenderError::AudioSource {
        src: path.display().to_string(),
        message: format!("{what}: {e}"),
        kind: ErrorKind::Encoding,
    }
}

impl SourceReader {
    /// Opens the `index`-th audio stream of `path`; `None` when the file has no such stream
    /// (a silent video plays nothing, as in Remotion).
    pub fn open(path: &Path, index: u32) -> Result<Option<Self>, RenderError> {
        crate::encode::init();
        let input = ffmpeg::format::input(path).map_err(|e| unreadable(path, "not a media file", e))?;
        let Some(stream) =
            input.streams().filter(|s| s.parameters().medium() == media::Type::Audio).nth(index as usize)
        else {
            return Ok(None);
        };
        let decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
            .and_then(|c| c.decoder().audio())
            .map_err(|e| unreadable(path, "no decoder for its audio", e))?;
        let time_base = f64::from(stream.time_base());
        let stream = stream.index();
        // SAFETY: the context is open; start_time is a plain field.
        let start = unsafe { (*input.as_ptr()).start_time };
        let origin = if start == ffmpeg::ffi::AV_NOPTS_VALUE { 0.0 } else { start as f64 / 1e6 };
        Ok(Some(Self {
            path: path.to_owned(),
            audio_index: index,
            input,
            stream,
            time_base,
            origin,
            decoder,
            resampler: None,
            decoded: frame::Audio::empty(),
            scratch: Vec::new(),
            window: VecDeque::new(),
            next: None,
            eof: false,
            seeked_to: None,
        }))
    }

    fn window_start(&self) -> i64 {
        self.next.map_or(0, |n| n - self.window.len() as i64)
    }

    /// Adds `volume` × the source into `out` (interleaved stereo), reading from source position
    /// `position` (48 kHz samples from the file's start) and advancing `step` samples per output
    /// sample (1: normal speed, sample-exact; otherwise linear interpolation — the pitch
    /// follows the speed). Positions before the start or past the end are silent.
    pub fn mix_into(&mut self, out: &mut [f32], position: f64, step: f64, volume: f32) -> Result<(), RenderError> {
        let count = out.len() / 2;
        if count == 0 || volume == 0.0 {
            return Ok(());
        }
        let last = position + step * (count - 1) as f64;
        let (first, end) = (position.min(last).floor() as i64, position.max(last).ceil() as i64 + 2);
        self.fill(first, end)?;
        let start = self.window_start();
        let sample = |window: &VecDeque<[f32; 2]>, at: i64| -> [f32; 2] {
            if at < start { [0.0; 2] } else { window.get((at - start) as usize).copied().unwrap_or([0.0; 2]) }
        };
        let exact = step == 1.0 && position.fract() == 0.0;
        for (i, pair) in out.chunks_exact_mut(2).enumerate() {
            let value = if exact {
                sample(&self.window, position as i64 + i as i64)
            } else {
                let p = position + step * i as f64;
                let (at, t) = (p.floor() as i64, (p - p.floor()) as f32);
                let (a, b) = (sample(&self.window, at), sample(&self.window, at + 1));
                [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t]
            };
            pair[0] += value[0] * volume;
            pair[1] += value[1] * volume;
        }
        Ok(())
    }

    /// Makes the window cover `first..end` (as far as the file goes).
    fn fill(&mut self, first: i64, end: i64) -> Result<(), RenderError> {
        let first = first.max(0);
        let jumped_back =
            self.next.is_some() && first < self.window_start() && self.seeked_to.is_none_or(|t| first < t);
        let far_ahead = !self.eof && first > self.next.unwrap_or(0) + SEEK_AHEAD;
        if jumped_back || far_ahead {
            self.seek(first)?;
        }
        while !self.eof && self.next.is_none_or(|n| n < end) {
            self.decode_more()?;
        }
        // Forget what is behind (bounded memory however long the source).
        let keep_from = first - KEEP_BEHIND;
        while self.window_start() < keep_from && !self.window.is_empty() {
            self.window.pop_front();
        }
        Ok(())
    }

    fn seek(&mut self, target: i64) -> Result<(), RenderError> {
        let seconds = (target as f64 / f64::from(SAMPLE_RATE) + self.origin - SEEK_MARGIN_SECONDS).max(0.0);
        let timestamp = (seconds * 1e6) as i64;
        self.seeked_to = Some(target);
        if self.input.seek(timestamp, ..timestamp + 1).is_err() {
            // Not seekable: start over from the beginning and decode forward.
            if let Some(fresh) = Self::open(&self.path.clone(), self.audio_index)? {
                *self = fresh;
            }
            return Ok(());
        }
        self.decoder.flush();
        self.resampler = None;
        self.window.clear();
        self.next = None;
        self.eof = false;
        Ok(())
    }

    /// Decodes the next packet of the stream (or finishes the stream at the end of the file).
    fn decode_more(&mut self) -> Result<(), RenderError> {
        let packet = loop {
            match self.input.packets().next() {
                Some((stream, packet)) if stream.index() == self.stream => break Some(packet),
                Some(_) => continue,
                None => break None,
            }
        };
        match packet {
            Some(packet) => {
                // A damaged packet is skipped, as players do.
                if self.decoder.send_packet(&packet).is_err() {
                    return Ok(());
                }
            }
            None => {
                let _ = self.decoder.send_eof();
                self.eof = true;
            }
        }
        while self.decoder.receive_frame(&mut self.decoded).is_ok() {
            self.take_decoded()?;
        }
        if self.eof {
            if let Some(resampler) = &mut self.resampler {
                self.scratch.clear();
                resampler.convert(None, &mut self.scratch).map_err(|e| unreadable(&self.path, "resampling", e))?;
                self.append_scratch();
            }
            // Past the end everything is silent: make `next` known even for an empty stream.
            self.next.get_or_insert(0);
        }
        Ok(())
    }

    fn take_decoded(&mut self) -> Result<(), RenderError> {
        if self.decoded.samples() == 0 {
            return Ok(());
        }
        if self.next.is_none() {
            let pts = self.decoded.pts().or(self.decoded.timestamp()).unwrap_or(0);
            let seconds = pts as f64 * self.time_base - self.origin;
            self.next = Some((seconds * f64::from(SAMPLE_RATE)).round() as i64);
        }
        if self.resampler.as_ref().is_none_or(|r| !r.fits(&self.decoded)) {
            self.resampler =
                Some(Resampler::for_frame(&self.decoded).map_err(|e| unreadable(&self.path, "resampling", e))?);
        }
        let resampler = self.resampler.as_mut().expect("set above");
        self.scratch.clear();
        resampler
            .convert(Some(&self.decoded), &mut self.scratch)
            .map_err(|e| unreadable(&self.path, "resampling", e))?;
        self.append_scratch();
        Ok(())
    }

    fn append_scratch(&mut self) {
        let added = self.scratch.len() / 2;
        self.window.extend(self.scratch.chunks_exact(2).map(|p| [p[0], p[1]]));
        if let Some(next) = &mut self.next {
            *next += added as i64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/remotion-project/public").join(name)
    }

    /// Sample `i` of the fixture's `tone.wav` (440 Hz at half scale), as the mixer sees it.
    fn tone(i: i64) -> f32 {
        let s = (16383.0 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 48_000.0).sin()).round();
        (s / 32768.0) as f32
    }

    fn read(reader: &mut SourceReader, position: f64, count: usize) -> Vec<f32> {
        let mut out = vec![0.0; count * 2];
        reader.mix_into(&mut out, position, 1.0, 1.0).unwrap();
        out
    }

    #[test]
    fn reads_are_sample_exact_across_jumps_and_seeks() {
        let mut reader = SourceReader::open(&fixture("tone.wav"), 0).unwrap().unwrap();
        // In order, then far ahead (a seek), then back (another), then past the end.
        for (position, count) in [(0, 1600), (1600, 1600), (120_000, 1600), (800, 1600), (143_500, 1000)] {
            let got = read(&mut reader, position as f64, count);
            for (i, pair) in got.chunks_exact(2).enumerate() {
                let at = position + i as i64;
                let want = if at < 144_000 { tone(at) } else { 0.0 };
                assert_eq!(pair, [want, want], "sample {at}");
            }
        }
        // Bounded: only a little behind the last position is kept.
        assert!(reader.window.len() < 48_000, "window of {} samples", reader.window.len());
    }

    #[test]
    fn mono_44100_sources_are_resampled_and_upmixed() {
        let mut reader = SourceReader::open(&fixture("beep.wav"), 0).unwrap().unwrap();
        let got = read(&mut reader, 24_000.0, 4_800);
        let (left, right): (Vec<f32>, Vec<f32>) = got.chunks_exact(2).map(|p| (p[0], p[1])).unzip();
        assert_eq!(left, right, "both channels carry the mono source");
        // 880 Hz: 88 cycles in 0.1 s, i.e. 176 sign changes.
        let crossings = left.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
        assert!((174..=178).contains(&crossings), "{crossings} zero crossings");
        let peak = left.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        // -12 dBFS, up-mixed at -3 dB per channel as swresample (and `ffmpeg -ac 2`) does.
        assert!((peak - 0.25 * std::f32::consts::FRAC_1_SQRT_2).abs() < 0.01, "peak {peak}");
    }

    #[test]
    fn a_file_without_that_audio_stream_plays_nothing() {
        assert!(SourceReader::open(&fixture("tone.wav"), 1).unwrap().is_none());
        assert!(matches!(SourceReader::open(&fixture("logo.png"), 0), Ok(None) | Err(RenderError::AudioSource { .. })));
    }
}
