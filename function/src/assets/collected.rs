//! The render assets a page reports for a frame (`window.remotion_collectAssets()`, Remotion's
//! `TRenderAsset`), typed. Only what plays sound is kept; artifacts are [`super::artifacts`]'.

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use crate::error::RenderError;

/// A source played by `<Audio>`, `<Video>` (and their Html5/Offthread variants) on one frame.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MediaAsset {
    /// Absolute URL of the source (the page resolves `staticFile()` against its own origin).
    pub src: String,
    /// Stable per element and sequence: the same id on consecutive frames is one playback.
    pub id: String,
    /// Composition frame.
    pub frame: f64,
    /// Volume on this frame (a `volume` callback is evaluated by the page per frame).
    #[serde(default = "one")]
    pub volume: f64,
    /// Frame of the media's own timeline shown on this frame (after `startFrom`/`trimBefore`).
    pub media_frame: f64,
    /// Playback rate.
    #[serde(default = "one")]
    pub playback_rate: f64,
    /// Pitch factor (1: unchanged).
    #[serde(default = "one", deserialize_with = "number_or_one")]
    pub tone_frequency: f64,
    /// Frame of the media where playback started (before it, `playbackRate` does not apply).
    #[serde(default)]
    pub audio_start_frame: f64,
    /// Which audio stream of the source (0: the first).
    #[serde(default)]
    pub audio_stream_index: Option<u32>,
}

fn one() -> f64 {
    1.0
}

fn number_or_one<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(1.0))
}

/// Samples `@remotion/media` decoded for one frame, volume already applied.
#[derive(Clone, Debug, PartialEq)]
pub struct InlineAudio {
    /// Stable per element.
    pub id: String,
    /// Composition frame whose slot the samples fill.
    pub frame: u64,
    /// Interleaved stereo 16-bit samples at the page's `remotion_sampleRate` (48 kHz).
    pub samples: Vec<i16>,
    /// Pitch factor (1: unchanged).
    pub tone_frequency: f64,
}

/// What a frame plays.
#[derive(Clone, Debug, PartialEq)]
pub enum RenderAsset {
    /// `type: 'audio'` or `'video'`: a source to decode.
    Media(MediaAsset),
    /// `type: 'inline-audio'`: samples to add.
    Inline(InlineAudio),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInline {
    id: String,
    audio: Value,
    frame: f64,
    #[serde(default = "one", deserialize_with = "number_or_one")]
    tone_frequency: f64,
}

fn unexpected(what: &str, e: impl std::fmt::Display) -> RenderError {
    RenderError::IncompatibleSite(format!("unexpected {what} asset from remotion_collectAssets(): {e}"))
}

/// The sound-producing assets among a frame's `remotion_collectAssets()` result.
pub fn parse(value: Value) -> Result<Vec<RenderAsset>, RenderError> {
    let Value::Array(items) = value else {
        return Err(unexpected("a non-array", "the page did not return a list"));
    };
    let mut assets = Vec::new();
    for item in items {
        match item.get("type").and_then(Value::as_str) {
            Some("audio" | "video") => {
                assets.push(RenderAsset::Media(serde_json::from_value(item).map_err(|e| unexpected("media", e))?));
            }
            Some("inline-audio") => {
                let raw: RawInline = serde_json::from_value(item).map_err(|e| unexpected("inline-audio", e))?;
                assets.push(RenderAsset::Inline(InlineAudio {
                    id: raw.id,
                    frame: raw.frame.max(0.0).round() as u64,
                    samples: inline_samples(raw.audio).map_err(|e| unexpected("inline-audio", e))?,
                    tone_frequency: raw.tone_frequency,
                }));
            }
            // Artifacts and anything newer: nothing to hear.
            _ => {}
        }
    }
    Ok(assets)
}

/// The samples of an inline-audio asset. `@remotion/media` sends `Array.from(Int16Array)` when
/// rendering on a server (a plain number list); an `Int16Array` passed by value arrives as an
/// object keyed by index; a string is taken as base64 of 16-bit little-endian PCM or of a WAV
/// file holding it.
fn inline_samples(audio: Value) -> Result<Vec<i16>, String> {
    let to_i16 = |v: &Value| v.as_f64().map(|x| x.round().clamp(-32768.0, 32767.0) as i16);
    match audio {
        Value::Array(items) => items.iter().map(|v| to_i16(v).ok_or("a sample is not a number".to_owned())).collect(),
        Value::Object(map) => {
            let mut indexed: Vec<(usize, i16)> = map
                .iter()
                .map(|(k, v)| Some((k.parse().ok()?, to_i16(v)?)))
                .collect::<Option<_>>()
                .ok_or("samples are neither a list nor an indexed object")?;
            indexed.sort_unstable_by_key(|(i, _)| *i);
            Ok(indexed.into_iter().map(|(_, s)| s).collect())
        }
        Value::String(text) => {
            let text = text.split_once("base64,").map_or(text.as_str(), |(_, data)| data);
            let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| e.to_string())?;
            let pcm = wav_data(&bytes).unwrap_or(&bytes);
            Ok(pcm.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect())
        }
        other => Err(format!("samples are {other}")),
    }
}

