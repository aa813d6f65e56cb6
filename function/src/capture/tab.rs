//! A new blank tab as the browser opens it: what a Remotion page is set up in
//! ([`super::page::RemotionTab::open`]).

use chromiumoxide::page::Page;

use super::frames::FrameControl;

/// A new blank tab.
pub struct BrowserTab {
    /// Its DevTools page.
    pub page: Page,
    /// Its frames, produced on demand, when the browser runs under begin-frame control; none
    /// when the tab draws its own.
    pub frames: Option<FrameControl>,
}
