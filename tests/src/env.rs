//! The stand-ins of one test binary: started lazily on first use, shared by its tests, and
//! stopped by the reaper when the binary exits.
//!
//! Set `REMOTION_TEST_KUBECONFIG`, `REMOTION_TEST_S3_ENDPOINT` or
//! `REMOTION_TEST_LAMBDA_ENDPOINT` to use stand-ins started elsewhere instead.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;

use crate::kube_api::{KubeApi, install_crds, standin_crds};
use crate::lambda::LambdaEmulator;
use crate::moto::Moto;
use crate::paths::crd_dir;
use crate::process::{Reaper, Spawned, shell_quote};
use crate::s3::S3Store;
use crate::samples::{read_yaml_documents, yaml_files};
use crate::sandbox::{FunctionImage, FunctionSize, Root};

/// A RenderFunction's default ephemeral storage, MB (`/tmp` of the processes the harness starts).
const DEFAULT_DISK_MB: u32 = 10_240;

/// The stand-ins of this test binary.
pub struct TestEnv {
    run_dir: PathBuf,
    reaper: Reaper,
    kube: OnceLock<Result<KubeApi, String>>,
    s3: OnceLock<Result<S3Store, String>>,
    lambda: OnceLock<Result<LambdaEmulator, String>>,
    moto: OnceLock<Result<Moto, String>>,
    names: AtomicU32,
}

static ENV: OnceLock<TestEnv> = OnceLock::new();

/// Runs `start` on a thread of its own (it may block on a runtime of its own, which is not
/// allowed inside the test's runtime) and keeps the error as text for every later caller.
fn start_in_thread<T: Send + 'static>(start: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T, String> {
    std::thread::spawn(start).join().map_err(|_| "stand-in start-up panicked".to_owned())?.map_err(|e| format!("{e:#}"))
}

fn unwrap_standin<'a, T>(what: &str, started: &'a Result<T, String>) -> &'a T {
    match started {
        Ok(t) => t,
        Err(e) => panic!("the {what} stand-in could not be started: {e}"),
    }
}

