//! The RBAC derivation (`packaging_support/rbac.rs`): it understands every `Api` of
//! `operator/src`, each rule of the chart and of `config/rbac/` keeps its explanatory comment,
//! and on snippets it finds requests through each path it claims to follow (and refuses what it
//! cannot attribute). `packaging_helm` and `packaging_kustomize` compare the rendered rules with
//! the derived needs.

use std::collections::BTreeSet;

use crate::packaging_support::rbac::{Access, Scan, derived, is_lease, scan};
use crate::packaging_support::repo_root;
use remotion_tests::source_scan::SourceFile;

fn requests(scan: &Scan) -> BTreeSet<(String, Option<String>, String)> {
    scan.accesses.iter().map(|a: &Access| (a.kind.clone(), a.subresource.clone(), a.verb.clone())).collect()
}

fn request(kind: &str, sub: Option<&str>, verb: &str) -> (String, Option<String>, String) {
    (kind.to_owned(), sub.map(str::to_owned), verb.to_owned())
}

#[test]
fn operator_code_is_fully_understood() {
    let derived = derived();
    eprintln!("ClusterRole / Role needs:");
    for (group, resource, verb) in &derived.main {
        eprintln!("  {group:>22} {resource:<32} {verb}");
    }
    eprintln!("leader-election Role needs: {:?}", derived.lease);
    assert!(!derived.main.is_empty() && derived.main.iter().all(|p| !is_lease(p)));
    assert!(derived.lease.iter().all(is_lease));
    // Every request has a place in the code.
    assert!(derived.accesses.iter().all(|a| a.at.contains("operator/src/")), "{:#?}", derived.accesses);
}

/// One comment per rule: each `- apiGroups:` of the rules is preceded by a `#` comment line.
#[test]
fn every_rule_keeps_its_comment() {
    for path in ["charts/remotion-operator/templates/rbac.yaml", "config/rbac/role.yaml"] {
        let text = std::fs::read_to_string(repo_root().join(path)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut rules = 0;
        for (i, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("- apiGroups:") {
                rules += 1;
                assert!(
                    i > 0 && lines[i - 1].trim_start().starts_with('#'),
                    "{path}:{}: a rule without a comment",
                    i + 1
                );
            }
        }
        assert!(rules >= 6, "{path}: {rules} rules");
    }
}

#[test]
fn derivation_follows_bindings_generic_helpers_controller_wrappers_watches_and_the_recorder() {
    let helpers = SourceFile::snippet(
        "helpers.rs",
        r#"
        pub async fn apply_status<K, S>(api: &Api<K>, live: &K, s: &S) -> Result<Option<K>, E>
        where K: Resource<DynamicType = ()> + Clone,
        {
            // api.delete(…) in a comment is no request
            api.patch_status(&live.name_any(), &params, &Patch::Apply(&patch)).await.map(Some)
        }
        pub async fn outer<K: Clone>(api: &Api<K>, o: &K) { apply_status(api, o, &()).await; api.get_opt("x").await; }
        async fn is_served<K: Resource>(api: Api<K>) -> bool { api.list_metadata(&lp).await.is_ok() }
        impl Settings {
            pub fn api<K>(&self, client: &Client) -> Api<K> where K: Resource {
                match &self.namespace { Some(ns) => Api::namespaced(client.clone(), ns), None => Api::all(client.clone()) }
            }
        }
        "#,
    );
    let controller = SourceFile::snippet(
        "controller.rs",
        r#"
        use kube::api::{Api, ListParams};
        pub async fn run(settings: Settings, client: Client) {
            Controller::new(settings.api::<Bucket>(&client), watcher::Config::default())
                .watches(settings.api::<Site>(&client), watcher::Config::default(), |s| vec![])
                .run(reconcile, error_policy, ctx);
            is_served(settings.api::<Job>(&client)).await;
            let recorder = Recorder::new(client.clone(), reporter);
        }
        async fn reconcile(bucket: Arc<Bucket>, ctx: Arc<Context>) {
            let api: Api<Bucket> = Api::namespaced(ctx.client.clone(), &ns);
            crate::reconcile::outer(&api, &bucket).await;
            let secret = Api::<Secret>::namespaced(ctx.client.clone(), &ns).get_opt("creds").await?;
            let leases = Api::<Lease>::namespaced(ctx.client.clone(), &ns);
            leases.replace("l", &pp, &lease).await?;
        }
        "#,
    );
    let guard = SourceFile::snippet(
        "controllers/guard.rs",
        r#"
        pub fn reconcile<K, C, F>(controller: &str, reconcile: F) -> impl Fn(Arc<DeserializeGuard<K>>, Arc<C>) {
            move |object, ctx| async move { match &object.0 { Ok(v) => reconcile(v, ctx).await, Err(e) => report::<K>(&ctx, &object).await } }
        }
        async fn report<K: Resource>(ctx: &Context, object: &DeserializeGuard<K>) {
            let api: Api<DeserializeGuard<K>> = Api::namespaced(ctx.client.clone(), "ns");
            api.patch_status(&object.name_any(), &params, &patch).await;
        }
        "#,
    );
    let guarded = SourceFile::snippet(
        "controllers/function.rs",
        r#"
        pub async fn run(settings: Settings, client: Client) {
            let controller = Controller::new(settings.api::<DeserializeGuard<Function>>(&client), cfg);
            controller.with_config(c).run(guard::reconcile(CONTROLLER, reconcile), guard::error_policy(error_policy), ctx);
        }
        async fn reconcile(f: Arc<Function>, ctx: Arc<Context>) {}
        "#,
    );
    let found = scan(&[helpers, controller, guard, guarded]);
    assert!(found.problems.is_empty(), "{:#?}", found.problems);
    let expected = BTreeSet::from([
        request("Bucket", None, "list"),
        request("Bucket", None, "watch"),
        request("Bucket", None, "get"),
        request("Bucket", Some("status"), "patch"),
        request("Site", None, "list"),
        request("Site", None, "watch"),
        request("Job", None, "list"),
        request("Secret", None, "get"),
        request("Lease", None, "update"),
        request("Event", None, "create"),
        request("Event", None, "patch"),
        request("Function", None, "list"),
        request("Function", None, "watch"),
        request("Function", Some("status"), "patch"),
    ]);
    assert_eq!(requests(&found), expected);
}

#[test]
fn derivation_refuses_what_it_cannot_attribute() {
    let snippet = SourceFile::snippet(
        "opaque.rs",
        r#"
        struct Holder { api: Api<Bucket> }
        async fn untyped(client: Client) { Api::namespaced(client, "ns").get_opt("x").await; }
        async fn unknown(api: &Api<Bucket>) { api.entry("x").await; }
        "#,
    );
    let found = scan(&[snippet]);
    let problems = found.problems.join("\n");
    assert!(problems.contains("opaque.rs:2") && problems.contains("does not understand"), "{problems}");
    assert!(problems.contains("opaque.rs:3") && problems.contains("not written out"), "{problems}");
    assert!(problems.contains("opaque.rs:4") && problems.contains("Api::entry"), "{problems}");
}
