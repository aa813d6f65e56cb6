//! Logging and tracing.
//!
//! Logs: `tracing` to stdout, as JSON lines or text, filtered by `RUST_LOG` (default `info`).
//! A log line inside a reconcile carries the fields of its `reconcile` span
//! ([`crate::reconcile::span`]): the object, its kind and namespace.
//!
//! Traces: off unless an OTLP endpoint is configured ([`TraceExport`]); then the spans (the
//! reconciles, and the AWS SDK's operation spans inside them) are batched and sent over
//! OTLP/HTTP with protobuf, from a thread of the SDK's own, so an exporter that is slow or down
//! never holds up a reconcile: its spans are dropped, and the failure logged at most every
//! [`REPORT_EVERY`]. The spans exported do not depend on `RUST_LOG`: `info` and above, plus the
//! AWS SDK's `debug` operation spans ([`export_filter`]). `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT` and `OTEL_BSP_*` apply as in every OpenTelemetry SDK.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::resource::{EnvResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing::Level;
use tracing::subscriber::Interest;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{DynFilterFn, LevelFilter, Targets};
use tracing_subscriber::layer::Filter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use url::Url;

use crate::config::LogFormat;

/// `service.name` of the exported spans unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES`
/// names another.
pub const DEFAULT_SERVICE_NAME: &str = "remotion-operator";

/// How often a lasting export failure is logged again.
pub const REPORT_EVERY: Duration = Duration::from_secs(300);

/// How long the spans still buffered at shutdown may take to leave.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and as what the spans are exported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceExport {
    /// The URL spans are POSTed to (`…/v1/traces`).
    pub traces_url: Url,
    /// `service.name`, from `OTEL_SERVICE_NAME` (`None`: the resource attributes' or the default).
    pub service_name: Option<String>,
}

/// The traces URL of an OTLP/HTTP base endpoint: `v1/traces` below its path, as the
/// OpenTelemetry SDKs derive it from `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub fn traces_url(base: &Url) -> Url {
    let mut url = base.clone();
    let path = format!("{}/v1/traces", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// Why logging or tracing could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A global subscriber was installed already.
    #[error("installing the log subscriber")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
    /// The OTLP exporter could not be built.
    #[error("building the OTLP span exporter for {url}")]
    Exporter {
        /// The traces URL.
        url: Url,
        /// The cause.
        source: opentelemetry_otlp::ExporterBuildError,
    },
}

/// The installed logging and tracing; [`Telemetry::shutdown`] sends the spans still buffered.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exports(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the spans still buffered (within [`SHUTDOWN_TIMEOUT`]) and stops the exporter.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else { return };
        // The SDK waits for its export thread: not on a runtime worker.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT)).await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the last spans were not exported"),
            Err(error) => tracing::warn!(%error, "the span exporter did not stop"),
        }
    }
}

/// Installs the global subscriber: logs in `format`, and spans exported when `export` is set.
pub fn init(format: LogFormat, export: Option<&TraceExport>) -> Result<Telemetry, TelemetryError> {
    let (subscriber, telemetry) = subscriber(format, export)?;
    subscriber.try_init()?;
    if let Some(export) = export {
        tracing::info!(url = %export.traces_url, "exporting spans over OTLP");
    }
    Ok(telemetry)
}

/// The subscriber [`init`] installs: the log layer under `RUST_LOG`, and the OpenTelemetry layer
/// under [`export_filter`] only when `export` is set (without it no exporter, no thread, no
/// OpenTelemetry context on the spans).
pub fn subscriber(
    format: LogFormat,
    export: Option<&TraceExport>,
) -> Result<(impl tracing::Subscriber + Send + Sync + 'static, Telemetry), TelemetryError> {
    let provider = export.map(tracer_provider).transpose()?;
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer(DEFAULT_SERVICE_NAME)).with_filter(export_filter())
    });
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().flatten_event(true).with_filter(filter).boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer().with_filter(filter).boxed(),
    };
    Ok((tracing_subscriber::registry().with(traces).with(logs), Telemetry { provider }))
}

/// Target of kube's client spans, one per Kubernetes API request (`HTTP`, named like
/// `patch_status`).
const KUBE_REQUESTS: &str = "kube_client::client::builder";

