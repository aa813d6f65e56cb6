//! Step 1 (Managed functions): the next deployment step, decided from what Lambda reports and
//! taken one at a time (Lambda refuses a second update while one is in progress).
//!
//! A function is created tagged with its owner (`remotion-operator.io/owner`), and only a
//! function whose tag names this RenderFunction is ever updated: one owned by another resource,
//! or deployed by other means (no tag), is refused with `OwnedByAnother` before any write.

use remotion_crds::{Reason, RenderFunction};

use super::lambda::{DeployedFunction, FunctionApi, Lifecycle, WantedFunction};
use crate::controllers::Context;
use crate::controllers::aws_tags::{self, TagChanges};
use crate::controllers::lambda_bucket::owner::{OWNER_TAG, Owner};
use crate::reconcile::Error;

/// Where a managed deployment stands.
pub enum Deployment {
    /// Active and up to date.
    Ready(DeployedFunction),
    /// Lambda is still working; the message says on what.
    InProgress(String),
}

/// What to do next about a function that should look like `wanted`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// It does not exist: create it.
    Create,
    /// It exists and another resource owns it (this value), or nobody (`None`): leave it.
    OwnedByAnother(Option<String>),
    /// Lambda is deploying: look again later.
    Wait,
    /// The last deployment of this very spec failed: only a spec change helps.
    Failed(String),
    /// The image or architecture differ.
    UpdateCode,
    /// Role, memory, disk, timeout or environment differ.
    UpdateConfiguration,
    /// Only the tags differ: these changes.
    UpdateTags(TagChanges),
    /// Deployed as wanted.
    UpToDate,
}

/// The next step for `deployed` (None: no such function) to become `wanted`.
pub fn next_step(wanted: &WantedFunction, deployed: Option<&DeployedFunction>) -> Step {
    let Some(deployed) = deployed else { return Step::Create };
    if deployed.owner.as_deref() != Some(wanted.owner.as_str()) {
        return Step::OwnedByAnother(deployed.owner.clone());
    }
    let code_differs = wanted.code_differs(deployed);
    let configuration_differs = wanted.configuration_differs(deployed);
    match deployed.lifecycle {
        Lifecycle::Pending => return Step::Wait,
        Lifecycle::Failed if !code_differs && !configuration_differs => {
            return Step::Failed(deployed.failure.clone().unwrap_or_else(|| "no reason given".to_owned()));
        }
        Lifecycle::Active | Lifecycle::Inactive | Lifecycle::Failed => {}
    }
    if code_differs {
        Step::UpdateCode
    } else if configuration_differs {
        Step::UpdateConfiguration
    } else {
        let changes = wanted.tag_changes(deployed);
        if changes.is_empty() { Step::UpToDate } else { Step::UpdateTags(changes) }
    }
}

/// Takes the next step towards the spec.
pub async fn deploy(
    lambda: &dyn FunctionApi,
    live: &RenderFunction,
    name: &str,
    owner: &Owner,
    ctx: &Context,
) -> Result<Deployment, Error> {
    let spec = &live.spec;
    let (Some(image), Some(role)) = (spec.image.clone(), spec.role_arn.clone()) else {
        return Err(Error::new(Reason::InvalidFunctionSpec, "a Managed function needs spec.image and spec.roleArn"));
    };
    let wanted = WantedFunction {
        name: name.to_owned(),
        image,
        role,
        memory_mb: spec.memory_size_mb,
        disk_mb: spec.disk_size_mb,
        timeout_seconds: spec.timeout_seconds,
        architecture: spec.architecture,
        env: spec.env.clone(),
        owner: owner.as_str().to_owned(),
        tags: aws_tags::wanted(&ctx.aws.policy().cluster_id, live, &spec.tags),
        previous_tag_keys: live.status.as_ref().map(|s| s.tag_keys.clone()).unwrap_or_default(),
    };
    let deployed = lambda.get(name).await?;
    match next_step(&wanted, deployed.as_ref()) {
        Step::Create => {
            lambda.create(&wanted).await?;
            lambda.configure_async_invocations(name).await?;
            ctx.events.normal(live, Reason::Created, "CreateFunction", format!("Created Lambda function {name}")).await;
            Ok(Deployment::InProgress(format!("Creating function {name}")))
        }
        Step::OwnedByAnother(other) => Err(owned_by_another(name, other.as_deref())),
        Step::Wait => Ok(Deployment::InProgress(format!("Lambda is deploying {name}"))),
        Step::Failed(why) => Err(Error::new(
            Reason::DeploymentFailed,
            format!("Lambda could not deploy {name}: {why}; fix the image or role and change the spec"),
        )),
        Step::UpdateCode => {
            lambda.update_code(&wanted).await?;
            let note = format!("Deploying {} to {name}", wanted.image);
            ctx.events.normal(live, Reason::Updated, "UpdateFunctionCode", note).await;
            Ok(Deployment::InProgress(format!("Updating the code of {name}")))
        }
        Step::UpdateConfiguration => {
            lambda.update_configuration(&wanted).await?;
            let note = format!("Updating the configuration of {name}");
            ctx.events.normal(live, Reason::Updated, "UpdateFunctionConfiguration", note).await;
            Ok(Deployment::InProgress(format!("Updating the configuration of {name}")))
        }
        Step::UpdateTags(changes) => {
            let deployed = deployed.expect("a function whose tags differ was deployed");
            let arn = deployed.arn.clone().ok_or_else(|| {
                Error::new(Reason::LambdaError, format!("GetFunction {name} named no function ARN to tag"))
            })?;
            lambda.update_tags(&arn, &changes).await?;
            let note =
                format!("Updated the tags of {name} ({} set, {} removed)", changes.set.len(), changes.remove.len());
            ctx.events.normal(live, Reason::Updated, "TagResource", note).await;
            lambda.configure_async_invocations(name).await?;
            Ok(Deployment::Ready(deployed))
        }
        Step::UpToDate => {
            // Idempotent; repeated on each pass so a retry policy changed by hand is put back.
            lambda.configure_async_invocations(name).await?;
            Ok(Deployment::Ready(deployed.expect("an up-to-date function was deployed")))
        }
    }
}

