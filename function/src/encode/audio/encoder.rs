//! Audio encoding into an output being written: 48 kHz stereo samples in (the mix's rate),
//! resampled once when the output asks for another rate, packets of the output's audio stream
//! out, interleaved with the video by the muxer.

use ffmpeg::codec;
use ffmpeg::format::Sample;
use ffmpeg::format::sample::Type as SampleType;
use ffmpeg::util::frame;
use ffmpeg::{ChannelLayout, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;
use remotion_protocol::media::AudioCodec;

use super::source::Resampler;
use super::{AudioSettings, SAMPLE_RATE};
use crate::error::RenderError;

/// Samples per frame handed to encoders that take any frame size (PCM): 40 ms.
const PCM_FRAME: usize = 1920;

/// What the audio stream is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioTarget {
    /// The render's output: the requested codec.
    Output(AudioSettings),
    /// A chunk: lossless 16-bit PCM (SMPTE 302M in MPEG-TS, plain PCM in Matroska), so the
    /// orchestrator can join the chunks' audio sample-exactly and encode it once.
    Chunk,
}

fn failed(context: &str, e: ffmpeg::Error) -> RenderError {
    RenderError::Encoding(format!("{context}: {e}"))
}

/// How a target is encoded in a muxer: FFmpeg encoder, sample format, options.
fn encoder_for(target: AudioTarget, muxer: &str) -> (&'static str, Sample, Dictionary<'static>, Option<u64>) {
    let mut options = Dictionary::new();
    match target {
        AudioTarget::Chunk if muxer == "mpegts" => {
            // MPEG-TS carries no plain PCM; SMPTE 302M is PCM for transport streams (FFmpeg marks
            // its encoder experimental, which only means "not widely tested").
            options.set("strict", "experimental");
            ("s302m", Sample::I16(SampleType::Packed), options, None)
        }
        AudioTarget::Chunk => ("pcm_s16le", Sample::I16(SampleType::Packed), options, None),
        AudioTarget::Output(settings) => match settings.codec {
            AudioCodec::Aac => {
                // Remotion: `-c:a aac -b:a 320k -cutoff 18000`.
                options.set("cutoff", "18000");
                ("aac", Sample::F32(SampleType::Planar), options, Some(settings.bitrate))
            }
            AudioCodec::Mp3 => ("libmp3lame", Sample::F32(SampleType::Planar), options, Some(settings.bitrate)),
            AudioCodec::Opus => ("libopus", Sample::F32(SampleType::Packed), options, Some(settings.bitrate)),
            AudioCodec::Pcm16 => ("pcm_s16le", Sample::I16(SampleType::Packed), options, None),
        },
    }
}

impl AudioTarget {
    /// The output's audio codec; `None` for a chunk.
    pub fn output_codec(self) -> Option<AudioCodec> {
        match self {
            AudioTarget::Output(settings) => Some(settings.codec),
            AudioTarget::Chunk => None,
        }
    }

    /// Sample rate of the stream: the output's, or the mix's for a chunk.
    fn sample_rate(self) -> u32 {
        match self {
            AudioTarget::Output(settings) => settings.sample_rate,
            AudioTarget::Chunk => SAMPLE_RATE,
        }
    }
}

/// Whether this FFmpeg's encoder for `settings`' codec takes its sample rate (Opus, for one,
/// only 8, 12, 16, 24 and 48 kHz): checked before any frame is rendered.
pub fn check_sample_rate(settings: AudioSettings) -> Result<(), RenderError> {
    crate::ffmpeg::init();
    let (name, ..) = encoder_for(AudioTarget::Output(settings), "");
    let codec = ffmpeg::encoder::find_by_name(name)
        .ok_or_else(|| RenderError::Encoding(format!("FFmpeg was built without the {name} encoder")))?;
    let Some(rates) = codec.audio().ok().and_then(|audio| audio.rates()) else {
        return Ok(()); // Any rate.
    };
    let mut rates: Vec<u32> = rates.filter_map(|rate| u32::try_from(rate).ok()).collect();
    if rates.is_empty() || rates.contains(&settings.sample_rate) {
        return Ok(());
    }
    rates.sort_unstable_by(|a, b| b.cmp(a));
    let listed: Vec<String> = rates.iter().map(u32::to_string).collect();
    Err(RenderError::InvalidInput(format!(
        "{} audio cannot be encoded at {} Hz: set sampleRate to one of {} (Hz)",
        settings.codec.as_str(),
        settings.sample_rate,
        listed.join(", ")
    )))
}

