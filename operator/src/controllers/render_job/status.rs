//! Step 6: the status a RenderJob should have, from the function's progress document or the
//! operator's own verdict (waiting, stalled, cancelled without confirmation).
//!
//! Conditions follow the bounded-run convention, so that both `kubectl wait
//! --for=condition=Succeeded` and `--for=condition=Failed` end:
//!
//! | phase      | Ready   | Progressing | Succeeded | Failed |
//! |------------|---------|-------------|-----------|--------|
//! | Pending    | Unknown | True        | Unknown   | False  |
//! | Queued     | Unknown | True        | Unknown   | False  |
//! | Rendering  | Unknown | True        | Unknown   | False  |
//! | Succeeded  | True    | False       | True      | False  |
//! | Failed     | False   | False       | False     | True   |
//! | Cancelled  | False   | False       | False     | True (reason `Cancelled`: it ended without output) |
//!
//! kstatus's conditions, present only while true: `Reconciling` in Pending, Queued and
//! Rendering, `Stalled` in Failed (a cancelled job did what it was asked).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use remotion_crds::Reason;
use remotion_crds::common::condition_type;
use remotion_crds::render_job::{
    RenderArtifact, RenderCost, RenderErrorEntry, RenderJobStatus, RenderOutput, RenderPhase, RenderProgress,
    ResolvedRender,
};
use remotion_protocol::money::Usd;
use remotion_protocol::payload::ErrorKind;
use remotion_protocol::progress::{MAX_ERRORS, ProgressDocument, ProgressError, Stage};

use crate::reconcile::conditions::{self, Desired, Status};
use crate::reconcile::kstatus::{self, Standing};

/// Longest error message kept in the status (the schema's limit).
const MAX_ERROR_MESSAGE: usize = 4096;
/// Artifacts the status lists (the CRD's bound; the progress document has them all).
const MAX_STATUS_ARTIFACTS: usize = 100;

/// What the operator knows about a job.
#[derive(Clone, Debug)]
pub enum Verdict<'a> {
    /// Not launched: waiting for references, or about to launch.
    Waiting {
        /// Why.
        reason: Reason,
        /// What it waits for.
        message: String,
        /// Pre-launch cost estimate.
        estimate: Option<Usd>,
    },
    /// Ready to launch, waiting for a slot of its function's capacity.
    Queued {
        /// `Queued` or `NamespaceLimit`.
        reason: Reason,
        /// Its position and what it waits for.
        message: String,
    },
    /// Launched; the function has not written a progress document yet.
    Launched {
        /// When the launch was recorded.
        started_at: Time,
        /// Pre-launch cost estimate.
        estimate: Option<Usd>,
    },
    /// The function's progress document (terminal stages included).
    Progress {
        /// The document.
        doc: &'a ProgressDocument,
        /// The output with its URL, once the document has one.
        output: Option<RenderOutput>,
    },
    /// The operator ends the job itself (invalid spec, stall, cancel without confirmation).
    Ended {
        /// Failed or Cancelled.
        phase: RenderPhase,
        /// Why.
        reason: Reason,
        /// What happened and what to do.
        message: String,
        /// The last progress document, for the cost so far.
        doc: Option<&'a ProgressDocument>,
    },
}

/// A time from milliseconds since the Unix epoch.
pub fn time_from_ms(ms: u64) -> Option<Time> {
    Timestamp::from_millisecond(i64::try_from(ms).ok()?).ok().map(Time)
}

