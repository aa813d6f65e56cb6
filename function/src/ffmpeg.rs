//! FFmpeg's libraries, set up once per process for everything that uses them: the video and
//! audio encoders, the audio sources' decoders and the `<OffthreadVideo>` frame server.

use std::sync::Once;

static INIT: Once = Once::new();

/// Initialises FFmpeg once per process (and keeps its logging quiet).
pub fn init() {
    INIT.call_once(|| {
        let _ = ffmpeg_next::init();
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    });
}
