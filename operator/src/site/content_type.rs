//! HTTP headers of the files of a site: the same Content-Type table the render function uses
//! when it serves a site to the page (`function/src/site.rs`), so a file looks the same
//! whether a browser fetches it from the bucket or the function serves it.

/// Content-Type by file extension, for the files bundles contain.
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "application/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "aac" => "audio/aac",
        "m4a" => "audio/mp4",
        "ogg" | "oga" => "audio/ogg",
        "opus" => "audio/opus",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

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
        assert_eq!(content_type("favicon.ico"), "image/x-icon");
        assert_eq!(content_type("fonts/a.woff2"), "font/woff2");
    }

    #[test]
    fn names_without_an_extension_are_binary() {
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
        // A dot in a folder name is not an extension.
        assert_eq!(content_type("v1.2/README"), "application/octet-stream");
    }
}
