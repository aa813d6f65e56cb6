//! Before a job is created: the site must exist and have the composition, and a RenderFunction
//! must be named or obvious. Checking here fails in a second with the names that exist,
//! instead of a job that waits (`SiteNotFound`) or fails (`CompositionNotFound`).

use anyhow::{Context as _, Result, bail};
use kube::ResourceExt as _;
use kube::api::ListParams;
use remotion_crds::RemotionSite;

use crate::cluster::Cluster;

/// The site `name`, checked to list `composition` (when it lists any yet).
pub async fn site(cluster: &Cluster, name: &str, composition: &str) -> Result<RemotionSite> {
    let site = cluster
        .sites()
        .get_opt(name)
        .await
        .with_context(|| format!("reading remotionsite/{name} in {}", cluster.namespace))?;
    let Some(site) = site else {
        let names = names(cluster.sites().list(&ListParams::default()).await?.items.iter().map(|s| s.name_any()));
        bail!("there is no RemotionSite {name} in namespace {}; {names}", cluster.namespace);
    };
    check_composition(&site, composition)?;
    Ok(site)
}

/// The composition is one the site lists. A site that lists none has not been synced yet:
/// the job will wait for it, and the operator checks the composition then.
pub fn check_composition(site: &RemotionSite, composition: &str) -> Result<()> {
    let listed: Vec<&str> = site.status.iter().flat_map(|s| &s.compositions).map(|c| c.id.as_str()).collect();
    if listed.is_empty() || listed.contains(&composition) {
        return Ok(());
    }
    bail!("site {} has no composition {composition:?}; it has: {}", site.name_any(), listed.join(", "))
}

/// The RenderFunction to use: `--function`, else the site's `functionRef`, else the only one
/// in the namespace.
pub async fn function(cluster: &Cluster, explicit: Option<&str>, site: &RemotionSite) -> Result<String> {
    let available: Vec<String> = cluster
        .functions()
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing RenderFunctions in {}", cluster.namespace))?
        .items
        .iter()
        .map(|f| f.name_any())
        .collect();
    let site_ref = site.spec.function_ref.as_ref().map(|r| r.name.as_str());
    pick_function(explicit, site_ref, &available, &cluster.namespace)
}

/// [`function`]'s choice, given what exists.
pub fn pick_function(
    explicit: Option<&str>,
    site_ref: Option<&str>,
    available: &[String],
    namespace: &str,
) -> Result<String> {
    let exists = |name: &str| available.iter().any(|a| a == name);
    match (explicit, site_ref, available) {
        (Some(name), _, _) if exists(name) => Ok(name.to_owned()),
        (Some(name), _, _) => {
            bail!("there is no RenderFunction {name} in namespace {namespace}; {}", names(available.iter().cloned()))
        }
        (None, Some(name), _) => Ok(name.to_owned()),
        (None, None, [only]) => Ok(only.clone()),
        (None, None, []) => bail!("there is no RenderFunction in namespace {namespace}: create one first"),
        (None, None, several) => {
            bail!(
                "namespace {namespace} has several RenderFunctions ({}): choose one with --function",
                several.join(", ")
            )
        }
    }
}

fn names(names: impl Iterator<Item = String>) -> String {
    let names: Vec<String> = names.collect();
    if names.is_empty() { "there are none".to_owned() } else { format!("there are: {}", names.join(", ")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn site(compositions: &[&str]) -> RemotionSite {
        let listed: Vec<_> = compositions
            .iter()
            .map(|id| json!({"id": id, "width": 1920, "height": 1080, "fps": 30.0, "durationInFrames": 300}))
            .collect();
        serde_json::from_value(json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "RemotionSite",
            "metadata": {"name": "fixture"},
            "spec": {"bucketRef": {"name": "b"}, "source": {"url": "https://example.com/s.tgz", "sha256": "0".repeat(64)}},
            "status": {"compositions": listed}}))
        .unwrap()
    }

    #[test]
    fn a_composition_the_site_lacks_is_named_with_those_it_has() {
        assert!(check_composition(&site(&["Intro", "Tiny"]), "Tiny").is_ok());
        let error = check_composition(&site(&["Intro", "Tiny"]), "Outro").unwrap_err().to_string();
        assert_eq!(error, "site fixture has no composition \"Outro\"; it has: Intro, Tiny");
        assert!(check_composition(&site(&[]), "Anything").is_ok(), "not synced yet: the job waits");
    }

    #[test]
    fn the_function_is_named_or_obvious() {
        let one = vec!["renderer".to_owned()];
        let two = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(pick_function(Some("b"), Some("a"), &two, "ns").unwrap(), "b");
        assert_eq!(pick_function(None, Some("a"), &two, "ns").unwrap(), "a");
        assert_eq!(pick_function(None, None, &one, "ns").unwrap(), "renderer");
        let error = pick_function(None, None, &two, "ns").unwrap_err().to_string();
        assert!(error.contains("--function") && error.contains("a, b"), "{error}");
        let error = pick_function(Some("c"), None, &two, "ns").unwrap_err().to_string();
        assert_eq!(error, "there is no RenderFunction c in namespace ns; there are: a, b");
        assert!(pick_function(None, None, &[], "ns").unwrap_err().to_string().contains("create one"));
    }
}
