//! Safe unpacking of a site archive (`.tar.gz` or `.zip`, told apart by their magic bytes) into
//! a folder, and the check that what came out is a Remotion bundle.
//!
//! Every entry is vetted before a byte of it is written: names must be relative paths that stay
//! inside the folder (no absolute paths, drive letters, `..`, backslashes or control
//! characters); only regular files and folders are accepted (symlinks, hard links, devices and
//! FIFOs are refused); each file, the whole site and the number of files are bounded while
//! decompressing, whatever the headers claim (zip bombs); a path may appear once. The first
//! offence ends the unpacking with an error naming the entry, so an archive is all good or
//! nothing of it is used.
//!
//! When every file sits under one top-level folder (`build/index.html`, as `tar czf site.tgz
//! build` makes), that folder is the site's root. Finder's `__MACOSX/` resource-fork folder in
//! zips is skipped.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use md5::Md5;
use remotion_crds::Reason;
use remotion_protocol::keys;
use sha2::{Digest, Sha256};

use super::bundle_version::BundleVersions;
use super::zip_end::{self, DirectoryLimits};

/// Bounds of an unpacked site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Largest single file, bytes.
    pub max_file_bytes: u64,
    /// Largest site (sum of its files), bytes.
    pub max_total_bytes: u64,
    /// Most files; folders (listed or implied by a file's path) count separately, against
    /// the same number.
    pub max_files: u64,
}

impl UnpackLimits {
    /// Most entries a zip's directory may list: files and folders, each up to `max_files`
    /// (Finder's `__MACOSX/` entries, skipped when unpacking, count here too).
    pub fn max_entries(&self) -> u64 {
        self.max_files.saturating_mul(2)
    }
}

impl Default for UnpackLimits {
    /// Room for bundles with video and audio assets in `public/`, bounded so that one site
    /// cannot fill the operator's scratch volume.
    fn default() -> Self {
        Self { max_file_bytes: 512 << 20, max_total_bytes: 2 << 30, max_files: 10_000 }
    }
}

/// What the archive turned into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnpackedSite {
    /// The folder holding `index.html` (the archive's single top-level folder, if it had one).
    pub root: PathBuf,
    /// The files, relative to `root` with `/` separators, sorted by path.
    pub files: Vec<SiteFile>,
    /// What the bundle says about the Remotion that made it.
    pub versions: BundleVersions,
}

impl UnpackedSite {
    /// Sum of the file sizes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// One file of a site, with the digests the sync compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteFile {
    /// Path relative to the site root, `/`-separated.
    pub path: String,
    /// Size, bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: [u8; 32],
    /// MD5 of the content (what S3 reports as the ETag of a single-part upload).
    pub md5: [u8; 16],
}

