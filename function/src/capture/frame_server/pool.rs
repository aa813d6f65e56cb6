//! Open decoders, kept between requests so each tab's next frame decodes forward from where its
//! last one stopped. Requests carry no tab identity, so a request takes the idle decoder of its
//! source that reaches the time without seeking (the one nearest before it), and opens a new
//! one (or, with no room, seeks one) when none does: two tabs playing one source at different
//! times end up with a decoder each. Memory is bounded by keeping at most [`IDLE_DECODERS`]
//! idle decoders, or as many as fit in the render's `offthreadVideoCacheSizeInBytes` (least
//! recently used ones are closed), plus one per request in progress; the render's
//! `offthreadVideoThreads` bounds the requests in progress.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::extract::{ExtractError, VideoFrames};
use super::image::{Converter, Image};

/// Idle decoders kept open (each holds a decoder's reference frames and one converted frame).
pub const IDLE_DECODERS: usize = 4;

/// A source being read, with the last image it gave (asked for again when a composition
/// runs faster than its video or holds a frame).
struct Source {
    frames: VideoFrames,
    converter: Converter,
    last: Option<(i64, bool, Image)>,
}

impl Source {
    /// Memory held: the decoder's estimate and the last image.
    fn estimated_bytes(&self) -> u64 {
        let image = self.last.as_ref().map_or(0, |(_, _, image)| image.bytes.len() as u64);
        self.frames.estimated_bytes() + image
    }

    fn image_at(&mut self, time: f64, transparent: bool) -> Result<Image, ExtractError> {
        let quarter_turns = self.frames.quarter_turns();
        let (at, frame) = self.frames.frame_at(time)?;
        if let Some((pts, was_transparent, image)) = &self.last
            && *pts == at
            && *was_transparent == transparent
        {
            return Ok(image.clone());
        }
        let image = self.converter.encode(frame, transparent, quarter_turns)?;
        self.last = Some((at, transparent, image.clone()));
        Ok(image)
    }
}

/// The decoders of one frame server.
pub struct Decoders {
    /// Idle decoders with the time they were last used (a counter), least recent first.
    idle: Mutex<Vec<(u64, Source)>>,
    clock: AtomicU64,
    /// The idle decoders' memory budget, bytes (`u64::MAX`: none, [`IDLE_DECODERS`] count).
    budget: AtomicU64,
    /// Requests decoding now, and the most there were at once.
    decoding: AtomicUsize,
    peak_decoding: AtomicUsize,
}

impl Default for Decoders {
    fn default() -> Self {
        Self {
            idle: Mutex::default(),
            clock: AtomicU64::default(),
            budget: AtomicU64::new(u64::MAX),
            decoding: AtomicUsize::default(),
            peak_decoding: AtomicUsize::default(),
        }
    }
}

impl Decoders {
    /// Bounds the idle decoders' estimated memory to `bytes` (Remotion's
    /// `offthreadVideoCacheSizeInBytes`); `None` keeps [`IDLE_DECODERS`] of them. Decoders
    /// over a smaller budget are closed at once.
    pub fn set_budget(&self, bytes: Option<u64>) {
        self.budget.store(bytes.unwrap_or(u64::MAX), Ordering::Relaxed);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        self.trim(&mut idle);
    }

    /// The image of `path`'s video at `time` seconds (blocking: decodes).
    pub fn image(&self, path: &Path, time: f64, transparent: bool) -> Result<Image, ExtractError> {
        let now = self.decoding.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_decoding.fetch_max(now, Ordering::SeqCst);
        let image = self.decode(path, time, transparent);
        self.decoding.fetch_sub(1, Ordering::SeqCst);
        image
    }

    fn decode(&self, path: &Path, time: f64, transparent: bool) -> Result<Image, ExtractError> {
        let mut source = match self.take(path, time, transparent) {
            Some(source) => source,
            None => {
                Source { frames: VideoFrames::open(path, transparent)?, converter: Converter::default(), last: None }
            }
        };
        // A decoder that failed is dropped: its state is unknown.
        let image = source.image_at(time, transparent)?;
        self.give_back(source);
        Ok(image)
    }

