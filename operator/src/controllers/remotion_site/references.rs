//! Step 1: the LambdaBucket to upload to and the RenderFunction that lists compositions,
//! each either usable now or a reason to wait (nothing is wrong with the site's own spec).

use kube::api::Api;
use kube::{Resource, ResourceExt};
use remotion_crds::common::condition_type::READY;
use remotion_crds::common::find_condition;
use remotion_crds::{LambdaBucket, Reason, RemotionSite, RenderFunction};
use remotion_protocol::payload::PROTOCOL_VERSION;

use crate::aws::AwsClients;
use crate::controllers::Context;
use crate::reconcile::Error;

/// A reason to wait (not an error: nothing is wrong with this site's spec).
pub struct Wait {
    pub reason: Reason,
    pub message: String,
}

/// The bucket to upload to, when its LambdaBucket is Ready.
pub struct ReadyBucket {
    pub name: String,
    pub url: String,
    pub clients: AwsClients,
}

fn ready_now(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    generation: Option<i64>,
) -> bool {
    find_condition(conditions, READY).is_some_and(|c| c.status == "True" && c.observed_generation == generation)
}

pub async fn bucket(site: &RemotionSite, ctx: &Context) -> Result<Result<ReadyBucket, Wait>, Error> {
    let namespace = site.namespace().unwrap_or_default();
    let name = &site.spec.bucket_ref.name;
    let Some(bucket) = Api::<LambdaBucket>::namespaced(ctx.client.clone(), &namespace).get_opt(name).await? else {
        return Ok(Err(Wait {
            reason: Reason::BucketNotFound,
            message: format!("LambdaBucket {name} does not exist"),
        }));
    };
    let status = bucket.status.clone().unwrap_or_default();
    let (Some(bucket_name), Some(url), true) =
        (status.bucket_name, status.url, ready_now(&status.conditions, bucket.meta().generation))
    else {
        let why = find_condition(&status.conditions, READY)
            .map(|c| format!(" ({}: {})", c.reason, c.message))
            .unwrap_or_default();
        return Ok(Err(Wait {
            reason: Reason::BucketNotReady,
            message: format!("waiting for LambdaBucket {name} to be Ready{why}"),
        }));
    };
    let clients = ctx.aws.clients(&namespace, &bucket.spec.aws).await?;
    Ok(Ok(ReadyBucket { name: bucket_name, url, clients }))
}

/// The function that lists compositions, when it is Ready and speaks our protocol.
pub struct ReadyFunction {
    pub name: String,
    /// Changes when the function does (a new deployment may list differently).
    pub identity: String,
    pub clients: AwsClients,
}

pub async fn function(site: &RemotionSite, ctx: &Context) -> Result<Option<Result<ReadyFunction, Wait>>, Error> {
    let Some(reference) = &site.spec.function_ref else { return Ok(None) };
    let namespace = site.namespace().unwrap_or_default();
    let name = &reference.name;
    let Some(function) = Api::<RenderFunction>::namespaced(ctx.client.clone(), &namespace).get_opt(name).await? else {
        let message = format!("RenderFunction {name} does not exist");
        return Ok(Some(Err(Wait { reason: Reason::FunctionNotFound, message })));
    };
    let status = function.status.clone().unwrap_or_default();
    let (Some(function_name), true) =
        (status.function_name.clone(), ready_now(&status.conditions, function.meta().generation))
    else {
        let why = find_condition(&status.conditions, READY)
            .map(|c| format!(" ({}: {})", c.reason, c.message))
            .unwrap_or_default();
        let message = format!("waiting for RenderFunction {name} to be Ready to list the compositions{why}");
        return Ok(Some(Err(Wait { reason: Reason::FunctionNotReady, message })));
    };
    if status.protocol_version != Some(i64::from(PROTOCOL_VERSION)) {
        return Err(Error::new(
            Reason::ProtocolMismatch,
            format!(
                "RenderFunction {name} speaks protocol {:?}, this operator {PROTOCOL_VERSION}; deploy a matching function image",
                status.protocol_version
            ),
        ));
    }
    let clients = ctx.aws.clients(&namespace, &function.spec.aws).await?;
    let identity = format!("{function_name}@{:?}/{}", status.version, function.meta().generation.unwrap_or_default());
    Ok(Some(Ok(ReadyFunction { name: function_name, identity, clients })))
}
