//! Shared helpers of the function's integration tests: the fixture bundles and Remotion's own
//! renderer as the reference.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The fixture project (`tests/fixtures/remotion-project`).
pub fn fixture_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/remotion-project")
}

/// A bundle of the fixture (`build` or `build-errors`), which `scripts/install-deps.sh` makes.
pub fn bundle(name: &str) -> PathBuf {
    let dir = fixture_project().join(name);
    assert!(
        dir.join("index.html").is_file(),
        "{} is missing: run `bash tests/fixtures/remotion-project/build.sh` (scripts/install-deps.sh does)",
        dir.display()
    );
    dir
}

/// Renders a still with Remotion's own CLI (`npx remotion still`) for comparison.
pub fn remotion_still(bundle: &str, composition: &str, frame: u64, props: &str, out: &Path) {
    let output = Command::new("npx")
        .current_dir(fixture_project())
        .args(["--no-install", "remotion", "still", bundle, composition])
        .arg(out)
        .arg(format!("--frame={frame}"))
        .arg(format!("--props={props}"))
        .args(["--browser-executable=/usr/bin/chromium", "--log=error"])
        .output()
        .expect("running npx remotion still");
    assert!(
        output.status.success(),
        "npx remotion still failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Decodes a PNG to RGBA8 pixels.
pub fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let image = image::load_from_memory_with_format(bytes, image::ImageFormat::Png).expect("a PNG").to_rgba8();
    (image.width(), image.height(), image.into_raw())
}

/// Number of pixels that differ between two RGBA8 images of the same size.
pub fn differing_pixels(a: &[u8], b: &[u8]) -> usize {
    assert_eq!(a.len(), b.len(), "images differ in size");
    a.chunks_exact(4).zip(b.chunks_exact(4)).filter(|(x, y)| x != y).count()
}
