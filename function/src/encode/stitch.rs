//! Joining encoded streams without re-encoding video: chunk files into one output, and a
//! rendered video with its mixed audio. Video packets are copied, their timestamps shifted by
//! the length of what came before.
//!
//! Audio is the exception, by design: chunks carry their audio as lossless 16-bit PCM (see
//! [`AudioTarget::Chunk`]) and the joined audio is encoded once, here. Remotion instead encodes
//! AAC per chunk with extra padding and trims at 1024-sample frame boundaries when copying; that
//! needs every chunk to render audio beyond its own frames and still leaves the joins depending
//! on the encoder's overlap. Encoding the joined PCM once is exact at every join, whatever the
//! chunk sizes. The price is a serial tail in the orchestrator: FFmpeg's AAC encoder at 320k
//! costs about 45 ms of CPU per second of audio on the 2-core test machine (~27 s for a
//! 10-minute video; Opus about 7.5 ms), paid once instead of in parallel across the chunks.

use std::path::{Path, PathBuf};

use ffmpeg::{Dictionary, Rational, format, media};
use ffmpeg_next as ffmpeg;

use remotion_protocol::media::Codec;

use crate::encode::audio::encoder::{AudioEncoder, AudioTarget};
use crate::encode::audio::mix::MixedAudio;
use crate::encode::audio::source::Resampler;
use crate::encode::audio::{AudioSettings, SAMPLE_RATE, frame_start_sample};
use crate::encode::delivery::Delivery;
use crate::encode::{Container, audio_file_muxer, codec_tag, gif, muxer_with_audio, output_muxer};
use crate::error::RenderError;
use crate::ffmpeg::init;

fn stitching(context: String, e: ffmpeg::Error) -> RenderError {
    RenderError::Encoding(format!("{context}: {e}"))
}

/// Audio is encoded this far ahead of the video being copied, so the muxer interleaves
/// without buffering much.
const AUDIO_LEAD_SECONDS: f64 = 0.5;

/// What a join wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Joined {
    /// Video packets (frames).
    pub frames: u64,
    /// Stereo audio samples at 48 kHz (0: no audio stream).
    pub audio_samples: u64,
}

/// Joins the video streams of `chunks` (in order) into `out`, in the container of `codec`,
/// leaving any audio out; returns the number of packets written. Each chunk must hold one
/// video stream of the same codec and size.
pub fn concat_video(chunks: &[PathBuf], out: &Path, codec: Codec) -> Result<u64, RenderError> {
    Ok(concat(chunks, out, codec, None)?.frames)
}

/// The output's video stream, copied from `input`'s.
struct VideoCopy {
    frame_rate: Rational,
}

impl VideoCopy {
    /// Adds a video stream shaped like `source`'s to `output` (as its first stream).
    fn add(
        output: &mut format::context::Output,
        source: &Path,
        codec: Codec,
        muxer: &str,
    ) -> Result<Self, RenderError> {
        let probe = format::input(source).map_err(|e| stitching(format!("opening {}", source.display()), e))?;
        let stream = probe
            .streams()
            .best(media::Type::Video)
            .ok_or_else(|| RenderError::Encoding(format!("{} has no video stream", source.display())))?;
        let parameters = stream.parameters();
        let frame_rate = stream.avg_frame_rate();
        // VP8/VP9 alpha travels beside each packet (Matroska BlockAdditions, kept by the copy);
        // the track's AlphaMode flag comes from this tag, which Matroska inputs carry.
        let alpha_mode = stream.metadata().get("alpha_mode").map(str::to_owned);
        drop(probe);
        let mut out_stream = output
            .add_stream(ffmpeg::encoder::find(ffmpeg::codec::Id::None))
            .map_err(|e| stitching("adding a stream".into(), e))?;
        out_stream.set_parameters(parameters);
        // The input's codec tag (a TS stream type, a Matroska id) means nothing in the output.
        // SAFETY: the stream's parameters were just allocated by set_parameters.
        unsafe {
            (*(*out_stream.as_mut_ptr()).codecpar).codec_tag = codec_tag(codec, muxer).unwrap_or(0);
        }
        out_stream.set_avg_frame_rate(frame_rate);
        out_stream.set_time_base(frame_rate.invert());
        if let Some(mode) = alpha_mode {
            let mut metadata = Dictionary::new();
            metadata.set("alpha_mode", &mode);
            out_stream.set_metadata(metadata);
        }
        Ok(Self { frame_rate })
    }
}

