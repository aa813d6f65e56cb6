//! Writes the generated CRD manifests (`config/crd/`, the CRD chart's templates), or with
//! `--check` fails when the checked-in files differ from what the code generates.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use remotion_crds::generate::generated_files;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crds/ has a parent").to_path_buf()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.as_slice() {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => {
            eprintln!(
                "usage: crdgen [--check]\n  writes config/crd/*.yaml and charts/remotion-operator-crds/templates/*.yaml;\n  --check only compares them and fails on drift"
            );
            return ExitCode::from(2);
        }
    };
    let files = match generated_files() {
        Ok(files) => files,
        Err(e) => {
            eprintln!("crdgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let root = repo_root();
    let mut drift = Vec::new();
    for file in files {
        let path = root.join(&file.path);
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() == Some(file.contents.as_str()) {
            continue;
        }
        if check {
            drift.push(file.path);
            continue;
        }
        if let Some(dir) = path.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            eprintln!("crdgen: cannot create {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        if let Err(e) = std::fs::write(&path, &file.contents) {
            eprintln!("crdgen: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", file.path);
    }
    if !drift.is_empty() {
        eprintln!(
            "crdgen: generated files differ from the code: {}\nrun `cargo run -p remotion-crds --bin crdgen` and commit the result",
            drift.join(", ")
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
