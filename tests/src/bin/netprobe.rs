//! A client for the end-to-end tests and the benchmark. The harness starts it
//! inside a pod's network namespace and the cgroup the programs are attached
//! to; it reports, one JSON object per line, what a user's program would see.
//!
//! netprobe tcp ADDR COUNT [INTERVAL_MS]  connect COUNT times, read the greeting
//! netprobe udp ADDR COUNT [connected]    send COUNT datagrams, read the replies
//! netprobe hold ADDR                     one connection; echo stdin lines over it
//! netprobe rate ADDR SECONDS             connect+close as fast as possible
//! netprobe http ADDR COUNT [PATH]        COUNT HTTP GETs (new connection each), the
//!                                        status and body of each
//! netprobe serve [PORT]                  an HTTP server, the demo image's: `GET /`
//!                                        answers the hostname (the pod's name),
//!                                        `/healthz` "ok"; PORT or $PORT, else 8080
//! netprobe incluster                     as an in-cluster client (the service
//!                                        account's files and $KUBERNETES_SERVICE_*):
//!                                        reads its own Pod from the API server

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(2);

fn usage() -> ! {
    eprintln!(
        "usage: netprobe tcp ADDR COUNT [INTERVAL_MS] | udp ADDR COUNT [connected] | hold ADDR | rate ADDR SECONDS | http ADDR COUNT [PATH] | serve [PORT] | incluster"
    );
    std::process::exit(2);
}

fn err_json(e: &std::io::Error, started: Instant) -> serde_json::Value {
    json!({ "ok": false, "errno": e.raw_os_error(), "error": e.to_string(), "ms": started.elapsed().as_secs_f64() * 1e3 })
}

fn tcp_once(addr: SocketAddr) -> serde_json::Value {
    let started = Instant::now();
    let stream = match TcpStream::connect_timeout(&addr, TIMEOUT) {
        Ok(s) => s,
        Err(e) => return err_json(&e, started),
    };
    let peer = stream
        .peer_addr()
        .map(|p| p.to_string())
        .unwrap_or_default();
    stream.set_read_timeout(Some(TIMEOUT)).ok();
    let mut line = String::new();
    match BufReader::new(&stream).read_line(&mut line) {
        Ok(_) => json!({ "ok": true, "backend": line.trim(), "peer": peer }),
        Err(e) => err_json(&e, started),
    }
}

fn udp_once(sock: &UdpSocket, addr: SocketAddr, connected: bool) -> serde_json::Value {
    let started = Instant::now();
    let sent = if connected {
        sock.send(b"hello")
    } else {
        sock.send_to(b"hello", addr)
    };
    if let Err(e) = sent {
        return err_json(&e, started);
    }
    let mut buf = [0u8; 512];
    match sock.recv_from(&mut buf) {
        Ok((n, from)) => {
            let peer = if connected {
                sock.peer_addr().map(|p| p.to_string()).unwrap_or_default()
            } else {
                String::new()
            };
            json!({ "ok": true, "backend": String::from_utf8_lossy(&buf[..n]).trim(), "from": from.to_string(), "peer": peer })
        }
        Err(e) => err_json(&e, started),
    }
}

fn hold(addr: SocketAddr) -> anyhow::Result<()> {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    println!(
        "{}",
        json!({ "ok": true, "backend": line.trim(), "peer": stream.peer_addr()?.to_string() })
    );
    let mut writer = stream;
    for input in std::io::stdin().lock().lines() {
        let input = input?;
        writer.write_all(format!("{input}\n").as_bytes())?;
        line.clear();
        let result = match reader.read_line(&mut line) {
            Ok(0) => json!({ "ok": false, "error": "closed" }),
            Ok(_) => json!({ "ok": true, "echo": line.trim() }),
            Err(e) => json!({ "ok": false, "error": e.to_string() }),
        };
        println!("{result}");
    }
    Ok(())
}

