//! Sites of different namespaces never collide, against the API server stand-in and SeaweedFS:
//! two namespaces' RemotionSites of the same `siteName` in one bucket sync into folders of
//! their own, and deleting one leaves the other's files; a folder another RemotionSite owns (of
//! the same namespace, or of another cluster sharing the bucket) is neither written nor
//! deleted, and the site says whose it is (`OwnedByAnother`). A folder of the layout before
//! namespaces (`sites/<siteName>/`) is left as it is and named in an Event.
//!
//! Only the RemotionSite controller runs: the LambdaBuckets are fixtures made Ready by the test,
//! so that the folders are all that is shared.
//!
//! Each tenant reaches S3 through a recording proxy of its own ([`RecordingProxy`]), so that
//! "neither written nor deleted" is checked on the wire as well as in the bucket: a tenant's
//! operator sends no write or delete naming a key outside its own folder.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use remotion_crds::remotion_site::SiteSource;
use remotion_crds::{KeyRef, LambdaBucket, LocalObjectRef, RemotionSite, RemotionSiteSpec};
use remotion_operator::aws::{ObjectData, StaticSecrets};
use remotion_operator::controllers::remotion_site::SiteSettings;
use remotion_operator::controllers::{self, Context, Settings};
use remotion_operator::metrics::Metrics;
use remotion_operator::tenancy::TenancyPolicy;
use remotion_tests::TestEnv;
use remotion_tests::recording_proxy::{Recorded, RecordingProxy};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::common::{CREDENTIALS_SECRET, eventually, test_secrets};
use crate::remotion_site::{keys_under, ready_message, wait_ready};

const WAIT: Duration = Duration::from_secs(90);
/// Field manager of the fixtures' statuses (not the operator's).
const FIXTURES: &str = "remotion-tests/site-tenancy";
/// The owner marker's file name in a site folder.
const MARKER: &str = ".remotion-operator-owner.json";

/// One namespace with the RemotionSite controller watching it and a Ready LambdaBucket
/// `bucket` over the shared S3 bucket.
struct Tenant {
    namespace: String,
    secrets: Arc<StaticSecrets>,
    sites: Api<RemotionSite>,
    /// The tenant's S3 endpoint: what its operator sent.
    proxy: RecordingProxy,
    shutdown: CancellationToken,
    controller: tokio::task::JoinHandle<()>,
}

