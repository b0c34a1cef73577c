//! Runs netprobe as a user's program would run: in the client's network
//! namespace and in the cgroup the programs are attached to.

use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};

use serde::Deserialize;

use crate::{bin, cgroup::Cgroup, netns::Netns};

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    #[serde(default)]
    pub backend: String,
    #[serde(default)]
    pub peer: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub echo: String,
    #[serde(default)]
    pub errno: Option<i32>,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub ms: f64,
}

/// A netprobe command placed in `ns` and `cgroup` before it runs.
pub fn command(ns: &Netns, cgroup: &Cgroup, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin("netprobe"));
    cmd.args(args);
    let procs = CString::new(cgroup.procs().to_str().unwrap()).unwrap();
    let netns = CString::new(ns.path()).unwrap();
    // SAFETY: only async-signal-safe calls (open, write, setns, close) between
    // fork and exec, on strings prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            let nfd = libc::open(netns.as_ptr(), libc::O_RDONLY);
            if nfd < 0 || libc::setns(nfd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(nfd);
            Ok(())
        });
    }
    cmd
}

/// Runs netprobe to the end and parses its lines.
pub fn run(ns: &Netns, cgroup: &Cgroup, args: &[&str]) -> Vec<Outcome> {
    let out = command(ns, cgroup, args)
        .output()
        .expect("running netprobe");
    assert!(
        out.status.success(),
        "netprobe {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("netprobe printed {l:?}: {e}")))
        .collect()
}

/// One held-open connection; each `echo` sends a line over it.
pub struct Held {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
    pub first: Outcome,
}

impl Held {
    pub fn open(ns: &Netns, cgroup: &Cgroup, addr: &str) -> Self {
        let mut child = command(ns, cgroup, &["hold", addr])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting netprobe hold");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let first = read_outcome(&mut out);
        Self { child, out, first }
    }

    pub fn echo(&mut self, text: &str) -> Outcome {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
        read_outcome(&mut self.out)
    }
}

fn read_outcome(out: &mut impl BufRead) -> Outcome {
    let mut line = String::new();
    out.read_line(&mut line).expect("reading netprobe");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("netprobe printed {line:?}: {e}"))
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connections per backend name.
pub fn tally(outcomes: &[Outcome]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.ok) {
        *m.entry(o.backend.clone()).or_insert(0) += 1;
    }
    m
}
