//! A site's compositions, metadata resolved for the input props, each time in a tab of its own
//! that renders no frame (Remotion's `getCompositions` and `selectComposition`), and what a
//! render takes from a resolved composition.

use std::time::Duration;

use remotion_protocol::payload::{CompositionMetadata, CompositionOverrides, EncodingDefaults};

use crate::capture::browser::Browser;
use crate::capture::page::{RemotionTab, ResolvedComposition, TabSetup};
use crate::capture::site::Site;
use crate::error::RenderError;

/// Every composition of a site with metadata resolved for `props`.
pub async fn list_compositions(
    browser: &Browser,
    site: &Site,
    serialized_props: &str,
    timeout: Duration,
) -> Result<Vec<CompositionMetadata>, RenderError> {
    let setup = TabSetup::metadata(serialized_props.to_owned(), timeout).with_page(browser.page_settings());
    let tab = RemotionTab::open(browser.new_tab().await?, &site.url, &setup).await?;
    let result = async {
        tab.evaluate_root().await?;
        tab.compositions().await
    }
    .await;
    tab.close().await;
    Ok(result?.iter().map(ResolvedComposition::metadata).collect())
}

/// One composition, metadata resolved for `props` (Remotion's `selectComposition`).
pub async fn resolve_composition(
    browser: &Browser,
    site: &Site,
    id: &str,
    serialized_props: &str,
    timeout: Duration,
) -> Result<ResolvedComposition, RenderError> {
    let setup = TabSetup::metadata(serialized_props.to_owned(), timeout).with_page(browser.page_settings());
    let mut tab = RemotionTab::open(browser.new_tab().await?, &site.url, &setup).await?;
    let result = async {
        tab.evaluate_root().await?;
        tab.calculate_composition(id).await
    }
    .await;
    tab.close().await;
    result
}

/// The composition with Remotion's `force*` overrides in place of what `calculateMetadata`
/// resolved: the page is then laid out, timed and sized by them (`setBundleMode` passes the
/// composition's size, rate and length, as Remotion's renderer passes its overridden one).
pub fn overridden(mut composition: ResolvedComposition, overrides: &CompositionOverrides) -> ResolvedComposition {
    let forced = overrides.apply(composition.metadata());
    (composition.width, composition.height, composition.fps, composition.duration_in_frames) =
        (forced.width, forced.height, forced.fps, forced.duration_in_frames);
    composition
}

/// The encoding defaults `calculateMetadata` declared, as the page returned them.
pub fn encoding_defaults(composition: &ResolvedComposition) -> EncodingDefaults {
    let field = |name: &str| composition.raw.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    EncodingDefaults {
        composition: composition.id.clone(),
        codec: composition.default_codec.clone(),
        video_image_format: field("defaultVideoImageFormat"),
        pixel_format: field("defaultPixelFormat"),
        pro_res_profile: field("defaultProResProfile"),
        sample_rate: composition.raw.get("defaultSampleRate").filter(|v| !v.is_null()).cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_defaults_are_read_off_the_resolved_composition() {
        let metadata = CompositionMetadata {
            id: "Defaults".into(),
            width: 160,
            height: 90,
            fps: 30.0,
            duration_in_frames: 30,
            default_codec: Some("vp9".into()),
            default_out_name: Some("recap".into()),
        };
        let mut composition = ResolvedComposition::from_metadata(&metadata, "{}".into());
        composition.raw["defaultPixelFormat"] = "yuv444p".into();
        composition.raw["defaultSampleRate"] = 44_100.into();
        let defaults = encoding_defaults(&composition);
        assert_eq!(defaults.sample_rate, Some(44_100.into()));
        assert_eq!((defaults.codec.as_deref(), defaults.pixel_format.as_deref()), (Some("vp9"), Some("yuv444p")));
        assert_eq!(defaults.video_image_format, None);
        let forced = overridden(composition, &CompositionOverrides { height: Some(120), ..Default::default() });
        assert_eq!((forced.width, forced.height, forced.metadata().height), (160, 120, 120));
    }
}
