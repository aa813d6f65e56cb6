//! Step 1 (Managed functions): the next deployment step, decided from what Lambda reports and
//! taken one at a time (Lambda refuses a second update while one is in progress).

use remotion_crds::{Reason, RenderFunction};

use super::lambda::{DeployedFunction, FunctionApi, Lifecycle, WantedFunction};
use crate::controllers::Context;
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
    /// Lambda is deploying: look again later.
    Wait,
    /// The last deployment of this very spec failed: only a spec change helps.
    Failed(String),
    /// The image or architecture differ.
    UpdateCode,
    /// Role, memory, disk, timeout or environment differ.
    UpdateConfiguration,
    /// Deployed as wanted.
    UpToDate,
}

/// The next step for `deployed` (None: no such function) to become `wanted`.
pub fn next_step(wanted: &WantedFunction, deployed: Option<&DeployedFunction>) -> Step {
    let Some(deployed) = deployed else { return Step::Create };
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
        Step::UpToDate
    }
}

/// Takes the next step towards the spec.
pub async fn deploy(
    lambda: &dyn FunctionApi,
    live: &RenderFunction,
    name: &str,
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
    };
    let deployed = lambda.get(name).await?;
    match next_step(&wanted, deployed.as_ref()) {
        Step::Create => {
            lambda.create(&wanted).await?;
            lambda.configure_async_invocations(name).await?;
            ctx.events.normal(live, Reason::Created, "CreateFunction", format!("Created Lambda function {name}")).await;
            Ok(Deployment::InProgress(format!("Creating function {name}")))
        }
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
        Step::UpToDate => {
            // Idempotent; repeated on each pass so a retry policy changed by hand is put back.
            lambda.configure_async_invocations(name).await?;
            Ok(Deployment::Ready(deployed.expect("an up-to-date function was deployed")))
        }
    }
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
