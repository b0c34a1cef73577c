//! Pod servers: TCP greets each connection with the pod's name and echoes
//! lines; UDP answers each datagram with the pod's name. They stop on drop.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::netns::Netns;

pub struct Server {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

const POLL: Duration = Duration::from_millis(50);

impl Server {
    /// Serves `identity` on TCP and UDP at `addr` inside `ns`.
    pub fn start(ns: &Netns, addr: SocketAddr, identity: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        for udp in [false, true] {
            let (stop, id, tx) = (stop.clone(), identity.to_owned(), tx.clone());
            threads.push(ns.spawn(move || {
                if udp {
                    let sock =
                        UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind udp {addr}: {e}"));
                    sock.set_read_timeout(Some(POLL)).unwrap();
                    tx.send(()).unwrap();
                    serve_udp(sock, &id, &stop);
                } else {
                    let listener =
                        TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind tcp {addr}: {e}"));
                    listener.set_nonblocking(true).unwrap();
                    tx.send(()).unwrap();
                    serve_tcp(listener, &id, &stop);
                }
            }));
        }
        rx.recv().unwrap();
        rx.recv().unwrap();
        Self { stop, threads }
    }
}

/// Waits up to `POLL` for the socket to become readable.
fn readable(fd: std::os::fd::RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, POLL.as_millis() as i32) > 0 }
}

fn serve_tcp(listener: TcpListener, id: &str, stop: &AtomicBool) {
    use std::os::fd::AsRawFd as _;
    while !stop.load(Ordering::Relaxed) {
        if !readable(listener.as_raw_fd()) {
            continue;
        }
        let Ok((mut stream, _)) = listener.accept() else {
            continue;
        };
        stream.set_nonblocking(false).ok();
        // Greet at once, so short connections need no thread.
        if stream.write_all(format!("{id}\n").as_bytes()).is_err() {
            continue;
        }
        std::thread::spawn(move || {
            let Ok(mut w) = stream.try_clone() else {
                return;
            };
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { return };
                if w.write_all(format!("{line}\n").as_bytes()).is_err() {
                    return;
                }
            }
        });
    }
}

fn serve_udp(sock: UdpSocket, id: &str, stop: &AtomicBool) {
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        if let Ok((_, from)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(id.as_bytes(), from);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
