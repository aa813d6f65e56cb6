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
use remotion_protocol::payload::ErrorKind;

use super::SAMPLE_RATE;
use crate::error::RenderError;

/// Samples kept before the position last asked for (small backward steps, interpolation).
const KEEP_BEHIND: i64 = SAMPLE_RATE as i64 / 10;
/// A jump further ahead than this seeks instead of decoding through.
const SEEK_AHEAD: i64 = 2 * SAMPLE_RATE as i64;
/// Seeks land this much before the target so the decoder is primed when it gets there.
const SEEK_MARGIN_SECONDS: f64 = 0.25;

/// Converts decoded frames of any layout, format and rate to interleaved stereo `f32` at a
/// given rate with swresample (FFmpeg's default matrix: the same up/down-mix `ffmpeg -ac 2`
/// applies).
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
    /// A converter for frames shaped like `frame`, to the mix's rate ([`SAMPLE_RATE`]).
    pub fn for_frame(frame: &frame::Audio) -> Result<Self, ffmpeg::Error> {
        Self::new(frame.format(), layout_of(frame), frame.rate(), SAMPLE_RATE)
    }

    /// A converter from the mix (interleaved stereo `f32` at [`SAMPLE_RATE`]) to `rate`.
    pub fn from_mix_to(rate: u32) -> Result<Self, ffmpeg::Error> {
        Self::new(Sample::F32(SampleType::Packed), ChannelLayout::STEREO, SAMPLE_RATE, rate)
    }

    fn new(format: Sample, layout: ChannelLayout, rate: u32, to_rate: u32) -> Result<Self, ffmpeg::Error> {
        let context = resampling::Context::get(
            format,
            layout,
            rate,
            Sample::F32(SampleType::Packed),
            ChannelLayout::STEREO,
            to_rate,
        )?;
        Ok(Self { context, input: (format, layout.bits(), rate) })
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
    /// Time-stretching state when playing at another speed.
    stretch: Option<Stretch>,
}

/// Hop of the time-stretcher's grains, samples (10 ms).
const HOP: i64 = 480;
/// Grain length: two hops, Hann-windowed, so overlapping grains sum to one.
const GRAIN: i64 = 2 * HOP;
/// How far a grain may move from its nominal place to continue the previous one smoothly.
const TOLERANCE: i64 = 240;