/// Writes the output's header (index at the front for MP4 and QuickTime).
fn write_header(output: &mut format::context::Output, muxer: &str) -> Result<(), RenderError> {
    let mut header = Dictionary::new();
    if matches!(muxer, "mp4" | "mov") {
        header.set("movflags", "+faststart");
    }
    output.write_header_with(header).map_err(|e| stitching("writing the output header".into(), e))?;
    Ok(())
}

/// Copies the video packets of one input after `offset` (in the output's video time base),
/// calling `before_packet` with each packet's presentation time in seconds and the number of
/// frames copied from this input so far, and `other` with packets of other streams.
/// Returns where the input's video ends and how many frames it had.
fn copy_video(
    input: &mut format::context::Input,
    name: &Path,
    output: &mut format::context::Output,
    offset: i64,
    frame_rate: Rational,
    mut before_packet: impl FnMut(&mut format::context::Output, f64, u64) -> Result<(), RenderError>,
    mut other: impl FnMut(&mut format::context::Output, usize, ffmpeg::Packet) -> Result<(), RenderError>,
) -> Result<(i64, u64), RenderError> {
    let out_time_base = output.stream(0).expect("the video stream is first").time_base();
    let index = input
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| RenderError::Encoding(format!("{} has no video stream", name.display())))?
        .index();
    let in_time_base = input.stream(index).expect("exists").time_base();
    // Inputs do not start at zero (MPEG-TS adds a start offset): rebase each so that its first
    // picture (the IDR frame, first in decode order) shows right after what came before. Decode
    // timestamps then stay increasing across the join: with B-frames an input's DTS run a few
    // frames behind its PTS, on both sides of the join alike.
    let mut base: Option<i64> = None;
    let mut end = offset;
    let mut frames = 0u64;
    for (s, mut packet) in input.packets() {
        if s.index() != index {
            other(output, s.index(), packet)?;
            continue;
        }
        packet.rescale_ts(in_time_base, out_time_base);
        let first_pts = *base.get_or_insert(packet.pts().or(packet.dts()).unwrap_or(0));
        let shift = offset - first_pts;
        packet.set_pts(packet.pts().map(|t| t + shift));
        packet.set_dts(packet.dts().map(|t| t + shift));
        let duration =
            if packet.duration() > 0 { packet.duration() } else { frame_duration(frame_rate, out_time_base) };
        end = end.max(packet.pts().unwrap_or(offset) + duration);
        frames += 1;
        let seconds = packet.pts().unwrap_or(offset) as f64 * f64::from(out_time_base);
        before_packet(output, seconds, frames)?;
        packet.set_stream(0);
        packet.set_position(-1);
        packet.write_interleaved(output).map_err(|e| stitching(format!("copying {}", name.display()), e))?;
    }
    Ok((end, frames))
}

/// Whether a file has an audio stream (container header only: cheap even for thousands of
/// chunks).
fn has_audio_stream(path: &Path) -> Result<bool, RenderError> {
    let c_path = std::ffi::CString::new(path.to_string_lossy().as_bytes())
        .map_err(|_| RenderError::InvalidInput(format!("{} has a NUL in its name", path.display())))?;
    // SAFETY: avformat_open_input allocates the context and fills it (or frees it on error);
    // the streams array holds nb_streams valid pointers; the context is closed before return.
    unsafe {
        let mut context = std::ptr::null_mut();
        let opened =
            ffmpeg::ffi::avformat_open_input(&mut context, c_path.as_ptr(), std::ptr::null(), std::ptr::null_mut());
        if opened < 0 {
            return Err(stitching(format!("opening {}", path.display()), ffmpeg::Error::from(opened)));
        }
        let streams = std::slice::from_raw_parts((*context).streams, (*context).nb_streams as usize);
        let audio =
            streams.iter().any(|s| (*(**s).codecpar).codec_type == ffmpeg::ffi::AVMediaType::AVMEDIA_TYPE_AUDIO);
        ffmpeg::ffi::avformat_close_input(&mut context);
        Ok(audio)
    }
}

