//! What the plugin says when a job ends: the summary of a success (stdout), the reason and
//! recent errors of a failure (stderr).

use std::fmt::Write as _;
use std::time::Duration;

use kube::ResourceExt as _;
use remotion_crds::RenderJob;
use remotion_crds::common::find_condition;
use remotion_crds::render_job::{RenderErrorEntry, RenderPhase};

use crate::format;

/// Errors a failure report lists (the status keeps the last 10).
const RECENT_ERRORS: usize = 5;

/// The job's phase, if its status has one.
pub fn phase(job: &RenderJob) -> Option<RenderPhase> {
    job.status.as_ref().and_then(|s| s.phase)
}

/// The summary of a succeeded job: time, frames, cost, output and URL.
pub fn summary(job: &RenderJob, elapsed: Duration) -> String {
    let mut out = format!("Done: renderjob/{} succeeded in {}\n", job.name_any(), format::duration(elapsed));
    let Some(status) = &job.status else { return out };
    if let Some(p) = &status.progress {
        let _ = writeln!(out, "  Frames:  {} in {} chunk(s)", p.frames_total, p.chunks_total);
    }
    if let Some(cost) = &status.cost {
        let _ = writeln!(out, "  Cost:    {}", cost_line(cost));
    }
    if let Some(output) = &status.output {
        let size = u64::try_from(output.size_bytes).unwrap_or(0);
        let _ = writeln!(out, "  Output:  {} ({}, {})", output.s3_uri, format::bytes(size), output.content_type);
        if let (Some(frames), Some(pattern)) = (output.frames, &output.sequence_pattern) {
            let _ = writeln!(out, "  Files:   {frames} frames named {pattern}");
        }
        if let Some(archive) = &output.archive {
            let size = u64::try_from(archive.size_bytes).unwrap_or(0);
            let _ = writeln!(out, "  Archive: {} ({})", archive.s3_uri, format::bytes(size));
        }
        if let Some(url) = &output.url {
            let expires = output.url_expires_at.as_ref().map(|t| format!(" (valid until {})", t.0)).unwrap_or_default();
            let _ = writeln!(out, "  URL:     {url}{expires}");
        }
    }
    out
}

fn cost_line(cost: &remotion_crds::render_job::RenderCost) -> String {
    format!(
        "{} ({} invocation(s), {} billed ms)",
        format::usd(&cost.accrued_usd),
        cost.invocations,
        format::thousands(cost.billed_milliseconds)
    )
}

/// Why a job failed: its `Failed` condition, recent errors, the cost so far.
pub fn failure(job: &RenderJob) -> String {
    let name = job.name_any();
    let status = job.status.clone().unwrap_or_default();
    let phase = status.phase.map_or_else(|| "ended".to_owned(), |p| format!("{p:?}"));
    let mut out = match find_condition(&status.conditions, "Failed").filter(|c| c.status == "True") {
        Some(c) => format!("renderjob/{name} {phase} ({}): {}\n", c.reason, c.message),
        None => format!("renderjob/{name} {phase}\n"),
    };
    let recent: Vec<&RenderErrorEntry> = status.errors.iter().rev().take(RECENT_ERRORS).collect();
    if !recent.is_empty() {
        out.push_str("Recent errors (newest first):\n");
        for e in recent {
            let _ = writeln!(out, "  {}", error_line(e));
        }
    }
    if let Some(cost) = &status.cost {
        let _ = writeln!(out, "Cost so far: {}", cost_line(cost));
    }
    let _ = writeln!(out, "`kubectl remotion logs {name}` shows its conditions and Events.");
    out
}

/// One of `status.errors`: `chunk 3, frames 40-59, attempt 2 (retried): message`.
pub fn error_line(e: &RenderErrorEntry) -> String {
    let mut place = Vec::new();
    if let Some(chunk) = e.chunk {
        place.push(format!("chunk {chunk}"));
    }
    if let Some(frames) = &e.frames {
        place.push(format!("frames {frames}"));
    }
    if let Some(attempt) = e.attempt {
        place.push(format!("attempt {attempt}"));
    }
    let retried = if e.retried { " (retried)" } else { "" };
    if place.is_empty() {
        format!("{}{retried}", e.message)
    } else {
        format!("{}{retried}: {}", place.join(", "), e.message)
    }
}