    /// The most requests that were decoding at once.
    pub fn peak_decoding(&self) -> usize {
        self.peak_decoding.load(Ordering::SeqCst)
    }

    /// Number of idle decoders (for tests and logs).
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The idle decoder of `path` best placed for `time`: one that reaches it decoding forward
    /// (the nearest). Otherwise, while there is room, none: a new decoder costs about what a
    /// seek costs, and the decoders already open stay where other tabs will want them. With
    /// no room, the most recently used decoder of `path` (it will seek).
    fn take(&self, path: &Path, time: f64, transparent: bool) -> Option<Source> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let fits = |s: &Source| s.frames.path() == path && s.frames.with_alpha() == transparent;
        let forward = idle
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| fits(s) && s.frames.reaches_without_seek(time))
            .max_by_key(|(_, (_, s))| s.frames.position().unwrap_or(i64::MIN))
            .map(|(i, _)| i);
        let room = self.has_room(&idle);
        let chosen = forward.or_else(|| if room { None } else { idle.iter().rposition(|(_, s)| fits(s)) })?;
        Some(idle.remove(chosen).1)
    }

    /// Whether another decoder may be kept idle: fewer than [`IDLE_DECODERS`], or with a
    /// budget, idle decoders holding less than it.
    fn has_room(&self, idle: &[(u64, Source)]) -> bool {
        match self.budget.load(Ordering::Relaxed) {
            u64::MAX => idle.len() < IDLE_DECODERS,
            budget => idle.iter().map(|(_, s)| s.estimated_bytes()).sum::<u64>() < budget,
        }
    }

    /// Closes the least recently used idle decoders until the rest fit.
    fn trim(&self, idle: &mut Vec<(u64, Source)>) {
        match self.budget.load(Ordering::Relaxed) {
            u64::MAX => {
                while idle.len() > IDLE_DECODERS {
                    idle.remove(0);
                }
            }
            budget => {
                let mut held: u64 = idle.iter().map(|(_, s)| s.estimated_bytes()).sum();
                while held > budget && !idle.is_empty() {
                    held -= idle.remove(0).1.estimated_bytes();
                }
            }
        }
    }

    fn give_back(&self, source: Source) {
        let stamp = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.push((stamp, source));
        idle.sort_by_key(|(stamp, _)| *stamp);
        self.trim(&mut idle);
    }

    /// Paths of the idle decoders, least recently used first (for tests).
    pub fn idle_paths(&self) -> Vec<PathBuf> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.iter().map(|(_, s)| s.frames.path().to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture's clip (tools/make_clip.py): 60 frames at 30 fps, frame n's number in eight
    /// black/white blocks along the bottom.
    pub(super) fn clip() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/remotion-project/public/clip.mp4")
    }

    /// The frame number a BMP of the clip shows.
    pub(super) fn shown(image: &Image) -> u32 {
        assert_eq!(image.content_type, "image/bmp");
        let bytes = &image.bytes;
        assert_eq!(&bytes[..2], b"BM");
        let width = i32::from_le_bytes(bytes[18..22].try_into().unwrap()) as usize;
        let height = i32::from_le_bytes(bytes[22..26].try_into().unwrap()) as usize;
        assert_eq!((width, height), (320, 180));
        let stride = (width * 3).div_ceil(4) * 4;
        // Bottom-up: picture row 150 is stored row height-1-150.
        let row = 54 + (height - 1 - 150) * stride;
        (0..8).fold(0, |n, bit| {
            let x = bit * 40 + 20;
            // BGR: the green byte.
            (n << 1) | u32::from(bytes[row + x * 3 + 1] > 128)
        })
    }

    #[test]
    fn frames_are_picked_like_remotions_compositor() {
        let decoders = Decoders::default();
        // Times and the frames Remotion 4.0.527's compositor returned for them (measured).
        let measured = [
            (0.0, 0),
            (0.016, 0),
            (0.0333, 0),
            (0.0333005, 0),
            (0.033301, 1),
            (0.03333, 1),
            (1.0 / 30.0, 1),
            (0.051, 1),
            (0.0666, 1),
            (0.06666, 2),
            (0.1, 3),
            (0.2, 6),
            (1.0, 30),
            (1.95, 58),
            (1.97, 59),
            (2.5, 59),
            (10.0, 59),
        ];
        for (time, frame) in measured {
            assert_eq!(shown(&decoders.image(&clip(), time, false).unwrap()), frame, "time {time}");
        }
        // In order, one decoder served everything.
        assert_eq!(decoders.idle(), 1);
        // Going back opens a second one while there is room, then seeks.
        assert_eq!(shown(&decoders.image(&clip(), 0.5, false).unwrap()), 15);
        for back in (0..15).rev() {
            assert_eq!(shown(&decoders.image(&clip(), f64::from(back) / 30.0, false).unwrap()), back);
        }
        assert_eq!(decoders.idle(), IDLE_DECODERS);
        // An opaque source asked for transparency is still a BMP (as with Remotion).
        assert_eq!(shown(&decoders.image(&clip(), 0.0, true).unwrap()), 0);
    }

    #[test]
    fn tabs_at_different_times_keep_a_decoder_each() {
        let decoders = Decoders::default();
        // Two tabs, one from frame 0, one from frame 40, interleaved.
        for i in 0..15 {
            for start in [0, 40] {
                let frame = start + i;
                let image = decoders.image(&clip(), f64::from(frame) / 30.0, false).unwrap();
                assert_eq!(shown(&image), frame as u32);
            }
        }
        assert_eq!(decoders.idle(), 2, "each tab's decoder went on from where it was");
    }

    #[test]
    fn unreadable_sources_say_why() {
        let decoders = Decoders::default();
        let missing = decoders.image(Path::new("/nonexistent/clip.mp4"), 0.0, false).err().unwrap();
        assert!(matches!(missing, ExtractError::Unreadable(_)), "{missing}");
        let not_video = decoders.image(Path::new(file!()), 0.0, false).err().unwrap();
        assert!(not_video.to_string().contains("not a media file"), "{not_video}");
        assert_eq!(decoders.idle(), 0);
    }

    #[test]
    fn idle_decoders_are_bounded() {
        let decoders = Decoders::default();
        let dir = tempfile::tempdir().unwrap();
        for i in 0..IDLE_DECODERS + 2 {
            let copy = dir.path().join(format!("clip-{i}.mp4"));
            std::fs::copy(clip(), &copy).unwrap();
            decoders.image(&copy, 0.0, false).unwrap();
        }
        let idle = decoders.idle_paths();
        assert_eq!(idle.len(), IDLE_DECODERS);
        assert_eq!(idle[0], dir.path().join("clip-2.mp4"), "the least recently used went first");
    }

    #[test]
    fn a_cache_budget_keeps_the_decoders_that_fit() {
        let decoders = Decoders::default();
        let dir = tempfile::tempdir().unwrap();
        let copies: Vec<PathBuf> = (0..6)
            .map(|i| {
                let copy = dir.path().join(format!("clip-{i}.mp4"));
                std::fs::copy(clip(), &copy).unwrap();
                copy
            })
            .collect();
        decoders.image(&copies[0], 0.0, false).unwrap();
        let one = {
            let idle = decoders.idle.lock().unwrap();
            idle[0].1.estimated_bytes()
        };
        // 320×180 at 4 bytes, at least three pictures, and the BMP.
        assert!(one >= 320 * 180 * 4 * 3 + 320 * 180 * 3, "{one}");
        // Room for two and a half: two stay, the least recently used go.
        decoders.set_budget(Some(one * 5 / 2));
        for copy in &copies[1..] {
            decoders.image(copy, 0.0, false).unwrap();
        }
        assert_eq!(decoders.idle_paths(), [copies[4].clone(), copies[5].clone()]);
        // More room than IDLE_DECODERS would keep.
        decoders.set_budget(Some(one * 100));
        for copy in &copies {
            decoders.image(copy, 0.0, false).unwrap();
        }
        assert_eq!(decoders.idle(), 6);
        // A budget too small for one: every request opens its own, nothing stays.
        decoders.set_budget(Some(1));
        assert_eq!(decoders.idle(), 0, "shrinking the budget closes what no longer fits");
        assert_eq!(shown(&decoders.image(&copies[0], 1.0, false).unwrap()), 30);
        assert_eq!(decoders.idle(), 0);
        decoders.set_budget(None);
        decoders.image(&copies[0], 1.0, false).unwrap();
        assert_eq!(decoders.idle(), 1);
    }
}

