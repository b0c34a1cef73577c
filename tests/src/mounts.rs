//! Unmounting what a runtime left under a directory (overlay rootfs, /dev/shm,
//! pods' network namespaces), deepest first, so the directory can go; and
//! directories kept in memory.

use std::path::{Path, PathBuf};

/// Mount points at or below `dir`, from /proc/self/mountinfo.
pub fn under(dir: &Path) -> Vec<PathBuf> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(&dir))
        .collect();
    // Deepest first; a path mounted twice is listed twice and unmounted twice.
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

/// Lazily unmounts everything at or below `dir`.
pub fn unmount_under(dir: &Path) {
    for mount in under(dir) {
        let Ok(c) = std::ffi::CString::new(mount.as_os_str().as_encoded_bytes()) else {
            continue;
        };
        // SAFETY: a valid path; MNT_DETACH never blocks on busy mounts.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Mounts a fresh tmpfs on `dir`; `unmount_under` takes it away.
pub fn tmpfs(dir: &Path) {
    let target = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid NUL-terminated strings; a new tmpfs touches nothing else.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"mode=0700".as_ptr().cast(),
        )
    };
    if rc != 0 {
        panic!(
            "mounting a tmpfs on {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        );
    }
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let Some(d) = octal {
            out.push(d.iter().fold(0u8, |v, c| v.wrapping_mul(8) + (c - b'0')));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(super::unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(super::unescape("/plain"), "/plain");
        assert_eq!(super::unescape(r"/end\04"), r"/end\04");
    }
}
