//! A site's compositions, metadata resolved for the input props, each time in a tab of its own
//! that renders no frame (Remotion's `getCompositions` and `selectComposition`).

use std::time::Duration;

use remotion_protocol::payload::CompositionMetadata;

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
    let setup = TabSetup::metadata(serialized_props.to_owned(), timeout);
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
    let setup = TabSetup::metadata(serialized_props.to_owned(), timeout);
    let mut tab = RemotionTab::open(browser.new_tab().await?, &site.url, &setup).await?;
    let result = async {
        tab.evaluate_root().await?;
        tab.calculate_composition(id).await
    }
    .await;
    tab.close().await;
    result
}