/// Sources made by the `ffmpeg` command line for one test each.
#[cfg(test)]
mod generated_sources {
    use std::process::Command;

    use super::*;

    #[test]
    fn transparent_vp9_frames_keep_their_alpha() {
        let dir = tempfile::tempdir().unwrap();
        let webm = dir.path().join("alpha.webm");
        // Half-transparent red, VP9 with an alpha plane (how transparent videos are shipped).
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red@0.5:s=64x48:r=30:d=1,format=yuva420p"])
            .args(["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p"])
            .arg(&webm)
            .status()
            .expect("running ffmpeg");
        assert!(status.success());
        let decoders = Decoders::default();
        let image = decoders.image(&webm, 0.1, true).unwrap();
        if ffmpeg_next::decoder::find_by_name("libvpx-vp9").is_none() {
            // Without libvpx the alpha plane is lost (FFmpeg's own VP9 decoder drops it).
            assert_eq!(image.content_type, "image/bmp");
            return;
        }
        assert_eq!(image.content_type, "image/png");
        let rgba = image::load_from_memory_with_format(&image.bytes, image::ImageFormat::Png).unwrap().to_rgba8();
        assert_eq!(rgba.dimensions(), (64, 48));
        let [r, g, b, a] = rgba.get_pixel(32, 24).0;
        assert!(r > 240 && g < 10 && b < 10 && (120..=135).contains(&a), "{:?}", (r, g, b, a));
        // Opaque requests of the same source are BMPs, as with Remotion.
        assert_eq!(decoders.image(&webm, 0.1, false).unwrap().content_type, "image/bmp");
    }