impl Tenant {
    async fn start(client: &Client, prefix: &str, bucket: &str) -> Result<Self> {
        let env = TestEnv::get();
        let namespace = env.unique_name(prefix);
        let secrets = test_secrets(&namespace);
        let ctx = Arc::new(
            Context::new(client.clone(), secrets.clone(), Arc::new(Metrics::new()), None)
                .with_tenancy(TenancyPolicy::permissive_local()),
        );
        let settings = Settings::new(Some(namespace.clone()), 4);
        let shutdown = CancellationToken::new();
        let controller = tokio::spawn(controllers::remotion_site::run_with(
            ctx,
            settings,
            SiteSettings::default(),
            shutdown.clone(),
        ));
        let buckets: Api<LambdaBucket> = Api::namespaced(client.clone(), &namespace);
        let proxy = RecordingProxy::s3(&env.s3().endpoint).await?;
        let spec = json!({"region": "us-east-1", "endpoint": proxy.endpoint, "bucketName": bucket,
            "credentials": {"secretRef": {"name": CREDENTIALS_SECRET}}});
        let object = json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "LambdaBucket",
            "metadata": {"name": "bucket"}, "spec": spec});
        buckets.create(&PostParams::default(), &serde_json::from_value(object)?).await?;
        let ready = json!([{"type": "Ready", "status": "True", "reason": "Fixture", "message": "",
            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]);
        let status = json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "LambdaBucket",
            "status": {"observedGeneration": 1, "conditions": ready, "bucketName": bucket, "region": "us-east-1",
                "url": format!("{}/{bucket}", env.s3().endpoint)}});
        buckets.patch_status("bucket", &PatchParams::apply(FIXTURES).force(), &Patch::Apply(status)).await?;
        let sites = Api::namespaced(client.clone(), &namespace);
        Ok(Self { namespace, secrets, sites, proxy, shutdown, controller })
    }

    /// Creates RemotionSite `name` of site name `site_name`, from a ConfigMap holding a bundle
    /// whose `bundle.js` is `script`.
    async fn create_site(&self, name: &str, site_name: &str, script: &str) -> Result<()> {
        let config_map = format!("{name}-bundle");
        self.secrets.put_config_map(
            &self.namespace,
            &config_map,
            ObjectData {
                resource_version: "1".into(),
                data: [("site.tgz".to_owned(), bundle(script))].into(),
                ..Default::default()
            },
        );
        let source = SiteSource {
            url: None,
            sha256: None,
            config_map_ref: Some(KeyRef { name: config_map, key: "site.tgz".into() }),
            s3: None,
        };
        let spec = RemotionSiteSpec {
            bucket_ref: LocalObjectRef::new("bucket"),
            site_name: Some(site_name.into()),
            source,
            function_ref: None,
        };
        self.sites.create(&PostParams::default(), &RemotionSite::new(name, spec)).await?;
        Ok(())
    }

    /// Deletes RemotionSite `name` and waits until it is gone (its finalizer done).
    async fn delete_site(&self, name: &str) -> Result<()> {
        self.sites.delete(name, &DeleteParams::default()).await?;
        eventually(&format!("{name} deleted"), WAIT, || async {
            Ok(self.sites.get_opt(name).await?.is_none().then_some(()))
        })
        .await
    }

    /// The notes of the Events about RemotionSite `name` with `action`.
    async fn event_notes(&self, client: &Client, name: &str, action: &str) -> Result<Vec<String>> {
        let events: Api<Event> = Api::namespaced(client.clone(), &self.namespace);
        Ok(events
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .filter(|e| e.action.as_deref() == Some(action))
            .map(|e| e.note.unwrap_or_default())
            .collect())
    }

    /// `sites/<namespace>/<site_name>/`
    fn folder(&self, site_name: &str) -> String {
        format!("sites/{}/{site_name}/", self.namespace)
    }

    /// The writes this tenant's operator sent to `bucket` naming anything but keys under
    /// `folder` (bucket-level writes included).
    fn writes_outside(&self, bucket: &str, folder: &str) -> Vec<Recorded> {
        let outside = |r: &Recorded| r.keys().is_empty() || r.keys().iter().any(|k| !k.starts_with(folder));
        self.proxy.writes_to(bucket, "").into_iter().filter(outside).collect()
    }

    async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.controller)
            .await
            .context("the controller did not stop")??;
        Ok(())
    }
}

/// Fails, naming them, when `recorded` holds any request.
#[track_caller]
fn assert_none_sent(what: &str, recorded: &[Recorded]) {
    let listed: String = recorded.iter().map(|r| format!("\n  {r}")).collect();
    assert!(recorded.is_empty(), "{what}, yet the operator sent:{listed}");
}

/// The operations of the writes `tenant` sent under `folder`.
fn writes_under(tenant: &Tenant, bucket: &str, folder: &str) -> Vec<String> {
    tenant.proxy.writes_to(bucket, folder).into_iter().map(|r| r.operation).collect()
}