/// The spans and events exported, whatever `RUST_LOG` says: `info` and above, the AWS SDK
/// clients' operation spans (`debug`, one per S3 or Lambda call, named like `S3.HeadBucket`),
/// and kube's API request spans made inside another span (a reconcile's reads and writes; not
/// the watches and Lease renewals outside any reconcile, which would be a trace each).
pub fn export_filter<S: tracing::Subscriber + for<'a> LookupSpan<'a>>() -> impl Filter<S> {
    let levels = Targets::new()
        .with_default(Level::INFO)
        .with_target("aws_sdk_s3", Level::DEBUG)
        .with_target("aws_sdk_lambda", Level::DEBUG)
        .with_target("aws_sdk_sts", Level::DEBUG);
    let callsites = levels.clone();
    DynFilterFn::new(move |meta, cx| {
        levels.would_enable(meta.target(), meta.level()) || (is_kube_request(meta) && cx.lookup_current().is_some())
    })
    // Decided once per callsite for all but kube's request spans: the many `debug` and `trace`
    // callsites of the HTTP and TLS crates stay disabled at no cost.
    .with_callsite_filter(move |meta| {
        if is_kube_request(meta) {
            Interest::sometimes()
        } else if callsites.would_enable(meta.target(), meta.level()) {
            Interest::always()
        } else {
            Interest::never()
        }
    })
    .with_max_level_hint(LevelFilter::DEBUG)
}

fn is_kube_request(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span() && meta.target() == KUBE_REQUESTS
}

/// The tracer provider exporting to `export`: a batch processor over the OTLP/HTTP exporter.
pub fn tracer_provider(export: &TraceExport) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(export.traces_url.as_str())
        .build()
        .map_err(|source| TelemetryError::Exporter { url: export.traces_url.clone(), source })?;
    let exporter = Reporting { inner: exporter, url: export.traces_url.clone(), failures: ExportFailures::default() };
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource(export.service_name.as_deref()))
        .build())
}

/// The resource the spans describe, by precedence: `service_name` (`OTEL_SERVICE_NAME`), then
/// `OTEL_RESOURCE_ATTRIBUTES`, then the operator's defaults (its name and version) and the SDK's
/// own attributes.
pub fn resource(service_name: Option<&str>) -> Resource {
    let builder = Resource::builder_empty()
        .with_service_name(DEFAULT_SERVICE_NAME)
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .with_detectors(&[Box::new(TelemetryResourceDetector), Box::new(EnvResourceDetector::new())]);
    match service_name {
        Some(name) => builder.with_service_name(name.to_owned()),
        None => builder,
    }
    .build()
}

/// The OTLP exporter, its failures logged (rate-limited) instead of by the SDK.
#[derive(Debug)]
struct Reporting<E> {
    inner: E,
    url: Url,
    failures: ExportFailures,
}

