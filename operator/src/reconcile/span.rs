//! The `reconcile` span every reconcile runs in: what is reconciled, by which controller, and
//! how it ended.
//!
//! Everything a reconcile logs carries the span's fields (the JSON log lines list the spans an
//! event happened in), and with OTLP export on ([`crate::telemetry`]) the span is sent with the
//! AWS SDK's operation spans below it.
//!
//! The attribute names are OpenTelemetry's where it has them: `k8s.namespace.name`, and the
//! `k8s.object.*` attributes its Kubernetes receivers give an object an event is about;
//! `error.type` is the condition reason of a failure. Values are evaluated only when the span is
//! enabled, and all but the outcome are borrowed from the object: a disabled span costs
//! nothing but the check.

use std::future::Future;

use kube::Resource;
use kube::runtime::controller::Action;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use super::Error;

/// The span's name.
pub const NAME: &str = "reconcile";

/// Which way a RenderJob reached its launch: the fast lane of jobs a slot was freed for.
pub const ADMITTED_LANE: &str = "admitted";

/// The span of one reconcile of `object` by `controller` (its metrics label).
pub fn reconcile_span<K: Resource<DynamicType = ()>>(controller: &'static str, object: &K) -> Span {
    let meta = object.meta();
    tracing::info_span!(
        "reconcile",
        controller,
        "k8s.namespace.name" = meta.namespace.as_deref(),
        "k8s.object.kind" = &*K::kind(&()),
        "k8s.object.name" = meta.name.as_deref(),
        "k8s.object.uid" = meta.uid.as_deref(),
        "k8s.object.resource_version" = meta.resource_version.as_deref(),
        "k8s.object.generation" = meta.generation,
        "reconcile.lane" = Empty,
        "reconcile.outcome" = Empty,
        "error.type" = Empty,
        "error.terminal" = Empty,
        "otel.status_code" = Empty,
        "otel.status_description" = Empty,
    )
}

/// How a reconcile ended, as recorded in its span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done; looked at again after a delay.
    Requeue,
    /// Done; looked at again only when something changes.
    AwaitChange,
    /// Failed; the error policy decides when it is retried.
    Error,
}

impl Outcome {
    /// The outcome of `result`.
    pub fn of(result: &Result<Action, Error>) -> Self {
        match result {
            Ok(action) if *action == Action::await_change() => Self::AwaitChange,
            Ok(_) => Self::Requeue,
            Err(_) => Self::Error,
        }
    }

    /// The value of `reconcile.outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requeue => "requeue",
            Self::AwaitChange => "await_change",
            Self::Error => "error",
        }
    }
}

/// Records how the reconcile ended: the outcome, and for a failure its reason, whether it is
/// terminal and the message chain (the span's error status).
pub fn record_outcome(span: &Span, result: &Result<Action, Error>) {
    if span.is_disabled() {
        return;
    }
    span.record("reconcile.outcome", Outcome::of(result).as_str());
    if let Err(error) = result {
        span.record("error.type", error.reason().as_str());
        span.record("error.terminal", error.is_terminal());
        span.record("otel.status_code", "error");
        span.record("otel.status_description", error.report().as_str());
    }
}

