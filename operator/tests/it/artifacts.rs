//! A still RenderJob printed to PDF that emits `<Artifact>`s, through the real API server, the
//! operator's controllers and the render function: the output is a PDF, and the status lists
//! the artifacts, whose objects hold exactly what the composition emitted.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use remotion_crds::render_job::RenderPhase;
use remotion_tests::TestEnv;
use serde_json::json;

use crate::end_to_end::{Endpoints, World};

#[tokio::test]
async fn a_pdf_still_lists_its_artifacts_in_the_status() -> Result<()> {
    let started = Instant::now();
    let env = TestEnv::get();
    let endpoints = Endpoints { s3: env.s3().endpoint.clone(), lambda: env.lambda().endpoint.clone() };
    let world = World::with_endpoints("e2e-artifacts", "test-fn-39", 1, endpoints).await?;
    let props = json!({"textAt": 4, "binaryAt": 4, "thumbnailAt": null, "duplicateAt": null});
    let spec = json!({"composition": "Emits", "inputProps": props, "still": {"frame": 4, "imageFormat": "pdf"}});
    world.create_job("emits", spec).await?;
    let job = world.wait_phase("emits", RenderPhase::Succeeded, Duration::from_secs(180)).await?;
    let status = job.status.clone().context("status")?;
    let id = status.render_id.clone().context("render id")?;
    let output = status.output.clone().context("output")?;
    assert_eq!(output.content_type, "application/pdf");
    assert_eq!(output.s3_uri, format!("s3://{}/renders/{id}/out.pdf", world.bucket));

    let text = "emitted at frame 4 of 20\nhéllo ✓\n";
    let binary: Vec<u8> = (0u8..128).chain([0xC3, 0xA9]).collect();
    let listed: Vec<(&str, &str, i64, &str, i64)> = status
        .artifacts
        .iter()
        .map(|a| (a.filename.as_str(), a.key.as_str(), a.size_bytes, a.content_type.as_str(), a.frame))
        .collect();
    let (text_key, binary_key) =
        (format!("renders/{id}/artifacts/notes/summary.txt"), format!("renders/{id}/artifacts/data.bin"));
    assert_eq!(
        listed,
        [
            ("data.bin", binary_key.as_str(), 130, "application/octet-stream", 4),
            ("notes/summary.txt", text_key.as_str(), text.len() as i64, "text/plain; charset=utf-8", 4),
        ]
    );
    let s3 = env.s3().client().await;
    for (key, want) in [(&text_key, text.as_bytes()), (&binary_key, binary.as_slice())] {
        let object = s3.get_object().bucket(&world.bucket).key(key.as_str()).send().await?;
        assert_eq!(object.body.collect().await?.into_bytes().as_ref(), want, "{key}");
    }
    let pdf = s3.get_object().bucket(&world.bucket).key(format!("renders/{id}/out.pdf")).send().await?;
    let pdf = pdf.body.collect().await?.into_bytes();
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    assert_eq!(output.size_bytes, pdf.len() as i64);
    eprintln!("PDF still with artifacts through the operator: {:.1} s", started.elapsed().as_secs_f64());
    world.stop().await
}
