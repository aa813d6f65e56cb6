//! Content-Type of the files a Remotion bundle contains: one table for the operator (which
//! uploads sites with it) and the render function (which serves sites to the page with it), so
//! a file looks the same whichever way a browser fetches it.

/// Content-Type by file extension (case-insensitive); `application/octet-stream` otherwise.
pub fn for_path(path: &str) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_files_get_their_types() {
        assert_eq!(for_path("index.html"), "text/html; charset=utf-8");
        assert_eq!(for_path("121.bundle.js.map"), "application/json");
        assert_eq!(for_path("public/logo.PNG"), "image/png");
        assert_eq!(for_path("fonts/a.woff2"), "font/woff2");
        // A dot in a folder name is not an extension.
        assert_eq!(for_path("v1.2/README"), "application/octet-stream");
    }
}
