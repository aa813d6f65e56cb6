//! A zip's entry count and directory size, read from its end records before its central
//! directory is parsed. The zip reader allocates for every entry the directory lists before a
//! single one can be vetted, so an archive whose end record claims millions of entries (or
//! whose directory spans hundreds of megabytes) would exhaust the operator's memory before the
//! per-entry limits of [`super::archive`] ever ran. These records are small and at a known
//! place, so checking them costs one read of the file's last 64 KiB.
//!
//! The layout (PKWARE APPNOTE 4.3.14–4.3.16), all little-endian:
//! - End of Central Directory record (EOCD): signature `0x06054b50`, 22 bytes and a comment of
//!   up to 64 KiB, at the end of the file. Total entries: u16 at offset 10; directory offset:
//!   u32 at offset 16.
//! - When a field does not fit (`0xFFFF`, `0xFFFFFFFF`), a ZIP64 EOCD locator (`0x07064b50`,
//!   20 bytes) sits right before the EOCD, holding the offset of the ZIP64 EOCD record
//!   (`0x06064b50`, u64 at offset 8); that record holds the total entries (u64 at offset 32) and
//!   the directory offset (u64 at offset 48).
//!
//! The zip reader tries the EOCD signatures of the last 64 KiB one after the other (a comment
//! may contain one), so every candidate is checked here, not only the last. A ZIP64 record that
//! is not exactly where its locator points, or that the reader would not accept there, is
//! refused rather than searched for: the reader would then scan for other records this check
//! has not seen.

use std::io::{self, Read, Seek, SeekFrom};

use super::archive::ArchiveError;

/// Signature of the End of Central Directory record.
const EOCD_SIGNATURE: u32 = 0x0605_4b50;
/// Size of the EOCD record without its comment.
const EOCD_LEN: u64 = 22;
/// Longest archive comment.
const MAX_COMMENT: u64 = u16::MAX as u64;
/// Signature of the ZIP64 EOCD locator.
const LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
/// Size of the ZIP64 EOCD locator.
const LOCATOR_LEN: u64 = 20;
/// Signature of the ZIP64 EOCD record.
const ZIP64_EOCD_SIGNATURE: u32 = 0x0606_4b50;
/// Size of the ZIP64 EOCD record without its extensible data.
const ZIP64_EOCD_LEN: u64 = 56;
/// Bytes of a ZIP64 EOCD record its own size field does not count (signature and the field).
const ZIP64_EOCD_UNCOUNTED: u64 = 12;
/// Smallest central directory entry (signature and fixed fields).
const MIN_DIRECTORY_ENTRY: u64 = 46;

/// Room allowed per listed entry in the central directory: its fixed 46 bytes, a name of a few
/// hundred bytes and the usual extra fields (timestamps, Unix owner, ZIP64 sizes) with margin.
pub const DIRECTORY_BYTES_PER_ENTRY: u64 = 1024;

/// Bounds of a zip's directory, checked from its end records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectoryLimits {
    /// Most entries the directory may list.
    pub max_entries: u64,
}

impl DirectoryLimits {
    /// Most bytes from the directory's start to the end of the file: the entries at
    /// [`DIRECTORY_BYTES_PER_ENTRY`] each, then the end records and the longest comment.
    pub fn max_directory_bytes(&self) -> u64 {
        self.max_entries
            .saturating_mul(DIRECTORY_BYTES_PER_ENTRY)
            .saturating_add(ZIP64_EOCD_LEN + LOCATOR_LEN + EOCD_LEN + MAX_COMMENT)
    }
}

/// Checks every end record of the zip in `reader` against `limits`; reads nothing but the
/// file's last 64 KiB (and, for ZIP64, the 56-byte record the locator points to).
pub fn check<R: Read + Seek>(reader: &mut R, limits: &DirectoryLimits) -> Result<(), ArchiveError> {
    let io = |source| ArchiveError::Io { context: "reading the end of the zip".into(), source };
    let file_len = reader.seek(SeekFrom::End(0)).map_err(io)?;
    let window_start = file_len.saturating_sub(EOCD_LEN + MAX_COMMENT + 4);
    let tail = read_at(reader, window_start, file_len - window_start).map_err(io)?;
    let mut found = false;
    for index in (0..tail.len().saturating_sub(3)).rev() {
        if u32_at(&tail, index) != EOCD_SIGNATURE {
            continue;
        }
        let offset = window_start + index as u64;
        let Some(record) = tail.get(index..index + EOCD_LEN as usize) else { continue };
        let comment_len = u64::from(u16_at(record, 20));
        // The zip reader skips a record whose comment would run past the end: so does this.
        if offset + EOCD_LEN + comment_len > file_len {
            continue;
        }
        found = true;
        let entries = u64::from(u16_at(record, 10));
        let directory_offset = u64::from(u32_at(record, 16));
        let may_be_zip64 =
            u16_at(record, 10) == u16::MAX || u32_at(record, 12) == u32::MAX || u32_at(record, 16) == u32::MAX;
        let end = match locator_before(reader, offset, may_be_zip64).map_err(io)? {
            Some(locator) => zip64_end(reader, &locator, limits).map_err(|e| e.into_archive_error(io))?,
            None => End { entries, directory_offset },
        };
        end.check(file_len, limits)?;
    }
    if found {
        Ok(())
    } else {
        Err(ArchiveError::Corrupt { message: "no End of Central Directory record in the zip's last 64 KiB".into() })
    }
}

