//! `logs JOB`: what is known of a render without AWS access — its conditions, the errors in
//! its status, and the Events about it (`events.k8s.io/v1`, where the operator writes them and
//! where clusters also serve core Events), oldest first.

use std::fmt::Write as _;

use anyhow::{Context as _, Result};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, ResourceExt as _};
use remotion_crds::RenderJob;

use crate::args::LogsArgs;
use crate::cluster::Cluster;
use crate::{Exit, format, report, table};

/// The `logs` command.
pub async fn run(cluster: &Cluster, args: &LogsArgs) -> Result<Exit> {
    let name = &args.job;
    let job =
        cluster.jobs().get(name).await.with_context(|| format!("reading renderjob/{name} in {}", cluster.namespace))?;
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let events = events
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing Events in {}", cluster.namespace))?
        .items;
    print!("{}", text(&job, &events, Timestamp::now()));
    Ok(Exit::Success)
}

/// The whole report at time `now`.
pub fn text(job: &RenderJob, events: &[Event], now: Timestamp) -> String {
    let status = job.status.clone().unwrap_or_default();
    let phase = status.phase.map_or_else(|| "Pending".to_owned(), |p| format!("{p:?}"));
    let mut out = format!(
        "RenderJob {} ({} of site {}, function {}): {phase}",
        job.name_any(),
        job.spec.composition,
        job.spec.site_ref.name,
        job.spec.function_ref.name
    );
    if let Some(p) = &status.progress {
        let _ = write!(out, ", {}% ({})", p.percent, p.stage);
    }
    if let Some(cost) = &status.cost {
        let _ = write!(out, ", cost {}", format::usd(&cost.accrued_usd));
    }
    out.push('\n');
    if let Some(id) = &status.render_id {
        let _ = writeln!(out, "Render id: {id}");
    }

    out.push_str("\nConditions:\n");
    if status.conditions.is_empty() {
        out.push_str("  (none yet)\n");
    } else {
        let rows: Vec<Vec<String>> = status
            .conditions
            .iter()
            .map(|c| {
                vec![
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    format::age(c.last_transition_time.0, now),
                    c.message.clone(),
                ]
            })
            .collect();
        out.push_str(&indent(&table::render(&["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], &rows)));
    }

    out.push_str("\nErrors (newest first):\n");
    if status.errors.is_empty() {
        out.push_str("  (none)\n");
    }
    for e in status.errors.iter().rev() {
        let _ = writeln!(out, "  {}", report::error_line(e));
    }

    out.push_str("\nEvents:\n");
    let mut about: Vec<(Timestamp, &Event)> = events.iter().filter(|e| regards(e, job)).map(|e| (when(e), e)).collect();
    about.sort_by_key(|(at, _)| *at);
    if about.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let rows: Vec<Vec<String>> = about
            .iter()
            .map(|(at, e)| {
                let count = e.series.as_ref().map(|s| s.count).or(e.deprecated_count).unwrap_or(1);
                vec![
                    format::age(*at, now),
                    e.type_.clone().unwrap_or_default(),
                    e.reason.clone().unwrap_or_default(),
                    count.to_string(),
                    e.note.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&indent(&table::render(&["LAST SEEN", "TYPE", "REASON", "COUNT", "MESSAGE"], &rows)));
    }
    out
}

/// The Event is about this job (this incarnation of the name, when the Event says its UID).
fn regards(event: &Event, job: &RenderJob) -> bool {
    let Some(r) = &event.regarding else { return false };
    r.kind.as_deref() == Some("RenderJob")
        && r.name.as_deref() == Some(job.name_any().as_str())
        && (r.uid.is_none() || r.uid == job.metadata.uid)
}

/// When the Event last happened.
fn when(event: &Event) -> Timestamp {
    event
        .series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or(event.event_time.as_ref().map(|t| t.0))
        .or(event.deprecated_last_timestamp.as_ref().map(|t| t.0))
        .or(event.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(name: &str, uid: &str, at: &str, reason: &str, note: &str) -> Event {
        serde_json::from_value(json!({"metadata": {"name": format!("{name}.{reason}")}, "eventTime": at,
            "regarding": {"kind": "RenderJob", "name": name, "uid": uid}, "type": "Normal", "reason": reason,
            "note": note, "action": "Render", "reportingController": "remotion-operator", "reportingInstance": "x"}))
        .unwrap()
    }

    #[test]
    fn the_jobs_conditions_errors_and_events_in_time_order() {
        let job: RenderJob = serde_json::from_value(json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob",
            "metadata": {"name": "intro", "uid": "u1"},
            "spec": {"siteRef": {"name": "fixture"}, "functionRef": {"name": "renderer"}, "composition": "Intro"},
            "status": {"phase": "Failed", "renderId": "u1",
                "conditions": [{"type": "Failed", "status": "True", "reason": "ChunkFailed", "message": "chunk 1 failed",
                                "lastTransitionTime": "2026-01-01T00:00:50Z"}],
                "errors": [{"chunk": 1, "frames": "20-39", "attempt": 1, "retried": true, "message": "crashed"}]}}))
        .unwrap();
        let events = [
            event("intro", "u1", "2026-01-01T00:00:40.000000Z", "Rendering", "launched"),
            event("intro", "u1", "2026-01-01T00:00:10.000000Z", "Queued", "waiting"),
            event("intro", "old-uid", "2026-01-01T00:00:20.000000Z", "Succeeded", "an earlier job of that name"),
            event("other", "u2", "2026-01-01T00:00:30.000000Z", "Rendering", "another job"),
        ];
        let now: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let text = text(&job, &events, now);
        assert!(
            text.starts_with("RenderJob intro (Intro of site fixture, function renderer): Failed\nRender id: u1\n"),
            "{text}"
        );
        assert!(text.contains("  Failed  True    ChunkFailed  10s  chunk 1 failed\n"), "{text}");
        assert!(text.contains("  chunk 1, frames 20-39, attempt 1 (retried): crashed\n"), "{text}");
        let queued = text.find("Queued").unwrap();
        let launched = text.find("launched").unwrap();
        assert!(queued < launched, "oldest first:\n{text}");
        assert!(text.contains("50s        Normal  Queued"), "{text}");
        assert!(!text.contains("another job") && !text.contains("earlier job"), "{text}");
    }
}
