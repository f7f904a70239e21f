//! Bug bundles: one `.tar.gz` holding everything needed to look at a failed
//! case (scenario, logs, captures, reports).
//!
//! Bundles are deterministic: the same entries give the same bytes (fixed
//! mtime 0, mode 0644, owner 0, entries in the given order).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

/// The file inside a bundle that lists the entries that could not be read.
pub const MISSING_LIST_NAME: &str = "MISSING.txt";

/// Mode of every file in a bundle.
const FILE_MODE: u32 = 0o644;

/// One file to put in a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleEntry {
    /// A file on disk, stored as `name`; a file that cannot be read is
    /// skipped and listed in `MISSING.txt`.
    File {
        /// Where the file is on disk.
        path: PathBuf,
        /// Its relative path inside the bundle's top folder.
        name: String,
    },
    /// Bytes in memory, stored as `name`.
    Bytes {
        /// Its relative path inside the bundle's top folder.
        name: String,
        /// The content.
        bytes: Vec<u8>,
    },
}

impl BundleEntry {
    /// The file at `path`, stored as `name`.
    pub fn file(path: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        BundleEntry::File {
            path: path.into(),
            name: name.into(),
        }
    }

    /// `bytes`, stored as `name`.
    pub fn bytes(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        BundleEntry::Bytes {
            name: name.into(),
            bytes: bytes.into(),
        }
    }

    /// Its relative path inside the bundle's top folder.
    pub fn name(&self) -> &str {
        match self {
            BundleEntry::File { name, .. } | BundleEntry::Bytes { name, .. } => name,
        }
    }
}

/// Writes `entries` to `out` as a gzip-compressed tar, in the given order,
/// all under one top folder named after `out` without its `.tar.gz`, `.tgz`
/// or `.tar` extension (`bundle.tar.gz` holds `bundle/scenario.toml`, ...).
///
/// Files that cannot be read (missing, or a directory, or unreadable) do not
/// fail the bundle: they are listed, with the reason, in a `MISSING.txt` at
/// the end. Names must be relative paths without `..`. `out` is written to a
/// temporary file beside it and renamed, so it is never left half-written.
pub fn write_bundle(out: &Path, entries: &[BundleEntry]) -> io::Result<()> {
    let top_folder = top_folder_name(out)?;
    for entry in entries {
        check_entry_name(entry.name())?;
    }
    let parent = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temporary = tempfile::NamedTempFile::new_in(parent)?;
    let gzip = GzEncoder::new(temporary.as_file(), Compression::default());
    let mut archive = tar::Builder::new(gzip);
    let mut missing = String::new();
    for entry in entries {
        let inside = format!("{top_folder}/{}", entry.name());
        match entry {
            BundleEntry::Bytes { bytes, .. } => {
                append(&mut archive, &inside, bytes.len() as u64, &bytes[..])?
            }
            BundleEntry::File { path, name } => {
                if let Err(reason) = append_file(&mut archive, &inside, path) {
                    let _ = writeln!(missing, "{name}\t{}\t{reason}", path.display());
                }
            }
        }
    }
    if !missing.is_empty() {
        let inside = format!("{top_folder}/{MISSING_LIST_NAME}");
        append(
            &mut archive,
            &inside,
            missing.len() as u64,
            missing.as_bytes(),
        )?;
    }
    archive.into_inner()?.finish()?.flush()?;
    temporary.as_file().sync_all()?;
    temporary.persist(out).map_err(|error| error.error)?;
    Ok(())
}

/// The bundle's top folder: `out`'s file name without its archive extension.
fn top_folder_name(out: &Path) -> io::Result<String> {
    let file_name = out
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| {
            invalid_input(format!(
                "bundle path {} has no UTF-8 file name",
                out.display()
            ))
        })?;
    let stem = [".tar.gz", ".tgz", ".tar"]
        .iter()
        .find_map(|extension| file_name.strip_suffix(extension))
        .unwrap_or_else(|| {
            out.file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or(file_name)
        });
    if stem.is_empty() {
        return Err(invalid_input(format!(
            "bundle path {} has an empty stem",
            out.display()
        )));
    }
    Ok(stem.to_owned())
}

