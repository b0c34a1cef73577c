//! Finding and stopping processes by what they run: containerd's shims and
//! the containers under them outlive the process that started them.

use std::process::Child;
use std::time::{Duration, Instant};

/// Pids whose command line (split at NULs) satisfies `pred`.
pub fn matching(pred: impl Fn(&[String]) -> bool) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if !cmdline.is_empty() && pred(&cmdline) {
            pids.push(pid);
        }
    }
    pids
}

/// Every process's parent, from /proc/<pid>/stat.
fn parents() -> Vec<(i32, i32)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The name in parentheses may hold spaces: fields follow the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid {
            all.push((pid, ppid));
        }
    }
    all
}

/// `pid` and all its descendants.
pub fn tree(pid: i32) -> Vec<i32> {
    let parents = parents();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found
}

/// SIGKILLs `pid` and its descendants. They are stopped first, so none can
/// fork a child that escapes, and the tree is read again before the kill.
pub fn kill_tree(pid: i32) {
    for p in tree(pid) {
        // SAFETY: plain signals to processes of our own making.
        unsafe { libc::kill(p, libc::SIGSTOP) };
    }
    for p in tree(pid) {
        // SAFETY: as above.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

/// SIGTERM, then SIGKILL if `child` has not exited within `grace`; reaps it.
pub fn terminate(child: &mut Child, grace: Duration) {
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether a process with this pid exists (zombies included).
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Whether `pid` runs: it exists and is not a zombie.
pub fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}
