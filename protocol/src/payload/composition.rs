//! The `compositions` action, a composition's resolved metadata, and what a render changes of
//! it: Remotion's `force*` overrides, and the `calculateMetadata` defaults that fill the
//! encoding options a job leaves unset (an explicit option, then the composition's default,
//! then Remotion's default).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{EncodingSettings, SerializedProps, SiteLocation};
use crate::media::{Codec, PixelFormat, ProResProfile, VideoImageFormat};

/// Request of `compositions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositionsRequest {
    /// Protocol version of the caller.
    pub protocol_version: u32,
    /// The site.
    pub site: SiteLocation,
    /// Props to resolve metadata with.
    pub input_props: SerializedProps,
    /// delayRender timeout, ms.
    pub timeout_ms: u64,
}

/// Metadata of a composition, resolved for given props (`calculateMetadata` applied).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositionMetadata {
    /// Composition id.
    pub id: String,
    /// Width, px.
    pub width: u32,
    /// Height, px.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Length, frames.
    pub duration_in_frames: u64,
    /// The composition's default codec, if it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_codec: Option<String>,
    /// The composition's default output name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_out_name: Option<String>,
}

/// Response of `compositions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositionsResponse {
    /// Every composition of the site.
    pub compositions: Vec<CompositionMetadata>,
}

/// Remotion's `forceWidth`, `forceHeight`, `forceFps` and `forceDurationInFrames`: the
/// composition is rendered with these instead of what `calculateMetadata` resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositionOverrides {
    /// Width, px.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height, px.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Frames per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// Length, frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_in_frames: Option<u64>,
}

impl CompositionOverrides {
    /// Nothing is overridden (kept off the wire).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The metadata with the overridden values in place of the resolved ones.
    pub fn apply(&self, mut metadata: CompositionMetadata) -> CompositionMetadata {
        metadata.width = self.width.unwrap_or(metadata.width);
        metadata.height = self.height.unwrap_or(metadata.height);
        metadata.fps = self.fps.unwrap_or(metadata.fps);
        metadata.duration_in_frames = self.duration_in_frames.unwrap_or(metadata.duration_in_frames);
        metadata
    }
}

/// A default the composition's `calculateMetadata` declared that this renderer cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "composition {composition} declares {field} {value:?} in calculateMetadata, which this renderer does not \
     support: set {option} in the RenderJob"
)]
pub struct UnsupportedDefault {
    /// Composition id.
    pub composition: String,
    /// The composition's field (`defaultCodec`, …).
    pub field: &'static str,
    /// Its value.
    pub value: String,
    /// The RenderJob option that replaces it.
    pub option: &'static str,
}

/// The encoding defaults a composition's `calculateMetadata` may declare (Remotion's
/// `defaultCodec`, `defaultVideoImageFormat`, `defaultPixelFormat`, `defaultProResProfile`,
/// `defaultSampleRate`), as the page returned them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodingDefaults {
    /// Composition id (for messages).
    pub composition: String,
    /// `defaultCodec`.
    pub codec: Option<String>,
    /// `defaultVideoImageFormat`.
    pub video_image_format: Option<String>,
    /// `defaultPixelFormat`.
    pub pixel_format: Option<String>,
    /// `defaultProResProfile`.
    pub pro_res_profile: Option<String>,
    /// `defaultSampleRate`, Hz, as the page returned it (any JSON value: checked here).
    pub sample_rate: Option<serde_json::Value>,
}

impl EncodingDefaults {
    fn parsed<T: DeserializeOwned>(
        &self,
        value: &Option<String>,
        field: &'static str,
        option: &'static str,
    ) -> Result<Option<T>, UnsupportedDefault> {
        let Some(value) = value else { return Ok(None) };
        serde_json::from_value(serde_json::Value::String(value.clone())).map(Some).map_err(|_| UnsupportedDefault {
            composition: self.composition.clone(),
            field,
            value: value.clone(),
            option,
        })
    }
}

