//! Prometheus metrics of the operator, served as OpenMetrics text on `/metrics`.
//!
//! Series (all prefixed `remotion_operator_`):
//! - `reconciles_total{controller}`: reconciles started;
//! - `reconcile_failures_total{controller, reason}`: reconciles that ended in an error, by the
//!   error's condition reason;
//! - `reconcile_duration_seconds{controller}`: histogram of reconcile durations;
//! - `renders{phase}`: RenderJobs per phase (set by the RenderJob controller);
//!   `renders{phase="Queued"}` is the queue length (jobs waiting for a slot of their
//!   function's capacity);
//! - `renders_ended_total{phase, reason}`: renders that reached a terminal phase, by phase and
//!   the `Ready` reason they ended with (counted when this process writes the end);
//! - `render_duration_seconds{phase}`: histogram of launched renders' durations, `startedAt`
//!   to `completedAt`, by terminal phase;
//! - `render_cost_usd_total`: cost accrued by renders, USD (added to by the RenderJob controller);
//! - `leader`: 1 while this replica runs the controllers (holds the Lease, or runs without
//!   leader election), else 0;
//! - the AWS call series of [`crate::aws_metrics`] (`aws_calls_total`, `aws_call_errors_total`,
//!   `aws_throttles_total`, `lambda_invocations_total`).

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use remotion_crds::Reason;
use remotion_crds::render_job::RenderPhase;

use crate::aws_metrics::AwsMetrics;

const ALL_PHASES: [RenderPhase; 6] = RenderPhase::ALL;

/// The phase as the API spells it.
fn phase_name(phase: RenderPhase) -> String {
    serde_json::to_value(phase).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| format!("{phase:?}"))
}

/// Content-Type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabel {
    controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    controller: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    phase: String,
    reason: String,
}

/// Buckets of render durations, seconds: a still rendered in seconds up to a long video whose
/// stitching follows a 15-minute Lambda run.
const RENDER_DURATION_BUCKETS: [f64; 18] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 450.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0,
];