/// The archive cannot be used. Every variant but [`ArchiveError::Io`] is a property of the
/// archive itself: the same bytes will always fail the same way.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Neither gzip nor zip magic bytes.
    #[error("the source is neither a .tar.gz nor a .zip archive (it starts with {magic})")]
    NotAnArchive {
        /// The first bytes, in hex.
        magic: String,
    },
    /// The compressed stream or the archive structure is broken.
    #[error("the archive is corrupt: {message}")]
    Corrupt {
        /// What the decoder said.
        message: String,
    },
    /// An entry names an absolute path.
    #[error("archive entry {entry:?} has an absolute path")]
    AbsolutePath {
        /// The entry's name.
        entry: String,
    },
    /// An entry climbs out of the folder with `..`.
    #[error("archive entry {entry:?} contains a '..' path component")]
    ParentTraversal {
        /// The entry's name.
        entry: String,
    },
    /// An entry's name cannot be a file name in a bucket folder.
    #[error("archive entry {entry:?} has an unusable name: {why}")]
    UnsafeName {
        /// The entry's name (lossily decoded).
        entry: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A symbolic or hard link.
    #[error("archive entry {entry:?} is a {kind} (to {target:?}); sites may hold only regular files and folders")]
    Link {
        /// The entry's name.
        entry: String,
        /// `symlink` or `hard link`.
        kind: &'static str,
        /// Where it points.
        target: String,
    },
    /// A device file, FIFO or other special entry.
    #[error("archive entry {entry:?} is a {kind}; sites may hold only regular files and folders")]
    SpecialFile {
        /// The entry's name.
        entry: String,
        /// What kind of entry it is.
        kind: &'static str,
    },
    /// An encrypted zip entry.
    #[error("archive entry {entry:?} is encrypted")]
    Encrypted {
        /// The entry's name.
        entry: String,
    },
    /// One file exceeds the per-file limit.
    #[error("archive entry {entry:?} is larger than the per-file limit of {limit} bytes")]
    FileTooLarge {
        /// The entry's name.
        entry: String,
        /// The limit, bytes.
        limit: u64,
    },
    /// The files together exceed the site limit.
    #[error("the archive unpacks to more than {limit} bytes (limit reached at entry {entry:?})")]
    TooLarge {
        /// The entry being unpacked when the limit was reached.
        entry: String,
        /// The limit, bytes.
        limit: u64,
    },
    /// A zip whose end record lists more entries than files and folders are allowed together;
    /// refused before its directory is read.
    #[error("the zip's end record lists {listed} entries, more than the limit of {limit} (files and folders together)")]
    TooManyEntries {
        /// Entries the end record claims.
        listed: u64,
        /// The limit.
        limit: u64,
    },
    /// A zip whose central directory is larger than its allowed entries need; refused before
    /// it is read.
    #[error("the zip's central directory spans {bytes} bytes, more than the limit of {limit}")]
    DirectoryTooLarge {
        /// From the directory's offset to the end of the file.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// More files (or folders) than allowed.
    #[error("the archive holds more than {limit} {what} (limit reached at entry {entry:?})")]
    TooManyFiles {
        /// The entry that went over.
        entry: String,
        /// `files` or `folders`.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The same path twice, or a path that is both a file and a folder.
    #[error("archive entry {entry:?} appears more than once (or as both a file and a folder)")]
    DuplicateEntry {
        /// The entry's path.
        entry: String,
    },
    /// What came out is not the output of `remotion bundle`.
    #[error(
        "the archive is not a Remotion bundle: no {missing} at its root (found: {found}); archive the output folder of `npx remotion bundle`"
    )]
    NotABundle {
        /// The missing files, comma-separated.
        missing: String,
        /// Up to 10 names at the root, comma-separated.
        found: String,
    },
    /// The local scratch folder failed us (disk full, permissions): not the archive's fault.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl ArchiveError {
    /// One CamelCase word for conditions and events.
    pub fn reason(&self) -> Reason {
        match self {
            Self::NotAnArchive { .. } | Self::Corrupt { .. } | Self::Encrypted { .. } => Reason::InvalidArchive,
            Self::AbsolutePath { .. }
            | Self::ParentTraversal { .. }
            | Self::UnsafeName { .. }
            | Self::Link { .. }
            | Self::SpecialFile { .. }
            | Self::DuplicateEntry { .. } => Reason::UnsafeArchiveEntry,
            Self::FileTooLarge { .. }
            | Self::TooLarge { .. }
            | Self::TooManyFiles { .. }
            | Self::TooManyEntries { .. }
            | Self::DirectoryTooLarge { .. } => Reason::ArchiveTooLarge,
            Self::NotABundle { .. } => Reason::NotARemotionBundle,
            Self::Io { .. } => Reason::ScratchSpaceError,
        }
    }

    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Io { context: context.into(), source }
    }
}

/// The two formats, by their first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// gzip-compressed tar.
    TarGz,
    /// zip.
    Zip,
}

