//! The account's own S3 Block Public Access. It overrides every bucket's: when the account
//! blocks or ignores public ACLs, no output can be made public-read, whatever the bucket says.
//! A LambdaBucket that asks for public outputs is checked against it before the bucket's own
//! public access is configured, and fails with `PublicOutputsBlocked`: no render on it starts
//! (and is paid for) only to end with an output nobody can open.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3control::types::PublicAccessBlockConfiguration;

use super::s3::unsupported_by_store;
use crate::aws::{AwsClients, error_code, http_status, sdk_error};
use crate::reconcile::Error;
use remotion_crds::Reason;

/// What the account's settings do to public outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicOutputs {
    /// Nothing at the account level stands in their way.
    Allowed,
    /// The account blocks them: which account, and the settings that do.
    Blocked {
        /// The account id.
        account: String,
        /// The settings that are on (`BlockPublicAcls`, `IgnorePublicAcls`).
        settings: Vec<&'static str>,
    },
    /// The store has no account-level settings to ask (an S3-compatible store).
    Unknown,
}

impl PublicOutputs {
    /// The condition message for a LambdaBucket whose public outputs are blocked.
    pub fn blocked_message(&self) -> Option<String> {
        let Self::Blocked { account, settings } = self else { return None };
        Some(format!(
            "spec.publicOutputs is true, but S3 Block Public Access of account {account} has {} on, so no output \
             can be made public: turn {} off for the account (S3 console, Block Public Access settings for this \
             account; or s3control PutPublicAccessBlock), or set publicOutputs to false and share outputs through \
             presigned URLs (output.privacy: private)",
            settings.join(" and "),
            if settings.len() == 1 { "it" } else { "them" },
        ))
    }
}

/// The settings of `config` that keep a public-read object from being public.
pub fn blocking_settings(config: &PublicAccessBlockConfiguration) -> Vec<&'static str> {
    let mut on = Vec::new();
    if config.block_public_acls() == Some(true) {
        on.push("BlockPublicAcls");
    }
    if config.ignore_public_acls() == Some(true) {
        on.push("IgnorePublicAcls");
    }
    on
}

/// Asks the account (whose the credentials are) what its Block Public Access does to public
/// outputs. A store with an endpoint of its own that serves neither STS nor S3 Control answers
/// [`PublicOutputs::Unknown`].
pub async fn public_outputs(clients: &AwsClients, custom_endpoint: bool) -> Result<PublicOutputs, Error> {
    let identity = match clients.sts.get_caller_identity().send().await {
        Ok(identity) => identity,
        Err(e) if custom_endpoint && unsupported(&e) => return Ok(PublicOutputs::Unknown),
        Err(e) => return Err(sdk_error(Reason::S3Error, "GetCallerIdentity (whose account the bucket is in)", &e)),
    };
    let Some(account) = identity.account().map(str::to_owned) else {
        return Err(Error::new(Reason::S3Error, "GetCallerIdentity answered without an account id"));
    };
    let config = match clients.s3control.get_public_access_block().account_id(&account).send().await {
        Ok(out) => out.public_access_block_configuration().cloned(),
        Err(e) if error_code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => None,
        Err(e) if custom_endpoint && unsupported(&e) => return Ok(PublicOutputs::Unknown),
        Err(e) => {
            return Err(sdk_error(Reason::S3Error, &format!("GetPublicAccessBlock of account {account}"), &e));
        }
    };
    let settings = config.as_ref().map(blocking_settings).unwrap_or_default();
    Ok(if settings.is_empty() { PublicOutputs::Allowed } else { PublicOutputs::Blocked { account, settings } })
}

/// Whether a store with an endpoint of its own does not serve the call at all: besides the
/// answers [`unsupported_by_store`] knows, S3-compatible stores answer STS and S3 Control
/// requests as S3 requests for a bucket or key that does not exist, or refuse them.
fn unsupported<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    unsupported_by_store(true, error_code(e), http_status(e))
        || matches!(error_code(e), Some("NoSuchBucket" | "NoSuchKey" | "InvalidAction" | "InvalidRequest"))
        || matches!(http_status(e), Some(400 | 403 | 404))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_acl_settings_keep_an_output_from_being_public() {
        let config = |acls: bool, ignore: bool| {
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(acls)
                .ignore_public_acls(ignore)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build()
        };
        assert!(blocking_settings(&config(false, false)).is_empty(), "public policies are not how outputs are shared");
        assert_eq!(blocking_settings(&config(true, false)), ["BlockPublicAcls"]);
        assert_eq!(blocking_settings(&config(true, true)), ["BlockPublicAcls", "IgnorePublicAcls"]);
        let blocked = PublicOutputs::Blocked { account: "123456789012".into(), settings: vec!["IgnorePublicAcls"] };
        let message = blocked.blocked_message().unwrap();
        assert!(message.contains("account 123456789012 has IgnorePublicAcls on"), "{message}");
        assert!(message.contains("turn it off") && message.contains("publicOutputs to false"), "{message}");
        assert_eq!(PublicOutputs::Allowed.blocked_message(), None);
    }
}