impl EncodingSettings {
    /// Fills the options the job left unset from the composition's defaults: the codec (unless
    /// `codec_chosen`), the audio's sample rate, then, for that codec, the frame format, the
    /// pixel format and (prores only) the ProRes profile. Options the job set are kept. A default that does not fit the
    /// codec is left to the encoder, which refuses it as it would refuse the job's own.
    pub fn with_composition_defaults(
        mut self,
        defaults: &EncodingDefaults,
        codec_chosen: bool,
    ) -> Result<Self, UnsupportedDefault> {
        // An image sequence has no codec: the composition's would only get in the way.
        if !codec_chosen
            && self.image_sequence.is_none()
            && let Some(codec) = defaults.parsed::<Codec>(&defaults.codec, "defaultCodec", "codec")?
        {
            self.codec = codec;
        }
        if self.sample_rate.is_none()
            && let Some(value) = &defaults.sample_rate
        {
            let rate = value.as_u64().and_then(|r| u32::try_from(r).ok()).filter(|r| *r > 0);
            self.sample_rate = Some(rate.ok_or_else(|| UnsupportedDefault {
                composition: defaults.composition.clone(),
                field: "defaultSampleRate",
                value: value.to_string(),
                option: "sampleRate",
            })?);
        }
        if self.codec.is_audio_only() {
            return Ok(self);
        }
        if self.image_format.is_none() {
            self.image_format = defaults.parsed::<VideoImageFormat>(
                &defaults.video_image_format,
                "defaultVideoImageFormat",
                "imageFormat",
            )?;
        }
        if self.pixel_format.is_none() {
            self.pixel_format =
                defaults.parsed::<PixelFormat>(&defaults.pixel_format, "defaultPixelFormat", "pixelFormat")?;
        }
        if self.codec == Codec::Prores && self.pro_res_profile.is_none() {
            self.pro_res_profile =
                defaults.parsed::<ProResProfile>(&defaults.pro_res_profile, "defaultProResProfile", "proResProfile")?;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> EncodingDefaults {
        EncodingDefaults {
            composition: "Defaults".into(),
            codec: Some("vp9".into()),
            video_image_format: Some("png".into()),
            pixel_format: Some("yuva420p".into()),
            pro_res_profile: Some("4444".into()),
            sample_rate: Some(44_100.into()),
        }
    }

    #[test]
    fn unset_options_take_the_compositions_defaults() {
        let resolved = EncodingSettings::default().with_composition_defaults(&defaults(), false).unwrap();
        assert_eq!(resolved.codec, Codec::Vp9);
        assert_eq!(resolved.image_format, Some(VideoImageFormat::Png));
        assert_eq!(resolved.pixel_format, Some(PixelFormat::Yuva420p));
        assert_eq!(resolved.pro_res_profile, None, "a ProRes profile is for prores only");
        assert_eq!(resolved.sample_rate, Some(44_100));
    }

    #[test]
    fn the_sample_rate_default_applies_to_audio_only_codecs_and_yields_to_the_jobs() {
        let wav = EncodingSettings { codec: Codec::Wav, ..Default::default() };
        assert_eq!(wav.clone().with_composition_defaults(&defaults(), true).unwrap().sample_rate, Some(44_100));
        let chosen = EncodingSettings { sample_rate: Some(32_000), ..wav };
        assert_eq!(chosen.with_composition_defaults(&defaults(), true).unwrap().sample_rate, Some(32_000));
        for odd in [serde_json::json!("44100"), serde_json::json!(-1), serde_json::json!(44_100.5)] {
            let declared = EncodingDefaults { sample_rate: Some(odd), ..defaults() };
            let error = EncodingSettings::default().with_composition_defaults(&declared, false).unwrap_err();
            assert_eq!((error.field, error.option), ("defaultSampleRate", "sampleRate"));
        }
    }

    #[test]
    fn options_the_job_sets_win_over_the_defaults() {
        let chosen = EncodingSettings {
            codec: Codec::Prores,
            pixel_format: Some(PixelFormat::Yuv422p10le),
            ..Default::default()
        };
        let resolved = chosen.with_composition_defaults(&defaults(), true).unwrap();
        assert_eq!((resolved.codec, resolved.pixel_format), (Codec::Prores, Some(PixelFormat::Yuv422p10le)));
        assert_eq!(resolved.pro_res_profile, Some(ProResProfile::P4444));
        let plain = EncodingDefaults { composition: "Plain".into(), ..Default::default() };
        let resolved = EncodingSettings::default().with_composition_defaults(&plain, false).unwrap();
        assert_eq!((resolved.codec, resolved.pixel_format, resolved.image_format), (Codec::H264, None, None));
    }

    #[test]
    fn a_default_the_renderer_cannot_use_names_the_option_to_set() {
        let odd = EncodingDefaults { codec: Some("h264-mkv".into()), ..defaults() };
        let error = EncodingSettings::default().with_composition_defaults(&odd, false).unwrap_err();
        assert_eq!((error.field, error.option), ("defaultCodec", "codec"));
        assert!(EncodingSettings::default().with_composition_defaults(&odd, true).is_ok(), "unused when chosen");
    }

    #[test]
    fn overrides_replace_what_calculate_metadata_resolved() {
        let forced = CompositionOverrides { width: Some(200), fps: Some(12.0), ..Default::default() };
        let composition = CompositionMetadata {
            id: "Defaults".into(),
            width: 320,
            height: 180,
            fps: 30.0,
            duration_in_frames: 60,
            default_codec: None,
            default_out_name: None,
        };
        let m = forced.apply(composition);
        assert_eq!((m.width, m.height, m.fps, m.duration_in_frames), (200, 180, 12.0, 60));
        assert!(CompositionOverrides::default().is_empty() && !forced.is_empty());
    }
}
