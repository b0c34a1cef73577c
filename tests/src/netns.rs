//! Network namespaces made with `ip netns`, removed on drop.

use std::fs::File;
use std::os::fd::AsRawFd;

use crate::sh;

pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn create(name: &str) -> Self {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", name])
            .output();
        sh(&["ip", "netns", "add", name]);
        sh(&["ip", "-n", name, "link", "set", "lo", "up"]);
        Self {
            name: name.to_owned(),
        }
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "-n", &self.name];
        all.extend_from_slice(args);
        sh(&all)
    }

    /// Runs `f` on a thread that lives in this namespace: sockets it creates
    /// belong to the namespace for good.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = self.path();
        std::thread::spawn(move || {
            enter(&path);
            f()
        })
    }
}

/// Moves the calling thread into the network namespace at `path`.
pub fn enter(path: &str) {
    let ns = File::open(path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
    // SAFETY: a valid namespace fd; affects only this thread.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

/// Makes `cmd` run in the network namespace at `path` (entered between fork
/// and exec). The node's bpffs stays visible, unlike under `ip netns exec`.
pub fn enter_before_exec(cmd: &mut std::process::Command, path: &str) {
    use std::os::unix::process::CommandExt as _;
    let path = std::ffi::CString::new(path).unwrap();
    // SAFETY: only async-signal-safe calls (open, setns, close) between fork
    // and exec, on a string prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        });
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