/// Tells the format from the first bytes of a file.
pub fn detect(magic: &[u8]) -> Result<Format, ArchiveError> {
    match magic {
        [0x1f, 0x8b, ..] => Ok(Format::TarGz),
        // Local file header, or the end record of an empty zip.
        [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => Ok(Format::Zip),
        _ => Err(ArchiveError::NotAnArchive { magic: hex::encode(&magic[..magic.len().min(8)]) }),
    }
}

/// Unpacks `archive` into the empty folder `dest` and checks it is a Remotion bundle.
/// Blocking: run it on a blocking thread.
pub fn unpack(archive: &Path, dest: &Path, limits: &UnpackLimits) -> Result<UnpackedSite, ArchiveError> {
    let mut magic = [0u8; 8];
    let read = {
        let mut file = File::open(archive).map_err(ArchiveError::io("opening the downloaded archive"))?;
        read_up_to(&mut file, &mut magic).map_err(ArchiveError::io("reading the downloaded archive"))?
    };
    let mut unpacker = Unpacker::new(dest, *limits);
    match detect(&magic[..read])? {
        Format::TarGz => unpack_tar_gz(archive, &mut unpacker)?,
        Format::Zip => unpack_zip(archive, &mut unpacker)?,
    }
    unpacker.finish()
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn corrupt(e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Corrupt { message: e.to_string() }
}

fn unpack_tar_gz(archive: &Path, unpacker: &mut Unpacker) -> Result<(), ArchiveError> {
    let file = File::open(archive).map_err(ArchiveError::io("opening the downloaded archive"))?;
    // The tar reader buffers GNU long names and PAX headers whole: bounding the decompressed
    // stream bounds them too (the file limits alone would not).
    let budget = unpacker.limits.max_total_bytes + unpacker.limits.max_files.saturating_mul(4 * 1536) + (1 << 20);
    let decompressed = BoundedReader { inner: flate2::read::MultiGzDecoder::new(BufReader::new(file)), left: budget };
    let mut tar = tar::Archive::new(decompressed);
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw_name = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_name).into_owned();
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let declared = entry.header().size().map_err(corrupt)?;
                unpacker.add_file(&raw_name, Some(declared), &mut entry)?;
            }
            tar::EntryType::Directory => unpacker.add_dir(&raw_name)?,
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned());
                let kind = if kind == tar::EntryType::Symlink { "symlink" } else { "hard link" };
                return Err(ArchiveError::Link { entry: shown, kind, target: target.unwrap_or_default() });
            }
            tar::EntryType::Char => return Err(ArchiveError::SpecialFile { entry: shown, kind: "character device" }),
            tar::EntryType::Block => return Err(ArchiveError::SpecialFile { entry: shown, kind: "block device" }),
            tar::EntryType::Fifo => return Err(ArchiveError::SpecialFile { entry: shown, kind: "FIFO" }),
            // Archive-wide PAX attributes (mtime, charset): nothing to unpack.
            tar::EntryType::XGlobalHeader => {}
            _ => return Err(ArchiveError::SpecialFile { entry: shown, kind: "tar entry of an unsupported type" }),
        }
    }
    Ok(())
}

/// Fails reads beyond a budget of bytes (a decompression bomb guard).
struct BoundedReader<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for BoundedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("the archive decompresses to more than the site size limit allows"));
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// `S_IFMT` bits of a Unix mode and the kinds they name.
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

fn unpack_zip(archive: &Path, unpacker: &mut Unpacker) -> Result<(), ArchiveError> {
    let mut file = File::open(archive).map_err(ArchiveError::io("opening the downloaded archive"))?;
    // The reader parses the whole central directory first: its size is checked before that.
    zip_end::check(&mut file, &DirectoryLimits { max_entries: unpacker.limits.max_entries() })?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(corrupt)?;
    if zip.has_duplicate_names() {
        // The zip reader keeps one entry per name, so which name repeats is not known here.
        return Err(ArchiveError::DuplicateEntry {
            entry: "(a name listed twice in the zip's central directory)".into(),
        });
    }
    for index in 0..zip.len() {
        // Metadata first, from the raw entry (reading an encrypted one would fail unexplained).
        let (raw_name, encrypted, file_type, is_dir) = {
            let entry = zip.by_index_raw(index).map_err(corrupt)?;
            let file_type = entry.unix_mode().map(|m| m & S_IFMT).filter(|t| *t != 0);
            (entry.name_raw().to_vec(), entry.encrypted(), file_type, entry.is_dir())
        };
        let shown = String::from_utf8_lossy(&raw_name).into_owned();
        if raw_name.starts_with(b"__MACOSX/") {
            continue;
        }
        if encrypted {
            return Err(ArchiveError::Encrypted { entry: shown });
        }
        match file_type {
            Some(S_IFLNK) => {
                // A link stores its target as its content: small, but bound the read anyway.
                let mut target = Vec::new();
                let entry = zip.by_index(index).map_err(corrupt)?;
                let _ = entry.take(4096).read_to_end(&mut target);
                let target = String::from_utf8_lossy(&target).into_owned();
                return Err(ArchiveError::Link { entry: shown, kind: "symlink", target });
            }
            Some(t) if t != S_IFREG && t != S_IFDIR => {
                return Err(ArchiveError::SpecialFile { entry: shown, kind: "special file (device, FIFO or socket)" });
            }
            _ => {}
        }
        if is_dir {
            unpacker.add_dir(&raw_name)?;
            continue;
        }
        let mut entry = zip.by_index(index).map_err(corrupt)?;
        let declared = entry.size();
        unpacker.add_file(&raw_name, Some(declared), &mut entry)?;
    }
    Ok(())
}

