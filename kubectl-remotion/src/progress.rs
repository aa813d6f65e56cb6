//! The progress display of a render: one redrawn bar line on a terminal, plain lines at most
//! every few seconds otherwise (logs of CI jobs). Both go to stderr, so that stdout keeps only
//! the summary.

use std::io::Write as _;
use std::time::{Duration, Instant};

use remotion_crds::RenderJob;
use remotion_crds::common::find_condition;
use remotion_crds::render_job::RenderPhase;

use crate::format;

/// Plain lines are printed at most this often (and on every phase change).
const PLAIN_INTERVAL: Duration = Duration::from_secs(2);
/// Width of the bar itself, in characters.
const BAR_WIDTH: usize = 16;
/// Longest bar line: a line that wraps cannot be redrawn in place (`\r` returns to the start
/// of the last row only), and the terminal's width is not known here; 79 fits the narrowest.
const MAX_LINE: usize = 79;

/// What the display shows of a job's status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub phase: Option<RenderPhase>,
    pub percent: i32,
    pub frames: (i64, i64),
    pub chunks: (i64, i64),
    pub stage: String,
    /// Accrued cost, USD as exact decimal text.
    pub cost: Option<String>,
    /// Why a job that has not started waits (the `Ready` condition's message).
    pub waiting: Option<String>,
}

impl Snapshot {
    pub fn of(job: &RenderJob) -> Self {
        let Some(status) = &job.status else { return Self::default() };
        let progress = status.progress.clone().unwrap_or_default();
        let waiting = matches!(status.phase, None | Some(RenderPhase::Pending | RenderPhase::Queued))
            .then(|| find_condition(&status.conditions, "Ready").map(|c| c.message.clone()))
            .flatten()
            .filter(|m| !m.is_empty());
        Self {
            phase: status.phase,
            percent: progress.percent,
            frames: (progress.frames_rendered, progress.frames_total),
            chunks: (progress.chunks_done, progress.chunks_total),
            stage: progress.stage,
            cost: status.cost.as_ref().map(|c| c.accrued_usd.clone()),
            waiting,
        }
    }

    fn phase_name(&self) -> String {
        self.phase.map_or_else(|| "Pending".to_owned(), |p| format!("{p:?}"))
    }

    fn started(&self) -> bool {
        !matches!(self.phase, None | Some(RenderPhase::Pending | RenderPhase::Queued))
    }

    /// Frames, chunks and cost: `frames 126/300  chunks 2/6  $0.00213`.
    fn counts(&self) -> String {
        let mut parts = Vec::new();
        if self.frames.1 > 0 {
            parts.push(format!("frames {}/{}", self.frames.0, self.frames.1));
        }
        if self.chunks.1 > 0 {
            parts.push(format!("chunks {}/{}", self.chunks.0, self.chunks.1));
        }
        if let Some(cost) = &self.cost {
            parts.push(format::usd(cost));
        }
        parts.join("  ")
    }
}

/// The terminal line: `Rendering [######----------]  42%  frames 126/300  chunks 2/6  $0.00213  12.4 s`,
/// cut at [`MAX_LINE`] characters.
pub fn bar_line(s: &Snapshot, elapsed: Duration) -> String {
    let clock = format::duration(elapsed);
    if !s.started() {
        let why = s.waiting.as_deref().map(|w| format!(": {}", shorten(w, 70))).unwrap_or_default();
        return shorten(&format!("{}{why}  {clock}", s.phase_name()), MAX_LINE);
    }
    let percent = s.percent.clamp(0, 100) as usize;
    let filled = percent * BAR_WIDTH / 100;
    let bar = format!("{}{}", "#".repeat(filled), "-".repeat(BAR_WIDTH - filled));
    let stage = if s.stage.is_empty() || s.stage == "rendering" { String::new() } else { format!(" ({})", s.stage) };
    shorten(&format!("{}{stage} [{bar}] {:>3}%  {}  {clock}", s.phase_name(), s.percent, s.counts()), MAX_LINE)
}

