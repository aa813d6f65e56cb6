//! Lease leader election against the API server stand-in (its coordination.k8s.io/v1 Lease).

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use remotion_operator::leader::{self, LeaseSettings, RENEW_EVERY};
use remotion_tests::TestEnv;
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