impl<E: SpanExporter> SpanExporter for Reporting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => {
                if self.failures.succeeded() {
                    tracing::info!(url = %self.url, "exporting spans over OTLP works again");
                }
            }
            Err(error) => {
                if let Some(unreported) = self.failures.failed(Instant::now()) {
                    tracing::warn!(
                        url = %self.url, %error, spans, unreported_failures = unreported,
                        "exporting spans over OTLP failed: the spans are dropped, reconciles go on \
                         (logged again at most every {} s while it fails)",
                        REPORT_EVERY.as_secs()
                    );
                }
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Which export failures are logged: the first, then one per [`REPORT_EVERY`] while they go on.
#[derive(Debug, Default)]
struct ExportFailures {
    state: Mutex<FailureState>,
}

#[derive(Debug, Default)]
struct FailureState {
    /// When a failure was last logged (`None`: exports work).
    reported_at: Option<Instant>,
    /// Failures since then that were not logged.
    unreported: u64,
}

impl ExportFailures {
    /// A failed export at `now`: `Some(failures not logged since the last report)` when this
    /// one is to be logged.
    fn failed(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.reported_at {
            Some(at) if now.duration_since(at) < REPORT_EVERY => {
                state.unreported += 1;
                None
            }
            _ => {
                state.reported_at = Some(now);
                Some(std::mem::take(&mut state.unreported))
            }
        }
    }

    /// A successful export: whether exports failed before it (to say once that they recovered).
    fn succeeded(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let recovered = state.reported_at.is_some();
        *state = FailureState::default();
        recovered
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::{Key, Value};

    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn the_traces_url_is_below_the_base_endpoint() {
        assert_eq!(traces_url(&url("http://collector:4318")).as_str(), "http://collector:4318/v1/traces");
        assert_eq!(traces_url(&url("http://collector:4318/")).as_str(), "http://collector:4318/v1/traces");
        assert_eq!(traces_url(&url("https://gw.example.com/otlp/")).as_str(), "https://gw.example.com/otlp/v1/traces");
    }

    #[test]
    fn the_service_name_defaults_to_the_operator_and_can_be_named() {
        let name = |resource: &Resource| resource.get(&Key::new("service.name"));
        assert_eq!(name(&resource(None)), Some(Value::from(DEFAULT_SERVICE_NAME)));
        assert_eq!(name(&resource(Some("renders-eu"))), Some(Value::from("renders-eu")));
        let version = resource(None).get(&Key::new("service.version"));
        assert_eq!(version, Some(Value::from(env!("CARGO_PKG_VERSION"))));
        assert!(resource(None).get(&Key::new("telemetry.sdk.name")).is_some());
    }

    /// Whether a span entered under `subscriber` gets an OpenTelemetry span (a valid context).
    fn traced(subscriber: impl tracing::Subscriber + Send + Sync + 'static) -> bool {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("reconcile");
            span.context().span().span_context().is_valid()
        })
    }

    #[test]
    fn without_an_endpoint_no_exporter_is_installed() {
        let (subscriber, telemetry) = subscriber(LogFormat::Json, None).unwrap();
        assert!(!telemetry.exports());
        assert!(!traced(subscriber), "spans went to OpenTelemetry without an endpoint");
    }

    #[test]
    fn an_endpoint_installs_the_exporter() {
        // Nothing listens there: the export at shutdown fails, and is only logged.
        let export = TraceExport { traces_url: url("http://127.0.0.1:9/v1/traces"), service_name: None };
        let (subscriber, telemetry) = subscriber(LogFormat::Text, Some(&export)).unwrap();
        assert!(telemetry.exports());
        assert!(traced(subscriber));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(telemetry.shutdown());
    }

    #[test]
    fn export_failures_are_logged_once_per_interval() {
        let failures = ExportFailures::default();
        let start = Instant::now();
        assert_eq!(failures.failed(start), Some(0), "the first failure is logged");
        assert_eq!(failures.failed(start + Duration::from_secs(5)), None);
        assert_eq!(failures.failed(start + Duration::from_secs(10)), None);
        assert_eq!(failures.failed(start + REPORT_EVERY + Duration::from_secs(1)), Some(2), "with the count between");
        assert_eq!(failures.failed(start + REPORT_EVERY + Duration::from_secs(2)), None);
        assert!(failures.succeeded(), "recovery is told once");
        assert!(!failures.succeeded());
        assert_eq!(failures.failed(start + REPORT_EVERY + Duration::from_secs(3)), Some(0), "a new failure is new");
    }

    #[test]
    fn the_export_filter_keeps_reconciles_and_their_calls_only() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::{Context, SubscriberExt as _};

        /// Names of the spans and targets of the events the filter let through.
        #[derive(Clone, Default)]
        struct Seen(Arc<Mutex<Vec<String>>>);
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Seen {
            fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, _: &tracing::span::Id, _: Context<'_, S>) {
                self.0.lock().unwrap().push(format!("span {}", attrs.metadata().name()));
            }
            fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
                self.0.lock().unwrap().push(format!("event {}", event.metadata().target()));
            }
        }
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry().with(seen.clone().with_filter(export_filter()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug_span!(target: KUBE_REQUESTS, "HTTP outside").in_scope(|| {});
            tracing::info_span!("reconcile").in_scope(|| {
                tracing::debug_span!(target: KUBE_REQUESTS, "HTTP").in_scope(|| {
                    tracing::debug!(target: KUBE_REQUESTS, "requesting");
                });
                tracing::debug_span!(target: "aws_sdk_s3::operation::head_bucket", "S3.HeadBucket").in_scope(|| {
                    tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "attempt");
                });
                tracing::debug_span!(target: "hyper_util::client", "connect").in_scope(|| {});
                tracing::debug!("a debug line of the operator");
                tracing::info!(target: "remotion_operator::x", "an info line");
            });
        });
        assert_eq!(
            *seen.0.lock().unwrap(),
            ["span reconcile", "span HTTP", "span S3.HeadBucket", "event remotion_operator::x"]
        );
    }
}
