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

fn serve_tcp(listener: TcpListener, id: &str, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let id = id.to_owned();
                std::thread::spawn(move || {
                    stream.set_nonblocking(false).ok();
                    let mut w = match stream.try_clone() {
                        Ok(w) => w,
                        Err(_) => return,
                    };
                    if w.write_all(format!("{id}\n").as_bytes()).is_err() {
                        return;
                    }
                    for line in BufReader::new(stream).lines() {
                        let Ok(line) = line else { return };
                        if w.write_all(format!("{line}\n").as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(_) => std::thread::sleep(POLL),
        }
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