/// The `data` chunk of a RIFF/WAVE file.
fn wav_data(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        if &bytes[at..at + 4] == b"data" {
            return bytes.get(at + 8..(at + 8 + size).min(bytes.len()));
        }
        at += 8 + size + size % 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn media_assets_parse_with_remotion_defaults() {
        let assets = parse(json!([
            {"type": "audio", "src": "http://127.0.0.1:1/public/tone.wav", "id": "audio-1", "frame": 4,
             "volume": 0.5, "mediaFrame": 4, "playbackRate": 1, "toneFrequency": null, "audioStartFrame": 0,
             "audioStreamIndex": 0},
            {"type": "artifact", "id": "a", "filename": "x.txt", "frame": 4, "content": "hi", "contentType": "text"},
            {"type": "video", "src": "http://h/v.mp4", "id": "v", "frame": 4, "mediaFrame": 10},
        ]))
        .unwrap();
        assert_eq!(assets.len(), 2);
        let RenderAsset::Media(audio) = &assets[0] else { panic!("{assets:?}") };
        assert_eq!((audio.volume, audio.tone_frequency, audio.audio_stream_index), (0.5, 1.0, Some(0)));
        let RenderAsset::Media(video) = &assets[1] else { panic!("{assets:?}") };
        assert_eq!((video.volume, video.playback_rate, video.media_frame), (1.0, 1.0, 10.0));
    }

    #[test]
    fn inline_audio_comes_as_numbers_indexed_objects_or_base64() {
        let list = parse(json!([{"type": "inline-audio", "id": "i", "audio": [1, -2, 3, 40000], "frame": 7,
            "startInVideo": 0, "timestamp": 0, "duration": 33333, "toneFrequency": 1}]))
        .unwrap();
        assert_eq!(
            list,
            vec![RenderAsset::Inline(InlineAudio {
                id: "i".into(),
                frame: 7,
                samples: vec![1, -2, 3, 32767],
                tone_frequency: 1.0
            })]
        );
        let object =
            parse(json!([{"type": "inline-audio", "id": "i", "audio": {"1": -2, "0": 1}, "frame": 7}])).unwrap();
        let RenderAsset::Inline(inline) = &object[0] else { panic!() };
        assert_eq!(inline.samples, vec![1, -2]);

        let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
        wav.extend_from_slice(&[1, 0, 2, 0, 0x80, 0xbb, 0, 0, 0, 0xee, 2, 0, 4, 0, 16, 0]);
        wav.extend_from_slice(b"data\x04\0\0\0\x01\0\xfe\xff");
        let encoded = base64::engine::general_purpose::STANDARD.encode(&wav);
        let base64 = parse(json!([{"type": "inline-audio", "id": "i", "audio": encoded, "frame": 1}])).unwrap();
        let RenderAsset::Inline(inline) = &base64[0] else { panic!() };
        assert_eq!(inline.samples, vec![1, -2]);
    }

    #[test]
    fn malformed_sound_assets_are_errors() {
        assert!(parse(json!([{"type": "audio", "id": "x"}])).is_err());
        assert!(parse(json!({"type": "audio"})).is_err());
    }
}
