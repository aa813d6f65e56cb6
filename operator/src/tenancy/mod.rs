//! What each namespace (tenant) may make the operator do, as the cluster admin decides it.
//!
//! The resources are namespaced and written by tenants; the operator acts for all of them with
//! one Kubernetes identity and one AWS identity. Everything a tenant could use to borrow more
//! than its own rights is decided here, from a policy only the admin writes (a file the Helm
//! chart renders from its values into a ConfigMap of the operator's namespace):
//!
//! - [`identity`]: which namespaces may use the operator's own AWS identity, which roles each
//!   may have it assume, and the external ID it presents (derived from the cluster and the
//!   namespace, never chosen by the tenant);
//! - [`network`]: which endpoints and source URLs the operator may be pointed at (private,
//!   link-local and metadata addresses are refused unless the admin allows their network);
//! - [`outputs`]: where a RenderJob may write its output.
//!
//! `docs/security.md` states the trust model these rules implement.

pub mod foreign;
pub mod identity;
pub mod network;
pub mod outputs;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use self::identity::{Grant, IdentityRefusal};
pub use self::network::{NetworkPolicy, NetworkRefusal};
pub use self::outputs::OutputKeyRefusal;

/// The admin's policy. Absent fields take the secure defaults: no namespace may use the
/// operator's identity or assume a role with it, outputs go under `outputs/<namespace>/`, and
/// no private address may be reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenancyPolicy {
    /// Names this cluster in generated external IDs and owner tags. Clusters sharing an AWS
    /// account must set different ids.
    #[serde(default)]
    pub cluster_id: ClusterId,
    /// Namespaces whose resources may use the operator's own AWS identity (no credentials in
    /// the spec).
    #[serde(default)]
    pub operator_identity: NamespaceSet,
    /// Roles the operator's identity may assume for a namespace.
    #[serde(default)]
    pub roles: Vec<identity::RoleGrant>,
    /// Key prefixes a RenderJob's `spec.output.key` may start with; `{namespace}` stands for
    /// the job's namespace. A job may always write under its own `renders/<renderId>/`.
    #[serde(default = "outputs::default_prefixes")]
    pub output_prefixes: Vec<String>,
    /// Endpoints and source URLs.
    #[serde(default)]
    pub network: NetworkPolicy,
}

/// Why a policy file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("reading the tenancy policy {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid policy.
    #[error("the tenancy policy {path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl TenancyPolicy {
    /// The policy in the YAML (or JSON) file at `path`.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let display = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| PolicyError::Read { path: display.clone(), source })?;
        Self::parse(&text).map_err(|message| PolicyError::Invalid { path: display, message })
    }

    /// The policy in `text` (YAML or JSON).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default_secure());
        }
        let policy: Self = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        policy.validate()?;
        Ok(policy)
    }

    /// The policy when the admin gave none: nothing beyond a namespace's own credentials.
    pub fn default_secure() -> Self {
        Self {
            cluster_id: ClusterId::default(),
            operator_identity: NamespaceSet::default(),
            roles: Vec::new(),
            output_prefixes: outputs::default_prefixes(),
            network: NetworkPolicy::default(),
        }
    }

    /// A policy for a single team: every namespace may use the operator's identity and any
    /// role, outputs anywhere outside the operator's own folders, loopback endpoints allowed.
    /// For tests and local runs only.
    pub fn permissive_local() -> Self {
        Self {
            cluster_id: ClusterId::default(),
            operator_identity: NamespaceSet(vec!["*".into()]),
            roles: vec![identity::RoleGrant {
                namespaces: NamespaceSet(vec!["*".into()]),
                role_arns: vec!["arn:aws:iam::*".into()],
            }],
            output_prefixes: vec![String::new()],
            network: NetworkPolicy::loopback_allowed(),
        }
    }

    fn validate(&self) -> Result<(), String> {
        for grant in &self.roles {
            if grant.role_arns.iter().any(|arn| !arn.starts_with("arn:")) {
                return Err(format!("roles[].roleArns must be role ARNs (arn:…), found {:?}", grant.role_arns));
            }
        }
        for prefix in &self.output_prefixes {
            outputs::check_admin_prefix(prefix)?;
        }
        Ok(())
    }
}