/// A minimal bundle whose `bundle.js` is `script`.
fn bundle(script: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let files: [(&str, &[u8]); 2] =
        [("index.html", b"<script>window.remotion_version = '4.0.1';</script>"), ("bundle.js", script.as_bytes())];
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

async fn read(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<String> {
    let object = s3.get_object().bucket(bucket).key(key).send().await.with_context(|| format!("reading {key}"))?;
    Ok(String::from_utf8(object.body.collect().await?.into_bytes().to_vec())?)
}

/// The keys of a synced minimal bundle in `folder`: its owner marker, then its two files.
fn synced_keys(folder: &str) -> Vec<String> {
    vec![format!("{folder}{MARKER}"), format!("{folder}bundle.js"), format!("{folder}index.html")]
}

#[tokio::test]
async fn two_namespaces_naming_the_same_site_sync_into_folders_of_their_own() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let s3 = env.s3().client().await;
    let bucket = env.s3().create_test_bucket("site-tenancy").await?;
    let team_a = Tenant::start(&client, "site-team-a", &bucket).await?;
    let team_b = Tenant::start(&client, "site-team-b", &bucket).await?;
    // A site of this name synced by an operator before namespaced folders, in the shared folder.
    let legacy = "sites/promo/index.html";
    s3.put_object().bucket(&bucket).key(legacy).body(b"legacy".to_vec().into()).send().await?;

    team_a.create_site("promo", "promo", "console.log('team a')").await?;
    team_b.create_site("promo", "promo", "console.log('team b')").await?;
    let site_a = wait_ready(&team_a.sites, "promo", "True", "Available").await?;
    let site_b = wait_ready(&team_b.sites, "promo", "True", "Available").await?;

    let (folder_a, folder_b) = (team_a.folder("promo"), team_b.folder("promo"));
    assert_eq!(keys_under(&s3, &bucket, &folder_a).await?, synced_keys(&folder_a));
    assert_eq!(keys_under(&s3, &bucket, &folder_b).await?, synced_keys(&folder_b));
    assert_eq!(read(&s3, &bucket, &format!("{folder_a}bundle.js")).await?, "console.log('team a')");
    assert_eq!(read(&s3, &bucket, &format!("{folder_b}bundle.js")).await?, "console.log('team b')");
    // The folder of the layout before namespaces, which both would have shared, is left as it
    // is, and named in an Event.
    assert_eq!(keys_under(&s3, &bucket, "sites/promo/").await?, [legacy]);
    assert_eq!(read(&s3, &bucket, legacy).await?, "legacy");
    let notes = eventually("the older folder named", WAIT, || async {
        let notes = team_a.event_notes(&client, "promo", "LegacySiteFolder").await?;
        Ok((!notes.is_empty()).then_some(notes))
    })
    .await?;
    assert!(notes[0].contains(&format!("s3://{bucket}/sites/promo/ is the folder of the layout before")), "{notes:?}");
    let serve_url = |site: &RemotionSite| site.status.as_ref().and_then(|s| s.serve_url.clone()).unwrap_or_default();
    assert_eq!(serve_url(&site_a), format!("{}/{bucket}/{folder_a}index.html", env.s3().endpoint));
    assert_eq!(serve_url(&site_b), format!("{}/{bucket}/{folder_b}index.html", env.s3().endpoint));
    // Each marker names its own site.
    let marker: serde_json::Value = serde_json::from_str(&read(&s3, &bucket, &format!("{folder_a}{MARKER}")).await?)?;
    assert_eq!(marker["namespace"], json!(team_a.namespace));
    assert_eq!(marker["name"], json!("promo"));
    assert_eq!(marker["uid"], json!(site_a.uid().unwrap()));
    assert_eq!(marker["clusterId"], json!("default"));

    // On the wire: each team wrote into its own folder only (not the other's, not the folder of
    // the layout before namespaces); the proxies did see their uploads.
    assert_none_sent("team B syncs into its own folder", &team_b.writes_outside(&bucket, &folder_b));
    assert_none_sent("team A syncs into its own folder", &team_a.writes_outside(&bucket, &folder_a));
    for (team, folder) in [(&team_a, &folder_a), (&team_b, &folder_b)] {
        let writes = writes_under(team, &bucket, folder);
        assert!(writes.iter().filter(|op| *op == "PutObject").count() >= 3, "{folder}: {writes:?}");
    }

    // Deleting team A's site empties its folder only.
    team_a.delete_site("promo").await?;
    assert!(keys_under(&s3, &bucket, &folder_a).await?.is_empty());
    assert_eq!(keys_under(&s3, &bucket, "sites/promo/").await?, [legacy]);
    assert_eq!(keys_under(&s3, &bucket, &folder_b).await?, synced_keys(&folder_b));
    assert_eq!(read(&s3, &bucket, &format!("{folder_b}bundle.js")).await?, "console.log('team b')");
    wait_ready(&team_b.sites, "promo", "True", "Available").await?;
    // Team A's deletes named its own keys only; positive control: they were recorded.
    assert_none_sent("team A deletes its own folder", &team_a.writes_outside(&bucket, &folder_a));
    assert_none_sent("team B deleted nothing", &team_b.writes_outside(&bucket, &folder_b));
    let deleted: Vec<Recorded> = team_a
        .proxy
        .writes_to(&bucket, &folder_a)
        .into_iter()
        .filter(|r| r.operation.starts_with("DeleteObject"))
        .collect();
    assert!(!deleted.is_empty(), "team A's deletes not recorded:{:?}", team_a.proxy.recorded());

    team_a.stop().await?;
    team_b.stop().await
}

#[tokio::test]
async fn a_second_site_of_a_namespace_naming_the_same_folder_is_refused() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let s3 = env.s3().client().await;
    let bucket = env.s3().create_test_bucket("site-same-ns").await?;
    let team = Tenant::start(&client, "site-same-ns", &bucket).await?;
    team.create_site("promo", "promo", "console.log('first')").await?;
    let first = wait_ready(&team.sites, "promo", "True", "Available").await?;
    let folder = team.folder("promo");

    // From here on only the refused site acts: whatever the proxy records is its doing.
    let mark = team.proxy.len();
    team.create_site("promo-copy", "promo", "console.log('second')").await?;
    let second = wait_ready(&team.sites, "promo-copy", "False", "OwnedByAnother").await?;
    let message = ready_message(&second);
    let owner = format!("RemotionSite {}/promo (uid {}) of cluster default", team.namespace, first.uid().unwrap());
    assert!(message.contains(&owner), "{message}");
    assert!(message.contains("nothing was written or deleted"), "{message}");
    assert_eq!(keys_under(&s3, &bucket, &folder).await?, synced_keys(&folder));
    assert_eq!(read(&s3, &bucket, &format!("{folder}bundle.js")).await?, "console.log('first')");

    // Deleting the refused site deletes nothing of the first one's.
    team.delete_site("promo-copy").await?;
    assert_eq!(keys_under(&s3, &bucket, &folder).await?, synced_keys(&folder));
    assert_eq!(read(&s3, &bucket, &format!("{folder}bundle.js")).await?, "console.log('first')");
    // On the wire: the refused site read the marker and wrote nothing; positive control: its
    // read of the marker went through the proxy.
    let since = team.proxy.since(mark);
    let writes: Vec<Recorded> = since.iter().filter(|r| r.is_write()).cloned().collect();
    assert_none_sent("the folder is the first site's", &writes);
    let marker = format!("{folder}{MARKER}");
    assert!(since.iter().any(|r| r.key.as_deref() == Some(marker.as_str())), "{since:?}");
    team.stop().await
}

