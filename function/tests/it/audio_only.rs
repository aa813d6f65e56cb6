//! Audio-only outputs (codec mp3, aac, wav): no picture is captured or written, the frames'
//! audio is mixed as for videos; from the CLI and from a launch whose chunks carry PCM and are
//! encoded once. Checked with ffprobe (one audio stream, no video) and the decoded samples
//! (length, the fixture's 440 Hz tone at its level).

use std::path::Path;
use std::process::Command;

use remotion_protocol::payload::PROTOCOL_VERSION;
use remotion_protocol::progress::Stage;
use remotion_tests::TestEnv;
use serde_json::json;

use crate::common::signal::{amplitude, rms, window};
use crate::common::{self, bucket_and_functions, bundle, fixture_project};

fn cli_render(composition: &str, codec: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_remotion-function"))
        .args(["render", "--serve-url", bundle("build").to_str().unwrap(), "--composition", composition])
        .args(["--codec", codec, "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// `codec_type,codec_name,sample_rate,channels` of every stream, one line each.
fn streams(path: &Path) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type,codec_name,sample_rate,channels", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

/// The audio decoded by FFmpeg's CLI to 48 kHz stereo 16-bit, left channel.
fn left_channel(path: &Path) -> Vec<f64> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "a:0", "-f", "s16le", "-ac", "2", "-ar", "48000", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout.chunks_exact(4).map(|b| f64::from(i16::from_le_bytes([b[0], b[1]]))).collect()
}

/// The tone at its level: 440 Hz dominates and the RMS matches the source's within 0.5 dB.
fn assert_tone(samples: &[f64], what: &str) {
    let source = left_channel(&fixture_project().join("public/tone.wav"));
    let ours = window(samples, 0.5, 2.5);
    let level = 20.0 * (rms(ours) / rms(window(&source, 0.5, 2.5))).log10();
    assert!(level.abs() < 0.5, "{what}: level {level:+.2} dB against the source");
    let (tone, off) = (amplitude(ours, 440.0), amplitude(ours, 660.0));
    assert!(tone > 50.0 * off.max(1.0), "{what}: 440 Hz {tone:.0}, 660 Hz {off:.0}");
}

#[test]
fn the_cli_writes_mp3_aac_and_wav_without_a_picture() {
    // WithAudio: 90 frames at 30 fps of a 440 Hz tone = 144,000 samples.
    for (codec, name, extra_samples) in [("wav", "pcm_s16le", 0..=0), ("mp3", "mp3", 0..=0), ("aac", "aac", 0..=2048)] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(format!("tone.{codec}"));
        let output = cli_render("WithAudio", codec, &out, &[]);
        assert!(output.status.success(), "{codec}: {}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(streams(&out), vec![format!("{name},audio,48000,2")], "{codec}: one audio stream, no video");
        let samples = left_channel(&out);
        // MP3 carries its encoder delay in the LAME tag (decoded gapless); ADTS AAC cannot, so
        // decoders keep its 1024 priming samples and the padding of the last frame.
        let extra = samples.len() as u64 - 144_000;
        assert!(extra_samples.contains(&extra), "{codec}: {} samples", samples.len());
        assert_tone(&samples[extra.min(1024) as usize..], codec);
    }
}

#[test]
fn a_silent_composition_gives_silence_of_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("silence.wav");
    let output = cli_render("Tiny", "wav", &out, &["--frames", "0-29"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let samples = left_channel(&out);
    assert_eq!(samples.len(), 48_000, "30 frames at 30 fps");
    assert!(samples.iter().all(|s| *s == 0.0));
}

#[test]
fn a_muted_audio_only_render_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let output = cli_render("WithAudio", "mp3", &dir.path().join("x.mp3"), &["--muted"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot be muted"), "{stderr}");
}

#[tokio::test]
async fn a_launch_joins_pcm_chunks_into_the_same_audio_as_one_render() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-61", "test-fn-62");
    let (s3, bucket, mut processes) = bucket_and_functions("launch-audio-only", orchestrator, 1).await;
    processes.extend(common::spawn_functions(renderer, 2));
    let dir = tempfile::tempdir().unwrap();
    for (id, codec) in [("tonewav", "wav"), ("tonemp3", "mp3")] {
        // 90 frames in chunks of 25, 25, 25, 15: joins inside the tone.
        let payload = json!({
            "type": "launch", "protocolVersion": PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
            "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
            "siteNamespace": "tests", "siteName": "fixture", "composition": "WithAudio",
            "inputProps": {"type": "inline", "serialized": "{}"},
            "encoding": {"codec": codec, "imageFormat": "none"},
            "chunking": {"framesPerLambda": 25},
            "maxRetries": 1, "timeoutMs": 30000,
            "output": {"key": format!("renders/{id}/out.{codec}")},
            "renderer": {"functionName": renderer, "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                         "architecture": "x86_64", "timeoutSeconds": 300, "maxConcurrency": 2},
        });
        let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &payload).await.unwrap();
        answer.expect("the launch succeeds");
        let key = format!("renders/{id}/progress.json");
        let object = s3.get_object().bucket(&bucket).key(&key).send().await.unwrap();
        let done: remotion_protocol::progress::ProgressDocument =
            serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
        assert_eq!(done.stage, Stage::Done, "{done:?}");
        assert_eq!((done.frames_total, done.chunks_total), (90, 4));
        let object = s3.get_object().bucket(&bucket).key(format!("renders/{id}/out.{codec}")).send().await.unwrap();
        let expected_type = if codec == "wav" { "audio/wav" } else { "audio/mpeg" };
        assert_eq!(object.content_type(), Some(expected_type));
        let out = dir.path().join(format!("launched.{codec}"));
        std::fs::write(&out, object.body.collect().await.unwrap().into_bytes()).unwrap();
        let name = if codec == "wav" { "pcm_s16le" } else { "mp3" };
        assert_eq!(streams(&out), vec![format!("{name},audio,48000,2")]);
        let launched = left_channel(&out);
        assert_eq!(launched.len(), 144_000, "{codec}");
        assert_tone(&launched, codec);
        if codec == "wav" {
            // Sample-exact: the 4 chunks joined are the single render, sample for sample.
            let single = dir.path().join("single.wav");
            let output = cli_render("WithAudio", "wav", &single, &[]);
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            assert!(left_channel(&single) == launched, "the joined chunks differ from one render");
        }
    }
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
}
