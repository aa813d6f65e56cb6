//! Remotion's render assets: what the page reports each frame plays
//! (`window.remotion_collectAssets()`), and the media sources those assets name, downloaded
//! once per site. Both the capture side and the encode side use them: the audio mixer decodes
//! the sources the frames play, the `<OffthreadVideo>` frame server shows frames of them.
//!
//! * [`collected`]: a frame's assets, typed.
//! * [`artifacts`]: the files a composition emits with `<Artifact>`, saved beside the render.
//! * [`cache`]: sources downloaded through the same site access the page uses.
//! * [`room`]: the room those downloads have on disk (`/tmp`, the function's `diskSizeMb`).

pub mod artifacts;
pub mod cache;
pub mod collected;
pub mod room;