/// Decodes an input's audio stream to 48 kHz stereo.
struct AudioDecoder {
    index: usize,
    decoder: ffmpeg::decoder::Audio,
    resampler: Option<Resampler>,
    frame: ffmpeg::frame::Audio,
}

impl AudioDecoder {
    fn open(input: &format::context::Input, name: &Path) -> Result<Option<Self>, RenderError> {
        let Some(stream) = input.streams().best(media::Type::Audio) else { return Ok(None) };
        let decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
            .and_then(|c| c.decoder().audio())
            .map_err(|e| stitching(format!("opening the audio of {}", name.display()), e))?;
        Ok(Some(Self { index: stream.index(), decoder, resampler: None, frame: ffmpeg::frame::Audio::empty() }))
    }

    /// Decodes `packet` (or, with `None`, flushes) and appends the samples to `out`.
    fn decode(&mut self, packet: Option<&ffmpeg::Packet>, out: &mut Vec<f32>) -> Result<(), RenderError> {
        let fail = |e| stitching("decoding a chunk's audio".into(), e);
        match packet {
            Some(packet) => self.decoder.send_packet(packet).map_err(fail)?,
            None => self.decoder.send_eof().map_err(fail)?,
        }
        while self.decoder.receive_frame(&mut self.frame).is_ok() {
            if self.resampler.as_ref().is_none_or(|r| !r.fits(&self.frame)) {
                self.resampler = Some(Resampler::for_frame(&self.frame).map_err(fail)?);
            }
            self.resampler.as_mut().expect("set above").convert(Some(&self.frame), out).map_err(fail)?;
        }
        if packet.is_none()
            && let Some(resampler) = &mut self.resampler
        {
            resampler.convert(None, out).map_err(fail)?;
        }
        Ok(())
    }
}

/// The joined audio: chunk audio (or silence for chunks without) kept exactly on the video's
/// timeline — each chunk's audio is cut or padded to the samples of its frames.
struct AudioJoin {
    encoder: AudioEncoder,
    frame_rate: Rational,
    /// Samples to drop from the next chunk's start (a chunk that was too long).
    drop: u64,
    scratch: Vec<f32>,
}

impl AudioJoin {
    fn push(&mut self, output: &mut format::context::Output) -> Result<(), RenderError> {
        let skip = (self.drop as usize).min(self.scratch.len() / 2);
        self.drop -= skip as u64;
        let result = self.encoder.push(&self.scratch[skip * 2..], output);
        self.scratch.clear();
        result
    }

    /// Pads with silence up to the samples of `frames` frames; at the end of a chunk, notes
    /// what ran past them, to be dropped from the next chunk's start.
    fn settle(
        &mut self,
        frames: u64,
        output: &mut format::context::Output,
        end_of_chunk: bool,
    ) -> Result<(), RenderError> {
        let target = frame_start_sample(frames, self.frame_rate);
        let pushed = self.encoder.samples();
        if pushed < target {
            self.encoder.push_silence(target - pushed, output)?;
            if end_of_chunk {
                self.drop = 0;
            }
        } else if end_of_chunk {
            self.drop = pushed - target;
            if self.drop > 0 {
                tracing::debug!(excess = self.drop, "a chunk's audio ran past its frames; trimming the next");
            }
        }
        Ok(())
    }
}

/// Joins `chunks` (in order) into `out` in the container of `codec`. With `audio`, and when
/// any chunk has audio, the output gets an audio stream: the chunks' audio decoded, joined on
/// the video's timeline and encoded once.
pub fn concat(
    chunks: &[PathBuf],
    out: &Path,
    codec: Codec,
    audio: Option<AudioSettings>,
) -> Result<Joined, RenderError> {
    concat_with(chunks, out, codec, audio, &Delivery::default(), None)
}