/// A vetted relative path, or `None` for the archive's root folder itself (`./`).
pub fn safe_relative_path(raw: &[u8]) -> Result<Option<String>, ArchiveError> {
    let shown = || String::from_utf8_lossy(raw).into_owned();
    let name = std::str::from_utf8(raw).map_err(|_| ArchiveError::UnsafeName { entry: shown(), why: "not UTF-8" })?;
    if name.chars().any(char::is_control) {
        return Err(ArchiveError::UnsafeName { entry: shown(), why: "control characters" });
    }
    if name.starts_with('/') {
        return Err(ArchiveError::AbsolutePath { entry: shown() });
    }
    if name.contains('\\') {
        return Err(ArchiveError::UnsafeName { entry: shown(), why: "backslash (a Windows path?)" });
    }
    let mut parts = Vec::new();
    for (i, part) in name.split('/').enumerate() {
        match part {
            "" | "." => {}
            ".." => return Err(ArchiveError::ParentTraversal { entry: shown() }),
            drive if i == 0 && drive.len() == 2 && drive.ends_with(':') => {
                return Err(ArchiveError::AbsolutePath { entry: shown() });
            }
            part => parts.push(part),
        }
    }
    if parts == [keys::SITE_OWNER_FILE] {
        // The sync keeps this object as the folder's owner marker: a bundle may not replace it.
        return Err(ArchiveError::UnsafeName { entry: shown(), why: "the name of the site folder's owner marker" });
    }
    Ok(if parts.is_empty() { None } else { Some(parts.join("/")) })
}

/// Writes vetted entries under `dest` and keeps the books the limits need.
struct Unpacker {
    dest: PathBuf,
    limits: UnpackLimits,
    files: BTreeMap<String, SiteFile>,
    /// Every folder: explicit entries and the parents of files.
    dirs: HashSet<String>,
    total_bytes: u64,
}

impl Unpacker {
    fn new(dest: &Path, limits: UnpackLimits) -> Self {
        Self { dest: dest.to_path_buf(), limits, files: BTreeMap::new(), dirs: HashSet::new(), total_bytes: 0 }
    }

    fn add_dir(&mut self, raw_name: &[u8]) -> Result<(), ArchiveError> {
        let Some(path) = safe_relative_path(raw_name)? else { return Ok(()) };
        if self.files.contains_key(&path) || self.ancestors_include_file(&path) {
            return Err(ArchiveError::DuplicateEntry { entry: path });
        }
        self.note_dir_and_parents(&path);
        self.check_folder_count(&path)
    }

    /// Folders take disk space too (a block each), and one deep path implies many: every
    /// folder, listed or implied by a file's path, counts against `max_files`.
    fn check_folder_count(&self, entry: &str) -> Result<(), ArchiveError> {
        if self.dirs.len() as u64 > self.limits.max_files {
            return Err(ArchiveError::TooManyFiles {
                entry: entry.to_owned(),
                what: "folders",
                limit: self.limits.max_files,
            });
        }
        Ok(())
    }

    fn ancestors_include_file(&self, path: &str) -> bool {
        path.match_indices('/').any(|(i, _)| self.files.contains_key(&path[..i]))
    }

    fn note_dir_and_parents(&mut self, path: &str) {
        for (i, _) in path.match_indices('/') {
            self.dirs.insert(path[..i].to_owned());
        }
        self.dirs.insert(path.to_owned());
    }