/// Closing with a reset leaves no TIME_WAIT behind: thousands of short
/// connections per second to one backend would otherwise use up the
/// ephemeral ports and measure that instead of the path.
fn reset_on_close(s: &TcpStream) {
    use std::os::fd::AsRawFd as _;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and option buffer.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Short connections: connect, read the one-line greeting, close.
fn rate(addr: SocketAddr, seconds: f64) {
    let started = Instant::now();
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut buf = [0u8; 64];
    while started.elapsed().as_secs_f64() < seconds {
        match TcpStream::connect(addr) {
            Ok(mut s) => {
                let _ = s.read(&mut buf);
                reset_on_close(&s);
                ok += 1;
            }
            Err(_) => failed += 1,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({ "ok": ok, "failed": failed, "seconds": secs, "per_second": ok as f64 / secs })
    );
}

/// One HTTP/1.0 GET on a new connection.
fn http_once(addr: SocketAddr, path: &str) -> serde_json::Value {
    let started = Instant::now();
    let mut stream = match TcpStream::connect_timeout(&addr, TIMEOUT) {
        Ok(s) => s,
        Err(e) => return err_json(&e, started),
    };
    let peer = stream
        .peer_addr()
        .map(|p| p.to_string())
        .unwrap_or_default();
    stream.set_read_timeout(Some(TIMEOUT)).ok();
    let mut text = String::new();
    let sent = write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if let Err(e) = sent.and_then(|_| stream.read_to_string(&mut text)) {
        return err_json(&e, started);
    }
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    json!({ "ok": status == 200, "status": status, "backend": body.trim(), "peer": peer })
}

extern "C" fn exit_now(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(0) };
}

/// The demo server. It keeps no state, so SIGTERM ends it at once; as PID 1
/// of a container it would otherwise ignore the signal.
fn serve(port: u16) -> anyhow::Result<()> {
    // SAFETY: the handler only calls _exit.
    unsafe {
        libc::signal(libc::SIGTERM, exit_now as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, exit_now as *const () as libc::sighandler_t);
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")?
        .trim()
        .to_owned();
    // [::] takes IPv4 too; a namespace without IPv6 still has 0.0.0.0.
    let listener = std::net::TcpListener::bind(("::", port))
        .or_else(|_| std::net::TcpListener::bind(("0.0.0.0", port)))?;
    println!("netprobe serving {hostname} on port {port}");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let hostname = hostname.clone();
        std::thread::spawn(move || answer(stream, &hostname));
    }
    Ok(())
}

fn answer(mut stream: TcpStream, hostname: &str) {
    stream.set_read_timeout(Some(TIMEOUT)).ok();
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // The headers are read and ignored.
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 0) && !header.trim().is_empty() {
        header.clear();
    }
    let mut parts = request.split_whitespace();
    let (status, body) = match (parts.next(), parts.next()) {
        (Some("GET"), Some("/")) => ("200 OK", format!("{hostname}\n")),
        (Some("GET"), Some("/healthz")) => ("200 OK", "ok\n".to_owned()),
        (Some("GET"), _) => ("404 Not Found", "not found\n".to_owned()),
        _ => ("405 Method Not Allowed", "only GET\n".to_owned()),
    };
    let _ = write!(
        stream,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = |i: usize| -> SocketAddr {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| usage())
    };
    let num =
        |i: usize| -> Option<u64> { args.get(i).map(|a| a.parse().unwrap_or_else(|_| usage())) };
    match args.first().map(String::as_str) {
        Some("tcp") => {
            let (to, count) = (addr(1), num(2).unwrap_or_else(|| usage()));
            let interval = Duration::from_millis(num(3).unwrap_or(0));
            for _ in 0..count {
                println!("{}", tcp_once(to));
                std::thread::sleep(interval);
            }
        }
        Some("udp") => {
            let (to, count) = (addr(1), num(2).unwrap_or_else(|| usage()));
            let connected = args.get(3).map(String::as_str) == Some("connected");
            for _ in 0..count {
                // A fresh socket each time: each is balanced on its own.
                let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let sock = UdpSocket::bind(bind).expect("binding a UDP socket");
                sock.set_read_timeout(Some(TIMEOUT)).ok();
                if connected && let Err(e) = sock.connect(to) {
                    println!("{}", err_json(&e, Instant::now()));
                    continue;
                }
                println!("{}", udp_once(&sock, to, connected));
            }
        }
        Some("hold") => {
            if let Err(e) = hold(addr(1)) {
                println!("{}", json!({ "ok": false, "error": e.to_string() }));
            }
        }
        Some("rate") => rate(
            addr(1),
            args.get(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| usage()),
        ),
        Some("http") => {
            let (to, count) = (addr(1), num(2).unwrap_or_else(|| usage()));
            let path = args.get(3).map_or("/", String::as_str);
            for _ in 0..count {
                println!("{}", http_once(to, path));
            }
        }
        Some("serve") => {
            let port = args
                .get(1)
                .cloned()
                .or_else(|| std::env::var("PORT").ok())
                .map_or(Ok(8080), |p| p.parse::<u16>())
                .unwrap_or_else(|_| usage());
            if let Err(e) = serve(port) {
                eprintln!("netprobe serve: {e}");
                std::process::exit(1);
            }
        }
        Some("incluster") => println!("{}", in_cluster()),
        _ => usage(),
    }
}

/// What a pod's own client sees: kube-rs's in-cluster configuration, then
/// its Pod (named as the hostname) read through it.
fn in_cluster() -> serde_json::Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let config = match kube::Config::incluster() {
            Ok(c) => c,
            Err(e) => return json!({ "ok": false, "error": format!("in-cluster config: {e}") }),
        };
        let (server, namespace) = (
            config.cluster_url.to_string(),
            config.default_namespace.clone(),
        );
        let client = match kube::Client::try_from(config) {
            Ok(c) => c,
            Err(e) => return json!({ "ok": false, "error": format!("client: {e}") }),
        };
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(client, &namespace);
        match tokio::time::timeout(TIMEOUT * 5, pods.get(name.trim())).await {
            Ok(Ok(pod)) => json!({
                "ok": true,
                "server": server,
                "namespace": namespace,
                "pod": pod.metadata.name,
                "node": pod.spec.and_then(|s| s.node_name),
            }),
            Ok(Err(e)) => json!({ "ok": false, "server": server, "error": e.to_string() }),
            Err(_) => json!({ "ok": false, "server": server, "error": "timed out" }),
        }
    })
}