/// [`concat`] with the render's delivery options: a GIF loops as `numberOfGifLoops` says,
/// and with `enforceAudioTrack` the output gets its audio stream even when no chunk has audio
/// (silence the length of the video, as Remotion's).
///
/// With `separate_audio` (Remotion's `separateAudioTo`) the joined audio goes to that file
/// instead, in the audio codec's own format ([`audio_file_muxer`]), and the output has no
/// audio stream; the file is written even when nothing was heard (silence), as Remotion's.
pub fn concat_with(
    chunks: &[PathBuf],
    out: &Path,
    codec: Codec,
    audio: Option<AudioSettings>,
    delivery: &Delivery,
    separate_audio: Option<&Path>,
) -> Result<Joined, RenderError> {
    init();
    // The output's container follows the audio asked for (PCM: Matroska), whether or not a
    // chunk was heard, so it is what planning named the output after.
    let muxer = output_muxer(codec, audio.filter(|_| separate_audio.is_none()).map(|a| a.codec))?;
    let first = chunks.first().ok_or_else(|| RenderError::InvalidInput("no chunks to join".into()))?;
    if separate_audio.is_some() && (codec.is_audio_only() || codec == Codec::Gif || audio.is_none()) {
        return Err(RenderError::InvalidInput(format!(
            "separateAudioTo takes the audio out of a video with audio: not of a {} render{}",
            codec.as_str(),
            if audio.is_none() { " without audio (muted)" } else { "" }
        )));
    }
    if codec.is_audio_only() {
        return join_audio(chunks, out, muxer, audio);
    }
    if codec == Codec::Gif {
        // The exception to joining by copy: a GIF's palette is learnt from all its frames, so
        // its chunks are screenshots, quantised and encoded once here (crate::encode::gif).
        let summary = gif::encode(chunks, out, delivery.gif_loop_option())?;
        tracing::info!(
            frames = summary.frames,
            samples = summary.samples,
            palette_ms = summary.palette_time.as_millis() as u64,
            encode_ms = summary.encode_time.as_millis() as u64,
            "gif stitched"
        );
        return Ok(Joined { frames: summary.frames, audio_samples: 0 });
    }
    let mut with_audio = None;
    if let Some(settings) = audio {
        // Silent chunks join as silence, so an enforced track needs nothing more.
        if delivery.enforce_audio_track || separate_audio.is_some() {
            with_audio = Some(settings);
        }
        for chunk in chunks {
            if with_audio.is_some() {
                break;
            }
            if has_audio_stream(chunk)? {
                with_audio = Some(settings);
            }
        }
    }
    let mut output = format::output_as(out, muxer).map_err(|e| stitching(format!("creating {}", out.display()), e))?;
    let video = VideoCopy::add(&mut output, first, codec, muxer)?;
    // The separate audio file, when asked for: the joined audio is encoded there.
    let mut separate = match (separate_audio, with_audio) {
        (Some(path), Some(settings)) => {
            let muxer = audio_file_muxer(settings.codec);
            let file =
                format::output_as(path, muxer).map_err(|e| stitching(format!("creating {}", path.display()), e))?;
            Some((file, muxer))
        }
        _ => None,
    };
    let mut join = match with_audio {
        Some(settings) => Some(AudioJoin {
            encoder: AudioEncoder::add(
                separate.as_mut().map_or(&mut output, |(file, _)| file),
                AudioTarget::Output(settings),
            )?,
            frame_rate: video.frame_rate,
            drop: 0,
            scratch: Vec::new(),
        }),
        None => None,
    };
    write_header(&mut output, muxer)?;
    if let Some((file, muxer)) = &mut separate {
        write_header(file, muxer)?;
    }

    let mut offset = 0i64; // in the output's video time base
    let mut frames_before = 0u64;
    for chunk in chunks {
        let mut input = format::input(chunk).map_err(|e| stitching(format!("opening {}", chunk.display()), e))?;
        let mut decoder = match &join {
            Some(_) => AudioDecoder::open(&input, chunk)?,
            None => None,
        };
        let silent = decoder.is_none();
        let (end, frames) = {
            let join_cell = std::cell::RefCell::new(&mut join);
            let decoder_cell = std::cell::RefCell::new(&mut decoder);
            let separate_cell = std::cell::RefCell::new(&mut separate);
            copy_video(
                &mut input,
                chunk,
                &mut output,
                offset,
                video.frame_rate,
                |output, _, copied| match join_cell.borrow_mut().as_mut() {
                    // A chunk without audio (nothing audible in its frames) is silence.
                    Some(join) if silent => {
                        let mut separate = separate_cell.borrow_mut();
                        let target = separate.as_mut().map_or(output, |(file, _)| file);
                        join.settle(frames_before + copied, target, false)
                    }
                    _ => Ok(()),
                },
                |output, index, packet| {
                    let mut join = join_cell.borrow_mut();
                    let mut decoder = decoder_cell.borrow_mut();
                    match (join.as_mut(), decoder.as_mut()) {
                        (Some(join), Some(decoder)) if decoder.index == index => {
                            decoder.decode(Some(&packet), &mut join.scratch)?;
                            let mut separate = separate_cell.borrow_mut();
                            join.push(separate.as_mut().map_or(output, |(file, _)| file))
                        }
                        _ => Ok(()),
                    }
                },
            )?
        };
        if let Some(join) = &mut join {
            let target = separate.as_mut().map_or(&mut output, |(file, _)| file);
            if let Some(decoder) = &mut decoder {
                decoder.decode(None, &mut join.scratch)?;
                join.push(target)?;
            }
            join.settle(frames_before + frames, target, true)?;
        }
        frames_before += frames;
        offset = end;
    }
    let audio_samples = match join {
        Some(join) => join.encoder.finish(separate.as_mut().map_or(&mut output, |(file, _)| file))?,
        None => 0,
    };
    output.write_trailer().map_err(|e| stitching("finishing the output".into(), e))?;
    if let Some((mut file, _)) = separate {
        file.write_trailer().map_err(|e| stitching("finishing the separate audio".into(), e))?;
    }
    Ok(Joined { frames: frames_before, audio_samples })
}

