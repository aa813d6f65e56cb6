//! Whose AWS identity a resource's `credentials` make the operator use.
//!
//! - Keys from a Secret of the namespace are the tenant's own identity: always allowed (with
//!   or without a role assumed with them, and the tenant's own external ID).
//! - No credentials means the operator's identity: only for namespaces the admin lists.
//! - A role without a Secret is assumed with the operator's identity: only a role the admin
//!   grants the namespace, and with an external ID the operator derives from the cluster and
//!   the namespace, so that the role's trust policy can tell tenants apart. A tenant-chosen
//!   external ID would protect nothing (any namespace could name any other's).

use remotion_crds::{AwsAccess, AwsCredentials};
use serde::{Deserialize, Serialize};

use super::{NamespaceSet, TenancyPolicy};

/// Roles the operator's identity may assume for some namespaces. A role ARN may end in `*`
/// (any ARN with that prefix) and may contain `{namespace}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleGrant {
    /// The namespaces granted the roles.
    pub namespaces: NamespaceSet,
    /// The role ARNs (patterns).
    pub role_arns: Vec<String>,
}

/// What the operator may use for a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// The operator's own identity.
    OperatorIdentity,
    /// The namespace's own keys (a role may be assumed with them, with the tenant's external ID).
    OwnKeys,
    /// `role_arn`, assumed with the operator's identity presenting `external_id`.
    AssumedRole {
        /// The role.
        role_arn: String,
        /// The external ID to present.
        external_id: String,
    },
}

impl Grant {
    /// The external ID the operator presents, for the status (the role's trust policy should
    /// require it).
    pub fn external_id(&self) -> Option<&str> {
        match self {
            Self::AssumedRole { external_id, .. } => Some(external_id),
            _ => None,
        }
    }
}

/// Why the operator will not act with the identity a resource asks for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityRefusal {
    /// The namespace may not use the operator's identity.
    #[error(
        "namespace {namespace} may not use the operator's AWS identity: set credentials.secretRef to a Secret \
         with this namespace's own keys, or ask the cluster admin to list the namespace in the tenancy policy \
         (operatorIdentity)"
    )]
    OperatorIdentity {
        /// The namespace.
        namespace: String,
    },
    /// The role is not granted to the namespace.
    #[error(
        "namespace {namespace} may not have the operator assume {role_arn}: ask the cluster admin to grant it in \
         the tenancy policy (roles), or assume it with this namespace's own keys (credentials.secretRef)"
    )]
    Role {
        /// The namespace.
        namespace: String,
        /// The role asked for.
        role_arn: String,
    },
    /// An external ID was set for a role the operator's identity assumes.
    #[error(
        "credentials.externalId cannot be chosen when the operator's identity assumes the role: the operator \
         presents {generated}; remove externalId and make the role's trust policy require sts:ExternalId {generated}"
    )]
    ExternalIdChosen {
        /// The external ID the operator presents.
        generated: String,
    },
}

/// The external ID the operator presents for `namespace`: `remotion-operator:<cluster>:<namespace>`.
pub fn external_id(policy: &TenancyPolicy, namespace: &str) -> String {
    format!("remotion-operator:{}:{namespace}", policy.cluster_id.as_str())
}

/// What `access` of a resource in `namespace` may use.
pub fn authorize(policy: &TenancyPolicy, namespace: &str, access: &AwsAccess) -> Result<Grant, IdentityRefusal> {
    match &access.credentials {
        Some(AwsCredentials { secret_ref: Some(_), .. }) => Ok(Grant::OwnKeys),
        Some(AwsCredentials { secret_ref: None, role_arn: Some(role_arn), external_id: chosen }) => {
            let generated = external_id(policy, namespace);
            if chosen.is_some() {
                return Err(IdentityRefusal::ExternalIdChosen { generated });
            }
            if !role_granted(policy, namespace, role_arn) {
                return Err(IdentityRefusal::Role { namespace: namespace.into(), role_arn: role_arn.clone() });
            }
            Ok(Grant::AssumedRole { role_arn: role_arn.clone(), external_id: generated })
        }
        // `credentials: {}` cannot pass the CRD's rule; treated like no credentials.
        Some(AwsCredentials { secret_ref: None, role_arn: None, .. }) | None => {
            if policy.operator_identity.contains(namespace) {
                Ok(Grant::OperatorIdentity)
            } else {
                Err(IdentityRefusal::OperatorIdentity { namespace: namespace.into() })
            }
        }
    }
}

