//! The per-frame mix: every frame's assets summed (× their volume) into the frame's slot of
//! the 48 kHz stereo timeline, clamped, and spooled to a temporary file as 16-bit PCM — what
//! Remotion's `amix=normalize=0` into `pcm_s16le` does, without holding the mix in memory.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::sync::Arc;

use ffmpeg_next::Rational;

use super::source::SourceReader;
use super::{SAMPLE_RATE, frame_start_sample};
use crate::assets::cache::AssetCache;
use crate::assets::collected::{MediaAsset, RenderAsset};
use crate::error::RenderError;

/// A source playing (the same asset id on consecutive frames).
struct Playing {
    src: String,
    stream: u32,
    reader: Option<SourceReader>,
}

/// Mixes frames, in frame order, into a [`Spool`].
pub struct Mixer {
    fps: Rational,
    fps_value: f64,
    cache: Arc<AssetCache>,
    runtime: tokio::runtime::Handle,
    playing: HashMap<String, Playing>,
    spool: Spool,
    slot: Vec<f32>,
    warned: HashSet<&'static str>,
}

impl Mixer {
    /// A mixer for a composition at `fps`, fetching sources through `cache` (on `runtime`:
    /// the mixer runs on a blocking thread).
    pub fn new(fps: Rational, cache: Arc<AssetCache>, runtime: tokio::runtime::Handle) -> Self {
        Self {
            fps,
            fps_value: f64::from(fps),
            cache,
            runtime,
            playing: HashMap::new(),
            spool: Spool::default(),
            slot: Vec::new(),
            warned: HashSet::new(),
        }
    }

    fn warn_once(&mut self, what: &'static str) {
        if self.warned.insert(what) {
            tracing::warn!("{what}");
        }
    }

    /// Mixes `frame`'s assets into its slot and appends the slot to the spool. Frames must come
    /// in order, each once.
    pub fn add_frame(&mut self, frame: u64, assets: &[RenderAsset]) -> Result<(), RenderError> {
        let start = frame_start_sample(frame, self.fps);
        let length = (frame_start_sample(frame + 1, self.fps) - start) as usize;
        let mut slot = std::mem::take(&mut self.slot);
        slot.clear();
        slot.resize(length * 2, 0.0);
        let mut heard = false;
        let mut present = HashSet::new();
        for asset in assets {
            match asset {
                // Remotion keeps the first asset of an id within a frame.
                RenderAsset::Media(media) if present.insert(media.id.clone()) => {
                    heard |= self.mix_media(frame, start, media, &mut slot)?;
                }
                RenderAsset::Media(_) => {}
                RenderAsset::Inline(inline) => {
                    if inline.tone_frequency != 1.0 {
                        self.warn_once("toneFrequency is not applied to inline audio by this renderer yet");
                    }
                    heard = true;
                    // The samples start at the slot of their frame (normally this frame).
                    let offset = frame_start_sample(inline.frame, self.fps) as i64 - start as i64;
                    for (i, sample) in inline.samples.iter().enumerate() {
                        let at = offset * 2 + i as i64;
                        if let Some(out) = usize::try_from(at).ok().and_then(|at| slot.get_mut(at)) {
                            *out += f32::from(*sample) / 32768.0;
                        }
                    }
                }
            }
        }
        // A source absent on this frame has stopped; a later appearance starts afresh.
        self.playing.retain(|id, _| present.contains(id));
        let result = self.spool.push(&slot, heard).map_err(|e| RenderError::io("writing the mixed audio", e));
        self.slot = slot;
        result
    }

    /// Adds one media asset's samples for this frame; whether the source has audio at all.
    fn mix_media(
        &mut self,
        frame: u64,
        slot_start: u64,
        media: &MediaAsset,
        slot: &mut [f32],
    ) -> Result<bool, RenderError> {
        if !(media.playback_rate > 0.0 && media.playback_rate.is_finite()) {
            return Err(RenderError::InvalidInput(format!(
                "playbackRate {} of {} at frame {frame} is not a positive number",
                media.playback_rate, media.src
            )));
        }
        if media.tone_frequency != 1.0 {
            self.warn_once("toneFrequency is not applied by this renderer yet; the audio plays at its own pitch");
        }
        let stream = media.audio_stream_index.unwrap_or(0);
        let stale = self.playing.get(&media.id).is_none_or(|p| p.src != media.src || p.stream != stream);
        if stale {
            let path = self.runtime.block_on(self.cache.get(&media.src))?;
            let reader = SourceReader::open(&path, stream).map_err(|e| match e {
                RenderError::AudioSource { message, kind, .. } => {
                    RenderError::AudioSource { src: media.src.clone(), message, kind }
                }
                other => other,
            })?;
            self.playing.insert(media.id.clone(), Playing { src: media.src.clone(), stream, reader });
        }
        let Some(reader) = self.playing.get_mut(&media.id).and_then(|p| p.reader.as_mut()) else {
            return Ok(false);
        };
        // Where in the source this frame plays: Remotion's trim (`audioStartFrame` plays at
        // normal speed, the rest at `playbackRate`), anchored on this frame's own `mediaFrame`
        // so every chunk agrees on it, then advanced from the frame's exact time to the first
        // sample of its slot.
        let rate = media.playback_rate;
        let fps = self.fps_value;
        let media_seconds = (media.audio_start_frame + (media.media_frame - media.audio_start_frame) * rate) / fps;
        let into_slot_seconds = (slot_start as f64 / f64::from(SAMPLE_RATE) - frame as f64 / fps) * rate;
        // Sample-exact copies at normal speed (a fraction of a sample is 10 µs at most).
        let position = ((media_seconds + into_slot_seconds) * f64::from(SAMPLE_RATE)).round();
        let volume = media.volume as f32;
        let mixed = if rate == 1.0 {
            reader.mix_into(slot, position, 1.0, volume)
        } else {
            // Another speed keeps the pitch, as Remotion's `atempo` does.
            reader.stretch_into(slot, slot_start as i64, position, rate, volume)
        };
        mixed.map_err(|e| match e {
            RenderError::AudioSource { message, kind, .. } => {
                RenderError::AudioSource { src: media.src.clone(), message, kind }
            }
            other => other,
        })?;
        Ok(true)
    }

