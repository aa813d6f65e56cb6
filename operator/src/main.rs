//! `remotion-operator`: runs the controllers, serves /health, /ready and /metrics;
//! `remotion-operator iam-policy operator|function` prints an IAM policy.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Parser;
use kube::Client;
use remotion_operator::aws::KubeSecrets;
use remotion_operator::config::{Command, Config};
use remotion_operator::controllers::remotion_site::SiteSettings;
use remotion_operator::controllers::{self, Context, Settings};
use remotion_operator::http::{self, HttpState, Readiness};
use remotion_operator::leader::{self, LeaseSettings};
use remotion_operator::metrics::Metrics;
use remotion_operator::telemetry;
use remotion_operator::tenancy::TenancyPolicy;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<()> {
    let config = Config::parse();
    if let Some(Command::IamPolicy(args)) = &config.command {
        return remotion_operator::iam::print_policy(args);
    }
    let site_settings = config.site_settings().context("sizing RemotionSite syncs to the scratch volume")?;
    let trace_export = config.trace_export()?;
    let telemetry =
        telemetry::init(config.log_format, trace_export.as_ref()).context("installing logging and tracing")?;
    let result = run(&config, site_settings).await;
    // Also after a failure: the spans of what led to it are exported before the process ends.
    telemetry.shutdown().await;
    result
}

/// Everything after logging and tracing are set up, until shutdown.
async fn run(config: &Config, site_settings: SiteSettings) -> Result<()> {
    // Read before anything starts: a policy that does not load must stop the operator, not
    // leave it running under another policy than the admin's.
    let tenancy = match &config.tenancy_policy {
        Some(path) => TenancyPolicy::load(path)?,
        None => {
            tracing::info!("no --tenancy-policy: each namespace may use only its own AWS credentials");
            TenancyPolicy::default_secure()
        }
    };

    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));

    let metrics = Arc::new(Metrics::new());
    let readiness = Readiness::default();
    let server =
        serve_http(config, HttpState { metrics: metrics.clone(), readiness: readiness.clone() }, &shutdown).await?;

    let client = Client::try_default().await.context("building the Kubernetes client")?;
    let identity = config.identity();
    let election = if config.leader_election {
        let election = start_election(&client, config, &identity);
        tokio::spawn(mirror_leadership(election.leader.clone(), metrics.clone()));
        // A standby replica is Ready: it is healthy and can take over at once. (Were it not,
        // a rolling update would wait forever for new replicas while the old leader holds
        // the Lease.) The leader is Ready once its controllers run, as without election.
        readiness.set(true);
        let leading = wait_for_leadership(&election, &shutdown).await;
        readiness.set(false);
        if !leading {
            tracing::info!("shut down while standing by");
            election.stop().await;
            shutdown.cancel();
            server.join().await;
            return Ok(());
        }
        Some(election)
    } else {
        // Without election this replica is the only one: it leads while it runs.
        metrics.set_leader(true);
        None
    };

    let ctx = Arc::new(
        Context::new(client.clone(), Arc::new(KubeSecrets::new(client)), metrics.clone(), Some(identity))
            .with_tenancy(tenancy),
    );
    let settings = Settings {
        progress_writes_per_second: config.progress_writes_per_second,
        launch_concurrency: config.launch_concurrency,
        finished_job_ttl: config.finished_job_ttl_seconds.map(|s| std::time::Duration::from_secs(u64::from(s))),
        site: site_settings,
        webhook_allow_private_networks: config.webhook_allow_private_networks,
        ..Settings::new(config.namespace.clone(), config.concurrency)
    };
    let result = controllers::run(ctx, settings, readiness, shutdown.clone()).await;
    if election.is_none() {
        metrics.set_leader(false);
    }
    shutdown.cancel();
    if let Some(election) = election {
        election.stop().await;
    }
    server.join().await;
    match result {
        Ok(()) => Ok(()),
        Err(controllers::RunError::ShutDownWhileWaiting) => {
            tracing::info!("shut down before the CRDs were served");
            Ok(())
        }
    }
}

/// The HTTP listeners (probes and metrics on one port, or on two).
struct HttpServers(Vec<tokio::task::JoinHandle<()>>);

impl HttpServers {
    /// Waits for every listener to stop (after `shutdown` is cancelled).
    async fn join(self) {
        for server in self.0 {
            let _ = server.await;
        }
    }
}

