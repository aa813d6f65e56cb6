use super::*;

use std::io::Cursor;

use flate2::Compression;
use flate2::write::GzEncoder;
use zip::write::SimpleFileOptions;

/// A tar entry, written with its name as given (tar's builder would refuse the bad ones).
enum Tar<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Fifo(&'a str),
    CharDevice(&'a str),
}

fn tar_gz(entries: &[Tar<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for entry in entries {
        let (name, kind, data, link): (&str, tar::EntryType, &[u8], &str) = match entry {
            Tar::File(n, d) => (n, tar::EntryType::Regular, d, ""),
            Tar::Dir(n) => (n, tar::EntryType::Directory, b"", ""),
            Tar::Symlink(n, t) => (n, tar::EntryType::Symlink, b"", t),
            Tar::Hardlink(n, t) => (n, tar::EntryType::Link, b"", t),
            Tar::Fifo(n) => (n, tar::EntryType::Fifo, b"", ""),
            Tar::CharDevice(n) => (n, tar::EntryType::Char, b"", ""),
        };
        let mut header = tar::Header::new_gnu();
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        if let Some(dir) = name.strip_suffix('/') {
            writer.add_directory(dir, SimpleFileOptions::default()).unwrap();
        } else {
            writer.start_file(*name, SimpleFileOptions::default()).unwrap();
            writer.write_all(data).unwrap();
        }
    }
    writer.finish().unwrap().into_inner()
}

const INDEX: &[u8] = b"<script>window.remotion_version = '4.0.527';</script>";

fn unpack_bytes(bytes: &[u8], limits: UnpackLimits) -> (tempfile::TempDir, Result<UnpackedSite, ArchiveError>) {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    fs::write(&archive, bytes).unwrap();
    let dest = dir.path().join("site");
    fs::create_dir(&dest).unwrap();
    let result = unpack(&archive, &dest, &limits);
    (dir, result)
}

fn unpack_err(bytes: &[u8], limits: UnpackLimits) -> ArchiveError {
    unpack_bytes(bytes, limits).1.unwrap_err()
}

fn small_limits() -> UnpackLimits {
    UnpackLimits { max_file_bytes: 100, max_total_bytes: 150, max_files: 4 }
}

#[test]
fn a_tar_gz_bundle_unpacks_under_its_top_folder() {
    let bytes = tar_gz(&[
        Tar::Dir("./build/"),
        Tar::File("./build/index.html", INDEX),
        Tar::File("./build/bundle.js", b"js"),
        Tar::Dir("./build/public/"),
        Tar::File("./build/public/logo.png", b"png"),
    ]);
    let (_dir, site) = unpack_bytes(&bytes, UnpackLimits::default());
    let site = site.unwrap();
    let paths: Vec<&str> = site.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["bundle.js", "index.html", "public/logo.png"]);
    assert!(site.root.ends_with("build"));
    assert_eq!(fs::read(site.root.join("public/logo.png")).unwrap(), b"png");
    assert_eq!(site.versions.remotion_version.as_deref(), Some("4.0.527"));
    assert_eq!(site.total_bytes(), INDEX.len() as u64 + 5);
    assert_eq!(site.files[0].md5, <[u8; 16]>::from(Md5::digest(b"js")));
    assert_eq!(site.files[0].sha256, <[u8; 32]>::from(Sha256::digest(b"js")));
}

#[test]
fn a_zip_bundle_unpacks_at_its_root_without_macos_junk() {
    let bytes = zip(&[
        ("index.html", INDEX),
        ("bundle.js", b"js"),
        ("public/", b""),
        ("public/a.wav", b"wav"),
        ("__MACOSX/._index.html", b"junk"),
    ]);
    let (dir, site) = unpack_bytes(&bytes, UnpackLimits::default());
    let site = site.unwrap();
    assert_eq!(site.root, dir.path().join("site"));
    let paths: Vec<&str> = site.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["bundle.js", "index.html", "public/a.wav"]);
}

#[test]
fn unsafe_tar_entries_are_refused_by_name() {
    let bundle = |bad: Tar<'static>| tar_gz(&[Tar::File("index.html", INDEX), bad, Tar::File("bundle.js", b"js")]);
    let cases: Vec<(Tar<'static>, &str, &str)> = vec![
        (Tar::File("../evil.js", b"x"), "UnsafeArchiveEntry", "\"../evil.js\" contains a '..'"),
        (Tar::File("a/../../evil.js", b"x"), "UnsafeArchiveEntry", "a/../../evil.js"),
        (Tar::File("/etc/passwd", b"x"), "UnsafeArchiveEntry", "\"/etc/passwd\" has an absolute path"),
        (Tar::Symlink("link.js", "/etc/passwd"), "UnsafeArchiveEntry", "\"link.js\" is a symlink (to \"/etc/passwd\")"),
        (Tar::Hardlink("hard.js", "index.html"), "UnsafeArchiveEntry", "is a hard link"),
        (Tar::Fifo("pipe"), "UnsafeArchiveEntry", "\"pipe\" is a FIFO"),
        (Tar::CharDevice("null"), "UnsafeArchiveEntry", "character device"),
        (Tar::File("index.html", b"twice"), "UnsafeArchiveEntry", "\"index.html\" appears more than once"),
        (Tar::File("index.html/x", b"under a file"), "UnsafeArchiveEntry", "index.html/x"),
    ];
    for (bad, reason, text) in cases {
        let err = unpack_err(&bundle(bad), UnpackLimits::default());
        assert_eq!(err.reason().as_str(), reason, "{err}");
        assert!(err.to_string().contains(text), "{err:?} should mention {text}");
        assert!(err.reason().is_terminal());
    }
}