/// The operator's metrics and their registry. Share one behind an `Arc`.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ControllerLabel, Counter>,
    failures: Family<FailureLabels, Counter>,
    durations: Family<ControllerLabel, Histogram>,
    renders: Family<PhaseLabel, Gauge>,
    renders_ended: Family<EndLabels, Counter>,
    render_durations: Family<PhaseLabel, Histogram>,
    render_cost: Counter<f64, AtomicU64>,
    leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every series.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("remotion_operator");
        let reconciles = Family::<ControllerLabel, Counter>::default();
        let failures = Family::<FailureLabels, Counter>::default();
        // 10 ms … ~164 s: AWS calls dominate, a reconcile that takes minutes is worth seeing.
        let durations = Family::<ControllerLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 15))
        });
        let renders = Family::<PhaseLabel, Gauge>::default();
        let renders_ended = Family::<EndLabels, Counter>::default();
        let render_durations = Family::<PhaseLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(RENDER_DURATION_BUCKETS.iter().copied())
        });
        let render_cost = Counter::<f64, AtomicU64>::default();
        let leader = Gauge::default();
        registry.register("reconciles", "Reconciles started", reconciles.clone());
        registry.register(
            "reconcile_failures",
            "Reconciles that ended in an error, by the error's reason",
            failures.clone(),
        );
        registry.register("reconcile_duration_seconds", "Duration of reconciles", durations.clone());
        registry.register("renders", "RenderJobs per phase (phase=Queued: the queue length)", renders.clone());
        registry.register(
            "renders_ended",
            "Renders that reached a terminal phase, by phase and Ready reason",
            renders_ended.clone(),
        );
        registry.register(
            "render_duration_seconds",
            "Duration of launched renders, startedAt to completedAt, by terminal phase",
            render_durations.clone(),
        );
        registry.register("render_cost_usd", "Cost accrued by renders, USD", render_cost.clone());
        registry.register("leader", "1 while this replica runs the controllers, else 0", leader.clone());
        AwsMetrics::global().register(&mut registry);
        let metrics = Self {
            registry,
            reconciles,
            failures,
            durations,
            renders,
            renders_ended,
            render_durations,
            render_cost,
            leader,
        };
        // Every phase from the start, so dashboards see 0 rather than no series.
        for phase in ALL_PHASES {
            metrics.set_renders_in_phase(phase, 0);
            if phase.is_terminal() {
                let _ = metrics.render_durations.get_or_create(&PhaseLabel { phase: phase_name(phase) });
            }
        }
        metrics
    }

    /// Counts a reconcile of `controller` and times it until the returned guard is dropped.
    pub fn reconcile_started(&self, controller: &str) -> ReconcileTimer<'_> {
        let label = ControllerLabel { controller: controller.to_owned() };
        self.reconciles.get_or_create(&label).inc();
        ReconcileTimer { metrics: self, label, started: Instant::now() }
    }

    /// Counts a failed reconcile of `controller` with the error's reason.
    pub fn reconcile_failed(&self, controller: &str, reason: Reason) {
        let labels = FailureLabels { controller: controller.to_owned(), reason: reason.as_str().to_owned() };
        self.failures.get_or_create(&labels).inc();
    }

    /// Sets how many RenderJobs are in `phase` now.
    pub fn set_renders_in_phase(&self, phase: RenderPhase, count: i64) {
        self.renders.get_or_create(&PhaseLabel { phase: phase_name(phase) }).set(count);
    }

    /// Counts a render that reached the terminal `phase` with `reason`, and observes its
    /// duration when it was launched. Call once per render, when its end is written.
    pub fn render_ended(&self, phase: RenderPhase, reason: Reason, duration: Option<Duration>) {
        let name = phase_name(phase);
        self.renders_ended.get_or_create(&EndLabels { phase: name.clone(), reason: reason.as_str().to_owned() }).inc();
        if let Some(duration) = duration {
            self.render_durations.get_or_create(&PhaseLabel { phase: name }).observe(duration.as_secs_f64());
        }
    }

    /// Says whether this replica runs the controllers now.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Adds cost accrued by renders since the last call (USD, non-negative).
    pub fn add_render_cost_usd(&self, usd: f64) {
        if usd.is_finite() && usd > 0.0 {
            self.render_cost.inc_by(usd);
        }
    }

    /// The metrics in OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Records the duration of a reconcile when dropped.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    label: ControllerLabel,
    started: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics.durations.get_or_create(&self.label).observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_exposed_with_its_labels() {
        let metrics = Metrics::new();
        drop(metrics.reconcile_started("lambdabucket"));
        metrics.reconcile_failed("lambdabucket", Reason::MultipleBuckets);
        metrics.set_renders_in_phase(RenderPhase::Rendering, 3);
        metrics.add_render_cost_usd(0.25);
        metrics.add_render_cost_usd(-1.0);
        let text = metrics.encode();
        assert!(text.contains("remotion_operator_leader 0"), "{text}");
        assert!(text.contains(r#"remotion_operator_render_duration_seconds_count{phase="Failed"} 0"#), "{text}");
        assert!(text.contains(r#"remotion_operator_lambda_invocations_total{result="throttled"} "#), "{text}");
        metrics.render_ended(RenderPhase::Succeeded, Reason::Succeeded, Some(Duration::from_secs(40)));
        metrics.render_ended(RenderPhase::Cancelled, Reason::Cancelled, None);
        metrics.set_leader(true);
        let text = metrics.encode();
        assert!(text.contains("remotion_operator_leader 1"), "{text}");
        assert!(text.contains(r#"remotion_operator_renders_ended_total{phase="Succeeded",reason="Succeeded"} 1"#));
        assert!(text.contains(r#"remotion_operator_renders_ended_total{phase="Cancelled",reason="Cancelled"} 1"#));
        assert!(
            text.contains(r#"remotion_operator_render_duration_seconds_bucket{le="30.0",phase="Succeeded"} 0"#),
            "{text}"
        );
        assert!(text.contains(r#"remotion_operator_render_duration_seconds_bucket{le="45.0",phase="Succeeded"} 1"#));
        assert!(text.contains(r#"remotion_operator_render_duration_seconds_count{phase="Cancelled"} 0"#));
        assert!(text.contains(r#"remotion_operator_reconciles_total{controller="lambdabucket"} 1"#), "{text}");
        assert!(text.contains(
            r#"remotion_operator_reconcile_failures_total{controller="lambdabucket",reason="MultipleBuckets"} 1"#
        ));
        assert!(text.contains(r#"remotion_operator_reconcile_duration_seconds_count{controller="lambdabucket"} 1"#));
        assert!(text.contains(r#"remotion_operator_renders{phase="Rendering"} 3"#));
        assert!(text.contains(r#"remotion_operator_renders{phase="Cancelled"} 0"#));
        assert!(text.contains("remotion_operator_render_cost_usd_total 0.25"));
    }
}
