//! Downloading the output from `status.output.url` (a presigned or public URL: no credentials
//! needed), streamed to a `.part` file that becomes the output only when its size is right.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use remotion_crds::render_job::RenderOutput;
use tokio::io::AsyncWriteExt as _;

/// `out/<job name>.<ext>`, like Remotion's `out/` folder; the extension is the output key's.
pub fn default_path(job_name: &str, output: &RenderOutput) -> PathBuf {
    let key_name = output.s3_uri.rsplit('/').next().unwrap_or_default();
    let extension = Path::new(key_name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_owned)
        .unwrap_or_else(|| extension_of(&output.content_type).to_owned());
    PathBuf::from("out").join(format!("{job_name}.{extension}"))
}

fn extension_of(content_type: &str) -> &'static str {
    match content_type {
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "video/quicktime" => "mov",
        "image/gif" => "gif",
        "image/png" => "png",
        "image/jpeg" => "jpeg",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        "audio/mpeg" => "mp3",
        "audio/aac" => "aac",
        "audio/wav" => "wav",
        _ => "bin",
    }
}

/// Downloads `url` to `dest`, which must end up `expected` bytes long. Returns the size.
pub async fn download(url: &str, dest: &Path, expected: u64) -> Result<u64> {
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.with_context(|| format!("creating {}", dir.display()))?;
    }
    let part = part_path(dest)?;
    let result = fetch(url, &part, expected).await;
    match result {
        Ok(size) => {
            tokio::fs::rename(&part, dest)
                .await
                .with_context(|| format!("moving the download to {}", dest.display()))?;
            Ok(size)
        }
        Err(error) => {
            let _ = tokio::fs::remove_file(&part).await;
            Err(error)
        }
    }
}

/// Where the download goes until it is complete: `FILE.part` beside `FILE`.
pub fn part_path(dest: &Path) -> Result<PathBuf> {
    let name = dest.file_name().and_then(|n| n.to_str()).context("the output path has no file name")?;
    Ok(dest.with_file_name(format!("{name}.part")))
}

async fn fetch(url: &str, part: &Path, expected: u64) -> Result<u64> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let mut response = client
        .get(url)
        .send()
        .await
        .context("requesting the output")?
        .error_for_status()
        .context("the output URL answered with an error (a presigned URL may have expired)")?;
    let mut file = tokio::fs::File::create(part).await.with_context(|| format!("creating {}", part.display()))?;
    let mut written = 0u64;
    while let Some(chunk) = response.chunk().await.context("reading the output")? {
        file.write_all(&chunk).await.with_context(|| format!("writing {}", part.display()))?;
        written += chunk.len() as u64;
    }
    file.flush().await?;
    file.sync_all().await?;
    ensure!(written == expected, "downloaded {written} bytes, but the output has {expected}");
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(s3_uri: &str, content_type: &str) -> RenderOutput {
        RenderOutput { s3_uri: s3_uri.into(), content_type: content_type.into(), ..Default::default() }
    }

    #[test]
    fn the_default_path_takes_the_keys_extension() {
        assert_eq!(
            default_path("intro-x7k2p", &output("s3://b/renders/1/out.webm", "video/webm")),
            PathBuf::from("out/intro-x7k2p.webm")
        );
        assert_eq!(
            default_path("poster", &output("s3://b/outputs/ns/poster", "image/png")),
            PathBuf::from("out/poster.png")
        );
    }
}
