//! The joins on real FFmpeg: chunk files of every codec, ten thousand tiny chunks, and the
//! errors of nothing to join.

use super::*;
use crate::encode::video::{VideoEncoder, VideoSettings};
use crate::encode::{ImageKind, muxer};

/// A PNG of a flat colour.
fn png(width: u32, height: u32, shade: u8) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([shade, 255 - shade, shade / 2]));
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

fn chunk(dir: &Path, index: usize, frames: u8) -> PathBuf {
    chunk_of(Codec::H264, dir, index, frames)
}

fn chunk_of(codec: Codec, dir: &Path, index: usize, frames: u8) -> PathBuf {
    let path = dir.join(format!("{index:06}.{}", codec.chunk_extension()));
    let settings = VideoSettings {
        width: 64,
        height: 64,
        fps: 30.0,
        codec,
        crf: None,
        preset: "veryfast".into(),
        pixel_format: None,
        container: Container::Chunk,
        audio: None,
        delivery: Delivery::default(),
    };
    let mut encoder = VideoEncoder::create(&path, &settings, ImageKind::Png).unwrap();
    for f in 0..frames {
        encoder.push_image(&png(64, 64, f.wrapping_mul(9))).unwrap();
    }
    encoder.finish().unwrap();
    path
}

fn probe(path: &Path) -> (u64, f64) {
    let input = format::input(path).unwrap();
    let duration = input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE);
    let mut input = input;
    let frames = input.packets().filter(|(s, _)| s.index() == 0).count() as u64;
    (frames, duration)
}

#[test]
fn chunks_join_without_gaps_or_lost_frames() {
    let dir = tempfile::tempdir().unwrap();
    let chunks: Vec<PathBuf> = [20u8, 20, 7].iter().enumerate().map(|(i, n)| chunk(dir.path(), i, *n)).collect();
    let out = dir.path().join("out.mp4");
    assert_eq!(concat_video(&chunks, &out, Codec::H264).unwrap(), 47);
    let (frames, duration) = probe(&out);
    assert_eq!(frames, 47);
    assert!((duration - 47.0 / 30.0).abs() < 0.02, "47 frames at 30 fps, got {duration} s");
}

/// Resident memory of this process, kB (Linux).
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn ten_thousand_tiny_chunks_stitch_in_bounded_time_and_memory() {
    // Resident memory is per process and the other tests run beside this one: measure in a
    // child process running only this test.
    const CHILD: &str = "REMOTION_STITCH_MEMORY_CHILD";
    if std::env::var_os(CHILD).is_none() {
        // This test's path in the test binary (its module path without the crate's name).
        let path = concat!(module_path!(), "::ten_thousand_tiny_chunks_stitch_in_bounded_time_and_memory");
        let test = path.split_once("::").map_or(path, |(_, test)| test);
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test])
            .args(["--test-threads", "1", "--nocapture"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        eprint!("{stdout}{stderr}");
        // A filter that matches no test passes too: the child must have run this one.
        assert!(output.status.success() && stdout.contains("1 passed"), "the measuring child failed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let one = chunk(dir.path(), 0, 1);
    // The same one-frame chunk many times over: joining cost is per packet, not per file size.
    let chunks: Vec<PathBuf> = std::iter::repeat_n(one, 10_000).collect();
    let out = dir.path().join("out.mp4");
    let before = rss_kb();
    let started = std::time::Instant::now();
    assert_eq!(concat_video(&chunks, &out, Codec::H264).unwrap(), 10_000);
    let elapsed = started.elapsed();
    let grown_kb = rss_kb().saturating_sub(before);
    assert!(elapsed < std::time::Duration::from_secs(120), "{elapsed:?}");
    // Memory must not grow with the number of chunks: one input open at a time, and the
    // MP4 index (a few bytes per packet) is all that accumulates.
    assert!(grown_kb < 64 * 1024, "resident memory grew by {grown_kb} kB");
    assert_eq!(probe(&out).0, 10_000);
    eprintln!("10,000 chunks joined in {elapsed:?}, resident memory +{grown_kb} kB");
}

#[test]
fn every_video_codec_encodes_chunks_that_join_into_its_container() {
    for (codec, name, container) in [
        (Codec::H265, "hevc", "mov,mp4,m4a,3gp,3g2,mj2"),
        (Codec::Vp8, "vp8", "matroska,webm"),
        (Codec::Vp9, "vp9", "matroska,webm"),
        (Codec::Prores, "prores", "mov,mp4,m4a,3gp,3g2,mj2"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let chunks: Vec<PathBuf> =
            [5u8, 4].iter().enumerate().map(|(i, n)| chunk_of(codec, dir.path(), i, *n)).collect();
        let out = dir.path().join(format!("out.{}", codec.extension()));
        assert_eq!(concat_video(&chunks, &out, codec).unwrap(), 9, "{codec:?}");
        let input = format::input(&out).unwrap();
        assert_eq!(input.format().name(), container, "{codec:?}");
        let stream = input.streams().best(media::Type::Video).unwrap();
        assert_eq!(stream.parameters().id().name(), name, "{codec:?}");
        drop(input);
        let (frames, duration) = probe(&out);
        assert_eq!(frames, 9, "{codec:?}");
        assert!((duration - 9.0 / 30.0).abs() < 0.05, "{codec:?}: {duration}");
    }
}

#[test]
fn every_codec_has_containers_and_audio_only_joins_need_audio() {
    for codec in Codec::ALL {
        for container in [Container::Output, Container::Chunk] {
            assert!(muxer(codec, container).is_ok(), "{codec:?} {container:?}");
        }
    }
    assert_eq!(muxer(Codec::Aac, Container::Output).unwrap(), "adts");
    assert_eq!(muxer(Codec::Mp3, Container::Chunk).unwrap(), "wav");
    let dir = tempfile::tempdir().unwrap();
    let chunks = vec![chunk(dir.path(), 0, 2)];
    match concat(&chunks, &dir.path().join("x.mp3"), Codec::Mp3, None) {
        Err(RenderError::InvalidInput(m)) => assert!(m.contains("cannot be muted"), "{m}"),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn nothing_to_join_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(concat_video(&[], &dir.path().join("x.mp4"), Codec::H264), Err(RenderError::InvalidInput(_))));
}