/// Joins the chunks of an audio-only render (each the 16-bit PCM of exactly its frames) and
/// encodes them once, into `muxer`.
fn join_audio(
    chunks: &[PathBuf],
    out: &Path,
    muxer: &str,
    audio: Option<AudioSettings>,
) -> Result<Joined, RenderError> {
    let settings =
        audio.ok_or_else(|| RenderError::InvalidInput("audio-only renders cannot be muted: remove muted".into()))?;
    let mut output = format::output_as(out, muxer).map_err(|e| stitching(format!("creating {}", out.display()), e))?;
    let mut encoder = AudioEncoder::add(&mut output, AudioTarget::Output(settings))?;
    write_header(&mut output, muxer)?;
    let mut samples = Vec::new();
    for chunk in chunks {
        let mut input = format::input(chunk).map_err(|e| stitching(format!("opening {}", chunk.display()), e))?;
        let mut decoder = AudioDecoder::open(&input, chunk)?
            .ok_or_else(|| RenderError::Encoding(format!("{} has no audio", chunk.display())))?;
        for (stream, packet) in input.packets() {
            if stream.index() == decoder.index {
                decoder.decode(Some(&packet), &mut samples)?;
                encoder.push(&samples, &mut output)?;
                samples.clear();
            }
        }
        decoder.decode(None, &mut samples)?;
        encoder.push(&samples, &mut output)?;
        samples.clear();
    }
    let audio_samples = encoder.finish(&mut output)?;
    output.write_trailer().map_err(|e| stitching("finishing the output".into(), e))?;
    Ok(Joined { frames: 0, audio_samples })
}

