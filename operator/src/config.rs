//! Command-line flags of the operator binary, each with an environment fallback.

use std::net::SocketAddr;

use clap::{Parser, Subcommand, ValueEnum};
use url::Url;

use crate::controllers::remotion_site::SiteSettings;
use crate::controllers::remotion_site::scratch::ScratchTooSmall;
use crate::telemetry::{self, TraceExport};

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log collectors).
    Json,
    /// Human-readable lines (for terminals).
    Text,
}

/// How the operator runs. With no subcommand the binary runs the controllers.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "remotion-operator",
    version,
    about = "Kubernetes operator that renders Remotion videos on AWS Lambda",
    disable_help_subcommand = true
)]
pub struct Config {
    /// Instead of running the controllers, do this and exit.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address of the HTTP server for /health and /ready, and for /metrics unless
    /// --metrics-addr serves them apart. `[::]` takes IPv6 and IPv4 clients (IPv4 only on a
    /// kernel without IPv6), so the default fits IPv4, IPv6 and dual-stack clusters.
    #[arg(long, env = "REMOTION_OPERATOR_HTTP_ADDR", default_value = "[::]:8080")]
    pub http_addr: SocketAddr,

    /// Serve /metrics on this address, and only there: the probes stay on --http-addr, so a
    /// NetworkPolicy or a Service can open the metrics without the probes and the other way
    /// round. Unset (or equal to --http-addr): everything on --http-addr.
    #[arg(long, env = "REMOTION_OPERATOR_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "REMOTION_OPERATOR_NAMESPACE")]
    pub namespace: Option<String>,

    /// Reconciles running at once, per controller.
    #[arg(long, env = "REMOTION_OPERATOR_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// RenderJob launches at once (a controller of their own, so new jobs never wait behind
    /// the progress polls of live ones).
    #[arg(long, env = "REMOTION_OPERATOR_LAUNCH_CONCURRENCY", default_value_t = crate::controllers::DEFAULT_LAUNCH_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub launch_concurrency: u16,

    /// Progress-only RenderJob status writes per second, shared by all live renders: with many
    /// renders at once each job's progress is written less often than every 2 s (phase changes
    /// are always written at once).
    #[arg(long, env = "REMOTION_OPERATOR_PROGRESS_WRITES_PER_SECOND", default_value_t = crate::controllers::DEFAULT_PROGRESS_WRITES_PER_SECOND, value_parser = clap::value_parser!(u16).range(1..))]
    pub progress_writes_per_second: u16,

    /// Delete finished RenderJobs (Succeeded, Failed, Cancelled) this many seconds after they
    /// finished, unless a job sets its own `ttlSecondsAfterFinished`. Unset: keep them until
    /// someone deletes them. Their outputs stay in the bucket either way.
    #[arg(long, env = "REMOTION_OPERATOR_FINISHED_JOB_TTL_SECONDS")]
    pub finished_job_ttl_seconds: Option<u32>,

    /// The cluster admin's tenancy policy, a YAML file (the Helm chart mounts it from its
    /// values): which namespaces may use the operator's AWS identity and which roles, where
    /// endpoints and outputs may point. Absent: the secure default (each namespace only its
    /// own credentials; see docs/security.md).
    #[arg(long, env = "REMOTION_OPERATOR_TENANCY_POLICY")]
    pub tenancy_policy: Option<std::path::PathBuf>,

    /// Let RenderJob webhooks (`spec.webhook.url`) reach loopback, private, shared and
    /// unique-local addresses, e.g. a receiver inside the cluster. Off: public addresses only.
    /// Link-local addresses (the instance metadata service) are refused either way.
    #[arg(long, env = "REMOTION_OPERATOR_WEBHOOK_ALLOW_PRIVATE_NETWORKS", default_value_t = false)]
    pub webhook_allow_private_networks: bool,

    /// Log format; the filter comes from RUST_LOG (default `info`).
    #[arg(long, env = "REMOTION_OPERATOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// OTLP/HTTP endpoint to export traces to, read as the OpenTelemetry SDKs read it: the base
    /// URL, `/v1/traces` below it (e.g. `http://otel-collector.observability:4318`). Unset or
    /// empty: no spans are exported.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// The traces URL itself (`…/v1/traces`), used as is; wins over --otlp-endpoint.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub otlp_traces_endpoint: Option<String>,

    /// `service.name` of the exported spans (default: the `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, else `remotion-operator`).
    #[arg(long, env = "OTEL_SERVICE_NAME")]
    pub otel_service_name: Option<String>,

    /// Size of the scratch volume RemotionSite archives are downloaded and unpacked in (the
    /// chart's `scratch.sizeLimit`, a Kubernetes quantity): the largest archive and site derive
    /// from it, so that every sync at once fits.
    #[arg(long, env = "REMOTION_OPERATOR_SITE_SCRATCH_SIZE", default_value = "1Gi", value_parser = crate::controllers::remotion_site::settings::parse_quantity)]
    pub site_scratch_size: u64,