    fn add_file(&mut self, raw_name: &[u8], declared: Option<u64>, content: &mut dyn Read) -> Result<(), ArchiveError> {
        let path = safe_relative_path(raw_name)?.ok_or_else(|| ArchiveError::UnsafeName {
            entry: String::from_utf8_lossy(raw_name).into_owned(),
            why: "a file entry without a file name",
        })?;
        if self.files.contains_key(&path) || self.dirs.contains(&path) || self.ancestors_include_file(&path) {
            return Err(ArchiveError::DuplicateEntry { entry: path });
        }
        if self.files.len() as u64 >= self.limits.max_files {
            return Err(ArchiveError::TooManyFiles { entry: path, what: "files", limit: self.limits.max_files });
        }
        // Headers can lie (zip bombs), so the limits are enforced again while copying.
        if let Some(size) = declared {
            self.check_sizes(&path, size)?;
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.note_dir_and_parents(parent);
            self.check_folder_count(&path)?;
            fs::create_dir_all(self.dest.join(parent))
                .map_err(ArchiveError::io(format!("creating folder {parent}")))?;
        }
        let target = self.dest.join(&path);
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(ArchiveError::io(format!("creating {path}")))?;
        let mut sha256 = Sha256::new();
        let mut md5 = Md5::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ArchiveError::Corrupt { message: format!("reading entry {path:?}: {e}") }),
            };
            size += n as u64;
            self.check_sizes(&path, size)?;
            sha256.update(&buf[..n]);
            md5.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(ArchiveError::io(format!("writing {path}")))?;
        }
        out.flush().map_err(ArchiveError::io(format!("writing {path}")))?;
        self.total_bytes += size;
        let file = SiteFile { path: path.clone(), size, sha256: sha256.finalize().into(), md5: md5.finalize().into() };
        self.files.insert(path, file);
        Ok(())
    }

    /// Checks a file of `size` bytes (so far) against the per-file and total limits.
    fn check_sizes(&self, path: &str, size: u64) -> Result<(), ArchiveError> {
        if size > self.limits.max_file_bytes {
            return Err(ArchiveError::FileTooLarge { entry: path.to_owned(), limit: self.limits.max_file_bytes });
        }
        if self.total_bytes + size > self.limits.max_total_bytes {
            return Err(ArchiveError::TooLarge { entry: path.to_owned(), limit: self.limits.max_total_bytes });
        }
        Ok(())
    }

    fn finish(self) -> Result<UnpackedSite, ArchiveError> {
        let prefix = single_top_folder(self.files.keys());
        let root = match &prefix {
            Some(top) => self.dest.join(top),
            None => self.dest.clone(),
        };
        let strip = prefix.map(|p| p.len() + 1).unwrap_or(0);
        let files: Vec<SiteFile> =
            self.files.into_values().map(|f| SiteFile { path: f.path[strip..].to_owned(), ..f }).collect();
        check_bundle(&files)?;
        let versions = BundleVersions::read(&root);
        Ok(UnpackedSite { root, files, versions })
    }
}

/// The one folder every file is in, when there is one.
fn single_top_folder<'a>(paths: impl Iterator<Item = &'a String>) -> Option<String> {
    let mut top: Option<&str> = None;
    for path in paths {
        let (first, _) = path.split_once('/')?;
        match top {
            None => top = Some(first),
            Some(t) if t == first => {}
            Some(_) => return None,
        }
    }
    top.map(str::to_owned)
}

/// Files at the root of every `remotion bundle` output.
const BUNDLE_FILES: [&str; 2] = ["index.html", "bundle.js"];

fn check_bundle(files: &[SiteFile]) -> Result<(), ArchiveError> {
    let has = |name: &str| files.iter().any(|f| f.path == name);
    let missing: Vec<&str> = BUNDLE_FILES.into_iter().filter(|name| !has(name)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut found: Vec<&str> = files.iter().map(|f| f.path.split('/').next().unwrap_or_default()).collect();
    found.dedup();
    let found = if found.is_empty() {
        "nothing".to_owned()
    } else {
        let more = if found.len() > 10 { ", …" } else { "" };
        format!("{}{more}", found[..found.len().min(10)].join(", "))
    };
    Err(ArchiveError::NotABundle { missing: missing.join(" and "), found })
}

#[cfg(test)]
mod tests;