    #[test]
    fn times_are_the_files_own_timestamps() {
        // MPEG-TS starts its timestamps at 1.4667 s here. Remotion's compositor does not
        // subtract the start: 0 to 1.4667 s shows the first frame, 1.5 s clip frame 1 and
        // 1.9 s frame 13 (measured), and so do we.
        let dir = tempfile::tempdir().unwrap();
        let ts = dir.path().join("clip.ts");
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(super::tests::clip())
            .args(["-c", "copy", "-f", "mpegts"])
            .arg(&ts)
            .status()
            .expect("running ffmpeg");
        assert!(status.success());
        let decoders = Decoders::default();
        for (time, frame) in [(0.0, 0), (1.0, 0), (1.5, 1), (1.9, 13)] {
            assert_eq!(super::tests::shown(&decoders.image(&ts, time, false).unwrap()), frame, "time {time}");
        }
    }

    #[test]
    fn sideways_videos_are_shown_upright_like_ffmpeg_autorotates_them() {
        let dir = tempfile::tempdir().unwrap();
        let sideways = dir.path().join("rotated.mp4");
        // A display matrix of 90° counter-clockwise, as phones write it.
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(super::tests::clip())
            .args(["-c", "copy", "-metadata:s:v:0", "rotate=90"])
            .arg(&sideways)
            .status()
            .expect("running ffmpeg");
        assert!(status.success());
        // What `ffmpeg` shows (Remotion's compositor gave exactly this for this file).
        let reference = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&sideways)
            .args(["-ss", "0.5", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .expect("running ffmpeg")
            .stdout;
        let image = Decoders::default().image(&sideways, 0.5, false).unwrap();
        let bytes = &image.bytes;
        let width = i32::from_le_bytes(bytes[18..22].try_into().unwrap()) as usize;
        let height = i32::from_le_bytes(bytes[22..26].try_into().unwrap()) as usize;
        assert_eq!((width, height), (180, 320), "upright: the sides swap");
        assert_eq!(reference.len(), width * height * 3);
        let stride = (width * 3).div_ceil(4) * 4;
        let mut differing = 0;
        for y in 0..height {
            for x in 0..width {
                let ours = &bytes[54 + (height - 1 - y) * stride + x * 3..][..3];
                let theirs = &reference[(y * width + x) * 3..][..3];
                differing += usize::from(ours != [theirs[2], theirs[1], theirs[0]]);
            }
        }
        assert_eq!(differing, 0);
    }
}