    /// RemotionSites downloaded, unpacked and uploaded at once; each gets an equal share of the
    /// scratch volume.
    #[arg(long, env = "REMOTION_OPERATOR_SITE_SYNCS", default_value_t = crate::controllers::remotion_site::scratch::DEFAULT_SITE_SYNCS, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub site_syncs: u16,

    /// Run the controllers only while holding a coordination.k8s.io Lease (for more than one replica).
    #[arg(long, env = "REMOTION_OPERATOR_LEADER_ELECTION", default_value_t = false)]
    pub leader_election: bool,

    /// Name of the Lease used for leader election.
    #[arg(long, env = "REMOTION_OPERATOR_LEASE_NAME", default_value = "remotion-operator")]
    pub lease_name: String,

    /// Namespace of the Lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// Identity of this replica in the Lease (default: the pod name, else the host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}

/// An OTLP endpoint flag that is not an http(s) URL.
#[derive(Debug, thiserror::Error)]
#[error("{flag} {value:?} is not an http(s) URL")]
pub struct InvalidEndpoint {
    /// The flag (its environment variable says the same).
    pub flag: &'static str,
    /// The value given.
    pub value: String,
}

/// What the binary does instead of running the controllers.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Print the least-privilege IAM policy of the operator's role or of the render function's
    /// execution role (JSON on stdout).
    IamPolicy(crate::iam::IamPolicyArgs),
}

impl Config {
    /// The identity to hold the Lease with.
    pub fn identity(&self) -> String {
        self.identity.clone().unwrap_or_else(|| {
            hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "remotion-operator".to_owned())
        })
    }

    /// The namespace of the Lease.
    pub fn lease_namespace(&self) -> String {
        self.lease_namespace.clone().unwrap_or_else(|| "default".to_owned())
    }

    /// The HTTP listeners to open and what each serves.
    pub fn http_listeners(&self) -> Vec<(SocketAddr, crate::http::Endpoints)> {
        use crate::http::Endpoints;
        match self.metrics_addr {
            Some(metrics) if metrics != self.http_addr => {
                vec![(self.http_addr, Endpoints::Probes), (metrics, Endpoints::Metrics)]
            }
            _ => vec![(self.http_addr, Endpoints::All)],
        }
    }

    /// Where spans are exported to (`None`: no OTLP endpoint is configured, nothing is exported).
    pub fn trace_export(&self) -> Result<Option<TraceExport>, InvalidEndpoint> {
        fn given(value: &Option<String>) -> Option<&str> {
            value.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let traces_url = match (given(&self.otlp_traces_endpoint), given(&self.otlp_endpoint)) {
            (Some(url), _) => http_url("--otlp-traces-endpoint", url)?,
            (None, Some(base)) => telemetry::traces_url(&http_url("--otlp-endpoint", base)?),
            (None, None) => return Ok(None),
        };
        Ok(Some(TraceExport { traces_url, service_name: given(&self.otel_service_name).map(str::to_owned) }))
    }

    /// The RemotionSite controller's settings: its limits derived from the scratch volume.
    pub fn site_settings(&self) -> Result<SiteSettings, ScratchTooSmall> {
        SiteSettings::for_scratch(self.site_scratch_size, self.site_syncs)
    }
}

