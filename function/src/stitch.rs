//! Joining chunk files into one output without re-encoding: packets are copied and their
//! timestamps shifted by the length of the chunks before them.

use std::path::{Path, PathBuf};

use ffmpeg::{Dictionary, Rational, format, media};
use ffmpeg_next as ffmpeg;

use remotion_crds::media::Codec;

use crate::encode::{Container, codec_tag, init, muxer};
use crate::error::RenderError;

fn stitching(context: String, e: ffmpeg::Error) -> RenderError {
    RenderError::Encoding(format!("{context}: {e}"))
}

/// Joins the video streams of `chunks` (in order) into `out`, in the container of `codec`;
/// returns the number of packets written. Each chunk must hold one video stream of the same
/// codec and size.
pub fn concat_video(chunks: &[PathBuf], out: &Path, codec: Codec) -> Result<u64, RenderError> {
    init();
    let muxer = muxer(codec, Container::Output)?;
    let first = chunks.first().ok_or_else(|| RenderError::InvalidInput("no chunks to join".into()))?;
    let probe = format::input(first).map_err(|e| stitching(format!("opening {}", first.display()), e))?;
    let stream = probe
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| RenderError::Encoding(format!("{} has no video stream", first.display())))?;
    let parameters = stream.parameters();
    let frame_rate = stream.avg_frame_rate();
    drop(probe);

    let mut output = format::output_as(out, muxer).map_err(|e| stitching(format!("creating {}", out.display()), e))?;
    {
        let mut out_stream = output
            .add_stream(ffmpeg::encoder::find(ffmpeg::codec::Id::None))
            .map_err(|e| stitching("adding a stream".into(), e))?;
        out_stream.set_parameters(parameters);
        // The input's codec tag (a TS stream type, a Matroska id) means nothing in the output.
        // SAFETY: the stream's parameters were just allocated by set_parameters.
        unsafe {
            (*(*out_stream.as_mut_ptr()).codecpar).codec_tag = codec_tag(codec, muxer).unwrap_or(0);
        }
        out_stream.set_avg_frame_rate(frame_rate);
        out_stream.set_time_base(frame_rate.invert());
    }
    let mut header = Dictionary::new();
    if matches!(muxer, "mp4" | "mov") {
        header.set("movflags", "+faststart");
    }
    output.write_header_with(header).map_err(|e| stitching("writing the output header".into(), e))?;
    let out_time_base = output.stream(0).expect("added above").time_base();

    let mut offset = 0i64; // in out_time_base
    let mut written = 0u64;
    for chunk in chunks {
        let mut input = format::input(chunk).map_err(|e| stitching(format!("opening {}", chunk.display()), e))?;
        let index = input
            .streams()
            .best(media::Type::Video)
            .ok_or_else(|| RenderError::Encoding(format!("{} has no video stream", chunk.display())))?
            .index();
        let in_time_base = input.stream(index).expect("exists").time_base();
        // Chunks do not start at zero (MPEG-TS adds a start offset): rebase each so that its
        // first picture (the IDR frame, first in decode order) shows right after the previous
        // chunk. Decode timestamps then stay increasing across the join: with B-frames a chunk's
        // DTS run a few frames behind its PTS, on both sides of the join alike.
        let mut base: Option<i64> = None;
        let mut end = offset;
        for (s, mut packet) in input.packets() {
            if s.index() != index {
                continue;
            }
            packet.rescale_ts(in_time_base, out_time_base);
            let first_pts = *base.get_or_insert(packet.pts().or(packet.dts()).unwrap_or(0));
            let shift = offset - first_pts;
            packet.set_pts(packet.pts().map(|t| t + shift));
            packet.set_dts(packet.dts().map(|t| t + shift));
            let duration =
                if packet.duration() > 0 { packet.duration() } else { frame_duration(frame_rate, out_time_base) };
            end = end.max(packet.pts().unwrap_or(offset) + duration);
            packet.set_stream(0);
            packet.set_position(-1);
            packet.write_interleaved(&mut output).map_err(|e| stitching(format!("copying {}", chunk.display()), e))?;
            written += 1;
        }
        offset = end;
    }
    output.write_trailer().map_err(|e| stitching("finishing the output".into(), e))?;
    Ok(written)
}

/// One frame's duration in `time_base` units.
fn frame_duration(frame_rate: Rational, time_base: Rational) -> i64 {
    let (fr_num, fr_den) = (i64::from(frame_rate.numerator().max(1)), i64::from(frame_rate.denominator().max(1)));
    let (tb_num, tb_den) = (i64::from(time_base.numerator().max(1)), i64::from(time_base.denominator().max(1)));
    (fr_den * tb_den) / (fr_num * tb_num)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{ImageKind, VideoEncoder, VideoSettings};

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
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "stitch::tests::ten_thousand_tiny_chunks_stitch_in_bounded_time_and_memory"])
                .args(["--test-threads", "1", "--nocapture"])
                .env(CHILD, "1")
                .status()
                .unwrap();
            assert!(status.success(), "the measuring child failed");
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
    fn unsupported_codecs_are_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let chunks = vec![chunk(dir.path(), 0, 2)];
        match concat_video(&chunks, &dir.path().join("x.gif"), Codec::Gif) {
            Err(RenderError::InvalidInput(m)) => assert!(m.contains("gif") && m.contains("h264"), "{m}"),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn nothing_to_join_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(concat_video(&[], &dir.path().join("x.mp4"), Codec::H264), Err(RenderError::InvalidInput(_))));
    }
}
