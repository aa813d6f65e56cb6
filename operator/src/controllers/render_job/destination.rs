//! Where a job's output goes when not to the site's bucket: another LambdaBucket of the job's
//! namespace (`spec.output.bucketRef`, Remotion's `outName.bucketName`), or a store of its own
//! (`spec.output.store`, Remotion's `s3OutputProvider`): the clients the operator reaches it
//! with (to presign the output's URL, to delete it with the job), and for a store the keys the
//! function writes it with.
//!
//! The keys come from a Secret of the job's namespace, read through the same factory and
//! tenancy policy as a LambdaBucket's credentials (the admin's identity and network rules
//! apply to the store's keys and endpoint). They go into the launch payload only: never into
//! the bucket, the status, an Event or a log line (the payload's `Debug` hides them).

use aws_sdk_s3::config::ProvideCredentials;
use kube::Resource;
use remotion_crds::common::{AwsAccess, AwsCredentials};
use remotion_crds::render_job::{OutputSpec, OutputStoreSpec, Privacy};
use remotion_crds::{Reason, RenderJob};
use remotion_protocol::output::OutputStore;

use super::JobContext;
use super::references::{Blocked, ready_now};
use crate::aws::AwsClients;
use crate::reconcile::Error;

/// Region a store's requests are signed for when the spec names none.
pub const DEFAULT_STORE_REGION: &str = "us-east-1";

/// The store a job's output goes to, if any.
pub fn store_of(job: &RenderJob) -> Option<&OutputStoreSpec> {
    job.spec.output.as_ref().and_then(|o: &OutputSpec| o.store.as_ref())
}

/// The LambdaBucket a job's output goes to instead of the site's, if any.
pub fn bucket_ref_of(job: &RenderJob) -> Option<&str> {
    job.spec.output.as_ref().and_then(|o| o.bucket_ref.as_ref()).map(|r| r.name.as_str())
}

/// The AWS bucket of LambdaBucket `name` of the namespace, checked for a launch: it exists, is
/// Ready, is in the render's region (the function writes it from there) and allows public
/// outputs when the job asks for one.
pub async fn other_bucket(
    ctx: &JobContext,
    namespace: &str,
    job: &RenderJob,
    name: &str,
    render_region: &str,
) -> Result<Result<String, Blocked>, Error> {
    let Some(bucket) = ctx.references.bucket(&ctx.shared.client, namespace, name).await? else {
        let message = format!("waiting for LambdaBucket {name} (output.bucketRef) to exist");
        return Ok(Err(Blocked::Waiting { reason: Reason::BucketNotFound, message }));
    };
    let status = bucket.status.clone().unwrap_or_default();
    let Some(bucket_name) = status.bucket_name.filter(|_| ready_now(&status.conditions, bucket.meta().generation))
    else {
        let message = format!("waiting for LambdaBucket {name} (output.bucketRef) to be Ready");
        return Ok(Err(Blocked::Waiting { reason: Reason::BucketNotReady, message }));
    };
    if bucket.spec.aws.region != render_region {
        let message = format!(
            "output.bucketRef {name} is in {}, the render in {render_region}: the function writes its output \
             from the render's region; use a LambdaBucket of that region",
            bucket.spec.aws.region
        );
        return Ok(Err(Blocked::Invalid { reason: Reason::RegionMismatch, message }));
    }
    let public = job.spec.output.as_ref().is_some_and(|o| o.privacy == Privacy::Public);
    if public && !bucket.spec.public_outputs {
        let message = format!(
            "output.privacy is public but LambdaBucket {name} (output.bucketRef) does not allow public outputs: \
             set publicOutputs: true on it, or render with privacy: private"
        );
        return Ok(Err(Blocked::Invalid { reason: Reason::PublicOutputsDisabled, message }));
    }
    Ok(Ok(bucket_name))
}

/// Clients of LambdaBucket `name` of the namespace and its base URL, to presign or delete an
/// output there; `BucketNotFound` when it is gone.
pub async fn other_bucket_clients(
    ctx: &JobContext,
    namespace: &str,
    name: &str,
    purpose: Purpose,
) -> Result<(AwsClients, Option<String>), Error> {
    let Some(bucket) = ctx.references.bucket(&ctx.shared.client, namespace, name).await? else {
        return Err(Error::new(Reason::BucketNotFound, format!("LambdaBucket {name} (output.bucketRef) is gone")));
    };
    let clients = match purpose {
        Purpose::Use => ctx.shared.aws.clients(namespace, &bucket.spec.aws).await?,
        Purpose::Cleanup => ctx.shared.aws.clients_for_cleanup(namespace, &bucket.spec.aws).await?,
    };
    Ok((clients, bucket.status.and_then(|s| s.url)))
}

