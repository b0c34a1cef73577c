//! One process per data directory.
//!
//! An advisory lock (flock) on `<dir>/lock`, held for as long as the store
//! is open; the kernel drops it when the process dies, even by `kill -9`, so
//! a crash never leaves the directory locked. The file records the holder's
//! pid, only to name it in the error another process gets.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::store::{Error, Result};

pub(super) struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                Error::Unavailable(format!(
                    "data directory {} is not writable: cannot open {}: {e}",
                    dir.display(),
                    path.display()
                ))
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(Error::Unavailable(in_use(dir, holder.trim())));
            }
            Err(TryLockError::Error(e)) => {
                return Err(Error::Unavailable(format!(
                    "cannot lock data directory {} ({}): {e}",
                    dir.display(),
                    path.display()
                )));
            }
        }
        let record_pid = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "{}", std::process::id())
        };
        record_pid(&mut file).map_err(|e| {
            Error::Unavailable(format!(
                "data directory {} is not writable: {}: {e}",
                dir.display(),
                path.display()
            ))
        })?;
        Ok(DirLock { _file: file })
    }
}

fn in_use(dir: &Path, holder: &str) -> String {
    let dir = dir.display();
    match holder.parse::<u32>() {
        Ok(pid) if pid == std::process::id() => {
            format!("data directory {dir} is already open in this process")
        }
        Ok(pid) => format!("data directory {dir} is in use by another process (pid {pid})"),
        Err(_) => format!("data directory {dir} is in use by another process"),
    }
}