/// Names stay inside the top folder: relative, no `..`, not empty.
fn check_entry_name(name: &str) -> io::Result<()> {
    let path = Path::new(name);
    let inside = !name.is_empty()
        && path
            .components()
            .all(|component| matches!(component, Component::Normal(_) | Component::CurDir));
    if inside {
        Ok(())
    } else {
        Err(invalid_input(format!(
            "bundle entry name {name:?} must be a relative path without .."
        )))
    }
}

fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Appends the file at `path`; an error here means "list it as missing".
fn append_file<W: Write>(
    archive: &mut tar::Builder<W>,
    inside: &str,
    path: &Path,
) -> io::Result<()> {
    let file = File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let size = metadata.len();
    // Exactly `size` bytes even if the file changes meanwhile (a log still
    // being written): a tar entry must match the size in its header.
    let content = (&file).take(size).chain(io::repeat(0)).take(size);
    append(archive, inside, size, content)
}

fn append<W: Write>(
    archive: &mut tar::Builder<W>,
    inside: &str,
    size: u64,
    content: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(FILE_MODE);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    archive.append_data(&mut header, inside, content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;

    /// (name, mode, mtime, content) of every entry of the bundle at `path`.
    fn read_bundle(path: &Path) -> Vec<(String, u32, u64, Vec<u8>)> {
        let mut archive = tar::Archive::new(GzDecoder::new(File::open(path).unwrap()));
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let mut entry = entry.unwrap();
                let name = entry.path().unwrap().to_string_lossy().into_owned();
                let mode = entry.header().mode().unwrap();
                let mtime = entry.header().mtime().unwrap();
                let mut content = Vec::new();
                entry.read_to_end(&mut content).unwrap();
                (name, mode, mtime, content)
            })
            .collect()
    }

    #[test]
    fn bundles_files_and_bytes_and_lists_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("scenario.toml");
        std::fs::write(&scenario, "name = \"ice-restart\"\n").unwrap();
        let absent = dir.path().join("absent.log");
        let out = dir.path().join("bundle.tar.gz");
        let entries = [
            BundleEntry::file(&scenario, "scenario.toml"),
            BundleEntry::bytes("logs/summary.json", b"{\"ok\":false}".to_vec()),
            BundleEntry::file(&absent, "logs/peer.log"),
        ];

        write_bundle(&out, &entries).unwrap();

        let read = read_bundle(&out);
        let names: Vec<&str> = read.iter().map(|(name, ..)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "bundle/scenario.toml",
                "bundle/logs/summary.json",
                "bundle/MISSING.txt"
            ]
        );
        assert_eq!(read[0].3, b"name = \"ice-restart\"\n");
        assert_eq!(read[1].3, b"{\"ok\":false}");
        let missing = String::from_utf8(read[2].3.clone()).unwrap();
        assert!(missing.starts_with("logs/peer.log\t"), "{missing}");
        assert!(missing.contains(&absent.display().to_string()), "{missing}");
        assert_eq!(missing.lines().count(), 1);
        assert!(
            read.iter()
                .all(|(_, mode, mtime, _)| *mode == 0o644 && *mtime == 0)
        );
    }

    #[test]
    fn same_entries_give_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let long_name = format!("{}/report.html", "nested".repeat(30));
        let entries = [
            BundleEntry::bytes("a.txt", "a"),
            BundleEntry::bytes(long_name.as_str(), "long"),
        ];
        let first = dir.path().join("one.tgz");
        let second = dir.path().join("two").join("one.tgz");
        std::fs::create_dir(dir.path().join("two")).unwrap();
        write_bundle(&first, &entries).unwrap();
        write_bundle(&second, &entries).unwrap();
        assert_eq!(
            std::fs::read(&first).unwrap(),
            std::fs::read(&second).unwrap()
        );
        let names: Vec<String> = read_bundle(&first)
            .into_iter()
            .map(|(name, ..)| name)
            .collect();
        assert_eq!(names, ["one/a.txt".to_owned(), format!("one/{long_name}")]);
    }

    #[test]
    fn rejects_names_that_leave_the_top_folder() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bad.tar.gz");
        for name in ["../escape", "/etc/passwd", ""] {
            let error = write_bundle(&out, &[BundleEntry::bytes(name, "x")]).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{name:?}");
        }
        assert!(!out.exists());
    }
}