/// Milliseconds since the Unix epoch of a time.
pub fn ms_from_time(time: &Time) -> u64 {
    u64::try_from(time.0.as_millisecond()).unwrap_or(0)
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The progress block of a document.
pub fn progress(doc: &ProgressDocument) -> RenderProgress {
    let percent = i32::from(doc.percent());
    RenderProgress {
        percent,
        display: Some(format!("{percent}%")),
        frames_rendered: clamp_i64(doc.frames_rendered),
        frames_total: clamp_i64(doc.frames_total),
        chunks_done: clamp_i64(doc.chunks_done),
        chunks_total: clamp_i64(doc.chunks_total),
        stage: doc.stage.as_str().to_owned(),
    }
}

/// The cost block of a document; `estimate` is used when the document has none yet.
pub fn cost(doc: &ProgressDocument, estimate: Option<Usd>) -> RenderCost {
    RenderCost {
        accrued_usd: doc.accrued_usd.display(),
        estimated_total_usd: doc.estimated_total_usd.or(estimate).map(Usd::display),
        billed_milliseconds: clamp_i64(doc.billed_milliseconds),
        invocations: clamp_i64(doc.invocations),
    }
}

/// A status error entry from a document's error.
pub fn error_entry(e: &ProgressError) -> RenderErrorEntry {
    let mut message = format!("{}: {}", e.kind.as_str(), e.message);
    if message.len() > MAX_ERROR_MESSAGE {
        let mut cut = MAX_ERROR_MESSAGE - 3;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("...");
    }
    RenderErrorEntry {
        chunk: e.chunk.map(i64::from),
        frames: e.frames.map(|f| f.to_string()),
        attempt: e.attempt.and_then(|a| i32::try_from(a).ok()),
        retried: e.will_retry,
        message,
    }
}

fn errors(doc: &ProgressDocument) -> Vec<RenderErrorEntry> {
    let skip = doc.errors.len().saturating_sub(MAX_ERRORS);
    doc.errors.iter().skip(skip).map(error_entry).collect()
}

/// The estimate recorded in a status (kept from before launch).
fn recorded_estimate(current: &RenderJobStatus) -> Option<Usd> {
    current.cost.as_ref().and_then(|c| c.estimated_total_usd.as_deref()).and_then(|s| s.parse().ok())
}

/// The phase, reason and message a document stands for.
fn judge(doc: &ProgressDocument, output: Option<&RenderOutput>) -> (RenderPhase, Reason, String) {
    let p = progress(doc);
    match doc.stage {
        Stage::Done if output.is_some() => {
            (RenderPhase::Succeeded, Reason::Succeeded, format!("rendered {} frames", doc.frames_total))
        }
        Stage::Done => (
            RenderPhase::Failed,
            Reason::NoOutput,
            "the function reported the render done but named no output object".into(),
        ),
        Stage::Failed => match &doc.fatal {
            // A chunk that saw the cancel object first made older functions report a failure.
            Some(f) if f.kind == ErrorKind::Cancelled => {
                (RenderPhase::Cancelled, Reason::Cancelled, "the render was cancelled".into())
            }
            Some(f) => (RenderPhase::Failed, Reason::from(f.kind), f.message.clone()),
            None => (RenderPhase::Failed, Reason::RenderFailed, "the function reported the render failed".into()),
        },
        Stage::Cancelled => (RenderPhase::Cancelled, Reason::Cancelled, "the render was cancelled".into()),
        _ => (
            RenderPhase::Rendering,
            Reason::Rendering,
            format!(
                "{}: {} ({}/{} frames, {}/{} chunks)",
                p.stage,
                p.display.unwrap_or_default(),
                p.frames_rendered,
                p.frames_total,
                p.chunks_done,
                p.chunks_total
            ),
        ),
    }
}

/// Sets the four conditions for a phase.
fn set_conditions(
    status: &mut RenderJobStatus,
    phase: RenderPhase,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) {
    use Status::{False, True, Unknown};
    let (ready, progressing, succeeded, failed) = match phase {
        RenderPhase::Pending | RenderPhase::Queued | RenderPhase::Rendering => (Unknown, True, Unknown, False),
        RenderPhase::Succeeded => (True, False, True, False),
        RenderPhase::Failed | RenderPhase::Cancelled => (False, False, False, True),
    };
    for (type_, s) in [
        (condition_type::READY, ready),
        (condition_type::PROGRESSING, progressing),
        (condition_type::SUCCEEDED, succeeded),
        (condition_type::FAILED, failed),
    ] {
        let desired = Desired { type_, status: s, reason, message: message.to_owned() };
        conditions::set(&mut status.conditions, desired, generation, now.clone());
    }
    // In progress, the details (a queue position, frames so far) are Ready's: a copy of them in
    // `Reconciling` would change with every progress write and, with 10,000 jobs queued, add
    // megabytes to every cache of RenderJobs. A failure's message is what kstatus shows.
    let (standing, kstatus_message) = match phase {
        RenderPhase::Pending => (Standing::InProgress, "Pending: see the Ready condition"),
        RenderPhase::Queued => (Standing::InProgress, "Queued: see the Ready condition"),
        RenderPhase::Rendering => (Standing::InProgress, "Rendering: see the Ready condition"),
        RenderPhase::Succeeded | RenderPhase::Cancelled => (Standing::Current, ""),
        RenderPhase::Failed => (Standing::Stalled, message),
    };
    kstatus::set(&mut status.conditions, standing, reason, kstatus_message, generation, now);
}

/// The status the job should have now. `current` provides what stays (render id, bucket,
/// start time, completion time once set, the pre-launch estimate).
pub fn desired(
    current: &RenderJobStatus,
    verdict: &Verdict<'_>,
    generation: Option<i64>,
    now: &Time,
) -> RenderJobStatus {
    let mut status = current.clone();
    status.observed_generation = generation;
    let (phase, reason, message) = match verdict {
        Verdict::Waiting { reason, message, estimate } => {
            if let Some(estimate) = estimate {
                status.cost = Some(RenderCost {
                    accrued_usd: Usd::ZERO.display(),
                    estimated_total_usd: Some(estimate.display()),
                    billed_milliseconds: 0,
                    invocations: 0,
                });
            }
            (RenderPhase::Pending, *reason, message.clone())
        }
        Verdict::Queued { reason, message } => (RenderPhase::Queued, *reason, message.clone()),
        Verdict::Launched { started_at, estimate } => {
            status.started_at.get_or_insert_with(|| started_at.clone());
            if status.cost.is_none() {
                status.cost = estimate.map(|e| RenderCost {
                    accrued_usd: Usd::ZERO.display(),
                    estimated_total_usd: Some(e.display()),
                    billed_milliseconds: 0,
                    invocations: 0,
                });
            }
            let message = "launched; waiting for the function's first progress report".to_owned();
            (RenderPhase::Rendering, Reason::Launched, message)
        }
        Verdict::Progress { doc, output } => {
            let estimate = recorded_estimate(current);
            if let Some(resolved) = &doc.resolved {
                status.resolved = Some(resolved_render(resolved));
            }
            status.progress = Some(progress(doc));
            status.cost = Some(cost(doc, estimate));
            status.errors = errors(doc);
            if let Some(started) = time_from_ms(doc.started_at_ms).filter(|_| doc.started_at_ms > 0) {
                status.started_at = Some(started);
            }
            let (phase, reason, message) = judge(doc, output.as_ref());
            if phase == RenderPhase::Succeeded {
                status.output = output.clone();
                status.artifacts = artifacts(doc);
            }
            if phase.is_terminal() && status.completed_at.is_none() {
                status.completed_at = time_from_ms(doc.updated_at_ms).or_else(|| Some(now.clone()));
            }
            (phase, reason, message)
        }
        Verdict::Ended { phase, reason, message, doc } => {
            if let Some(doc) = doc {
                let estimate = recorded_estimate(current);
                status.progress = Some(progress(doc));
                status.cost = Some(cost(doc, estimate));
                status.errors = errors(doc);
            }
            status.completed_at.get_or_insert_with(|| now.clone());
            (*phase, *reason, message.clone())
        }
    };
    status.phase = Some(phase);
    set_conditions(&mut status, phase, reason, &message, generation, now);
    status
}

/// The status's view of the files the composition emitted, in frame order.
fn artifacts(doc: &ProgressDocument) -> Vec<RenderArtifact> {
    doc.artifacts
        .iter()
        .take(MAX_STATUS_ARTIFACTS)
        .map(|a| RenderArtifact {
            filename: a.filename.clone(),
            key: a.key.clone(),
            size_bytes: clamp_i64(a.size_bytes),
            content_type: a.content_type.clone(),
            frame: clamp_i64(a.frame),
        })
        .collect()
}

/// The status's view of what the function resolved.
fn resolved_render(r: &remotion_protocol::progress::ResolvedRender) -> ResolvedRender {
    ResolvedRender {
        codec: r.codec,
        pixel_format: r.pixel_format,
        output_key: r.output_key.clone(),
        width: i64::from(r.width),
        height: i64::from(r.height),
        fps: r.fps,
        duration_in_frames: clamp_i64(r.duration_in_frames),
        still_frame: r.still_frame.map(clamp_i64),
    }
}

/// Whether writing `desired` over `current` would change anything but timestamps.
pub fn differs(current: &RenderJobStatus, desired: &RenderJobStatus) -> bool {
    let strip = |s: &RenderJobStatus| RenderJobStatus { conditions: Vec::new(), ..s.clone() };
    strip(current) != strip(desired) || !conditions::same_ignoring_time(&current.conditions, &desired.conditions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use remotion_crds::common::find_condition;
    use remotion_protocol::payload::{ErrorKind, FrameSpan};
    use remotion_protocol::progress::{FatalError, OutputInfo};

    fn now() -> Time {
        Time("2026-03-01T12:00:00Z".parse().unwrap())
    }

    fn condition(s: &RenderJobStatus, t: &str) -> (String, String) {
        let c = find_condition(&s.conditions, t).unwrap();
        (c.status.clone(), c.reason.clone())
    }

    fn rendering_doc() -> ProgressDocument {
        let mut doc = ProgressDocument::new("r1", 1_772_366_400_000);
        doc.sequence = 5;
        doc.stage = Stage::Rendering;
        doc.updated_at_ms = 1_772_366_410_000;
        doc.frames_total = 300;
        doc.frames_rendered = 140;
        doc.chunks_total = 15;
        doc.chunks_done = 7;
        doc.invocations = 8;
        doc.billed_milliseconds = 140_000;
        doc.accrued_usd = "0.00383456".parse().unwrap();
        doc.estimated_total_usd = Some("0.0081317".parse().unwrap());
        doc
    }

    fn output() -> RenderOutput {
        RenderOutput {
            url: Some("https://example/out.mp4".into()),
            url_expires_at: None,
            s3_uri: "s3://bkt/renders/r1/out.mp4".into(),
            size_bytes: 1234,
            content_type: "video/mp4".into(),
            ..Default::default()
        }
    }

    #[test]
    fn waiting_jobs_are_pending_with_every_condition_written() {
        let v = Verdict::Waiting {
            reason: Reason::SiteNotReady,
            message: "waiting".into(),
            estimate: Some("0.012345".parse().unwrap()),
        };
        let s = desired(&RenderJobStatus::default(), &v, Some(1), &now());
        assert_eq!(s.phase, Some(RenderPhase::Pending));
        assert_eq!(s.observed_generation, Some(1));
        assert_eq!(condition(&s, "Ready"), ("Unknown".into(), "SiteNotReady".into()));
        assert_eq!(condition(&s, "Progressing").0, "True");
        assert_eq!(condition(&s, "Succeeded").0, "Unknown");
        assert_eq!(condition(&s, "Failed").0, "False");
        assert_eq!(s.cost.as_ref().unwrap().estimated_total_usd.as_deref(), Some("0.01235"));
    }

    #[test]
    fn progress_reaches_status() {
        let doc = rendering_doc();
        let mut current = RenderJobStatus { render_id: Some("r1".into()), ..Default::default() };
        current.cost = Some(RenderCost {
            accrued_usd: "0.00000".into(),
            estimated_total_usd: Some("0.00900".into()),
            ..Default::default()
        });
        let s = desired(&current, &Verdict::Progress { doc: &doc, output: None }, Some(1), &now());
        assert_eq!(s.phase, Some(RenderPhase::Rendering));
        assert_eq!(s.render_id.as_deref(), Some("r1"));
        let p = s.progress.clone().unwrap();
        assert_eq!((p.percent, p.display.as_deref()), (42, Some("42%")));
        assert_eq!((p.frames_rendered, p.frames_total, p.chunks_done, p.chunks_total), (140, 300, 7, 15));
        assert_eq!(p.stage, "rendering");
        let c = s.cost.clone().unwrap();
        assert_eq!(c.accrued_usd, "0.00383");
        // The function's own estimate replaces the pre-launch one.
        assert_eq!(c.estimated_total_usd.as_deref(), Some("0.00813"));
        assert_eq!((c.billed_milliseconds, c.invocations), (140_000, 8));
        assert_eq!(s.started_at, time_from_ms(1_772_366_400_000));
        assert_eq!(s.completed_at, None);
        assert_eq!(condition(&s, "Progressing"), ("True".into(), "Rendering".into()));
        assert!(find_condition(&s.conditions, "Ready").unwrap().message.contains("42%"));
    }

    #[test]
    fn what_the_function_resolved_reaches_status() {
        let mut doc = rendering_doc();
        doc.resolved = Some(remotion_protocol::progress::ResolvedRender {
            codec: Some(remotion_protocol::media::Codec::Vp9),
            output_key: "renders/r/recap.webm".into(),
            width: 320,
            height: 180,
            fps: 15.0,
            duration_in_frames: 45,
            ..Default::default()
        });
        let s = desired(&RenderJobStatus::default(), &Verdict::Progress { doc: &doc, output: None }, Some(1), &now());
        let resolved = s.resolved.expect("resolved");
        assert_eq!(resolved.codec, Some(remotion_protocol::media::Codec::Vp9));
        assert_eq!((resolved.output_key.as_str(), resolved.width, resolved.fps), ("renders/r/recap.webm", 320, 15.0));
    }

    #[test]
    fn success_records_output_and_completion() {
        let mut doc = rendering_doc();
        doc.stage = Stage::Done;
        doc.frames_rendered = 300;
        doc.output = Some(OutputInfo {
            bucket: "bkt".into(),
            key: "renders/r1/out.mp4".into(),
            size_bytes: 1234,
            content_type: "video/mp4".into(),
            ..Default::default()
        });
        let s = desired(
            &RenderJobStatus::default(),
            &Verdict::Progress { doc: &doc, output: Some(output()) },
            Some(1),
            &now(),
        );
        assert_eq!(s.phase, Some(RenderPhase::Succeeded));
        assert_eq!(s.output, Some(output()));
        assert_eq!(s.artifacts, []);
        let emitted = |frame: u64| remotion_protocol::progress::ArtifactInfo {
            filename: format!("f{frame}.txt"),
            key: format!("renders/r1/artifacts/f{frame}.txt"),
            size_bytes: 12,
            content_type: "text/plain; charset=utf-8".into(),
            frame,
        };
        doc.artifacts = (0..150).map(emitted).collect();
        let listed = desired(
            &RenderJobStatus::default(),
            &Verdict::Progress { doc: &doc, output: Some(output()) },
            Some(1),
            &now(),
        );
        assert_eq!(listed.artifacts.len(), MAX_STATUS_ARTIFACTS, "the CRD's bound");
        let first = &listed.artifacts[0];
        assert_eq!((first.key.as_str(), first.size_bytes, first.frame), ("renders/r1/artifacts/f0.txt", 12, 0));
        assert_eq!(s.progress.as_ref().unwrap().display.as_deref(), Some("100%"));
        assert_eq!(s.completed_at, time_from_ms(doc.updated_at_ms));
        assert_eq!(condition(&s, "Ready").0, "True");
        assert_eq!(condition(&s, "Succeeded").0, "True");
        assert_eq!(condition(&s, "Failed").0, "False");
        assert_eq!(condition(&s, "Progressing").0, "False");

        // Done without an output object is a failure, not a success without output.
        let s = desired(&RenderJobStatus::default(), &Verdict::Progress { doc: &doc, output: None }, Some(1), &now());
        assert_eq!(s.phase, Some(RenderPhase::Failed));
        assert_eq!(condition(&s, "Failed"), ("True".into(), "NoOutput".into()));
    }

    #[test]
    fn failure_names_the_fatal_error_and_keeps_cost_and_errors() {
        let mut doc = rendering_doc();
        for i in 0..12u32 {
            doc.push_error(ProgressError {
                kind: ErrorKind::BrowserCrashed,
                message: format!("crash {i}"),
                chunk: Some(i),
                frames: Some(FrameSpan { start: u64::from(i) * 20, end: u64::from(i) * 20 + 19 }),
                attempt: Some(1),
                will_retry: true,
                at_ms: 1,
            });
        }
        doc.stage = Stage::Failed;
        doc.fatal = Some(FatalError {
            kind: ErrorKind::DelayRenderTimeout,
            message: "delayRender() not cleared after 30000 ms".into(),
        });
        let s = desired(&RenderJobStatus::default(), &Verdict::Progress { doc: &doc, output: None }, Some(1), &now());
        assert_eq!(s.phase, Some(RenderPhase::Failed));
        assert_eq!(condition(&s, "Failed"), ("True".into(), "DelayRenderTimeout".into()));
        assert_eq!(condition(&s, "Succeeded"), ("False".into(), "DelayRenderTimeout".into()));
        assert_eq!(condition(&s, "Ready").0, "False");
        assert_eq!(s.cost.as_ref().unwrap().accrued_usd, "0.00383");
        assert_eq!(s.errors.len(), 10);
        let last = s.errors.last().unwrap();
        assert_eq!(last.message, "BrowserCrashed: crash 11");
        assert_eq!(last.frames.as_deref(), Some("220-239"));
        assert_eq!((last.chunk, last.attempt, last.retried), (Some(11), Some(1), true));
        assert!(s.completed_at.is_some());
    }

    #[test]
    fn kstatus_sees_progress_without_its_details_and_failures_with_them() {
        let doc = rendering_doc();
        let rendering =
            desired(&RenderJobStatus::default(), &Verdict::Progress { doc: &doc, output: None }, Some(1), &now());
        let reconciling = rendering.conditions.iter().find(|c| c.type_ == "Reconciling").unwrap();
        assert_eq!((reconciling.status.as_str(), reconciling.reason.as_str()), ("True", "Rendering"));
        assert_eq!(reconciling.message, "Rendering: see the Ready condition");
        assert!(!rendering.conditions.iter().any(|c| c.type_ == "Stalled"));
        let v =
            Verdict::Ended { phase: RenderPhase::Failed, reason: Reason::Stalled, message: "silent".into(), doc: None };
        let failed = desired(&rendering, &v, Some(1), &now());
        let stalled = failed.conditions.iter().find(|c| c.type_ == "Stalled").unwrap();
        assert_eq!((stalled.reason.as_str(), stalled.message.as_str()), ("Stalled", "silent"));
        assert!(!failed.conditions.iter().any(|c| c.type_ == "Reconciling"));
    }

    #[test]
    fn operator_verdicts_end_the_job_with_the_cost_so_far() {
        let doc = rendering_doc();
        let v = Verdict::Ended {
            phase: RenderPhase::Failed,
            reason: Reason::Stalled,
            message: "silent for 75 s".into(),
            doc: Some(&doc),
        };
        let s = desired(&RenderJobStatus::default(), &v, Some(1), &now());
        assert_eq!(s.phase, Some(RenderPhase::Failed));
        assert_eq!(condition(&s, "Failed"), ("True".into(), "Stalled".into()));
        assert_eq!(s.cost.as_ref().unwrap().accrued_usd, "0.00383");
        assert_eq!(s.completed_at, Some(now()));

        let v = Verdict::Ended {
            phase: RenderPhase::Cancelled,
            reason: Reason::Cancelled,
            message: "cancelled before launch".into(),
            doc: None,
        };
        let s = desired(&RenderJobStatus::default(), &v, Some(2), &now());
        assert_eq!(s.phase, Some(RenderPhase::Cancelled));
        assert_eq!(condition(&s, "Failed"), ("True".into(), "Cancelled".into()));
        assert_eq!(condition(&s, "Succeeded").0, "False");
    }

    #[test]
    fn unchanged_progress_is_no_change_and_times_are_stable() {
        let doc = rendering_doc();
        let first =
            desired(&RenderJobStatus::default(), &Verdict::Progress { doc: &doc, output: None }, Some(1), &now());
        let later = Time("2026-03-01T12:00:05Z".parse().unwrap());
        let second = desired(&first, &Verdict::Progress { doc: &doc, output: None }, Some(1), &later);
        assert!(!differs(&first, &second));
        assert_eq!(first.conditions, second.conditions);
        let mut moved = doc.clone();
        moved.frames_rendered = 160;
        let third = desired(&second, &Verdict::Progress { doc: &moved, output: None }, Some(1), &later);
        assert!(differs(&second, &third));
    }

    #[test]
    fn long_error_messages_are_cut_at_the_schema_limit() {
        let e = ProgressError {
            kind: ErrorKind::PageError,
            message: "é".repeat(5000),
            chunk: None,
            frames: None,
            attempt: None,
            will_retry: false,
            at_ms: 0,
        };
        let entry = error_entry(&e);
        assert!(entry.message.len() <= MAX_ERROR_MESSAGE);
        assert!(entry.message.ends_with("..."));
    }

    #[test]
    fn times_convert_both_ways() {
        let t = time_from_ms(1_772_366_400_123).unwrap();
        assert_eq!(ms_from_time(&t), 1_772_366_400_123);
    }
}
