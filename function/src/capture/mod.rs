//! Capture: headless Chromium rendering a Remotion bundle, frame by frame, and what its pages
//! load from. Nothing here encodes: screenshots leave as the bytes Chromium gave.
//!
//! * [`browser`]: Chromium, launched with Remotion's flags and kept warm between invocations,
//!   none of which sees what another render's pages stored.
//! * [`page`]: Remotion's page protocol over DevTools (globals, bundle modes, readiness,
//!   composition metadata, seeking, screenshots).
//! * [`site`]: the site a page loads, and the server of a bundle folder or bucket prefix.
//! * [`frames`]: frames drawn on demand for a browser under begin-frame control.
//! * [`frame_server`]: the `<OffthreadVideo>` frame server the site's pages fetch frames from.
//! * [`warm_page`]: a loaded page kept in the warm browser for the next chunk of a render.
//! * [`compositions`]: a site's compositions, metadata resolved for the input props.
//! * [`shot`]: a screenshot of what a tab shows, or the page printed to PDF.
//! * [`still`]: one frame captured as an image.
//! * [`tab`]: a new blank tab, with its frame control.

pub mod browser;
pub mod compositions;
pub mod frame_server;
pub mod frames;
pub mod page;
pub mod shot;
pub mod site;
mod sliced_evaluation;
pub mod still;
pub mod tab;
pub mod warm_page;