/// A cancelled job: what it cost.
pub fn cancelled(job: &RenderJob) -> String {
    let cost = job.status.as_ref().and_then(|s| s.cost.as_ref()).map(|c| format!("; cost {}", cost_line(c)));
    format!("renderjob/{} cancelled{}", job.name_any(), cost.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(status: serde_json::Value) -> RenderJob {
        serde_json::from_value(json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob", "metadata": {"name": "intro"},
            "spec": {"siteRef": {"name": "s"}, "functionRef": {"name": "f"}, "composition": "Intro"},
            "status": status}))
        .unwrap()
    }

    #[test]
    fn a_summary_names_time_cost_output_and_url() {
        let done = job(json!({"phase": "Succeeded",
            "progress": {"percent": 100, "framesRendered": 60, "framesTotal": 60, "chunksDone": 3, "chunksTotal": 3, "stage": "done"},
            "cost": {"accruedUsd": "0.00428", "billedMilliseconds": 120807, "invocations": 7},
            "output": {"url": "https://b.s3.amazonaws.com/renders/1/out.mp4?X-Amz-Signature=x", "s3Uri": "s3://b/renders/1/out.mp4",
                       "sizeBytes": 2_100_000, "contentType": "video/mp4"}}));
        assert_eq!(
            summary(&done, Duration::from_millis(46_200)),
            "Done: renderjob/intro succeeded in 46.2 s\n  Frames:  60 in 3 chunk(s)\n  \
             Cost:    $0.00428 (7 invocation(s), 120,807 billed ms)\n  \
             Output:  s3://b/renders/1/out.mp4 (2.10 MB, video/mp4)\n  \
             URL:     https://b.s3.amazonaws.com/renders/1/out.mp4?X-Amz-Signature=x\n"
        );
    }

    #[test]
    fn a_sequence_summary_names_its_frames_and_archive() {
        let done = job(json!({"phase": "Succeeded",
            "output": {"s3Uri": "s3://b/renders/1/frames/", "sizeBytes": 3_000_000, "contentType": "image/png",
                       "frames": 120, "sequencePattern": "element-[frame].png",
                       "archive": {"url": "https://b/renders/1/frames.zip", "s3Uri": "s3://b/renders/1/frames.zip",
                                   "sizeBytes": 3_020_000, "contentType": "application/zip"}}}));
        assert_eq!(
            summary(&done, Duration::from_millis(5_000)),
            "Done: renderjob/intro succeeded in 5.0 s\n  \
             Output:  s3://b/renders/1/frames/ (3.00 MB, image/png)\n  \
             Files:   120 frames named element-[frame].png\n  \
             Archive: s3://b/renders/1/frames.zip (3.02 MB)\n"
        );
    }

    #[test]
    fn a_failure_gives_the_reason_and_newest_errors_first() {
        let failed = job(json!({"phase": "Failed",
            "conditions": [{"type": "Failed", "status": "True", "reason": "ChunkFailed", "message": "chunk 1 failed 2 times",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "errors": [{"chunk": 1, "frames": "20-39", "attempt": 1, "retried": true, "message": "renderer crashed"},
                       {"chunk": 1, "frames": "20-39", "attempt": 2, "message": "renderer crashed again"}],
            "cost": {"accruedUsd": "0.001", "billedMilliseconds": 3000, "invocations": 3}}));
        let text = failure(&failed);
        assert!(text.starts_with("renderjob/intro Failed (ChunkFailed): chunk 1 failed 2 times\n"), "{text}");
        let again = text.find("attempt 2: renderer crashed again").unwrap();
        let first = text.find("attempt 1 (retried): renderer crashed").unwrap();
        assert!(again < first, "{text}");
        assert!(text.contains("Cost so far: $0.001") && text.contains("kubectl remotion logs intro"), "{text}");
    }

    #[test]
    fn a_bare_error_has_no_place() {
        let e = RenderErrorEntry { message: "timed out".into(), ..Default::default() };
        assert_eq!(error_line(&e), "timed out");
    }
}
