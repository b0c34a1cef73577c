//! One filesystem layer as a reproducible tar: entries sorted by path, every
//! parent directory present, owner root, one fixed mtime.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// Fixed timestamp of every entry and of the image config, so that the same
/// inputs give the same digests. Not 0: some tools read 0 as "unset".
pub const MTIME: u64 = 946_684_800; // 2000-01-01T00:00:00Z

enum Entry {
    Dir { mode: u32 },
    File { data: Vec<u8>, mode: u32 },
    Symlink { target: String },
}

#[derive(Default)]
pub struct Layer {
    entries: BTreeMap<PathBuf, Entry>,
}

impl Layer {
    /// An empty directory (e.g. `/tmp` with mode 0o1777).
    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        self.entries.insert(rel(path), Entry::Dir { mode });
        self
    }

    pub fn file(&mut self, path: &str, data: Vec<u8>, mode: u32) -> &mut Self {
        self.entries.insert(rel(path), Entry::File { data, mode });
        self
    }

    /// A copy of `source` (symlinks followed) at `path`, keeping its
    /// permission bits.
    pub fn copy(&mut self, path: &str, source: &Path) -> Result<&mut Self> {
        use std::os::unix::fs::PermissionsExt as _;
        let data =
            std::fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
        let mode = std::fs::metadata(source)?.permissions().mode() & 0o7777;
        Ok(self.file(path, data, mode))
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.entries.insert(
            rel(path),
            Entry::Symlink {
                target: target.to_owned(),
            },
        );
        self
    }

    /// The uncompressed tar.
    pub fn tar(&self) -> Result<Vec<u8>> {
        let mut dirs = std::collections::BTreeSet::new();
        for path in self.entries.keys() {
            dirs.extend(
                path.ancestors()
                    .skip(1)
                    .filter(|a| !a.as_os_str().is_empty()),
            );
        }
        let mut all: BTreeMap<&Path, &Entry> = BTreeMap::new();
        const PARENT: Entry = Entry::Dir { mode: 0o755 };
        for dir in &dirs {
            all.insert(dir, &PARENT);
        }
        for (path, entry) in &self.entries {
            all.insert(path, entry);
        }
        let mut tar = tar::Builder::new(Vec::new());
        for (path, entry) in all {
            let mut header = tar::Header::new_ustar();
            header.set_mtime(MTIME);
            header.set_uid(0);
            header.set_gid(0);
            match entry {
                Entry::Dir { mode } => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(*mode);
                    header.set_size(0);
                    tar.append_data(&mut header, dir_name(path), std::io::empty())?;
                }
                Entry::File { data, mode } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_size(data.len() as u64);
                    tar.append_data(&mut header, path, data.as_slice())?;
                }
                Entry::Symlink { target } => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_mode(0o777);
                    header.set_size(0);
                    tar.append_link(&mut header, path, target)?;
                }
            }
        }
        Ok(tar.into_inner()?)
    }
}

/// Layer paths are relative to the root: `/bin/sh` is stored as `bin/sh`.
fn rel(path: &str) -> PathBuf {
    PathBuf::from(path.trim_start_matches('/'))
}

/// Directories are stored with a trailing slash, as other image tools do.
fn dir_name(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push("/");
    s.into()
}