/// WSOLA time-stretching (what FFmpeg's `atempo`, which Remotion uses, does): grains of the
/// source are overlap-added at a fixed hop of the output timeline, each taken where its
/// playback position says, moved by up to [`TOLERANCE`] to best continue the previous grain's
/// waveform, so the speed changes and the pitch does not. Grains sit on absolute multiples of
/// the hop, so separately rendered chunks agree on them (the alignment chain restarts at a
/// chunk's start: a join at another speed may differ by a few milliseconds of phase).
struct Stretch {
    /// Output being assembled; `out[0]` is absolute output sample `start`.
    out: VecDeque<[f32; 2]>,
    start: i64,
    /// Next grain index (starts at output sample `next × HOP`).
    next: i64,
    /// Source start of the previous grain, while the chain continues.
    previous: Option<i64>,
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
        crate::ffmpeg::init();
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
            stretch: None,
        }))
    }

    fn window_start(&self) -> i64 {
        self.next.map_or(0, |n| n - self.window.len() as i64)
    }

    /// Adds `volume` × the source into `out` (interleaved stereo), reading from source position
    /// `position` (48 kHz samples from the file's start) and advancing `step` samples per output
    /// sample (1: normal speed, sample-exact; otherwise linear interpolation, which shifts the
    /// pitch — the mixer plays other speeds with [`Self::stretch_into`]). Positions before the
    /// start or past the end are silent.
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

    /// Like [`Self::mix_into`] at `rate` ≠ 1, keeping the pitch: `out` is the output timeline
    /// from absolute sample `slot_start`, whose first sample plays source position `position`.
    pub fn stretch_into(
        &mut self,
        out: &mut [f32],
        slot_start: i64,
        position: f64,
        rate: f64,
        volume: f32,
    ) -> Result<(), RenderError> {
        let count = (out.len() / 2) as i64;
        let end = slot_start + count;
        let nominal = |output: i64| (position + rate * (output - slot_start) as f64).round() as i64;
        // Begin a grain early so every sample of the slot is covered by two grains.
        let first_grain = slot_start.div_euclid(HOP) - 1;
        let mut stretch = self.stretch.take().unwrap_or(Stretch {
            out: VecDeque::new(),
            start: first_grain * HOP,
            next: first_grain,
            previous: None,
        });
        let continues = stretch.next >= first_grain
            && stretch.next <= first_grain + 2
            && stretch.previous.is_none_or(|p| (nominal(stretch.next * HOP) - (p + HOP)).abs() < 4 * GRAIN);
        if !continues {
            stretch = Stretch { out: VecDeque::new(), start: first_grain * HOP, next: first_grain, previous: None };
        }
        while stretch.next * HOP < end {
            let at = stretch.next * HOP;
            let wanted = nominal(at);
            let chosen = match stretch.previous {
                Some(previous) => self.best_continuation(wanted, previous + HOP)?,
                None => wanted,
            };
            self.fill(chosen, chosen + GRAIN)?;
            let needed = (at + GRAIN - stretch.start) as usize;
            if stretch.out.len() < needed {
                stretch.out.resize(needed, [0.0; 2]);
            }
            for j in 0..GRAIN {
                let w = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * j as f32 / GRAIN as f32).cos();
                let x = self.sample_at(chosen + j);
                let slot = &mut stretch.out[(at + j - stretch.start) as usize];
                slot[0] += w * x[0];
                slot[1] += w * x[1];
            }
            stretch.previous = Some(chosen);
            stretch.next += 1;
        }
        for (i, pair) in out.chunks_exact_mut(2).enumerate() {
            let value = stretch.out.get((slot_start + i as i64 - stretch.start) as usize).copied().unwrap_or([0.0; 2]);
            pair[0] += value[0] * volume;
            pair[1] += value[1] * volume;
        }
        while stretch.start < end && !stretch.out.is_empty() {
            stretch.out.pop_front();
            stretch.start += 1;
        }
        self.stretch = Some(stretch);
        Ok(())
    }

    /// The source start near `wanted` whose first hop best matches the samples from `natural`
    /// (the previous grain's continuation): cross-correlation over the tolerance.
    fn best_continuation(&mut self, wanted: i64, natural: i64) -> Result<i64, RenderError> {
        self.fill((wanted - TOLERANCE).min(natural), (wanted + TOLERANCE + HOP).max(natural + HOP))?;
        let reference: Vec<f32> = (0..HOP).step_by(2).map(|j| self.mono_at(natural + j)).collect();
        let mut best = (f32::MIN, wanted);
        for delta in -TOLERANCE..=TOLERANCE {
            let start = wanted + delta;
            let score: f32 = reference.iter().enumerate().map(|(k, r)| r * self.mono_at(start + 2 * k as i64)).sum();
            if score > best.0 {
                best = (score, start);
            }
        }
        Ok(best.1)
    }

    fn sample_at(&self, at: i64) -> [f32; 2] {
        let start = self.window_start();
        if at < start { [0.0; 2] } else { self.window.get((at - start) as usize).copied().unwrap_or([0.0; 2]) }
    }

    fn mono_at(&self, at: i64) -> f32 {
        let [l, r] = self.sample_at(at);
        l + r
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
        self.stretch = None;
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

    /// Plays `tone.wav` at `rate` for `frames` frames of 1600 samples, as the mixer does.
    fn stretched(rate: f64, frames: i64) -> Vec<f32> {
        let mut reader = SourceReader::open(&fixture("tone.wav"), 0).unwrap().unwrap();
        let mut left = Vec::new();
        for frame in 0..frames {
            let mut slot = vec![0.0; 3200];
            reader.stretch_into(&mut slot, frame * 1600, (frame * 1600) as f64 * rate, rate, 1.0).unwrap();
            left.extend(slot.chunks_exact(2).map(|p| p[0]));
        }
        left
    }

    #[test]
    fn other_speeds_keep_the_pitch_and_the_level() {
        for rate in [1.5, 0.75, 2.0] {
            let out = stretched(rate, 40);
            let body = &out[9_600..60_000];
            let crossings = body.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count() as f64;
            let frequency = crossings / 2.0 / (body.len() as f64 / 48_000.0);
            assert!((frequency - 440.0).abs() < 440.0 * 0.02, "rate {rate}: {frequency:.1} Hz");
            let rms = (body.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / body.len() as f64).sqrt();
            let expected = 16383.0 / 32768.0 / std::f64::consts::SQRT_2;
            assert!((rms / expected - 1.0).abs() < 0.05, "rate {rate}: level {:.3} of the source's", rms / expected);
            // Grains continue each other's waveform: no step steeper than the tone's own.
            let steepest = body.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0f32, f32::max);
            assert!(steepest < 1.2 * 944.0 / 32768.0, "rate {rate}: step {steepest}");
        }
    }

    #[test]
    fn a_file_without_that_audio_stream_plays_nothing() {
        assert!(SourceReader::open(&fixture("tone.wav"), 1).unwrap().is_none());
        assert!(matches!(SourceReader::open(&fixture("logo.png"), 0), Ok(None) | Err(RenderError::AudioSource { .. })));
    }
}
