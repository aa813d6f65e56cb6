//! Where things are: the repository, the shared stand-ins, the samples.

use std::path::PathBuf;

/// The repository root. `cargo test` sets `CARGO_MANIFEST_DIR` when it runs a test binary (the
/// member under test, a direct child of the root); that is preferred over the path compiled in,
/// which is wrong when a shared target cache reuses a harness built from another checkout.
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .expect("a workspace member has a parent")
        .to_path_buf()
}

/// The shared folder beside the repository (`../shared`), or `REMOTION_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("REMOTION_SHARED_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("..").join("shared"))
}

/// `../shared/standins/kubernetes`.
pub fn kubernetes_standin_dir() -> PathBuf {
    shared_dir().join("standins").join("kubernetes")
}

/// `config/samples`.
pub fn samples_dir() -> PathBuf {
    repo_root().join("config").join("samples")
}

/// `config/crd`.
pub fn crd_dir() -> PathBuf {
    repo_root().join("config").join("crd")
}