/// Whether this FFmpeg can write `settings`' audio into `muxer` (e.g. FFmpeg 5.1 has no PCM in
/// MP4 or WebM, which Remotion's FFmpeg 7.1 allows for MP4): checked before any frame is
/// rendered, so a render never fails only at its end.
pub fn check_container(settings: AudioSettings, muxer: &str) -> Result<(), RenderError> {
    crate::ffmpeg::init();
    let (name, ..) = encoder_for(AudioTarget::Output(settings), muxer);
    let codec = ffmpeg::encoder::find_by_name(name)
        .ok_or_else(|| RenderError::Encoding(format!("FFmpeg was built without the {name} encoder")))?;
    let c_muxer = std::ffi::CString::new(muxer).expect("muxer names have no NUL");
    // SAFETY: av_guess_format returns a static muxer description or null.
    let supported = unsafe {
        let format = ffmpeg::ffi::av_guess_format(c_muxer.as_ptr(), std::ptr::null(), std::ptr::null());
        if format.is_null() {
            return Ok(());
        }
        ffmpeg::ffi::avformat_query_codec(format, codec.id().into(), ffmpeg::ffi::FF_COMPLIANCE_NORMAL)
    };
    if supported == 0 {
        return Err(RenderError::InvalidInput(format!(
            "{} audio cannot be written into {muxer} by render function {}: choose another audio codec",
            settings.codec.as_str(),
            crate::versions::FUNCTION_VERSION
        )));
    }
    Ok(())
}

/// An audio encoder feeding one stream of an output.
pub struct AudioEncoder {
    encoder: ffmpeg::encoder::Audio,
    stream: usize,
    format: Sample,
    /// The stream's sample rate.
    rate: u32,
    /// From the mix's rate to the stream's, when they differ.
    resampler: Option<Resampler>,
    frame_size: usize,
    /// The encoder takes a shorter last frame (otherwise it is padded with silence).
    small_last_frame: bool,
    pending: Vec<f32>,
    pts: i64,
    pushed: u64,
}

// SAFETY: the encoder context is owned and only used through `&mut self`.
unsafe impl Send for AudioEncoder {}