/// A plain line: `[12.4 s] Rendering 42% (rendering)  frames 126/300  chunks 2/6  $0.00213`.
pub fn plain_line(s: &Snapshot, elapsed: Duration) -> String {
    let clock = format::duration(elapsed);
    if !s.started() {
        let why = s.waiting.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
        return format!("[{clock}] {}{why}", s.phase_name());
    }
    let stage = if s.stage.is_empty() { String::new() } else { format!(" ({})", s.stage) };
    format!("[{clock}] {} {}%{stage}  {}", s.phase_name(), s.percent, s.counts())
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

/// The display of one followed job.
pub struct Progress {
    bar: bool,
    started: Instant,
    current: Option<Snapshot>,
    /// On a terminal: the bar is on screen (and must be erased before other output).
    shown: bool,
    /// Plain mode: what was printed last, and when.
    printed: Option<(Snapshot, Instant)>,
}

impl Progress {
    /// A bar on a terminal (`bar`), else plain lines.
    pub fn new(bar: bool) -> Self {
        Self { bar, started: Instant::now(), current: None, shown: false, printed: None }
    }

    /// Since the display started (the render's wall time as the user sees it).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Shows the job's new status.
    pub fn update(&mut self, job: &RenderJob) {
        self.current = Some(Snapshot::of(job));
        self.draw();
    }

    /// Redraws the bar (its clock moves even when the status does not).
    pub fn tick(&mut self) {
        if self.bar {
            self.draw();
        }
    }

    /// Erases the bar, so that other output starts on a clean line.
    pub fn clear(&mut self) {
        if self.bar && self.shown {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            self.shown = false;
        }
    }

    fn draw(&mut self) {
        let Some(now) = &self.current else { return };
        let elapsed = self.elapsed();
        if self.bar {
            eprint!("\r\x1b[2K{}", bar_line(now, elapsed));
            let _ = std::io::stderr().flush();
            self.shown = true;
            return;
        }
        let due = match &self.printed {
            None => true,
            Some((last, at)) => last != now && (last.phase != now.phase || at.elapsed() >= PLAIN_INTERVAL),
        };
        if due {
            eprintln!("{}", plain_line(now, elapsed));
            self.printed = Some((now.clone(), Instant::now()));
        }
    }
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
    fn a_rendering_job_shows_frames_chunks_and_cost() {
        let s = Snapshot::of(&job(json!({"phase": "Rendering",
            "progress": {"percent": 42, "framesRendered": 126, "framesTotal": 300, "chunksDone": 2, "chunksTotal": 6, "stage": "rendering"},
            "cost": {"accruedUsd": "0.00213", "billedMilliseconds": 5000, "invocations": 3}})));
        assert_eq!(
            bar_line(&s, Duration::from_millis(12_400)),
            "Rendering [######----------]  42%  frames 126/300  chunks 2/6  $0.00213  12.4 s"
        );
        assert_eq!(
            plain_line(&s, Duration::from_millis(12_400)),
            "[12.4 s] Rendering 42% (rendering)  frames 126/300  chunks 2/6  $0.00213"
        );
    }

    #[test]
    fn a_waiting_job_says_why() {
        let s = Snapshot::of(&job(json!({"phase": "Queued", "conditions": [{"type": "Ready", "status": "False",
            "reason": "Queued", "message": "2 renders ahead for function renderer", "lastTransitionTime": "2026-01-01T00:00:00Z"}]})));
        assert_eq!(bar_line(&s, Duration::from_secs(3)), "Queued: 2 renders ahead for function renderer  3.0 s");
        assert_eq!(plain_line(&Snapshot::of(&job(json!(null))), Duration::ZERO), "[0.0 s] Pending");
    }

    #[test]
    fn bar_lines_never_wrap() {
        let waiting = Snapshot { waiting: Some("x".repeat(300)), ..Snapshot::default() };
        let line = bar_line(&waiting, Duration::from_secs(3));
        assert_eq!((line.chars().count(), line.ends_with('…')), (MAX_LINE, true), "{line}");
        let big = Snapshot {
            phase: Some(RenderPhase::Rendering),
            percent: 99,
            frames: (99_999, 100_000),
            chunks: (9_999, 10_000),
            cost: Some("12.34567".into()),
            ..Snapshot::default()
        };
        assert!(bar_line(&big, Duration::from_secs(4000)).chars().count() <= MAX_LINE);
    }

    #[test]
    fn stitching_shows_its_stage() {
        let s = Snapshot::of(&job(json!({"phase": "Rendering",
            "progress": {"percent": 97, "framesRendered": 300, "framesTotal": 300, "chunksDone": 6, "chunksTotal": 6, "stage": "stitching"}})));
        assert!(bar_line(&s, Duration::ZERO).starts_with("Rendering (stitching) [###############-]  97%"));
    }
}