fn role_granted(policy: &TenancyPolicy, namespace: &str, role_arn: &str) -> bool {
    policy.roles.iter().filter(|grant| grant.namespaces.contains(namespace)).any(|grant| {
        grant.role_arns.iter().any(|pattern| {
            let pattern = pattern.replace("{namespace}", namespace);
            match pattern.strip_suffix('*') {
                Some(prefix) => role_arn.starts_with(prefix),
                None => pattern == role_arn,
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use remotion_crds::common::LocalObjectRef;

    use super::*;

    const ROLE_B: &str = "arn:aws:iam::111122223333:role/remotion-team-b";

    fn policy() -> TenancyPolicy {
        TenancyPolicy::parse(
            "clusterId: prod\n\
             operatorIdentity: [team-a]\n\
             roles: [{namespaces: ['team-*'], roleArns: ['arn:aws:iam::111122223333:role/remotion-{namespace}']}]\n",
        )
        .unwrap()
    }

    fn access(credentials: Option<AwsCredentials>) -> AwsAccess {
        AwsAccess { region: "us-east-1".into(), credentials, endpoint: None }
    }

    fn role(arn: &str, external_id: Option<&str>) -> Option<AwsCredentials> {
        Some(AwsCredentials { secret_ref: None, role_arn: Some(arn.into()), external_id: external_id.map(Into::into) })
    }

    #[test]
    fn the_operator_identity_serves_only_listed_namespaces() {
        assert_eq!(authorize(&policy(), "team-a", &access(None)), Ok(Grant::OperatorIdentity));
        let refused = authorize(&policy(), "team-b", &access(None)).unwrap_err();
        assert_eq!(refused, IdentityRefusal::OperatorIdentity { namespace: "team-b".into() });
        assert!(refused.to_string().contains("credentials.secretRef"), "{refused}");
    }

    #[test]
    fn a_namespace_assumes_only_its_granted_roles_with_the_generated_external_id() {
        let granted = authorize(&policy(), "team-b", &access(role(ROLE_B, None))).unwrap();
        assert_eq!(
            granted,
            Grant::AssumedRole { role_arn: ROLE_B.into(), external_id: "remotion-operator:prod:team-b".into() }
        );
        assert_eq!(granted.external_id(), Some("remotion-operator:prod:team-b"));
        // Another namespace's role, through the {namespace} pattern: refused.
        let refused = authorize(&policy(), "team-c", &access(role(ROLE_B, None))).unwrap_err();
        assert!(matches!(refused, IdentityRefusal::Role { .. }), "{refused}");
        assert!(authorize(&policy(), "other", &access(role(ROLE_B, None))).is_err());
    }

    #[test]
    fn a_chosen_external_id_is_refused_and_the_generated_one_named() {
        let refused = authorize(&policy(), "team-b", &access(role(ROLE_B, Some("team-a-secret")))).unwrap_err();
        assert_eq!(refused, IdentityRefusal::ExternalIdChosen { generated: "remotion-operator:prod:team-b".into() });
        assert!(refused.to_string().contains("sts:ExternalId remotion-operator:prod:team-b"), "{refused}");
    }

    #[test]
    fn a_namespace_may_always_use_its_own_keys() {
        let own = Some(AwsCredentials {
            secret_ref: Some(LocalObjectRef { name: "aws".into() }),
            role_arn: Some("arn:aws:iam::999999999999:role/anything".into()),
            external_id: Some("theirs".into()),
        });
        assert_eq!(authorize(&TenancyPolicy::default_secure(), "anyone", &access(own)), Ok(Grant::OwnKeys));
    }
}