fn http_url(flag: &'static str, value: &str) -> Result<Url, InvalidEndpoint> {
    Url::parse(value)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
        .ok_or_else(|| InvalidEndpoint { flag, value: value.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_operator_contract() {
        let config = Config::try_parse_from(["remotion-operator"]).unwrap();
        assert_eq!(config.http_addr, "[::]:8080".parse().unwrap());
        assert_eq!(config.http_listeners(), vec![(config.http_addr, crate::http::Endpoints::All)]);
        assert_eq!(config.concurrency, 4);
        assert_eq!(config.progress_writes_per_second, 25);
        assert_eq!(config.launch_concurrency, 16);
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(!config.leader_election);
        assert_eq!(config.lease_name, "remotion-operator");
        assert_eq!(config.namespace, None);
        assert_eq!(config.command, None);
        assert_eq!(config.site_scratch_size, 1 << 30);
        assert_eq!(config.site_syncs, 1);
        assert_eq!(config.site_settings().unwrap(), SiteSettings::default());
        assert_eq!(config.trace_export().unwrap(), None, "no spans exported unless asked");
        assert!(!config.webhook_allow_private_networks, "webhooks reach public addresses only");
        let open = Config::try_parse_from(["remotion-operator", "--webhook-allow-private-networks"]).unwrap();
        assert!(open.webhook_allow_private_networks);
    }

    #[test]
    fn an_otlp_endpoint_turns_the_export_on() {
        let export = |args: &[&str]| {
            let args = std::iter::once("remotion-operator").chain(args.iter().copied());
            Config::try_parse_from(args).unwrap().trace_export()
        };
        let on = export(&["--otlp-endpoint=http://otel-collector.observability:4318"]).unwrap().unwrap();
        assert_eq!(on.traces_url.as_str(), "http://otel-collector.observability:4318/v1/traces");
        assert_eq!(on.service_name, None);
        let named = export(&["--otlp-endpoint=https://otlp.example.com/", "--otel-service-name=renders"]);
        let named = named.unwrap().unwrap();
        assert_eq!(named.traces_url.as_str(), "https://otlp.example.com/v1/traces");
        assert_eq!(named.service_name.as_deref(), Some("renders"));
        // The traces URL is taken as it is, and wins.
        let exact =
            export(&["--otlp-endpoint=http://a:4318", "--otlp-traces-endpoint=http://b:4318/custom/traces"]).unwrap();
        assert_eq!(exact.unwrap().traces_url.as_str(), "http://b:4318/custom/traces");
        // Empty is unset (an empty variable from a chart), not an error.
        assert_eq!(export(&["--otlp-endpoint="]).unwrap(), None);
        for wrong in ["--otlp-endpoint=collector:4318", "--otlp-endpoint=grpc://c:4317", "--otlp-traces-endpoint=/v1"] {
            let error = export(&[wrong]).unwrap_err();
            assert!(error.to_string().contains("is not an http(s) URL"), "{wrong}: {error}");
        }
    }

    #[test]
    fn site_limits_follow_the_scratch_size_and_syncs() {
        let config =
            Config::try_parse_from(["remotion-operator", "--site-scratch-size=3Gi", "--site-syncs=3"]).unwrap();
        assert_eq!(config.site_settings().unwrap(), SiteSettings::for_scratch(3 << 30, 3).unwrap());
        assert_eq!(config.site_settings().unwrap().scratch.syncs, 3);
        let small =
            Config::try_parse_from(["remotion-operator", "--site-scratch-size=100Mi", "--site-syncs=4"]).unwrap();
        assert!(small.site_settings().is_err());
        assert!(Config::try_parse_from(["remotion-operator", "--site-scratch-size=lots"]).is_err());
        assert!(Config::try_parse_from(["remotion-operator", "--site-syncs=0"]).is_err());
    }

    #[test]
    fn metrics_can_be_served_apart_from_the_probes() {
        use crate::http::Endpoints;
        let config =
            Config::try_parse_from(["remotion-operator", "--http-addr=[::]:8081", "--metrics-addr=[::]:8080"]).unwrap();
        assert_eq!(
            config.http_listeners(),
            vec![("[::]:8081".parse().unwrap(), Endpoints::Probes), ("[::]:8080".parse().unwrap(), Endpoints::Metrics)]
        );
        // The old single address keeps working, and naming it twice is one listener.
        let config =
            Config::try_parse_from(["remotion-operator", "--http-addr=0.0.0.0:9000", "--metrics-addr=0.0.0.0:9000"])
                .unwrap();
        assert_eq!(config.http_listeners(), vec![("0.0.0.0:9000".parse().unwrap(), Endpoints::All)]);
        assert!(Config::try_parse_from(["remotion-operator", "--metrics-addr=8080"]).is_err());
    }

    #[test]
    fn iam_policy_is_a_subcommand_beside_the_flags() {
        use crate::iam::{IamPolicyArgs, PolicyRole};
        let config =
            Config::try_parse_from(["remotion-operator", "iam-policy", "function", "--bucket", "my-videos"]).unwrap();
        let wanted = IamPolicyArgs { role: PolicyRole::Function, bucket: Some("my-videos".into()) };
        assert_eq!(config.command, Some(Command::IamPolicy(wanted)));
        assert!(Config::try_parse_from(["remotion-operator", "iam-policy", "operator", "--bucket=No_Such"]).is_err());
        assert!(Config::try_parse_from(["remotion-operator", "iam-policy", "nobody"]).is_err());
    }

    #[test]
    fn flags_override_defaults() {
        let config = Config::try_parse_from([
            "remotion-operator",
            "--http-addr=127.0.0.1:9000",
            "--namespace=renders",
            "--concurrency=8",
            "--progress-writes-per-second=100",
            "--launch-concurrency=32",
            "--log-format=text",
            "--leader-election",
            "--identity=pod-a",
        ])
        .unwrap();
        assert_eq!(config.http_addr.port(), 9000);
        assert_eq!(config.namespace.as_deref(), Some("renders"));
        assert_eq!(config.concurrency, 8);
        assert_eq!(config.progress_writes_per_second, 100);
        assert_eq!(config.launch_concurrency, 32);
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(config.leader_election);
        assert_eq!(config.identity(), "pod-a");
        assert!(Config::try_parse_from(["remotion-operator", "--concurrency=0"]).is_err());
        assert!(Config::try_parse_from(["remotion-operator", "--progress-writes-per-second=0"]).is_err());
    }
}
