//! `sites [SITE]`: the RemotionSites of the namespace and their compositions, from their status.

use anyhow::{Context as _, Result};
use kube::ResourceExt as _;
use kube::api::ListParams;
use remotion_crds::RemotionSite;
use remotion_crds::common::find_condition;

use crate::args::SitesArgs;
use crate::cluster::Cluster;
use crate::{Exit, table};

/// The `sites` command.
pub async fn run(cluster: &Cluster, args: &SitesArgs) -> Result<Exit> {
    let api = cluster.sites();
    let sites = match &args.site {
        Some(name) => vec![api.get(name).await.with_context(|| format!("reading remotionsite/{name}"))?],
        None => {
            api.list(&ListParams::default())
                .await
                .with_context(|| format!("listing RemotionSites in {}", cluster.namespace))?
                .items
        }
    };
    if sites.is_empty() {
        println!("No RemotionSites in namespace {}.", cluster.namespace);
    } else {
        print!("{}", listing(&sites));
    }
    Ok(Exit::Success)
}

/// One row per composition; a site without any gets a row with `-` and a note below saying why.
pub fn listing(sites: &[RemotionSite]) -> String {
    let mut rows = Vec::new();
    let mut notes = String::new();
    for site in sites {
        let status = site.status.clone().unwrap_or_default();
        let ready = find_condition(&status.conditions, "Ready");
        let ready_text = ready.map_or_else(|| "Unknown".to_owned(), |c| c.status.clone());
        if status.compositions.is_empty() {
            let why =
                ready.map(|c| c.message.clone()).filter(|m| !m.is_empty()).unwrap_or_else(|| "not synced yet".into());
            rows.push(vec![site.name_any(), ready_text.clone(), "-".into()]);
            notes.push_str(&format!("{}: no compositions listed yet ({why})\n", site.name_any()));
        }
        for c in &status.compositions {
            rows.push(vec![
                site.name_any(),
                ready_text.clone(),
                c.id.clone(),
                c.width.to_string(),
                c.height.to_string(),
                fps(c.fps),
                c.duration_in_frames.to_string(),
                seconds(c.duration_in_frames, c.fps),
            ]);
        }
    }
    let mut out =
        table::render(&["SITE", "READY", "COMPOSITION", "WIDTH", "HEIGHT", "FPS", "FRAMES", "DURATION"], &rows);
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes);
    }
    out
}

/// `30`, `29.97`.
fn fps(fps: f64) -> String {
    let text = format!("{fps:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `10.0 s`.
fn seconds(frames: i64, fps: f64) -> String {
    if fps > 0.0 { format!("{:.1} s", frames as f64 / fps) } else { String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compositions_are_listed_with_size_rate_and_length() {
        let site: RemotionSite = serde_json::from_value(json!({"apiVersion": "remotion-operator.io/v1alpha1",
            "kind": "RemotionSite", "metadata": {"name": "fixture"},
            "spec": {"bucketRef": {"name": "b"}, "source": {"url": "https://example.com/s.tgz", "sha256": "0".repeat(64)}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Synced", "message": "",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                       "compositions": [{"id": "Intro", "width": 1920, "height": 1080, "fps": 30.0, "durationInFrames": 300},
                                        {"id": "Tiny", "width": 160, "height": 90, "fps": 29.97, "durationInFrames": 10000}]}}))
        .unwrap();
        let pending: RemotionSite = serde_json::from_value(json!({"apiVersion": "remotion-operator.io/v1alpha1",
            "kind": "RemotionSite", "metadata": {"name": "new"},
            "spec": {"bucketRef": {"name": "b"}, "source": {"url": "https://example.com/s.tgz", "sha256": "0".repeat(64)}}}))
        .unwrap();
        assert_eq!(
            listing(&[site, pending]),
            "SITE     READY    COMPOSITION  WIDTH  HEIGHT  FPS    FRAMES  DURATION\n\
             fixture  True     Intro        1920   1080    30     300     10.0 s\n\
             fixture  True     Tiny         160    90      29.97  10000   333.7 s\n\
             new      Unknown  -\n\
             \n\
             new: no compositions listed yet (not synced yet)\n"
        );
    }
}