/// The store as an [`AwsAccess`]: its region, endpoint and Secret.
pub fn access(store: &OutputStoreSpec) -> AwsAccess {
    AwsAccess {
        region: store.region.clone().unwrap_or_else(|| DEFAULT_STORE_REGION.to_owned()),
        credentials: Some(AwsCredentials {
            secret_ref: Some(store.secret_ref.clone()),
            role_arn: None,
            external_id: None,
        }),
        endpoint: Some(store.endpoint.clone()),
    }
}

/// Why the operator reaches the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Launching or following: the Secret must be there now.
    Use,
    /// Deleting the output of a deleted job: keys whose Secret just went still serve.
    Cleanup,
}

/// Clients of the store, addressed as the spec says.
pub async fn clients(
    ctx: &JobContext,
    namespace: &str,
    store: &OutputStoreSpec,
    purpose: Purpose,
) -> Result<AwsClients, Error> {
    let access = access(store);
    let mut clients = match purpose {
        Purpose::Use => ctx.shared.aws.clients(namespace, &access).await?,
        Purpose::Cleanup => ctx.shared.aws.clients_for_cleanup(namespace, &access).await?,
    };
    // The factory addresses custom endpoints path-style; some stores only take virtual hosts.
    if !store.force_path_style {
        clients.s3 = aws_sdk_s3::Client::from_conf(clients.s3.config().to_builder().force_path_style(false).build());
    }
    Ok(clients)
}

/// The store as the payload carries it: endpoint, region, addressing and the Secret's keys.
pub async fn payload_store(store: &OutputStoreSpec, clients: &AwsClients) -> Result<OutputStore, Error> {
    let Some(provider) = &clients.credentials else {
        return Err(Error::new(Reason::InternalError, "the output store's clients carry no credentials"));
    };
    let keys = provider.provide_credentials().await.map_err(|e| {
        Error::caused_by(Reason::InvalidCredentials, format!("the keys of Secret {}", store.secret_ref.name), e)
    })?;
    Ok(OutputStore {
        endpoint: store.endpoint.clone(),
        region: clients.region.clone(),
        force_path_style: store.force_path_style,
        access_key_id: keys.access_key_id().to_owned(),
        secret_access_key: keys.secret_access_key().to_owned(),
        session_token: keys.session_token().map(str::to_owned),
    })
}

/// The public URL base of the store's bucket (`endpoint/bucket`, or `bucket.endpoint` for
/// virtual-hosted stores).
pub fn public_base(store: &OutputStoreSpec) -> String {
    let endpoint = store.endpoint.trim_end_matches('/');
    if store.force_path_style {
        return format!("{endpoint}/{}", store.bucket);
    }
    match endpoint.split_once("://") {
        Some((scheme, host)) => format!("{scheme}://{}.{host}", store.bucket),
        None => format!("{endpoint}/{}", store.bucket),
    }
}

#[cfg(test)]
mod tests {
    use remotion_crds::common::LocalObjectRef;

    use super::*;

    fn store(path_style: bool) -> OutputStoreSpec {
        OutputStoreSpec {
            endpoint: "https://s3.example.com/".into(),
            region: None,
            bucket: "videos".into(),
            force_path_style: path_style,
            secret_ref: LocalObjectRef::new("store-keys"),
        }
    }

    #[test]
    fn a_store_is_reached_through_its_secret_and_endpoint() {
        let access = access(&store(true));
        assert_eq!(access.region, DEFAULT_STORE_REGION);
        assert_eq!(access.endpoint.as_deref(), Some("https://s3.example.com/"));
        let secret = access.credentials.and_then(|c| c.secret_ref).map(|r| r.name);
        assert_eq!(secret.as_deref(), Some("store-keys"));
    }

    #[test]
    fn public_urls_follow_the_addressing() {
        assert_eq!(public_base(&store(true)), "https://s3.example.com/videos");
        assert_eq!(public_base(&store(false)), "https://videos.s3.example.com");
    }
}
