//! A component process (kubelet, agent) started inside a node's network
//! namespace, its output in a log file; stopped on drop.

use std::ffi::CString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::netns::Netns;

pub struct Process {
    pub name: String,
    pub log: PathBuf,
    child: Child,
}

impl Process {
    /// Starts `cmd` in `netns` (only the network namespace changes: the
    /// process keeps the host's mounts, /sys/fs/cgroup included).
    pub fn spawn(name: &str, mut cmd: Command, netns: &Netns, log: &Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()));
        let path = CString::new(netns.path()).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .env("NO_COLOR", "1");
        // SAFETY: open, setns and close are async-signal-safe; the path was
        // prepared before the fork.
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
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({:?}): {e}", cmd.get_program()));
        Self {
            name: name.to_owned(),
            log: log.to_owned(),
            child,
        }
    }

    /// Whether it still runs (an exited child stays a zombie until reaped).
    pub fn running(&self) -> bool {
        crate::procs::running(self.child.id() as i32)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        crate::tail(
            &std::fs::read_to_string(&self.log).unwrap_or_default(),
            lines,
        )
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        crate::procs::terminate(&mut self.child, grace);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}
