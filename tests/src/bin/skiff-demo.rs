//! `cargo xtask run`: a one-node demo in network namespaces. Three pods serve
//! behind the Service `web` (10.96.0.10:80), the agent balances a client
//! pod's connections, and the demo stays up until Ctrl-C, then cleans up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use skiff_e2e::lab::{CLIENT_IP4, Lab, POD_PORT};
use skiff_e2e::manifests::{READY, port, service, slice};
use skiff_e2e::probe::tally;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn main() {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    eprintln!("creating a node with three pods and a client pod ...");
    let mut lab = Lab::new(3);
    lab.start_agent();
    let ports = [
        port("http", 80, POD_PORT, "TCP"),
        port("dns", 53, POD_PORT, "UDP"),
    ];
    let eps: Vec<_> = lab.pods.iter().map(|p| (p.ip4.as_str(), READY)).collect();
    lab.apply(&[
        service("web", &["10.96.0.10"], &ports, None),
        slice("web-1", "web", &eps, &ports),
    ]);

    let dbg = lab.dbg(&["services"]);
    println!(
        "\nThe node's service map (skiff-dbg services):\n{}",
        String::from_utf8_lossy(&dbg.stdout)
    );
    let out = lab.tcp("10.96.0.10:80", 30);
    println!(
        "30 connections from the client pod ({CLIENT_IP4}) to 10.96.0.10:80 reached: {:?}",
        tally(&out)
    );
    println!("getpeername on the client's socket: {}", out[0].peer);
    let agent = lab.agent();
    println!(
        "\nThe node is up. Try:\n  \
         {dbg} --pin-dir {pins} stats\n  \
         curl -s 127.0.0.1:{hz}/healthz; curl -s 127.0.0.1:{mp}/metrics\n  \
         sh -c 'echo $$ > {procs}; exec nsenter --net={ns} {probe} tcp 10.96.0.10:80 5'\n\
         Edit {manifests}/objects.yaml to change the Service; Ctrl-C stops and cleans up.",
        dbg = skiff_e2e::bin("skiff-dbg").display(),
        pins = lab.pin_dir().display(),
        hz = agent.cfg.healthz_port,
        mp = agent.cfg.metrics_port,
        procs = lab.cgroup.procs().display(),
        ns = lab.client.path(),
        probe = skiff_e2e::bin("netprobe").display(),
        manifests = agent.cfg.manifests.display(),
    );
    while !STOP.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("stopping and cleaning up ...");
}
