//! Leader election with a `coordination.k8s.io/v1` Lease, for running more than one replica:
//! only the holder runs the controllers. The holder renews every [`RENEW_EVERY`]; another
//! replica takes over once the Lease has not been renewed for its duration.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long a Lease stays valid without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews and the others check.
pub const RENEW_EVERY: Duration = Duration::from_secs(5);
/// Each Lease API call is bounded, so a hung call cannot outlive the Lease.
const CALL_TIMEOUT: Duration = Duration::from_secs(4);

/// Which Lease, and who we are.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// Our identity (pod name).
    pub identity: String,
}

/// Runs the election loop until `shutdown`: `leader` says whether we hold the Lease now.
/// Losing the Lease after holding it sets `leader` to false; the caller stops the controllers.
pub async fn run(client: Client, settings: LeaseSettings, leader: watch::Sender<bool>, shutdown: CancellationToken) {
    let api: Api<Lease> = Api::namespaced(client, &settings.namespace);
    loop {
        let held = match tokio::time::timeout(CALL_TIMEOUT, try_acquire_or_renew(&api, &settings)).await {
            Ok(Ok(held)) => held,
            Ok(Err(error)) => {
                tracing::warn!(%error, lease = settings.name, "leader election: Lease call failed");
                false
            }
            Err(_) => {
                tracing::warn!(lease = settings.name, "leader election: Lease call timed out");
                false
            }
        };
        if held != *leader.borrow() {
            tracing::info!(identity = settings.identity, leader = held, "leader election: leadership changed");
            leader.send_replace(held);
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(RENEW_EVERY) => {}
        }
    }
    if *leader.borrow() {
        release(&api, &settings).await;
    }
}

/// One round: create, renew or take over the Lease. Whether we hold it afterwards.
async fn try_acquire_or_renew(api: &Api<Lease>, settings: &LeaseSettings) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let Some(mut lease) = api.get_opt(&settings.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta { name: Some(settings.name.clone()), ..Default::default() },
            spec: Some(spec_for(&settings.identity, now, 0)),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let new_spec = if holder == settings.identity {
        LeaseSpec { renew_time: Some(MicroTime(now)), ..spec }
    } else if holder.is_empty() || expired(&spec, now) {
        spec_for(&settings.identity, now, spec.lease_transitions.unwrap_or(0) + 1)
    } else {
        return Ok(false);
    };
    lease.spec = Some(new_spec);
    // `replace` carries the resourceVersion we read: a concurrent writer makes it fail (409).
    match api.replace(&settings.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives the Lease up on shutdown so another replica takes over at once.
async fn release(api: &Api<Lease>, settings: &LeaseSettings) {
    let released = async {
        let Some(mut lease) = api.get_opt(&settings.name).await? else { return Ok(()) };
        let Some(spec) = lease.spec.as_mut() else { return Ok(()) };
        if spec.holder_identity.as_deref() != Some(settings.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        api.replace(&settings.name, &PostParams::default(), &lease).await.map(|_| ())
    };
    match tokio::time::timeout(CALL_TIMEOUT, released).await {
        Ok(Ok(())) => tracing::info!(lease = settings.name, "leader election: Lease released"),
        Ok(Err(error)) => tracing::warn!(%error, "leader election: releasing the Lease failed"),
        Err(_) => tracing::warn!("leader election: releasing the Lease timed out"),
    }
}

fn spec_for(identity: &str, now: Timestamp, transitions: i32) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(identity.to_owned()),
        lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
        acquire_time: Some(MicroTime(now)),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..Default::default()
    }
}

fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let duration = spec.lease_duration_seconds.map_or(LEASE_DURATION.as_secs() as i64, i64::from);
    match &spec.renew_time {
        Some(MicroTime(renewed)) => renewed.as_second() + duration < now.as_second(),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_expires_after_its_duration() {
        let renewed: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let spec = spec_for("a", renewed, 0);
        assert!(!expired(&spec, "2026-01-01T00:00:10Z".parse().unwrap()));
        assert!(expired(&spec, "2026-01-01T00:00:16Z".parse().unwrap()));
        assert!(expired(&LeaseSpec::default(), renewed));
    }
}