impl AudioEncoder {
    /// Adds an audio stream to `output` (before its header is written) and opens its encoder.
    pub fn add(output: &mut ffmpeg::format::context::Output, target: AudioTarget) -> Result<Self, RenderError> {
        let muxer = output.format().name().to_owned();
        let (name, format, options, bitrate) = encoder_for(target, &muxer);
        let codec = ffmpeg::encoder::find_by_name(name)
            .ok_or_else(|| RenderError::Encoding(format!("FFmpeg was built without the {name} encoder")))?;
        // SAFETY: the output format pointer is valid for the output's lifetime.
        let supported = unsafe {
            ffmpeg::ffi::avformat_query_codec(
                output.format().as_ptr(),
                codec.id().into(),
                ffmpeg::ffi::FF_COMPLIANCE_NORMAL,
            )
        };
        if supported == 0 {
            return Err(RenderError::InvalidInput(format!(
                "{name} audio cannot be written into {muxer} by this FFmpeg: choose another audio codec"
            )));
        }
        let global_header = output.format().flags().contains(ffmpeg::format::Flags::GLOBAL_HEADER);
        let mut context = codec::context::Context::new_with_codec(codec);
        if global_header {
            context.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let rate = target.sample_rate();
        let mut audio = context.encoder().audio().map_err(|e| failed("preparing the audio encoder", e))?;
        audio.set_rate(rate as i32);
        audio.set_format(format);
        audio.set_channel_layout(ChannelLayout::STEREO);
        audio.set_channels(2);
        audio.set_time_base(Rational::new(1, rate as i32));
        if let Some(bits) = bitrate {
            audio.set_bit_rate(bits as usize);
        }
        let encoder = audio.open_with(options).map_err(|e| failed(&format!("opening {name}"), e))?;
        let capabilities = codec.capabilities();
        let variable = capabilities.contains(codec::capabilities::Capabilities::VARIABLE_FRAME_SIZE);
        let frame_size = match encoder.frame_size() as usize {
            0 => PCM_FRAME,
            _ if variable => PCM_FRAME,
            n => n,
        };
        let stream = {
            let mut stream = output.add_stream(codec).map_err(|e| failed("adding the audio stream", e))?;
            stream.set_parameters(&encoder);
            stream.set_time_base(Rational::new(1, rate as i32));
            stream.index()
        };
        let resampler = match rate {
            SAMPLE_RATE => None,
            _ => Some(Resampler::from_mix_to(rate).map_err(|e| failed("preparing the audio resampler", e))?),
        };
        Ok(Self {
            encoder,
            stream,
            format,
            rate,
            resampler,
            frame_size,
            small_last_frame: variable || capabilities.contains(codec::capabilities::Capabilities::SMALL_LAST_FRAME),
            pending: Vec::with_capacity(frame_size * 4),
            pts: 0,
            pushed: 0,
        })
    }

    /// Stereo samples pushed so far, at the mix's rate ([`SAMPLE_RATE`]) whatever the stream's.
    pub fn samples(&self) -> u64 {
        self.pushed
    }

    /// Encodes interleaved stereo samples at the mix's rate (the end of the stream so far).
    pub fn push(&mut self, samples: &[f32], output: &mut ffmpeg::format::context::Output) -> Result<(), RenderError> {
        let count = samples.len() / 2;
        self.pushed += count as u64;
        match &mut self.resampler {
            None => self.pending.extend_from_slice(samples),
            Some(resampler) if count > 0 => {
                let mut frame = frame::Audio::new(Sample::F32(SampleType::Packed), count, ChannelLayout::STEREO);
                frame.set_channels(2);
                frame.set_rate(SAMPLE_RATE);
                frame.plane_mut::<f32>(0)[..count * 2].copy_from_slice(&samples[..count * 2]);
                resampler.convert(Some(&frame), &mut self.pending).map_err(|e| failed("resampling audio", e))?;
            }
            Some(_) => {}
        }
        self.encode_full_frames(output)
    }

    /// Encodes `count` samples of silence (at the mix's rate).
    pub fn push_silence(
        &mut self,
        count: u64,
        output: &mut ffmpeg::format::context::Output,
    ) -> Result<(), RenderError> {
        let mut left = count;
        if self.resampler.is_none() {
            while left > 0 {
                let now = left.min(self.frame_size as u64 * 16);
                self.pending.resize(self.pending.len() + now as usize * 2, 0.0);
                self.pushed += now;
                left -= now;
                self.encode_full_frames(output)?;
            }
            return Ok(());
        }
        // Through the resampler, so its timeline (and delay) includes the silence.
        let silence = vec![0.0; self.frame_size.max(1024) * 2 * 16];
        while left > 0 {
            let now = left.min((silence.len() / 2) as u64);
            self.push(&silence[..now as usize * 2], output)?;
            left -= now;
        }
        Ok(())
    }

    fn encode_full_frames(&mut self, output: &mut ffmpeg::format::context::Output) -> Result<(), RenderError> {
        let whole = self.pending.len() / 2 / self.frame_size * self.frame_size;
        let mut at = 0;
        while at < whole {
            self.send(at, self.frame_size, output)?;
            at += self.frame_size;
        }
        self.pending.drain(..whole * 2);
        Ok(())
    }

    /// Sends `count` samples of `pending` from sample `from` as one frame.
    fn send(
        &mut self,
        from: usize,
        count: usize,
        output: &mut ffmpeg::format::context::Output,
    ) -> Result<(), RenderError> {
        let mut frame = frame::Audio::new(self.format, count, ChannelLayout::STEREO);
        frame.set_channels(2);
        frame.set_rate(self.rate);
        let source = &self.pending[from * 2..((from + count) * 2).min(self.pending.len())];
        let available = (source.len() / 2).min(count);
        let to_i16 = |s: f32| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        match self.format {
            Sample::F32(SampleType::Planar) => {
                for channel in 0..2 {
                    let plane = frame.plane_mut::<f32>(channel);
                    for i in 0..count {
                        plane[i] = if i < available { source[i * 2 + channel] } else { 0.0 };
                    }
                }
            }
            Sample::F32(SampleType::Packed) => {
                let plane = frame.plane_mut::<f32>(0);
                plane.fill(0.0);
                plane[..available * 2].copy_from_slice(&source[..available * 2]);
            }
            Sample::I16(SampleType::Packed) => {
                let plane = frame.plane_mut::<i16>(0);
                plane.fill(0);
                for (out, s) in plane.iter_mut().zip(&source[..available * 2]) {
                    *out = to_i16(*s);
                }
            }
            other => return Err(RenderError::Encoding(format!("no conversion to {other:?} samples"))),
        }
        frame.set_pts(Some(self.pts));
        self.pts += count as i64;
        self.encoder.send_frame(&frame).map_err(|e| failed("encoding audio", e))?;
        self.drain(output)
    }

    fn drain(&mut self, output: &mut ffmpeg::format::context::Output) -> Result<(), RenderError> {
        let stream_time_base = output.stream(self.stream).expect("added").time_base();
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(self.stream);
            packet.rescale_ts(Rational::new(1, self.rate as i32), stream_time_base);
            packet.write_interleaved(output).map_err(|e| failed("writing an audio packet", e))?;
        }
        Ok(())
    }

    /// Encodes what is left and flushes the encoder; the number of samples pushed (at the
    /// mix's rate).
    pub fn finish(mut self, output: &mut ffmpeg::format::context::Output) -> Result<u64, RenderError> {
        if let Some(resampler) = &mut self.resampler {
            resampler.convert(None, &mut self.pending).map_err(|e| failed("resampling audio", e))?;
        }
        let left = self.pending.len() / 2;
        if left > 0 {
            // A short last frame where the encoder allows it (AAC, Opus, MP3 and PCM do), so
            // the stream is not longer than the video.
            let count = if self.small_last_frame { left } else { self.frame_size };
            self.send(0, count, output)?;
            self.pending.clear();
        }
        self.encoder.send_eof().map_err(|e| failed("flushing the audio encoder", e))?;
        self.drain(output)?;
        Ok(self.pushed)
    }
}
