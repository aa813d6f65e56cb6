//! Lease leader election against the API server stand-in (its coordination.k8s.io/v1 Lease):
//! the election loop in-process, and two replicas of the real binary handing over.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::common::{eventually, http_get};
use anyhow::Result;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::PostParams;
use remotion_crds::RenderJob;
use remotion_operator::leader::{self, LEASE_DURATION, LeaseSettings, RENEW_EVERY};
use remotion_tests::TestEnv;
use remotion_tests::process::{Spawned, free_port, spawn_logged, tail};
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

fn settings(namespace: &str, identity: &str) -> LeaseSettings {
    LeaseSettings { name: "remotion-operator".into(), namespace: namespace.into(), identity: identity.into() }
}

async fn becomes(rx: &mut watch::Receiver<bool>, wanted: bool, within: Duration) -> Result<()> {
    tokio::time::timeout(within, rx.wait_for(|leader| *leader == wanted)).await??;
    Ok(())
}

#[tokio::test]
async fn one_replica_leads_and_hands_over_when_it_stops() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name("leader");

    let (a_tx, mut a_rx) = watch::channel(false);
    let a_stop = CancellationToken::new();
    let a = tokio::spawn(leader::run(client.clone(), settings(&namespace, "replica-a"), a_tx, a_stop.clone()));
    becomes(&mut a_rx, true, Duration::from_secs(10)).await?;

    let (b_tx, mut b_rx) = watch::channel(false);
    let b_stop = CancellationToken::new();
    let b = tokio::spawn(leader::run(client.clone(), settings(&namespace, "replica-b"), b_tx, b_stop.clone()));
    // Two rounds of B: the Lease is held and renewed by A, so B must stay a follower.
    tokio::time::sleep(RENEW_EVERY * 2 + Duration::from_secs(1)).await;
    assert!(!*b_rx.borrow(), "two leaders at once");
    assert!(*a_rx.borrow());
    let lease = Api::<Lease>::namespaced(client.clone(), &namespace).get("remotion-operator").await?;
    assert_eq!(lease.spec.and_then(|s| s.holder_identity).as_deref(), Some("replica-a"));

    // A shuts down and releases the Lease: B takes over on its next round.
    a_stop.cancel();
    a.await?;
    becomes(&mut b_rx, true, RENEW_EVERY * 2).await?;
    let lease = Api::<Lease>::namespaced(client, &namespace).get("remotion-operator").await?;
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-b"));
    assert_eq!(spec.lease_transitions, Some(1));
    b_stop.cancel();
    b.await?;
    Ok(())
}

/// One replica of the operator binary with leader election, watching `namespace`.
fn replica(namespace: &str, identity: &str) -> Result<(Spawned, SocketAddr)> {
    let env = TestEnv::get();
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_remotion-operator"));
    command
        .args(["--namespace", namespace, "--http-addr", &http.to_string(), "--log-format", "text"])
        .args(["--leader-election", "--lease-namespace", namespace, "--identity", identity])
        .env("KUBECONFIG", &env.kube().kubeconfig)
        .env("RUST_LOG", "info");
    let log = env.run_dir().join(format!("operator-{namespace}-{identity}.log"));
    Ok((spawn_logged(env.reaper(), command, &log)?, http))
}

async fn holder(leases: &Api<Lease>) -> Result<Option<String>> {
    Ok(leases.get_opt("remotion-operator").await?.and_then(|l| l.spec?.holder_identity))
}

/// The Ready reason a RenderJob without its site gets: written only by a leading replica.
async fn waiting_reason(jobs: &Api<RenderJob>, name: &str) -> Result<Option<String>> {
    let job = jobs.get(name).await?;
    let status = job.status.unwrap_or_default();
    Ok(remotion_crds::common::find_condition(&status.conditions, "Ready")
        .filter(|c| c.reason == "SiteNotFound")
        .map(|c| c.reason.clone()))
}

async fn renderjob(jobs: &Api<RenderJob>, name: &str) -> Result<()> {
    let job: RenderJob = serde_json::from_value(json!({
        "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob", "metadata": {"name": name},
        "spec": {"siteRef": {"name": "nowhere"}, "functionRef": {"name": "nobody"}, "composition": "Intro"}}))?;
    jobs.create(&PostParams::default(), &job).await?;
    Ok(())
}

#[tokio::test]
async fn the_binary_stands_by_ready_and_takes_over_when_the_leader_stops() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name("leader-bin");
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let jobs: Api<RenderJob> = Api::namespaced(client, &namespace);
    let wait = LEASE_DURATION + RENEW_EVERY * 2;

    let (mut a, a_http) = replica(&namespace, "replica-a")?;
    eventually("replica-a leads and is ready", wait, || async {
        let ready = http_get(a_http, "/ready").await.map(|(code, _)| code == 200).unwrap_or(false);
        Ok((ready && holder(&leases).await?.as_deref() == Some("replica-a")).then_some(()))
    })
    .await?;
    let (mut b, b_http) = replica(&namespace, "replica-b")?;
    // The standby is Ready too (a rolling update needs that), but does not reconcile.
    eventually("replica-b stands by ready", wait, || async {
        Ok(http_get(b_http, "/ready").await.is_ok_and(|(code, _)| code == 200).then_some(()))
    })
    .await?;
    renderjob(&jobs, "first").await?;
    eventually("the leader reconciles", wait, || waiting_reason(&jobs, "first")).await?;
    tokio::time::sleep(RENEW_EVERY).await;
    assert_eq!(holder(&leases).await?.as_deref(), Some("replica-a"));
    let (_, b_metrics) = http_get(b_http, "/metrics").await?;
    assert!(!b_metrics.contains("remotion_operator_reconciles_total{"), "the standby reconciled:\n{b_metrics}");
    a.check_alive("replica-a")?;
    b.check_alive("replica-b")?;

    // SIGTERM: the leader drains, releases the Lease and exits; the standby takes over on its
    // next round — well before the Lease would have expired.
    let stopped_at = std::time::Instant::now();
    let status = Command::new("kill").args(["-TERM", &a.pid().to_string()]).status()?;
    anyhow::ensure!(status.success(), "kill -TERM failed");
    let exit = tokio::task::spawn_blocking(move || {
        let status = a.child.wait();
        (a, status)
    });
    let (a, exit) = tokio::time::timeout(Duration::from_secs(30), exit).await??;
    assert!(exit?.success(), "replica-a exits cleanly on SIGTERM");
    let log_a = tail(&a.log, 40);
    assert!(log_a.contains("leader election"), "{log_a}");
    eventually("replica-b takes over", RENEW_EVERY * 2 + Duration::from_secs(2), || async {
        Ok((holder(&leases).await?.as_deref() == Some("replica-b")).then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\nreplica-a:\n{log_a}"))?;
    assert!(
        stopped_at.elapsed() < LEASE_DURATION,
        "took over only after the Lease expired: {:?}",
        stopped_at.elapsed()
    );
    renderjob(&jobs, "second").await?;
    eventually("the new leader reconciles", wait, || waiting_reason(&jobs, "second")).await?;
    eventually("replica-b is ready as the leader", wait, || async {
        Ok(http_get(b_http, "/ready").await.is_ok_and(|(code, _)| code == 200).then_some(()))
    })
    .await?;
    b.check_alive("replica-b")?;
    Ok(())
}