#[tokio::test]
async fn a_folder_of_another_cluster_or_of_no_one_is_left_alone() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let s3 = env.s3().client().await;
    let bucket = env.s3().create_test_bucket("site-other-cluster").await?;
    let team = Tenant::start(&client, "site-other-cluster", &bucket).await?;

    // Another cluster sharing the bucket has a namespace of the same name, with this site.
    let taken = team.folder("taken");
    let theirs = json!({"clusterId": "another-cluster", "namespace": team.namespace, "name": "taken", "uid": "u-1"});
    let put = |key: String, body: Vec<u8>| s3.put_object().bucket(&bucket).key(key).body(body.into()).send();
    put(format!("{taken}{MARKER}"), serde_json::to_vec(&theirs)?).await?;
    put(format!("{taken}index.html"), b"theirs".to_vec()).await?;
    // A folder written by other means, without a marker.
    let unmarked = team.folder("unmarked");
    put(format!("{unmarked}index.html"), b"by hand".to_vec()).await?;

    team.create_site("taken", "taken", "console.log('ours')").await?;
    team.create_site("unmarked", "unmarked", "console.log('ours')").await?;
    let site = wait_ready(&team.sites, "taken", "False", "OwnedByAnother").await?;
    let message = ready_message(&site);
    assert!(message.contains(&format!("RemotionSite {}/taken (uid u-1) of cluster another-cluster", team.namespace)));
    let site = wait_ready(&team.sites, "unmarked", "False", "OwnedByAnother").await?;
    assert!(ready_message(&site).contains("no owner marker"), "{}", ready_message(&site));

    // Neither folder was written, nor is it deleted with the sites.
    team.delete_site("taken").await?;
    team.delete_site("unmarked").await?;
    assert_none_sent("the folder is another cluster's", &team.proxy.writes_to(&bucket, &taken));
    assert_none_sent("the folder is no one's", &team.proxy.writes_to(&bucket, &unmarked));
    // Positive control: the team's operator read both folders through the proxy.
    let read_marker = |folder: &str| {
        let marker = format!("{folder}{MARKER}");
        team.proxy.requests_to(&bucket).iter().any(|r| r.key.as_deref() == Some(marker.as_str()))
    };
    assert!(read_marker(&taken) && read_marker(&unmarked), "{:?}", team.proxy.recorded());
    assert_eq!(keys_under(&s3, &bucket, &taken).await?, [format!("{taken}{MARKER}"), format!("{taken}index.html")]);
    assert_eq!(read(&s3, &bucket, &format!("{taken}index.html")).await?, "theirs");
    assert_eq!(keys_under(&s3, &bucket, &unmarked).await?, [format!("{unmarked}index.html")]);
    team.stop().await
}
