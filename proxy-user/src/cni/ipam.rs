//! Pod addresses from the node's pod CIDR. Each allocation is a file named
//! by the address, holding the container id and interface, in
//! `<state dir>/<network>/`; a lock file serialises plugin runs. The files
//! outlive restarts of anything, so no address is handed out twice, and an
//! ADD repeated for the same container gets the same address back.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use ipnetwork::Ipv4Network;
use nix::fcntl::{Flock, FlockArg};

/// Where the next search starts, so a freed address is not reused at once
/// (a peer may still hold connections to it).
const LAST_RESERVED: &str = "last_reserved_ip";
const LOCK: &str = "lock";

pub struct Ipam {
    dir: PathBuf,
    _lock: Flock<File>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owner {
    pub container_id: String,
    pub ifname: String,
}

impl Owner {
    fn text(&self) -> String {
        format!("{}\n{}\n", self.container_id, self.ifname)
    }

    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        Some(Self {
            container_id: lines.next()?.to_owned(),
            ifname: lines.next()?.to_owned(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no free address left in {0}")]
pub struct Exhausted(pub Ipv4Network);

impl Ipam {
    /// Opens the network's directory and holds its lock until dropped.
    pub fn lock(state_dir: &Path, network: &str) -> anyhow::Result<Self> {
        let dir = state_dir.join(network);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK))
            .with_context(|| format!("opening {}", dir.join(LOCK).display()))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .with_context(|| format!("locking {}", dir.join(LOCK).display()))?;
        Ok(Self { dir, _lock: lock })
    }

    /// Every allocation: (address, owner).
    pub fn allocations(&self) -> anyhow::Result<Vec<(Ipv4Addr, Owner)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Some(ip) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            // A file cut short by a crash still holds its address.
            let owner = Owner::parse(&text).unwrap_or(Owner {
                container_id: String::new(),
                ifname: String::new(),
            });
            out.push((ip, owner));
        }
        out.sort();
        Ok(out)
    }

    pub fn find(&self, container_id: &str, ifname: &str) -> anyhow::Result<Option<Ipv4Addr>> {
        Ok(self
            .allocations()?
            .into_iter()
            .find(|(_, o)| o.container_id == container_id && o.ifname == ifname)
            .map(|(ip, _)| ip))
    }

    /// The container's address: the one it has, or the next free one.
    pub fn allocate(
        &self,
        cidr: Ipv4Network,
        container_id: &str,
        ifname: &str,
    ) -> anyhow::Result<Ipv4Addr> {
        if let Some(ip) = self.find(container_id, ifname)? {
            return Ok(ip);
        }
        let owner = Owner {
            container_id: container_id.into(),
            ifname: ifname.into(),
        };
        let hosts = usable(cidr);
        if hosts.is_empty() {
            bail!(Exhausted(cidr));
        }
        let last = std::fs::read_to_string(self.dir.join(LAST_RESERVED))
            .ok()
            .and_then(|t| t.trim().parse::<Ipv4Addr>().ok());
        let start = last
            .and_then(|l| hosts.iter().position(|h| *h == l))
            .map(|i| i + 1)
            .unwrap_or(0);
        for i in 0..hosts.len() {
            let ip = hosts[(start + i) % hosts.len()];
            if self.claim(ip, &owner)? {
                write_atomic(&self.dir.join(LAST_RESERVED), &ip.to_string())?;
                return Ok(ip);
            }
        }
        bail!(Exhausted(cidr))
    }

    /// Frees the container's address; None if it had none.
    pub fn release(&self, container_id: &str, ifname: &str) -> anyhow::Result<Option<Ipv4Addr>> {
        let Some(ip) = self.find(container_id, ifname)? else {
            return Ok(None);
        };
        std::fs::remove_file(self.dir.join(ip.to_string()))
            .with_context(|| format!("freeing {ip}"))?;
        Ok(Some(ip))
    }

    /// Takes `ip` if free: the file appears whole or not at all (a hard link
    /// of a finished file fails if the name exists).
    fn claim(&self, ip: Ipv4Addr, owner: &Owner) -> anyhow::Result<bool> {
        let path = self.dir.join(ip.to_string());
        if path.exists() {
            return Ok(false);
        }
        let tmp = self.dir.join(format!(".{ip}.{}", std::process::id()));
        write_synced(&tmp, &owner.text())?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e).with_context(|| format!("recording {}", path.display())),
        }
    }
}

/// The addresses pods may get: all but the network and broadcast addresses
/// (where the range has them).
fn usable(cidr: Ipv4Network) -> Vec<Ipv4Addr> {
    let all: Vec<Ipv4Addr> = cidr.iter().collect();
    if cidr.prefix() >= 31 {
        return all;
    }
    all[1..all.len() - 1].to_vec()
}

fn write_synced(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = File::create(path).with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    write_synced(&tmp, text)?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_in_order_reuses_per_container_and_never_twice() {
        let dir = tempfile::tempdir().unwrap();
        let cidr: Ipv4Network = "10.1.0.0/29".parse().unwrap();
        let ipam = Ipam::lock(dir.path(), "net").unwrap();
        let a = ipam.allocate(cidr, "a", "eth0").unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(ipam.allocate(cidr, "a", "eth0").unwrap(), a);
        let b = ipam.allocate(cidr, "b", "eth0").unwrap();
        assert_eq!(b, Ipv4Addr::new(10, 1, 0, 2));
        drop(ipam);

        // Another run sees the same files.
        let ipam = Ipam::lock(dir.path(), "net").unwrap();
        assert_eq!(ipam.release("a", "eth0").unwrap(), Some(a));
        assert_eq!(ipam.release("a", "eth0").unwrap(), None);
        // The freed address is not the next one handed out.
        let c = ipam.allocate(cidr, "c", "eth0").unwrap();
        assert_eq!(c, Ipv4Addr::new(10, 1, 0, 3));
        for id in ["d", "e", "f"] {
            ipam.allocate(cidr, id, "eth0").unwrap();
        }
        // .1 came free again; then the /29's six addresses are all taken.
        assert_eq!(ipam.allocate(cidr, "g", "eth0").unwrap(), a);
        let err = ipam.allocate(cidr, "h", "eth0").unwrap_err();
        assert!(err.downcast_ref::<Exhausted>().is_some(), "{err:#}");
    }
}