impl Default for TenancyPolicy {
    fn default() -> Self {
        Self::default_secure()
    }
}

/// An id for this cluster: 1–63 characters of lowercase letters, digits, `-` and `.`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClusterId(String);

impl Default for ClusterId {
    fn default() -> Self {
        Self("default".into())
    }
}

impl TryFrom<String> for ClusterId {
    type Error = String;

    fn try_from(id: String) -> Result<Self, String> {
        let ok = (1..=63).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if ok { Ok(Self(id)) } else { Err(format!("clusterId {id:?} must be 1–63 characters of [a-z0-9.-]")) }
    }
}

impl From<ClusterId> for String {
    fn from(id: ClusterId) -> Self {
        id.0
    }
}

impl ClusterId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Namespaces by name: an exact name, `*` for all, or a prefix followed by `*` (`team-*`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NamespaceSet(pub Vec<String>);

impl NamespaceSet {
    /// Whether `namespace` is in the set.
    pub fn contains(&self, namespace: &str) -> bool {
        self.0.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => namespace.starts_with(prefix),
            None => pattern == namespace,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_policy_is_the_secure_default() {
        let policy = TenancyPolicy::parse("").unwrap();
        assert_eq!(policy, TenancyPolicy::default_secure());
        assert!(!policy.operator_identity.contains("default"));
        assert!(policy.roles.is_empty());
        assert_eq!(policy.output_prefixes, vec!["outputs/{namespace}/".to_owned()]);
        assert_eq!(TenancyPolicy::parse("{}").unwrap(), TenancyPolicy::default_secure());
    }

    #[test]
    fn a_policy_reads_from_yaml() {
        let policy = TenancyPolicy::parse(
            "clusterId: prod-eu-1\n\
             operatorIdentity: [team-a, 'shared-*']\n\
             roles:\n\
             - namespaces: [team-b]\n\
             \x20 roleArns: ['arn:aws:iam::111122223333:role/remotion-{namespace}']\n\
             outputPrefixes: ['outputs/{namespace}/', 'public/']\n\
             network:\n\
             \x20 allowedHosts: ['*.example.com']\n\
             \x20 allowedPrivateNetworks: [10.1.0.0/16]\n",
        )
        .unwrap();
        assert_eq!(policy.cluster_id.as_str(), "prod-eu-1");
        assert!(policy.operator_identity.contains("team-a"));
        assert!(policy.operator_identity.contains("shared-videos"));
        assert!(!policy.operator_identity.contains("team-b"));
        assert_eq!(policy.roles[0].role_arns, vec!["arn:aws:iam::111122223333:role/remotion-{namespace}".to_owned()]);
        assert_eq!(policy.network.allowed_private_networks, vec!["10.1.0.0/16".parse().unwrap()]);
    }

    #[test]
    fn mistakes_in_a_policy_are_refused_with_the_field() {
        let unknown = TenancyPolicy::parse("operatorIdentities: ['*']").unwrap_err();
        assert!(unknown.contains("operatorIdentities"), "{unknown}");
        assert!(TenancyPolicy::parse("clusterId: Prod_1").unwrap_err().contains("clusterId"));
        assert!(
            TenancyPolicy::parse("roles: [{namespaces: [a], roleArns: [admin]}]").unwrap_err().contains("roleArns")
        );
        assert!(TenancyPolicy::parse("outputPrefixes: ['sites/']").unwrap_err().contains("sites/"));
        assert!(TenancyPolicy::parse("network: {allowedPrivateNetworks: [nonsense]}").is_err());
    }
}