impl TestEnv {
    /// The environment of this test binary (created on first use).
    pub fn get() -> &'static TestEnv {
        ENV.get_or_init(|| {
            let run_dir = std::env::temp_dir().join(format!("remotion-tests-{}", std::process::id()));
            std::fs::create_dir_all(&run_dir).expect("creating the test run folder");
            let reaper = Reaper::start(&run_dir).expect("starting the reaper");
            // Data folders go with the binary; the logs stay for post-mortems unless asked.
            if std::env::var_os("REMOTION_KEEP_TEST_RUN").is_none() {
                reaper
                    .on_exit(format!("rm -rf {}", shell_quote(&run_dir.to_string_lossy())))
                    .expect("registering the run folder");
            }
            eprintln!("remotion-tests: stand-ins of this binary live in {}", run_dir.display());
            TestEnv {
                run_dir,
                reaper,
                kube: OnceLock::new(),
                s3: OnceLock::new(),
                lambda: OnceLock::new(),
                moto: OnceLock::new(),
                names: AtomicU32::new(0),
            }
        })
    }

    /// The folder of this binary's stand-ins and logs.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The reaper (to register more processes).
    pub fn reaper(&self) -> &Reaper {
        &self.reaper
    }

    /// The API server, with the stand-in Lease/Event CRDs and the operator's CRDs (from
    /// `config/crd/`) installed and Established.
    pub fn kube(&'static self) -> &'static KubeApi {
        let started = self.kube.get_or_init(|| {
            let existing = std::env::var_os("REMOTION_TEST_KUBECONFIG").map(PathBuf::from);
            let reaper_dir = self.run_dir.join("kube");
            let reaper = &self.reaper;
            start_in_thread(move || {
                let api = match existing {
                    Some(path) => KubeApi::existing(path),
                    None => KubeApi::start(reaper, &reaper_dir)?,
                };
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                rt.block_on(async {
                    let client = api.client().await?;
                    let mut crds = standin_crds()?;
                    crds.extend(project_crds()?);
                    install_crds(&client, &crds).await
                })?;
                Ok(api)
            })
        });
        unwrap_standin("Kubernetes API server", started)
    }

    /// A Kubernetes client for the calling test's runtime.
    pub async fn kube_client(&'static self) -> Result<Client> {
        self.kube().client().await
    }

    /// The S3 store.
    pub fn s3(&'static self) -> &'static S3Store {
        let started = self.s3.get_or_init(|| {
            if let Ok(endpoint) = std::env::var("REMOTION_TEST_S3_ENDPOINT") {
                return Ok(S3Store { endpoint });
            }
            let dir = self.run_dir.join("s3");
            let reaper = &self.reaper;
            start_in_thread(move || S3Store::start(reaper, &dir))
        });
        unwrap_standin("S3", started)
    }

    /// The Lambda emulator.
    pub fn lambda(&'static self) -> &'static LambdaEmulator {
        let started = self.lambda.get_or_init(|| {
            let dir = self.run_dir.join("lambda");
            let reaper = &self.reaper;
            start_in_thread(move || LambdaEmulator::start(reaper, &dir))
        });
        unwrap_standin("Lambda", started)
    }

    /// The AWS control-plane stand-in (moto), started on first use.
    pub fn moto(&'static self) -> &'static Moto {
        let started = self.moto.get_or_init(|| {
            let dir = self.run_dir.join("moto");
            let reaper = &self.reaper;
            start_in_thread(move || Moto::start(reaper, &dir))
        });
        unwrap_standin("moto", started)
    }

    /// Starts one process of `binary` serving `function_name` on the emulator, with
    /// `memory_mb` of memory and a RenderFunction's default ephemeral storage (CPU not capped:
    /// see [`FunctionSize::limit_cpu`]).
    pub fn spawn_function(
        &'static self,
        binary: &Path,
        function_name: &str,
        memory_mb: u32,
        env: &[(&str, &str)],
    ) -> Result<Spawned> {
        let size = FunctionSize { memory_mb, disk_mb: DEFAULT_DISK_MB, limit_cpu: false };
        self.spawn_sized_function(binary, function_name, &size, env)
    }

    /// Starts one process of `binary` serving `function_name` on the emulator, sized as a
    /// function configured with `size` (in Lambda's sandbox, the limits apply).
    pub fn spawn_sized_function(
        &'static self,
        binary: &Path,
        function_name: &str,
        size: &FunctionSize,
        env: &[(&str, &str)],
    ) -> Result<Spawned> {
        self.lambda().spawn_function(&self.reaper, binary, function_name, size, &Root::Host, env)
    }

    /// Starts one process of `binary` serving `function_name` on the emulator as the function's
    /// container image runs it: the image's filesystem and environment, `binary` as its
    /// bootstrap, in Lambda's sandbox.
    pub fn spawn_image_function(
        &'static self,
        image: &FunctionImage,
        binary: &Path,
        function_name: &str,
        size: &FunctionSize,
        env: &[(&str, &str)],
    ) -> Result<Spawned> {
        let root = Root::Image(image.clone());
        self.lambda().spawn_function(&self.reaper, binary, function_name, size, &root, env)
    }

    /// A name no other test of this run uses: `<prefix>-<pid>-<n>`, valid as a namespace.
    pub fn unique_name(&self, prefix: &str) -> String {
        let n = self.names.fetch_add(1, Ordering::Relaxed);
        let clean: String = prefix
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .take(40)
            .collect();
        format!("{}-{}-{n}", clean.trim_matches('-'), std::process::id())
    }
}

/// The operator's CRDs as shipped in `config/crd/`.
pub fn project_crds() -> Result<Vec<CustomResourceDefinition>> {
    let mut crds = Vec::new();
    for file in yaml_files(&crd_dir())? {
        for doc in read_yaml_documents(&file)? {
            crds.push(serde_json::from_value(doc).with_context(|| format!("{} is not a CRD", file.display()))?);
        }
    }
    Ok(crds)
}
