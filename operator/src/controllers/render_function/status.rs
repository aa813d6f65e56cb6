//! Step 3: what the function's `info` answer says, judged and recorded in the status.

use remotion_crds::render_function::RenderFunctionSpec;
use remotion_crds::{Reason, RenderFunctionStatus};
use remotion_protocol::payload::{InfoResponse, PROTOCOL_VERSION};

use super::lambda::{DeployedFunction, InfoOutcome};
use crate::reconcile::Error;

/// The versions `info` reported, or why there are none.
pub fn info(outcome: InfoOutcome, name: &str) -> Result<InfoResponse, Error> {
    match outcome {
        InfoOutcome::Info(info) => Ok(info),
        InfoOutcome::Failed(error) => Err(Error::new(
            Reason::InfoFailed,
            format!("{name} failed to answer info: {}: {}", error.error_type, error.error_message),
        )),
        InfoOutcome::Unexpected(answer) => Err(Error::new(
            Reason::NotARenderFunction,
            format!(
                "{name} answered info with something that is not a render function's answer ({answer}); point spec.functionName at the render function"
            ),
        )),
    }
}

/// Whether the function speaks this operator's protocol.
pub fn speaks_our_protocol(name: &str, info: &InfoResponse) -> Result<(), Error> {
    if info.protocol_version == PROTOCOL_VERSION {
        return Ok(());
    }
    Err(Error::new(
        Reason::ProtocolMismatch,
        format!(
            "function {name} (version {}) speaks protocol {}, this operator speaks protocol {PROTOCOL_VERSION}; deploy the render function released with this operator",
            info.function_version, info.protocol_version
        ),
    ))
}

/// Copies what the function and its `info` say into the status: the deployed configuration
/// first, then what `info` reports, then the spec's declared values.
pub fn record(
    status: &mut RenderFunctionStatus,
    spec: &RenderFunctionSpec,
    name: &str,
    deployed: Option<&DeployedFunction>,
    info: &InfoResponse,
) {
    status.function_name = Some(name.to_owned());
    status.function_arn = deployed.and_then(|d| d.arn.clone());
    status.version = Some(info.function_version.clone());
    status.protocol_version = Some(i64::from(info.protocol_version));
    status.chromium_version = Some(info.chromium_version.clone());
    status.ffmpeg_version = Some(info.ffmpeg_version.clone());
    status.memory_size_mb = deployed.and_then(|d| d.memory_mb).or(info.memory_size_mb).or(Some(spec.memory_size_mb));
    status.disk_size_mb = deployed.and_then(|d| d.disk_mb).or(Some(spec.disk_size_mb));
    status.timeout_seconds = deployed.and_then(|d| d.timeout_seconds).or(Some(spec.timeout_seconds));
    status.architecture = deployed.and_then(|d| d.architecture).or(info.architecture).or(Some(spec.architecture));
}

#[cfg(test)]
mod tests {
    use remotion_protocol::payload::FunctionError;

    use super::*;

    fn info_of(protocol_version: u32) -> InfoResponse {
        serde_json::from_value(serde_json::json!({
            "functionVersion": "0.1.0",
            "protocolVersion": protocol_version,
            "chromiumVersion": "c",
            "ffmpegVersion": "f",
        }))
        .unwrap()
    }

    #[test]
    fn info_answers_are_judged() {
        assert!(info(InfoOutcome::Info(info_of(PROTOCOL_VERSION)), "f").is_ok());
        let failed = FunctionError { error_type: "Boom".into(), error_message: "no".into() };
        let error = info(InfoOutcome::Failed(failed), "f").unwrap_err();
        assert_eq!(error.reason(), Reason::InfoFailed);
        assert!(!error.is_terminal());
        let error = info(InfoOutcome::Unexpected("{}".into()), "f").unwrap_err();
        assert_eq!(error.reason(), Reason::NotARenderFunction);
        assert!(error.is_terminal());
    }

    #[test]
    fn another_protocol_is_refused_by_name() {
        assert!(speaks_our_protocol("f", &info_of(PROTOCOL_VERSION)).is_ok());
        let error = speaks_our_protocol("f", &info_of(PROTOCOL_VERSION + 1)).unwrap_err();
        assert_eq!(error.reason(), Reason::ProtocolMismatch);
        assert!(error.report().contains(&format!("speaks protocol {}", PROTOCOL_VERSION + 1)), "{}", error.report());
    }

    #[test]
    fn the_deployed_configuration_wins_over_info_and_the_spec() {
        let spec: RenderFunctionSpec = serde_json::from_value(serde_json::json!({"region": "eu-west-1"})).unwrap();
        let mut status = RenderFunctionStatus::default();
        record(&mut status, &spec, "f", None, &info_of(PROTOCOL_VERSION));
        assert_eq!(status.memory_size_mb, Some(spec.memory_size_mb));
        assert_eq!(status.protocol_version, Some(i64::from(PROTOCOL_VERSION)));
    }
}
