//! The manifests of `config/samples/`.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::paths::samples_dir;

/// One sample manifest.
#[derive(Clone, Debug)]
pub struct Sample {
    /// File name, e.g. `renderjob-video.yaml`.
    pub file: String,
    /// The object.
    pub object: Value,
}

impl Sample {
    /// `kind` of the object.
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }
}

/// Parses every document of a YAML file.
pub fn read_yaml_documents(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// The `.yaml` files of a folder, sorted by name.
pub fn yaml_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Every sample, sorted by file name.
pub fn all_samples() -> Result<Vec<Sample>> {
    let files = yaml_files(&samples_dir())?;
    let mut samples = Vec::new();
    for path in files {
        let file = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        for object in read_yaml_documents(&path)? {
            samples.push(Sample { file: file.clone(), object });
        }
    }
    Ok(samples)
}

/// The sample of a file (the first document).
pub fn sample(file: &str) -> Result<Value> {
    read_yaml_documents(&samples_dir().join(file))?
        .into_iter()
        .next()
        .with_context(|| format!("{file} has no document"))
}