#[test]
fn unsafe_zip_entries_are_refused_by_name() {
    let traversal = zip(&[("index.html", INDEX), ("../x.js", b"x")]);
    assert!(
        matches!(unpack_err(&traversal, UnpackLimits::default()), ArchiveError::ParentTraversal { entry } if entry == "../x.js")
    );
    let absolute = zip(&[("/abs.js", b"x")]);
    assert!(matches!(unpack_err(&absolute, UnpackLimits::default()), ArchiveError::AbsolutePath { .. }));
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    writer.add_symlink("link", "/etc/shadow", SimpleFileOptions::default()).unwrap();
    let symlink = writer.finish().unwrap().into_inner();
    let err = unpack_err(&symlink, UnpackLimits::default());
    assert!(
        matches!(&err, ArchiveError::Link { entry, target, .. } if entry == "link" && target == "/etc/shadow"),
        "{err:?}"
    );
}

#[test]
fn limits_hold_whatever_the_headers_say() {
    let big = vec![0u8; 101];
    let err = unpack_err(&tar_gz(&[Tar::File("big.bin", &big)]), small_limits());
    assert!(matches!(&err, ArchiveError::FileTooLarge { entry, limit: 100 } if entry == "big.bin"), "{err:?}");
    assert_eq!(err.reason(), Reason::ArchiveTooLarge);
    let err = unpack_err(&zip(&[("big.bin", &big)]), small_limits());
    assert!(matches!(&err, ArchiveError::FileTooLarge { .. }), "{err:?}");

    let eighty = vec![1u8; 80];
    let err = unpack_err(&tar_gz(&[Tar::File("a", &eighty), Tar::File("b", &eighty)]), small_limits());
    assert!(matches!(&err, ArchiveError::TooLarge { entry, limit: 150 } if entry == "b"), "{err:?}");

    let files: Vec<Tar<'_>> = ["1", "2", "3", "4", "5"].into_iter().map(|n| Tar::File(n, b"x")).collect();
    let err = unpack_err(&tar_gz(&files), small_limits());
    assert!(matches!(&err, ArchiveError::TooManyFiles { entry, limit: 4, .. } if entry == "5"), "{err:?}");
}

/// Files under `dir`, recursively.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_in(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_zip_listing_too_many_entries_is_refused_before_any_entry_is_read() {
    // Three entries where files and folders may be two together (max_files 1).
    let limits = UnpackLimits { max_files: 1, ..UnpackLimits::default() };
    let bytes = zip(&[("index.html", INDEX), ("bundle.js", b"js"), ("public/a.png", b"png")]);
    let (dir, result) = unpack_bytes(&bytes, limits);
    let err = result.unwrap_err();
    assert!(matches!(err, ArchiveError::TooManyEntries { listed: 3, limit: 2 }), "{err:?}");
    assert_eq!(err.reason(), Reason::ArchiveTooLarge);
    assert!(files_in(&dir.path().join("site")).is_empty(), "an entry was unpacked");

    // The end record claims 60,000 entries and the directory is cut off: only the claim is
    // read, and it is what refuses the archive (not the missing directory).
    let mut claimed = zip(&[("index.html", INDEX)]);
    let end = claimed.len() - 22;
    let directory_offset = u32::from_le_bytes(claimed[end + 16..end + 20].try_into().unwrap()) as usize;
    let mut record = claimed[end..].to_vec();
    record[8..10].copy_from_slice(&60_000u16.to_le_bytes());
    record[10..12].copy_from_slice(&60_000u16.to_le_bytes());
    claimed.truncate(directory_offset);
    claimed.extend(record);
    let (dir, result) = unpack_bytes(&claimed, UnpackLimits::default());
    let err = result.unwrap_err();
    assert!(matches!(err, ArchiveError::TooManyEntries { listed: 60_000, limit: 20_000 }), "{err:?}");
    assert!(files_in(&dir.path().join("site")).is_empty());
}

#[test]
fn folders_implied_by_deep_paths_count_against_the_limit() {
    let err = unpack_err(&tar_gz(&[Tar::File("a/b/c/d/e/deep.txt", b"x")]), small_limits());
    assert!(
        matches!(&err, ArchiveError::TooManyFiles { what: "folders", limit: 4, entry } if entry == "a/b/c/d/e/deep.txt"),
        "{err:?}"
    );
    let err = unpack_err(&zip(&[("a/b/c/d/e/deep.txt", b"x")]), small_limits());
    assert!(matches!(&err, ArchiveError::TooManyFiles { what: "folders", .. }), "{err:?}");
}

