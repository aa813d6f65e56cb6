//! Local caches of the objects RenderJobs reference (sites, functions, buckets), kept by
//! watches of their own. A rendering job is looked at every poll interval; reading its three
//! references from the API server each time made those GETs most of the API server's load at a
//! few hundred live jobs. A reference missing from the cache (not listed yet, or just created)
//! is still read from the API server, so the cache can only save requests, never hide objects.

use std::fmt::Debug;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use remotion_crds::{LambdaBucket, RemotionSite, RenderFunction};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use crate::controllers::Settings;
use crate::reconcile::Error;
use crate::reconcile::guard::DeserializeGuard;

/// The caches and the watches that fill them (stopped on drop).
pub struct References {
    sites: Store<DeserializeGuard<RemotionSite>>,
    functions: Store<DeserializeGuard<RenderFunction>>,
    buckets: Store<DeserializeGuard<LambdaBucket>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for References {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Keeps a store of what `watch` sees, in a task of its own.
fn reflect<K>(
    watch: impl futures::Stream<Item = Result<watcher::Event<DeserializeGuard<K>>, watcher::Error>> + Send + 'static,
) -> (Store<DeserializeGuard<K>>, JoinHandle<()>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let task = reflector::reflector(writer, watch).default_backoff().for_each(|_| futures::future::ready(()));
    (reader, tokio::spawn(task))
}

fn config() -> watcher::Config {
    watcher::Config::default().any_semantic()
}

impl References {
    /// Starts the watches in the controller's scope.
    pub fn start(client: &Client, settings: &Settings) -> Self {
        let (sites, a) = reflect(watcher(settings.api::<DeserializeGuard<RemotionSite>>(client), config()));
        let (functions, b) = reflect(watcher(settings.api::<DeserializeGuard<RenderFunction>>(client), config()));
        let (buckets, c) = reflect(watcher(settings.api::<DeserializeGuard<LambdaBucket>>(client), config()));
        Self { sites, functions, buckets, tasks: vec![a, b, c] }
    }

    /// The site `name` of `namespace`.
    pub async fn site(&self, client: &Client, namespace: &str, name: &str) -> Result<Option<RemotionSite>, Error> {
        lookup::<RemotionSite>(&self.sites, client, namespace, name).await
    }

    /// The function `name` of `namespace`.
    pub async fn function(
        &self,
        client: &Client,
        namespace: &str,
        name: &str,
    ) -> Result<Option<RenderFunction>, Error> {
        lookup::<RenderFunction>(&self.functions, client, namespace, name).await
    }

    /// The function `name` of `namespace` as the cache has it, without asking the API server
    /// (for passes over every job, where a missing function only means "not placed yet").
    pub fn cached_function(&self, namespace: &str, name: &str) -> Option<std::sync::Arc<RenderFunction>> {
        let key = ObjectRef::<DeserializeGuard<RenderFunction>>::new(name).within(namespace);
        let cached = self.functions.get(&key)?;
        cached.0.as_ref().ok().map(|function| std::sync::Arc::new(function.clone()))
    }

    /// The bucket `name` of `namespace`.
    pub async fn bucket(&self, client: &Client, namespace: &str, name: &str) -> Result<Option<LambdaBucket>, Error> {
        lookup::<LambdaBucket>(&self.buckets, client, namespace, name).await
    }
}

async fn lookup<K>(
    store: &Store<DeserializeGuard<K>>,
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<K>, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
{
    let key = ObjectRef::<DeserializeGuard<K>>::new(name).within(namespace);
    if let Some(cached) = store.get(&key)
        && let Ok(object) = &cached.0
    {
        return Ok(Some(object.clone()));
    }
    // Not cached (yet) or unreadable: the API server has the last word.
    Ok(Api::<K>::namespaced(client.clone(), namespace).get_opt(name).await?)
}
