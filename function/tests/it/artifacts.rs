//! PDF stills and `<Artifact>`s, end to end through the protocol: `launch` payloads rendered by
//! the orchestrator and its renderers on the Lambda emulator, the objects checked in the store.
//!
//! * a PDF still is one page of the composition's size (poppler's `pdfinfo`) and, rasterised
//!   at 96 dpi (`pdftoppm`), shows what the PNG still of the same frame shows;
//! * the `Emits` composition's artifacts land at `renders/<id>/artifacts/<filename>` holding
//!   exactly the bytes the composition emitted, from a still and from the chunks of a video,
//!   listed in the progress document; a filename emitted twice fails the render.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use remotion_protocol::progress::{ProgressDocument, Stage};
use remotion_tests::TestEnv;
use serde_json::{Value, json};

use crate::common::{self, bucket_and_functions, decode_png, psnr};

/// Launches `payload` on `orchestrator`; the final document, or the launch's error.
async fn launched(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    orchestrator: &str,
    payload: &Value,
) -> Result<ProgressDocument, String> {
    let env = TestEnv::get();
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, payload).await.unwrap();
    if let Err(e) = answer {
        return Err(format!("{e:?}"));
    }
    let key = format!("renders/{}/progress.json", payload["renderId"].as_str().unwrap());
    let doc: ProgressDocument = serde_json::from_slice(&object(s3, bucket, &key).await).unwrap();
    assert_eq!(doc.stage, Stage::Done, "{doc:?}");
    Ok(doc)
}

async fn object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let object = s3.get_object().bucket(bucket).key(key).send().await.unwrap_or_else(|e| panic!("{key}: {e:?}"));
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn output(s3: &aws_sdk_s3::Client, doc: &ProgressDocument) -> Vec<u8> {
    let output = doc.output.as_ref().expect("an output");
    object(s3, &output.bucket, &output.key).await
}

/// Every byte value below 0x80, then "é" in UTF-8: the `Uint8Array` the fixture emits.
fn binary_content() -> Vec<u8> {
    (0u8..128).chain([0xC3, 0xA9]).collect()
}

/// (filename, key, size, content type, frame) of each artifact a document lists.
fn listed(doc: &ProgressDocument) -> Vec<(String, String, u64, String, u64)> {
    doc.artifacts
        .iter()
        .map(|a| (a.filename.clone(), a.key.clone(), a.size_bytes, a.content_type.clone(), a.frame))
        .collect()
}

/// `pdfinfo`'s "Pages" and "Page size" lines.
fn pdf_pages_and_size(pdf: &Path) -> (String, String) {
    let out = Command::new("pdfinfo").arg(pdf).output().expect("pdfinfo (poppler-utils) is installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let info = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in {info}"))
    };
    (field("Pages:"), field("Page size:"))
}

/// The first page of a PDF rasterised at 96 dpi (one pixel per CSS pixel), RGBA8.
fn rasterised(pdf: &Path) -> (u32, u32, Vec<u8>) {
    let stem = pdf.with_extension("");
    let status = Command::new("pdftoppm")
        .args(["-r", "96", "-png", "-singlefile", "-f", "1", "-l", "1"])
        .arg(pdf)
        .arg(&stem)
        .status()
        .expect("pdftoppm (poppler-utils) is installed");
    assert!(status.success(), "pdftoppm failed");
    decode_png(&std::fs::read(stem.with_extension("png")).unwrap())
}