/// What one end record says.
struct End {
    entries: u64,
    directory_offset: u64,
}

impl End {
    fn check(&self, file_len: u64, limits: &DirectoryLimits) -> Result<(), ArchiveError> {
        if self.entries > limits.max_entries {
            return Err(ArchiveError::TooManyEntries { listed: self.entries, limit: limits.max_entries });
        }
        // The directory starts at its offset or later (data prepended to the archive moves it
        // on), so the bytes from there to the end bound what the reader parses.
        let span = file_len.saturating_sub(self.directory_offset);
        if span > limits.max_directory_bytes() {
            return Err(ArchiveError::DirectoryTooLarge { bytes: span, limit: limits.max_directory_bytes() });
        }
        Ok(())
    }
}

/// The ZIP64 EOCD locator right before the EOCD at `eocd_offset`, as the zip reader looks for
/// it: only when a field of the EOCD is saturated.
fn locator_before<R: Read + Seek>(reader: &mut R, eocd_offset: u64, may_be_zip64: bool) -> io::Result<Option<Locator>> {
    if !may_be_zip64 || eocd_offset < LOCATOR_LEN {
        return Ok(None);
    }
    let offset = eocd_offset - LOCATOR_LEN;
    let bytes = read_at(reader, offset, LOCATOR_LEN)?;
    if u32_at(&bytes, 0) != LOCATOR_SIGNATURE {
        return Ok(None);
    }
    Ok(Some(Locator {
        offset,
        disk_with_directory: u32_at(&bytes, 4),
        record_offset: u64_at(&bytes, 8),
        disks: u32_at(&bytes, 16),
    }))
}

/// A ZIP64 EOCD locator.
struct Locator {
    offset: u64,
    disk_with_directory: u32,
    record_offset: u64,
    disks: u32,
}

/// Why a ZIP64 end could not be used.
enum Zip64Problem {
    Io(io::Error),
    Refused(ArchiveError),
}

impl Zip64Problem {
    fn into_archive_error(self, io: impl FnOnce(io::Error) -> ArchiveError) -> ArchiveError {
        match self {
            Self::Io(e) => io(e),
            Self::Refused(e) => e,
        }
    }
}

/// The ZIP64 EOCD record `locator` points to: its entry count is checked first, then that the
/// zip reader would take this very record (else it would search for another one).
fn zip64_end<R: Read + Seek>(reader: &mut R, locator: &Locator, limits: &DirectoryLimits) -> Result<End, Zip64Problem> {
    let misplaced = |why: &str| {
        Zip64Problem::Refused(ArchiveError::Corrupt {
            message: format!("the ZIP64 end record at offset {} {why}", locator.record_offset),
        })
    };
    let fits = locator.record_offset.checked_add(ZIP64_EOCD_LEN).is_some_and(|end| end <= locator.offset);
    if !fits {
        return Err(misplaced("does not fit before its locator"));
    }
    let record = read_at(reader, locator.record_offset, ZIP64_EOCD_LEN).map_err(Zip64Problem::Io)?;
    if u32_at(&record, 0) != ZIP64_EOCD_SIGNATURE {
        return Err(misplaced("is not there (data before the archive is not supported with ZIP64)"));
    }
    let entries = u64_at(&record, 32);
    if entries > limits.max_entries {
        return Err(Zip64Problem::Refused(ArchiveError::TooManyEntries { listed: entries, limit: limits.max_entries }));
    }
    let record_end = locator.record_offset.saturating_add(ZIP64_EOCD_UNCOUNTED).saturating_add(u64_at(&record, 4));
    let directory_offset = u64_at(&record, 48);
    let consistent = record_end == locator.offset
        && locator.disks <= 1
        && u32_at(&record, 16) == 0
        && u32_at(&record, 20) == locator.disk_with_directory
        && u64_at(&record, 24) == entries
        && locator.record_offset >= entries.saturating_mul(MIN_DIRECTORY_ENTRY).saturating_add(directory_offset);
    if !consistent {
        return Err(misplaced("disagrees with its locator or its own directory"));
    }
    Ok(End { entries, directory_offset })
}