/// Writes an audio-only output or chunk (`codec` mp3, aac or wav): the `audio` mixed, or
/// `samples` of silence when nothing was heard. Returns the samples written.
pub fn write_audio(
    audio: Option<&mut MixedAudio>,
    samples: u64,
    out: &Path,
    codec: Codec,
    container: Container,
    target: AudioTarget,
) -> Result<u64, RenderError> {
    init();
    let muxer = muxer_with_audio(codec, container, target.output_codec())?;
    let mut output = format::output_as(out, muxer).map_err(|e| stitching(format!("creating {}", out.display()), e))?;
    let mut encoder = AudioEncoder::add(&mut output, target)?;
    write_header(&mut output, muxer)?;
    if let Some(mixed) = audio {
        let mut buffer = Vec::new();
        let reading = |e| RenderError::io("reading the mixed audio", e);
        while mixed.read(&mut buffer, SAMPLE_RATE as usize).map_err(reading)? > 0 {
            encoder.push(&buffer, &mut output)?;
            buffer.clear();
        }
    }
    // Nothing heard, or a mix that ended early: silence up to the frames' length.
    if encoder.samples() < samples {
        encoder.push_silence(samples - encoder.samples(), &mut output)?;
    }
    let written = encoder.finish(&mut output)?;
    output.write_trailer().map_err(|e| stitching("finishing the output".into(), e))?;
    Ok(written)
}

/// Writes `video` (a file with one video stream) and `audio` into `out`, in the container of
/// `codec` (output or chunk), copying the video and encoding the audio for `target`.
pub fn mux_audio(
    video: &Path,
    audio: &mut MixedAudio,
    out: &Path,
    codec: Codec,
    container: Container,
    target: AudioTarget,
) -> Result<Joined, RenderError> {
    init();
    let muxer = muxer_with_audio(codec, container, target.output_codec())?;
    let mut output = format::output_as(out, muxer).map_err(|e| stitching(format!("creating {}", out.display()), e))?;
    let copy = VideoCopy::add(&mut output, video, codec, muxer)?;
    let mut encoder = AudioEncoder::add(&mut output, target)?;
    write_header(&mut output, muxer)?;
    let mut input = format::input(video).map_err(|e| stitching(format!("opening {}", video.display()), e))?;
    let mut buffer = Vec::new();
    let total = audio.samples();
    let mut feed = |output: &mut format::context::Output, until: u64, encoder: &mut AudioEncoder| {
        while encoder.samples() < until.min(total) {
            buffer.clear();
            let wanted = (until.min(total) - encoder.samples()).min(u64::from(SAMPLE_RATE)) as usize;
            if audio.read(&mut buffer, wanted).map_err(|e| RenderError::io("reading the mixed audio", e))? == 0 {
                break;
            }
            encoder.push(&buffer, output)?;
        }
        Ok::<(), RenderError>(())
    };
    let (_, frames) = {
        let encoder_cell = std::cell::RefCell::new(&mut encoder);
        copy_video(
            &mut input,
            video,
            &mut output,
            0,
            copy.frame_rate,
            |output, seconds, _| {
                let until = ((seconds + AUDIO_LEAD_SECONDS) * f64::from(SAMPLE_RATE)) as u64;
                feed(output, until, &mut encoder_cell.borrow_mut())
            },
            |_, _, _| Ok(()),
        )?
    };
    feed(&mut output, total, &mut encoder)?;
    let audio_samples = encoder.finish(&mut output)?;
    output.write_trailer().map_err(|e| stitching("finishing the output".into(), e))?;
    Ok(Joined { frames, audio_samples })
}

/// One frame's duration in `time_base` units.
fn frame_duration(frame_rate: Rational, time_base: Rational) -> i64 {
    let (fr_num, fr_den) = (i64::from(frame_rate.numerator().max(1)), i64::from(frame_rate.denominator().max(1)));
    let (tb_num, tb_den) = (i64::from(time_base.numerator().max(1)), i64::from(time_base.denominator().max(1)));
    (fr_den * tb_den) / (fr_num * tb_num)
}

#[cfg(test)]
mod tests;