/// Binds every listener before anything else starts: a port that cannot be bound stops the
/// operator at once instead of failing its probes later.
async fn serve_http(config: &Config, state: HttpState, shutdown: &CancellationToken) -> Result<HttpServers> {
    let mut servers = Vec::new();
    for (addr, endpoints) in config.http_listeners() {
        let listener =
            http::bind(addr).await.with_context(|| format!("binding the HTTP server ({endpoints:?}) to {addr}"))?;
        let local = listener.local_addr().unwrap_or(addr);
        tracing::info!(addr = %local, ?endpoints, "serving HTTP");
        servers.push(tokio::spawn(http::serve_endpoints(listener, state.clone(), endpoints, shutdown.clone())));
    }
    Ok(HttpServers(servers))
}

/// How long the Lease's release may take at shutdown.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The running election loop of this replica. It has a stop of its own: at shutdown the
/// Lease is renewed until the controllers have finished their reconciles, and released only
/// then, so a standby never reconciles beside a draining leader.
struct Election {
    task: tokio::task::JoinHandle<()>,
    leader: watch::Receiver<bool>,
    stop: CancellationToken,
}

impl Election {
    /// Ends the loop, releasing the Lease if held (so a standby takes over on its next round
    /// instead of after the Lease expires).
    async fn stop(self) {
        self.stop.cancel();
        if tokio::time::timeout(RELEASE_TIMEOUT, self.task).await.is_err() {
            tracing::warn!("the Lease was not released in time; a standby takes over when it expires");
        }
    }
}

fn start_election(client: &Client, config: &Config, identity: &str) -> Election {
    let (tx, rx) = watch::channel(false);
    let settings = LeaseSettings {
        name: config.lease_name.clone(),
        namespace: config.lease_namespace(),
        identity: identity.to_owned(),
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(leader::run(client.clone(), settings, tx, stop.clone()));
    Election { task, leader: rx, stop }
}

/// Blocks until this replica holds the Lease (`true`) or shuts down first (`false`); a later
/// loss of the Lease shuts the process down (the Deployment restarts it as a standby), so two
/// replicas never reconcile at once.
async fn wait_for_leadership(election: &Election, shutdown: &CancellationToken) -> bool {
    let mut rx = election.leader.clone();
    tracing::info!("standing by: waiting to become the leader");
    tokio::select! {
        won = rx.wait_for(|leader| *leader) => if won.is_err() { return false },
        _ = shutdown.cancelled() => return false,
    }
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        if rx.wait_for(|leader| !*leader).await.is_ok() {
            tracing::error!("lost the leader Lease: shutting down");
            shutdown.cancel();
        }
    });
    true
}

/// Keeps the `leader` gauge equal to whether this replica holds the Lease, standby or not,
/// until the election loop ends (it sets false on release).
async fn mirror_leadership(mut leader: watch::Receiver<bool>, metrics: Arc<Metrics>) {
    loop {
        metrics.set_leader(*leader.borrow_and_update());
        if leader.changed().await.is_err() {
            metrics.set_leader(false);
            return;
        }
    }
}

/// Cancels `shutdown` on SIGTERM or Ctrl-C; a second signal exits at once.
async fn cancel_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        tracing::error!("cannot listen for SIGTERM");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutdown requested: finishing running reconciles");
    shutdown.cancel();
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::warn!("second signal: exiting now");
    std::process::exit(130);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (bounded) until the gauge reads `want`.
    async fn leader_reads(metrics: &Metrics, want: u8) -> bool {
        for _ in 0..200 {
            if metrics.encode().contains(&format!("remotion_operator_leader {want}\n")) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    #[tokio::test]
    async fn the_leader_gauge_follows_the_lease() {
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = watch::channel(false);
        tokio::spawn(mirror_leadership(rx, metrics.clone()));
        assert!(leader_reads(&metrics, 0).await, "a standby");
        tx.send_replace(true);
        assert!(leader_reads(&metrics, 1).await, "won the Lease");
        tx.send_replace(false);
        assert!(leader_reads(&metrics, 0).await, "lost it");
        tx.send_replace(true);
        assert!(leader_reads(&metrics, 1).await, "won it again");
        // The election loop ends (the Lease released at shutdown): no longer the leader.
        drop(tx);
        assert!(leader_reads(&metrics, 0).await, "released");
    }
}
