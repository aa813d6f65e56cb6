//! The render function's integration tests, in one binary, one module per area. They drive
//! real Chromium and FFmpeg, Remotion's own renderer for reference, and stand-ins (an S3 store,
//! a Lambda emulator) that the binary starts once for all of its tests.
//!
//! The tests share one process, so what is process-wide is shared with care: the tests of the
//! warm browser take turns ([`common::warm_browser`]), a test that counts this process's
//! browser launches runs in a process of its own ([`common::in_own_process`]), and every test
//! serves function names of its own on the one Lambda emulator.

// Helpers outside `#[test]` functions unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

mod artifacts;
mod audio;
mod audio_only;
mod browser_choice;
mod browser_launch;
mod continuation;
mod delivery;
mod gif;
mod isolation;
mod lambda;
mod launch;
mod launch_progress;
mod offthread_video;
mod output_upload;
mod overrides;
mod page_environment;
mod remotion_versions;
mod render;
mod renderer_layout;
mod sandbox;
mod sequence;
mod site_server;
mod still;
mod transparent;
mod warm_browser;
mod warm_page;