fn read_at<R: Read + Seek>(reader: &mut R, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    reader.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    reader.by_ref().take(len).read_to_end(&mut bytes)?;
    if (bytes.len() as u64) < len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the zip ends inside an end record"));
    }
    Ok(bytes)
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(le)
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use zip::write::SimpleFileOptions;

    use super::*;

    fn zip_of(names: &[&str], comment: &[u8]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for name in names {
            writer.start_file(*name, SimpleFileOptions::default()).unwrap();
            writer.write_all(b"x").unwrap();
        }
        writer.set_raw_comment(comment.to_vec().into()).unwrap();
        writer.finish().unwrap().into_inner()
    }

    fn check_bytes(bytes: &[u8], max_entries: u64) -> Result<(), ArchiveError> {
        check(&mut Cursor::new(bytes), &DirectoryLimits { max_entries })
    }

    /// An EOCD record claiming `entries` with its directory at `directory_offset`.
    fn eocd(entries: u16, directory_offset: u32, comment_len: u16) -> Vec<u8> {
        let mut record = EOCD_SIGNATURE.to_le_bytes().to_vec();
        record.extend([0, 0, 0, 0]); // disk numbers
        record.extend(entries.to_le_bytes()); // on this disk
        record.extend(entries.to_le_bytes()); // in total
        record.extend(0u32.to_le_bytes()); // directory size
        record.extend(directory_offset.to_le_bytes());
        record.extend(comment_len.to_le_bytes());
        record
    }

    #[test]
    fn an_ordinary_zip_passes_with_room_for_its_entries() {
        let bytes = zip_of(&["index.html", "bundle.js", "public/a.png"], b"");
        check_bytes(&bytes, 3).unwrap();
        let err = check_bytes(&bytes, 2).unwrap_err();
        assert!(matches!(err, ArchiveError::TooManyEntries { listed: 3, limit: 2 }), "{err:?}");
    }

    #[test]
    fn a_claimed_count_is_refused_without_a_directory_to_back_it() {
        // Nothing but an end record claiming 60,000 entries: the directory it points to is
        // not even there, so only the record could have been read.
        let bytes = eocd(60_000, 0, 0);
        let err = check_bytes(&bytes, 1000).unwrap_err();
        assert!(matches!(err, ArchiveError::TooManyEntries { listed: 60_000, limit: 1000 }), "{err:?}");
        assert!(err.to_string().contains("lists 60000 entries"), "{err}");
    }

    #[test]
    fn a_zip64_count_is_read_from_the_record_the_locator_points_to() {
        let mut bytes = ZIP64_EOCD_SIGNATURE.to_le_bytes().to_vec();
        bytes.extend(44u64.to_le_bytes()); // record size without the first 12 bytes
        bytes.extend([45, 0, 45, 0]); // versions
        bytes.extend([0u8; 8]); // disk numbers
        bytes.extend(5_000_000u64.to_le_bytes()); // on this disk
        bytes.extend(5_000_000u64.to_le_bytes()); // in total
        bytes.extend(0u64.to_le_bytes()); // directory size
        bytes.extend(0u64.to_le_bytes()); // directory offset
        bytes.extend(LOCATOR_SIGNATURE.to_le_bytes());
        bytes.extend(0u32.to_le_bytes());
        bytes.extend(0u64.to_le_bytes()); // the record's offset
        bytes.extend(1u32.to_le_bytes());
        bytes.extend(eocd(u16::MAX, u32::MAX, 0));
        let err = check_bytes(&bytes, 20_000).unwrap_err();
        assert!(matches!(err, ArchiveError::TooManyEntries { listed: 5_000_000, .. }), "{err:?}");

        // A locator pointing elsewhere is refused, not searched around.
        let len = bytes.len();
        bytes[len - 22 - 12..len - 22 - 4].copy_from_slice(&8u64.to_le_bytes());
        let err = check_bytes(&bytes, 20_000).unwrap_err();
        assert!(matches!(&err, ArchiveError::Corrupt { message } if message.contains("ZIP64")), "{err:?}");
    }

    #[test]
    fn every_end_record_in_the_comment_window_is_checked() {
        // The comment holds a second end record claiming 65,000 entries: a reader falling back
        // from one record to another could take it, so it counts too.
        let fake = eocd(65_000, 0, 0);
        let bytes = zip_of(&["index.html"], &fake);
        let err = check_bytes(&bytes, 1000).unwrap_err();
        assert!(matches!(err, ArchiveError::TooManyEntries { listed: 65_000, .. }), "{err:?}");
    }

    #[test]
    fn a_directory_larger_than_its_entries_need_is_refused() {
        let long = "n".repeat(30_000);
        let names: Vec<String> = (0..4).map(|i| format!("{long}{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let bytes = zip_of(&names, b"");
        let limits = DirectoryLimits { max_entries: 8 };
        let err = check(&mut Cursor::new(&bytes), &limits).unwrap_err();
        assert!(matches!(err, ArchiveError::DirectoryTooLarge { .. }), "{err:?}");
        check(&mut Cursor::new(&bytes), &DirectoryLimits { max_entries: 200 }).unwrap();
    }

    #[test]
    fn no_end_record_is_corrupt() {
        let err = check_bytes(b"PK\x03\x04 and then nothing", 10).unwrap_err();
        assert!(matches!(err, ArchiveError::Corrupt { .. }), "{err:?}");
    }
}