    /// The mix, or `None` when nothing was heard on any frame (the output then has no audio
    /// stream, like Remotion's without `enforceAudioTrack`).
    pub fn finish(self) -> Result<Option<MixedAudio>, RenderError> {
        self.spool.finish().map_err(|e| RenderError::io("reading the mixed audio back", e))
    }

    /// The mix, silence included: with `enforceAudioTrack` a render in which nothing was
    /// heard still gets its audio track, silent for every frame mixed.
    pub fn finish_enforced(self) -> Result<MixedAudio, RenderError> {
        self.spool.finish_enforced().map_err(|e| RenderError::io("reading the mixed audio back", e))
    }
}

/// 16-bit stereo PCM of a whole render, in a temporary file; the silence before the first
/// audible frame is only counted.
#[derive(Default)]
pub struct Spool {
    file: Option<BufWriter<File>>,
    leading_silence: u64,
    written: u64,
}

/// A float sample as 16-bit PCM: scaled by 32768, clamped (where the mix saturates).
fn to_i16(sample: f32) -> i16 {
    (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

impl Spool {
    /// Appends interleaved stereo samples; `heard` says whether anything plays in them.
    pub fn push(&mut self, samples: &[f32], heard: bool) -> std::io::Result<()> {
        let count = (samples.len() / 2) as u64;
        if self.file.is_none() {
            if !heard {
                self.leading_silence += count;
                return Ok(());
            }
            self.file = Some(BufWriter::with_capacity(1 << 16, tempfile::tempfile()?));
        }
        let file = self.file.as_mut().expect("created above");
        for sample in samples {
            file.write_all(&to_i16(*sample).to_le_bytes())?;
        }
        self.written += count;
        Ok(())
    }

    /// The spooled audio, silence and all, even when nothing was heard.
    pub fn finish_enforced(self) -> std::io::Result<MixedAudio> {
        let (leading_silence, written) = (self.leading_silence, self.written);
        match self.finish()? {
            Some(mixed) => Ok(mixed),
            // All silence: nothing is read from the (empty) file.
            None => Ok(MixedAudio {
                leading_silence,
                samples: leading_silence + written,
                file: BufReader::new(tempfile::tempfile()?),
                read: 0,
            }),
        }
    }

    /// The spooled audio, rewound for reading; `None` if nothing was heard.
    pub fn finish(self) -> std::io::Result<Option<MixedAudio>> {
        let Some(file) = self.file else { return Ok(None) };
        let mut file = file.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        Ok(Some(MixedAudio {
            leading_silence: self.leading_silence,
            samples: self.leading_silence + self.written,
            file: BufReader::with_capacity(1 << 16, file),
            read: 0,
        }))
    }
}

/// The mixed audio of a render, read back in order.
pub struct MixedAudio {
    leading_silence: u64,
    samples: u64,
    file: BufReader<File>,
    read: u64,
}

impl MixedAudio {
    /// Stereo samples in all.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Appends up to `max` stereo samples (interleaved) to `out`; how many were appended
    /// (0 at the end).
    pub fn read(&mut self, out: &mut Vec<f32>, max: usize) -> std::io::Result<usize> {
        let count = (self.samples - self.read).min(max as u64) as usize;
        let silent = self.leading_silence.saturating_sub(self.read).min(count as u64) as usize;
        out.resize(out.len() + silent * 2, 0.0);
        let mut bytes = vec![0u8; (count - silent) * 4];
        self.file.read_exact(&mut bytes)?;
        out.extend(bytes.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0));
        self.read += count as u64;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spool_counts_leading_silence_and_clamps() {
        let mut spool = Spool::default();
        spool.push(&[0.0; 8], false).unwrap();
        spool.push(&[0.5, -0.5, 2.0, -2.0], true).unwrap();
        spool.push(&[0.0; 2], false).unwrap();
        let mut mixed = spool.finish().unwrap().unwrap();
        assert_eq!(mixed.samples(), 7);
        let mut out = Vec::new();
        assert_eq!(mixed.read(&mut out, 5).unwrap(), 5);
        assert_eq!(mixed.read(&mut out, 5).unwrap(), 2);
        assert_eq!(mixed.read(&mut out, 5).unwrap(), 0);
        assert_eq!(&out[..8], &[0.0; 8]);
        assert_eq!(&out[8..], &[0.5, -0.5, 32767.0 / 32768.0, -1.0, 0.0, 0.0]);
    }

    #[test]
    fn a_silent_render_has_no_audio() {
        let mut spool = Spool::default();
        spool.push(&[0.0; 100], false).unwrap();
        assert!(spool.finish().unwrap().is_none());
    }

    #[test]
    fn an_enforced_track_is_silence_for_every_sample_mixed() {
        let mut spool = Spool::default();
        spool.push(&[0.0; 100], false).unwrap();
        let mut mixed = spool.finish_enforced().unwrap();
        assert_eq!(mixed.samples(), 50);
        let mut out = Vec::new();
        assert_eq!(mixed.read(&mut out, 64).unwrap(), 50);
        assert_eq!(out, vec![0.0; 100]);
        // Something heard: the mix itself.
        let mut spool = Spool::default();
        spool.push(&[0.25; 4], true).unwrap();
        assert_eq!(spool.finish_enforced().unwrap().samples(), 2);
    }
}
