//! Forwards the programs' aya-log events into the agent's tracing output
//! (target `proxy_ebpf`, debug level).

use aya::Ebpf;
use aya_log::EbpfLogger;
use tokio::io::unix::AsyncFd;
use tracing::warn;

/// Starts a task that drains the log ring buffer whenever it has data. The
/// logger must live as long as the programs: dropping it closes the map.
pub fn spawn_log_pump(ebpf: &mut Ebpf) -> anyhow::Result<()> {
    let logger = EbpfLogger::init(ebpf)?;
    // SAFETY: the logger owns the ring buffer's fd and moves into the AsyncFd,
    // so the fd stays open for as long as it is registered.
    let mut fd = unsafe { AsyncFd::register_with_interest(logger, tokio::io::Interest::READABLE) }
        .map_err(|e| anyhow::anyhow!("watching the eBPF log ring buffer: {}", e))?;
    tokio::spawn(async move {
        loop {
            match fd.readable_mut().await {
                Ok(mut guard) => {
                    guard.get_inner_mut().flush();
                    guard.clear_ready();
                }
                Err(e) => {
                    warn!(error = %e, "eBPF log pump stopped");
                    return;
                }
            }
        }
    });
    Ok(())
}