/// Runs `work` in `span` and records its outcome there.
pub async fn run_in<Fut>(span: Span, work: Fut) -> Result<Action, Error>
where
    Fut: Future<Output = Result<Action, Error>>,
{
    let result = work.instrument(span.clone()).await;
    record_outcome(&span, &result);
    result
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use remotion_crds::{LambdaBucket, Reason};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    use super::*;

    /// Every field recorded on every span, as text, and the name of the span an event was in.
    #[derive(Clone, Default)]
    struct Recorded {
        fields: Arc<Mutex<Vec<(String, String)>>>,
        events_in: Arc<Mutex<Vec<String>>>,
    }

    impl Visit for Recorded {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.fields.lock().unwrap().push((field.name().to_owned(), format!("{value:?}").trim_matches('"').into()));
        }
    }

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Recorded {
        fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
            attrs.record(&mut self.clone());
        }
        fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
            values.record(&mut self.clone());
        }
        fn on_event(&self, _: &tracing::Event<'_>, ctx: Context<'_, S>) {
            let name = ctx.lookup_current().map(|s| s.name().to_owned()).unwrap_or_default();
            self.events_in.lock().unwrap().push(name);
        }
    }

    impl Recorded {
        fn get(&self, name: &str) -> Option<String> {
            self.fields.lock().unwrap().iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        }
    }

    fn bucket() -> LambdaBucket {
        let mut bucket =
            LambdaBucket::new("videos", serde_json::from_value(serde_json::json!({"region": "eu-west-1"})).unwrap());
        bucket.metadata.namespace = Some("team-a".into());
        bucket.metadata.uid = Some("0b6c9a4e".into());
        bucket.metadata.resource_version = Some("4711".into());
        bucket.metadata.generation = Some(3);
        bucket
    }

    async fn run_recorded(result: Result<Action, Error>) -> (Recorded, Result<Action, Error>) {
        let recorded = Recorded::default();
        let subscriber = tracing_subscriber::registry().with(recorded.clone());
        let _guard = tracing::subscriber::set_default(subscriber);
        let span = reconcile_span("lambdabucket", &bucket());
        let result = run_in(span, async move {
            tracing::info!("working");
            result
        })
        .await;
        (recorded, result)
    }

    #[tokio::test]
    async fn the_span_names_the_object_and_the_controller() {
        let (recorded, result) = run_recorded(Ok(Action::requeue(Duration::from_secs(600)))).await;
        assert!(result.is_ok());
        assert_eq!(recorded.get("controller").as_deref(), Some("lambdabucket"));
        assert_eq!(recorded.get("k8s.namespace.name").as_deref(), Some("team-a"));
        assert_eq!(recorded.get("k8s.object.kind").as_deref(), Some("LambdaBucket"));
        assert_eq!(recorded.get("k8s.object.name").as_deref(), Some("videos"));
        assert_eq!(recorded.get("k8s.object.uid").as_deref(), Some("0b6c9a4e"));
        assert_eq!(recorded.get("k8s.object.resource_version").as_deref(), Some("4711"));
        assert_eq!(recorded.get("k8s.object.generation").as_deref(), Some("3"));
        assert_eq!(recorded.get("reconcile.outcome").as_deref(), Some("requeue"));
        assert_eq!(recorded.get("error.type"), None);
        assert_eq!(recorded.get("otel.status_code"), None);
        // What the reconcile logs happens inside the span.
        assert_eq!(*recorded.events_in.lock().unwrap(), ["reconcile"]);
    }

    #[tokio::test]
    async fn a_failure_is_recorded_with_its_reason() {
        let error = Error::new(Reason::BucketNotAccessible, "S3 said no");
        let (recorded, result) = run_recorded(Err(error)).await;
        assert!(result.is_err());
        assert_eq!(recorded.get("reconcile.outcome").as_deref(), Some("error"));
        assert_eq!(recorded.get("error.type").as_deref(), Some("BucketNotAccessible"));
        assert_eq!(recorded.get("error.terminal").as_deref(), Some("true"));
        assert_eq!(recorded.get("otel.status_code").as_deref(), Some("error"));
        assert!(recorded.get("otel.status_description").is_some_and(|m| m.contains("S3 said no")));
    }

    #[test]
    fn outcomes_follow_the_action() {
        assert_eq!(Outcome::of(&Ok(Action::await_change())), Outcome::AwaitChange);
        assert_eq!(Outcome::of(&Ok(Action::requeue(Duration::from_secs(1)))), Outcome::Requeue);
        assert_eq!(Outcome::of(&Err(Error::new(Reason::InternalError, "x"))), Outcome::Error);
    }

    #[test]
    fn a_disabled_span_records_nothing_and_costs_no_formatting() {
        // No subscriber: the span is disabled and recording the outcome returns at once.
        let span = reconcile_span("lambdabucket", &bucket());
        assert!(span.is_disabled());
        record_outcome(&span, &Err(Error::new(Reason::InternalError, "x")));
    }
}