/// The terminal error for a function this RenderFunction does not own.
fn owned_by_another(name: &str, owner: Option<&str>) -> Error {
    let whose = match owner {
        Some(other) => format!("belongs to {other} (its {OWNER_TAG} tag)"),
        None => format!("was not created by the operator for this RenderFunction (it has no {OWNER_TAG} tag)"),
    };
    Error::new(
        Reason::OwnedByAnother,
        format!(
            "Lambda function {name} {whose}: it is not updated from here; leave spec.functionName empty for a \
             function of this RenderFunction's own, or use management: Existing to only invoke it"
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use remotion_protocol::lambda::Architecture;

    use super::*;

    fn wanted() -> WantedFunction {
        WantedFunction {
            name: "f".into(),
            image: "img:1".into(),
            role: "arn:aws:iam::123456789012:role/r".into(),
            memory_mb: 2048,
            disk_mb: 2048,
            timeout_seconds: 120,
            architecture: Architecture::Arm64,
            env: BTreeMap::new(),
            owner: "default/a/renderer".into(),
            tags: BTreeMap::from([("team".to_owned(), "video".to_owned())]),
            previous_tag_keys: vec!["team".to_owned()],
        }
    }

    fn deployed(lifecycle: Lifecycle) -> DeployedFunction {
        let w = wanted();
        DeployedFunction {
            name: w.name,
            arn: None,
            lifecycle,
            failure: None,
            image: Some(w.image),
            role: Some(w.role),
            memory_mb: Some(w.memory_mb),
            disk_mb: Some(w.disk_mb),
            timeout_seconds: Some(w.timeout_seconds),
            architecture: Some(w.architecture),
            env: w.env,
            tags: w.tags.into_iter().chain([(OWNER_TAG.to_owned(), w.owner.clone())]).collect(),
            owner: Some(w.owner),
        }
    }

    #[test]
    fn steps_follow_what_lambda_reports() {
        let w = wanted();
        assert_eq!(next_step(&w, None), Step::Create);
        assert_eq!(next_step(&w, Some(&deployed(Lifecycle::Pending))), Step::Wait);
        assert_eq!(next_step(&w, Some(&deployed(Lifecycle::Active))), Step::UpToDate);
        assert_eq!(next_step(&w, Some(&deployed(Lifecycle::Inactive))), Step::UpToDate);
        let mut old_image = deployed(Lifecycle::Active);
        old_image.image = Some("img:0".into());
        assert_eq!(next_step(&w, Some(&old_image)), Step::UpdateCode);
        let mut small = deployed(Lifecycle::Active);
        small.memory_mb = Some(1024);
        assert_eq!(next_step(&w, Some(&small)), Step::UpdateConfiguration);
        let mut retagged = deployed(Lifecycle::Active);
        retagged.tags.insert("team".into(), "audio".into());
        let expected = TagChanges { set: BTreeMap::from([("team".into(), "video".into())]), ..Default::default() };
        assert_eq!(next_step(&w, Some(&retagged)), Step::UpdateTags(expected));
        // A tag set by other means is left alone.
        let mut extra = deployed(Lifecycle::Active);
        extra.tags.insert("backup".into(), "daily".into());
        assert_eq!(next_step(&w, Some(&extra)), Step::UpToDate);
    }

    #[test]
    fn a_function_of_another_owner_or_of_none_is_never_updated() {
        let w = wanted();
        let mut theirs = deployed(Lifecycle::Active);
        theirs.owner = Some("default/b/renderer".into());
        theirs.image = Some("img:0".into());
        assert_eq!(next_step(&w, Some(&theirs)), Step::OwnedByAnother(Some("default/b/renderer".into())));
        // Even when it looks exactly as wanted, or is still deploying.
        let mut untagged = deployed(Lifecycle::Pending);
        untagged.owner = None;
        assert_eq!(next_step(&w, Some(&untagged)), Step::OwnedByAnother(None));
        let error = owned_by_another("f", Some("default/b/renderer"));
        assert_eq!(error.reason(), Reason::OwnedByAnother);
        assert!(error.is_terminal());
        assert!(error.report().contains("belongs to default/b/renderer"), "{}", error.report());
        assert!(owned_by_another("f", None).report().contains("no remotion-operator.io/owner tag"));
    }

    #[test]
    fn a_failed_deployment_of_the_same_spec_waits_for_a_change() {
        let w = wanted();
        let mut failed = deployed(Lifecycle::Failed);
        failed.failure = Some("image not found".into());
        assert_eq!(next_step(&w, Some(&failed)), Step::Failed("image not found".into()));
        // A changed spec is deployed over the failure.
        failed.image = Some("img:0".into());
        assert_eq!(next_step(&w, Some(&failed)), Step::UpdateCode);
    }
}
