//! Where a RenderJob may write its output. Buckets may be shared by namespaces, so a custom
//! `spec.output.key` could otherwise overwrite another team's site (`sites/…`), cost profiles
//! (`optimization/…`), another render's files or cancel signal (`renders/<id>/…`), or another
//! team's outputs. A key must start with the job's own `renders/<renderId>/` or with a prefix
//! the admin allows for the namespace (default `outputs/<namespace>/`); the operator's own
//! folders are never allowed. The CRD refuses the operator's folders and `.`/`..` segments
//! already; this check adds what depends on the namespace and the render id.

use remotion_protocol::keys::{self, OPTIMIZATION_PREFIX, RENDERS_PREFIX, RenderId, SITES_PREFIX};

use super::TenancyPolicy;

/// The namespace placeholder of an admin's prefix.
const NAMESPACE: &str = "{namespace}";

/// The prefixes allowed when the admin sets none.
pub fn default_prefixes() -> Vec<String> {
    vec![format!("outputs/{NAMESPACE}/")]
}

/// Why an output key may not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "output.key {key:?} is outside this job's folders: it must start with {}",
    allowed.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(" or ")
)]
pub struct OutputKeyRefusal {
    /// The key asked for.
    pub key: String,
    /// The prefixes it may start with.
    pub allowed: Vec<String>,
}

/// An admin's prefix must not reach into the operator's own folders.
pub fn check_admin_prefix(prefix: &str) -> Result<(), String> {
    let reserved = [SITES_PREFIX, RENDERS_PREFIX, OPTIMIZATION_PREFIX];
    // "" (anywhere) is allowed: the reserved folders stay refused below.
    if reserved.iter().any(|r| prefix.starts_with(r) || (!prefix.is_empty() && r.starts_with(prefix))) {
        return Err(format!(
            "outputPrefixes may not reach into the operator's folders sites/, renders/, optimization/: {prefix:?}"
        ));
    }
    Ok(())
}

/// Checks a custom output key of a job of `namespace` whose render id is `id`.
pub fn check_key(policy: &TenancyPolicy, namespace: &str, id: &RenderId, key: &str) -> Result<(), OutputKeyRefusal> {
    let own = keys::render_prefix(id);
    if key.starts_with(&own) {
        return Ok(());
    }
    let reserved = [SITES_PREFIX, RENDERS_PREFIX, OPTIMIZATION_PREFIX].iter().any(|r| key.starts_with(r));
    let prefixes: Vec<String> = policy.output_prefixes.iter().map(|p| p.replace(NAMESPACE, namespace)).collect();
    if !reserved && prefixes.iter().any(|prefix| key.starts_with(prefix.as_str())) {
        return Ok(());
    }
    let mut allowed = vec![own];
    allowed.extend(prefixes.into_iter().filter(|p| !p.is_empty()));
    Err(OutputKeyRefusal { key: key.into(), allowed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: &TenancyPolicy, key: &str) -> Result<(), OutputKeyRefusal> {
        check_key(policy, "team-a", &RenderId::new("r1").unwrap(), key)
    }

    #[test]
    fn by_default_a_job_writes_under_its_render_or_its_namespace() {
        let policy = TenancyPolicy::default_secure();
        assert!(check(&policy, "renders/r1/final.mp4").is_ok());
        assert!(check(&policy, "outputs/team-a/videos/final.mp4").is_ok());
        for key in [
            "outputs/team-b/videos/final.mp4",
            "renders/r2/out.mp4",
            "renders/r2/cancel",
            "sites/other/index.html",
            "optimization/site/Comp.json",
            "videos/final.mp4",
            "outputs/team-a-evil/x.mp4",
        ] {
            let refusal = check(&policy, key).expect_err(key);
            assert_eq!(refusal.allowed, vec!["renders/r1/".to_owned(), "outputs/team-a/".to_owned()]);
        }
        let message = check(&policy, "sites/x/index.html").unwrap_err().to_string();
        assert_eq!(
            message,
            r#"output.key "sites/x/index.html" is outside this job's folders: it must start with "renders/r1/" or "outputs/team-a/""#
        );
    }

    #[test]
    fn an_admin_may_allow_more_but_never_the_operators_folders() {
        let mut policy = TenancyPolicy::default_secure();
        policy.output_prefixes = vec![String::new()];
        assert!(check(&policy, "videos/final.mp4").is_ok());
        assert!(check(&policy, "sites/x/index.html").is_err());
        assert!(check(&policy, "renders/r2/cancel").is_err());
        assert!(check_admin_prefix("").is_ok());
        assert!(check_admin_prefix("public/{namespace}/").is_ok());
        for bad in ["sites/", "renders/x/", "optimization/", "site", "render"] {
            assert!(check_admin_prefix(bad).is_err(), "{bad}");
        }
    }
}
