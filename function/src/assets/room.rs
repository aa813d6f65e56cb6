//! Room for media sources on the filesystem they are downloaded to: on Lambda that is `/tmp`,
//! sized by the function's `diskSizeMb` (ephemeral storage). A source that cannot fit fails at
//! once with what to change, instead of filling `/tmp` and failing whatever writes next.

use std::path::{Path, PathBuf};

/// Free and total bytes of a filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Room {
    /// Bytes an unprivileged process may still write.
    pub free: u64,
    /// The filesystem's size.
    pub total: u64,
}

impl Room {
    /// The room on the filesystem holding `path`.
    pub fn at(path: &Path) -> std::io::Result<Self> {
        let stats = rustix::fs::statvfs(path)?;
        Ok(Self { free: stats.f_bavail * stats.f_frsize, total: stats.f_blocks * stats.f_frsize })
    }
}

/// A source larger than the room left for it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "it is {}{} ({size} bytes) but {} has only {} free of {} (the function's diskSizeMb); \
     raise the RenderFunction's diskSizeMb (at most 10240) or use a smaller file",
    if *.at_least { "at least " } else { "" }, mb(*.size), .folder.display(), mb(.room.free), mb(.room.total)
)]
pub struct NoRoom {
    /// The source's size, or the bytes it had reached when the room ran out.
    pub size: u64,
    /// Whether `size` is only what had arrived (the source did not announce its length).
    pub at_least: bool,
    /// The room there was.
    pub room: Room,
    /// The folder sources are downloaded to.
    pub folder: PathBuf,
}

impl NoRoom {
    /// Fails when `size` bytes (`at_least`: and maybe more) do not fit in `room`.
    pub fn check(size: u64, at_least: bool, room: Room, folder: &Path) -> Result<(), Self> {
        if size > room.free { Err(Self { size, at_least, room, folder: folder.to_owned() }) } else { Ok(()) }
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_of_a_real_filesystem_is_within_its_size() {
        let room = Room::at(&std::env::temp_dir()).unwrap();
        assert!(room.total > 0 && room.free <= room.total, "{room:?}");
    }

    #[test]
    fn a_source_that_does_not_fit_says_what_to_change() {
        let room = Room { free: 100 << 20, total: 512 << 20 };
        assert_eq!(NoRoom::check(100 << 20, false, room, Path::new("/tmp")), Ok(()));
        let error = NoRoom::check(300 << 20, false, room, Path::new("/tmp")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "it is 300.0 MB (314572800 bytes) but /tmp has only 100.0 MB free of 512.0 MB (the function's \
             diskSizeMb); raise the RenderFunction's diskSizeMb (at most 10240) or use a smaller file"
        );
        let growing = NoRoom::check(101 << 20, true, room, Path::new("/tmp")).unwrap_err().to_string();
        assert!(growing.starts_with("it is at least 101.0 MB (105906176 bytes) but"), "{growing}");
    }
}