#[tokio::test]
async fn pdf_stills_and_artifacts_land_in_the_bucket() {
    let (orchestrator, renderer) = ("test-fn-36", "test-fn-37");
    let (s3, bucket, mut processes) = bucket_and_functions("artifacts", orchestrator, 1).await;
    processes.extend(common::spawn_functions(renderer, 1));
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let still = |id: &str, composition: &str, frame: i64, format: &str, props: &str| {
        let extra = json!({
            "still": {"frame": frame, "imageFormat": format},
            "inputProps": {"type": "inline", "serialized": props},
        });
        common::launch_payload(&bucket, orchestrator, id, composition, extra)
    };

    // A PDF still: one page of 1920×1080 CSS pixels (1440×810 pt), the picture of the PNG still.
    let pdf_doc = launched(&s3, &bucket, orchestrator, &still("pdfintro", "Intro", 95, "pdf", "{}")).await.unwrap();
    let out = pdf_doc.output.as_ref().unwrap();
    assert_eq!((out.key.as_str(), out.content_type.as_str()), ("renders/pdfintro/out.pdf", "application/pdf"));
    let pdf = dir.path().join("intro.pdf");
    std::fs::write(&pdf, output(&s3, &pdf_doc).await).unwrap();
    assert_eq!(pdf_pages_and_size(&pdf), ("1".to_owned(), "1440 x 810 pts".to_owned()));
    let (width, height, printed) = rasterised(&pdf);
    assert_eq!((width, height), (1920, 1080));
    let png_doc = launched(&s3, &bucket, orchestrator, &still("pngintro", "Intro", 95, "png", "{}")).await.unwrap();
    let (_, _, shot) = decode_png(&output(&s3, &png_doc).await);
    let other_doc = launched(&s3, &bucket, orchestrator, &still("pngintro0", "Intro", 0, "png", "{}")).await.unwrap();
    let (_, _, other_frame) = decode_png(&output(&s3, &other_doc).await);
    let (same, other) = (psnr(&printed, &shot), psnr(&printed, &other_frame));
    eprintln!("PDF vs PNG of frame 95: {same:.1} dB; vs frame 0: {other:.1} dB");
    // Measured 32 dB: Chromium prints gradients and text a little differently from its screenshots.
    assert!(same > 28.0, "the printed page shows frame 95: {same:.1} dB");
    assert!(other < same - 6.0, "and not frame 0 ({other:.1} dB), so the comparison can fail");

    // A still's artifacts: text, binary and the still itself as the thumbnail.
    let props = r#"{"textAt":3,"binaryAt":3,"thumbnailAt":3,"duplicateAt":null}"#;
    let doc = launched(&s3, &bucket, orchestrator, &still("emitsstill", "Emits", 3, "png", props)).await.unwrap();
    let text = "emitted at frame 3 of 20\nhéllo ✓\n";
    let image = output(&s3, &doc).await;
    let prefix = "renders/emitsstill/artifacts";
    assert_eq!(
        listed(&doc),
        [
            ("data.bin".into(), format!("{prefix}/data.bin"), 130, "application/octet-stream".into(), 3),
            (
                "notes/summary.txt".into(),
                format!("{prefix}/notes/summary.txt"),
                text.len() as u64,
                "text/plain; charset=utf-8".into(),
                3
            ),
            ("thumbnail.png".into(), format!("{prefix}/thumbnail.png"), image.len() as u64, "image/png".into(), 3),
        ]
    );
    assert_eq!(object(&s3, &bucket, &format!("{prefix}/notes/summary.txt")).await, text.as_bytes());
    assert_eq!(object(&s3, &bucket, &format!("{prefix}/data.bin")).await, binary_content());
    assert_eq!(object(&s3, &bucket, &format!("{prefix}/thumbnail.png")).await, image, "the thumbnail is the still");

    // A video's artifacts, emitted in two chunks (frames 0–9 and 10–19), listed together. The
    // page is set up with Remotion's mediaCacheSizeInBytes, which page.json reports back.
    let video = |id: &str, props: &str| {
        common::launch_payload(
            &bucket,
            renderer,
            id,
            "Emits",
            json!({
                "inputProps": {"type": "inline", "serialized": props},
                "page": {"mediaCacheSizeInBytes": 600_000_000u64},
            }),
        )
    };
    let props = r#"{"textAt":3,"binaryAt":12,"thumbnailAt":null,"duplicateAt":null,"pageProbeAt":7}"#;
    let doc = launched(&s3, &bucket, orchestrator, &video("emitsvideo", props)).await.unwrap();
    assert_eq!(doc.chunks_total, 2, "{doc:?}");
    let text = "emitted at frame 3 of 20\nhéllo ✓\n";
    let prefix = "renders/emitsvideo/artifacts";
    assert_eq!(
        listed(&doc),
        [
            (
                "notes/summary.txt".into(),
                format!("{prefix}/notes/summary.txt"),
                text.len() as u64,
                "text/plain; charset=utf-8".into(),
                3
            ),
            ("page.json".into(), format!("{prefix}/page.json"), 35, "application/json".into(), 7),
            ("data.bin".into(), format!("{prefix}/data.bin"), 130, "application/octet-stream".into(), 12),
        ]
    );
    assert_eq!(object(&s3, &bucket, &format!("{prefix}/notes/summary.txt")).await, text.as_bytes());
    assert_eq!(object(&s3, &bucket, &format!("{prefix}/data.bin")).await, binary_content());
    let page: Value = serde_json::from_slice(&object(&s3, &bucket, &format!("{prefix}/page.json")).await).unwrap();
    assert_eq!(page, json!({"mediaCacheSizeInBytes": 600_000_000u64}), "the page's remotion_mediaCacheSizeInBytes");
    // <Artifact downloadBehavior> becomes the object's Content-Disposition, as in Remotion.
    let disposition = |key: String| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move { s3.head_object().bucket(bucket).key(key).send().await.unwrap().content_disposition }
    };
    assert_eq!(
        disposition(format!("{prefix}/data.bin")).await.as_deref(),
        Some("attachment; filename=\"donn_es.bin\"; filename*=UTF-8''donn%C3%A9es.bin")
    );
    assert_eq!(disposition(format!("{prefix}/notes/summary.txt")).await, None, "no downloadBehavior, no header");

    // The text file's name again, in the other chunk: the render fails, naming both frames.
    let props = r#"{"textAt":3,"binaryAt":12,"thumbnailAt":null,"duplicateAt":15}"#;
    let error = launched(&s3, &bucket, orchestrator, &video("emitstwice", props)).await.expect_err("a duplicate fails");
    let named = error.contains("notes/summary.txt") && error.contains("already registered at frame 3");
    assert!(named && error.contains("again at frame 15"), "{error}");
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
    eprintln!("PDF stills and artifacts: {:.1} s", started.elapsed().as_secs_f64());
}