#[test]
fn a_zip_bomb_stops_at_the_limit() {
    // 10 MB of zeros compresses to ~10 KB: the header says 10 MB, the limit is 1 MB.
    let zeros = vec![0u8; 10 << 20];
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    writer.start_file("bomb.bin", options).unwrap();
    writer.write_all(&zeros).unwrap();
    let bomb = writer.finish().unwrap().into_inner();
    assert!(bomb.len() < 100_000);
    let limits = UnpackLimits { max_file_bytes: 1 << 20, ..UnpackLimits::default() };
    let (dir, result) = unpack_bytes(&bomb, limits);
    assert!(matches!(result, Err(ArchiveError::FileTooLarge { .. })));
    // Nothing past the limit reached the disk.
    assert!(fs::metadata(dir.path().join("site/bomb.bin")).map(|m| m.len()).unwrap_or(0) <= 1 << 20);
}

#[test]
fn what_is_not_a_bundle_says_what_is_missing() {
    let err = unpack_err(
        &tar_gz(&[Tar::File("site/index.html", INDEX), Tar::File("site/app.js", b"")]),
        UnpackLimits::default(),
    );
    assert_eq!(err.reason(), Reason::NotARemotionBundle);
    assert!(err.to_string().contains("no bundle.js at its root (found: app.js, index.html)"), "{err}");
    let err = unpack_err(&zip(&[]), UnpackLimits::default());
    assert!(err.to_string().contains("no index.html and bundle.js at its root (found: nothing)"), "{err}");
    let err = unpack_err(b"not an archive at all", UnpackLimits::default());
    assert!(matches!(err, ArchiveError::NotAnArchive { .. }));
    let mut truncated = tar_gz(&[Tar::File("index.html", INDEX), Tar::File("bundle.js", &[7u8; 5000])]);
    truncated.truncate(truncated.len() / 2);
    assert_eq!(unpack_err(&truncated, UnpackLimits::default()).reason(), Reason::InvalidArchive);
}

#[test]
fn formats_are_told_apart_by_magic_bytes() {
    assert_eq!(detect(&[0x1f, 0x8b, 8, 0]).unwrap(), Format::TarGz);
    assert_eq!(detect(b"PK\x03\x04rest").unwrap(), Format::Zip);
    assert_eq!(detect(b"PK\x05\x06").unwrap(), Format::Zip);
    let err = detect(b"<html>").unwrap_err();
    assert!(err.to_string().contains("3c68746d6c3e"), "{err}");
    assert_eq!(err.reason(), Reason::InvalidArchive);
}

#[test]
fn paths_are_vetted() {
    assert_eq!(safe_relative_path(b"./build/index.html").unwrap().as_deref(), Some("build/index.html"));
    assert_eq!(safe_relative_path(b"a//b/./c").unwrap().as_deref(), Some("a/b/c"));
    assert_eq!(safe_relative_path(b"./").unwrap(), None);
    assert!(matches!(safe_relative_path(b"/etc/passwd"), Err(ArchiveError::AbsolutePath { .. })));
    assert!(matches!(safe_relative_path(b"C:/x"), Err(ArchiveError::AbsolutePath { .. })));
    assert!(matches!(safe_relative_path(b"a/../../b"), Err(ArchiveError::ParentTraversal { .. })));
    assert!(matches!(safe_relative_path(b".."), Err(ArchiveError::ParentTraversal { .. })));
    assert!(matches!(safe_relative_path(b"a\\b"), Err(ArchiveError::UnsafeName { .. })));
    assert!(matches!(safe_relative_path(b"a\nb"), Err(ArchiveError::UnsafeName { .. })));
    assert!(matches!(safe_relative_path(b"\xff"), Err(ArchiveError::UnsafeName { .. })));
    assert!(matches!(
        safe_relative_path(b"./.remotion-operator-owner.json"),
        Err(ArchiveError::UnsafeName { why: "the name of the site folder's owner marker", .. })
    ));
    assert_eq!(
        safe_relative_path(b"public/.remotion-operator-owner.json").unwrap().as_deref(),
        Some("public/.remotion-operator-owner.json")
    );
    // Dots inside names are fine.
    assert_eq!(safe_relative_path(b"a..b/..c").unwrap().as_deref(), Some("a..b/..c"));
}

#[test]
fn one_top_folder_is_the_root() {
    let paths = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(single_top_folder(paths(&["build/index.html", "build/a/b.js"]).iter()).as_deref(), Some("build"));
    assert_eq!(single_top_folder(paths(&["build/index.html", "other/x"]).iter()), None);
    assert_eq!(single_top_folder(paths(&["index.html", "build/x"]).iter()), None);
    assert_eq!(single_top_folder(paths(&[]).iter()), None);
}
