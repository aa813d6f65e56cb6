//! HTTP headers of the files of a site. The Content-Type table is the contract crate's, which
//! the render function also serves sites with (`function/src/capture/site.rs`), so a file looks the
//! same whether a browser fetches it from the bucket or the function serves it.

/// Content-Type by file extension, for the files bundles contain.
pub use remotion_protocol::content_type::for_path as content_type;

/// Cache-Control of every site file. Remotion names its chunks by number, not by content
/// (`121.bundle.js`), so a file can change under the same name: clients must revalidate
/// (cheap, by ETag) instead of caching blindly.
pub const CACHE_CONTROL: &str = "no-cache";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_files_get_their_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("bundle.js"), "application/javascript; charset=utf-8");
        assert_eq!(content_type("121.bundle.js.map"), "application/json");
        assert_eq!(content_type("public/logo.PNG"), "image/png");
        assert_eq!(content_type("public/tone.wav"), "audio/wav");
        assert_eq!(content_type("fonts/a.woff2"), "font/woff2");
    }

    #[test]
    fn names_without_an_extension_are_binary() {
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
        // A dot in a folder name is not an extension.
        assert_eq!(content_type("v1.2/README"), "application/octet-stream");
    }
}
