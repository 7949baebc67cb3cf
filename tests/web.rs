//! The HTTP server locked down and attacked: HTTPS with a certificate the test makes (and
//! rotates), bcrypt basic auth, client certificates, malformed requests, and clients that stall.
//! The target is unreachable on purpose: none of this needs a database.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::tls::{https_get, test_pki};
use common::*;
use pgvitals::config::Config;
use pgvitals::daemon::Daemon;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn daemon(web: &str) -> Daemon {
    let yaml = format!(
        "listen: 127.0.0.1:0\ntargets:\n  - name: main\n    dsn: host=127.0.0.1 port=1 user=x connect_timeout=1\nweb:\n{web}"
    );
    Daemon::start(Config::parse(&yaml, "<test>").unwrap_or_else(|e| panic!("{e}\n{yaml}")))
        .await
        .unwrap()
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// What a plain-HTTP client gets from the port: the bytes it read before the server closed.
async fn plain_http_answer(addr: std::net::SocketAddr) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_basic_auth_and_a_certificate_rotated_on_disk() {
    let pki = test_pki();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.pem"), dir.path().join("tls.key"));
    std::fs::copy(&pki.cert, &cert).unwrap();
    std::fs::copy(&pki.key, &key).unwrap();
    let hash = bcrypt::hash("scrape-secret-9", 4).unwrap();
    let d = daemon(&format!(
        "  tls: {{cert_file: '{}', key_file: '{}'}}\n  basic_auth_users:\n    prometheus: '{hash}'\n",
        cert.display(),
        key.display()
    ))
    .await;
    let addr = d.addr();
    let get = |path: &'static str, ca: std::path::PathBuf, auth: Option<String>| async move {
        https_get(addr, path, &ca, None, auth.as_deref()).await
    };
    let (status, _) = get("/metrics", pki.ca.clone(), None).await.unwrap();
    assert_eq!(status, 401, "no credentials");
    let (status, _) = get(
        "/metrics",
        pki.ca.clone(),
        Some(basic("prometheus", "wrong")),
    )
    .await
    .unwrap();
    assert_eq!(status, 401, "wrong password");
    let (status, _) = get(
        "/metrics",
        pki.ca.clone(),
        Some(basic("nobody", "scrape-secret-9")),
    )
    .await
    .unwrap();
    assert_eq!(status, 401, "unknown user");
    let (status, body) = get(
        "/metrics",
        pki.ca.clone(),
        Some(basic("prometheus", "scrape-secret-9")),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("pgvitals_up{target=\"main\"}"), "{body}");
    let (status, _) = get("/healthz", pki.ca.clone(), None).await.unwrap();
    assert_eq!(status, 200, "health endpoints are open by default");
    let (status, _) = get("/alerts", pki.ca.clone(), None).await.unwrap();
    assert_eq!(status, 401);

    // The port speaks TLS only: a plain-HTTP request gets no HTTP answer.
    let answer = plain_http_answer(d.addr()).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // A renewed certificate (another CA) is picked up at the next handshake, no restart.
    let renewed = test_pki();
    std::fs::copy(&renewed.cert, &cert).unwrap();
    std::fs::copy(&renewed.key, &key).unwrap();
    let (status, _) = get("/healthz", renewed.ca.clone(), None).await.unwrap();
    assert_eq!(status, 200);
    let old = get("/healthz", pki.ca.clone(), None).await;
    assert!(
        old.is_err(),
        "the old CA no longer verifies the server: {old:?}"
    );
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_when_configured() {
    let pki = test_pki();
    let d = daemon(&format!(
        "  tls: {{cert_file: '{}', key_file: '{}', min_version: TLS13, client_ca_file: '{}'}}\n",
        pki.cert.display(),
        pki.key.display(),
        pki.ca.display()
    ))
    .await;
    let without = https_get(d.addr(), "/healthz", &pki.ca, None, None).await;
    assert!(without.is_err(), "{without:?}");
    let stranger = test_pki();
    let foreign = https_get(
        d.addr(),
        "/healthz",
        &pki.ca,
        Some((&stranger.client_cert, &stranger.client_key)),
        None,
    )
    .await;
    assert!(
        foreign.is_err(),
        "a certificate from another CA: {foreign:?}"
    );
    let (status, _) = https_get(
        d.addr(),
        "/healthz",
        &pki.ca,
        Some((&pki.client_cert, &pki.client_key)),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    d.shutdown().await;
}

async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_4xx_and_the_server_keeps_serving() {
    let d = daemon("  max_request_body_bytes: 1024\n").await;
    let a = d.addr();
    let status = |r: &str| r.split_whitespace().nth(1).unwrap_or("none").to_string();
    assert_eq!(status(&raw(a, b"\x16\x03\x01garbage\r\n\r\n").await), "400");
    assert_eq!(
        status(&raw(a, b"GET /metrics HTTP/9.9\r\n\r\n").await),
        "400"
    );
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    assert_eq!(status(&raw(a, huge.as_bytes()).await), "431");
    assert_eq!(request(a, "GET", "/nope").await.0, 404);
    assert_eq!(request(a, "DELETE", "/metrics").await.0, 405);
    assert_eq!(request(a, "GET", "/-/reload").await.0, 403);
    let big_body = raw(
        a,
        b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(&big_body), "413");
    // A chunked body has no Content-Length: the limit counts the bytes as they come.
    let chunked = |chunks: usize| {
        let mut r = b"POST /-/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
        for _ in 0..chunks {
            r.extend_from_slice(format!("100\r\n{}\r\n", "b".repeat(256)).as_bytes());
        }
        r.extend_from_slice(b"0\r\n\r\n");
        r
    };
    assert_eq!(
        status(&raw(a, &chunked(8)).await),
        "413",
        "2 KiB chunked over a 1 KiB limit"
    );
    assert_eq!(
        status(&raw(a, &chunked(2)).await),
        "403",
        "512 B chunked under the limit reaches the endpoint"
    );
    assert_eq!(get(a, "/metrics").await.0, 200, "still serving");
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stall_cannot_exhaust_the_server() {
    const SLOTS: usize = 4;
    let d = daemon(&format!(
        "  max_connections: {SLOTS}\n  header_read_timeout: 1s\n"
    ))
    .await;
    let addr = d.addr();
    // Take every connection slot with a request that never finishes its headers. Plain
    // blocking sockets: what the test reads from them is what the kernel has received, with no
    // reactor in between.
    let stalled: Vec<(std::net::TcpStream, Vec<u8>)> = tokio::task::spawn_blocking(move || {
        (0..SLOTS)
            .map(|_| {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                std::io::Write::write_all(&mut s, b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap();
                (s, Vec::new())
            })
            .collect()
    })
    .await
    .unwrap();
    // A well-behaved scrape queues behind them (accept() takes connections in the order they
    // were made) and is answered once the server cuts a stalled client at the header-read
    // timeout and frees its slot.
    let (status, body) = tokio::time::timeout(Duration::from_secs(30), get(addr, "/metrics"))
        .await
        .expect("served once a stalled client was cut");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("pgvitals_up{target=\"main\"} 0"), "{body}");
    // So the server closed a stalled connection before it accepted the scrape, and loopback
    // delivers a FIN as it is sent: that client is at EOF already. Had the scrape found a free
    // slot, it would have been answered before any stalled client was cut.
    let (cut, stalled) = tokio::task::spawn_blocking(move || {
        let mut stalled = stalled;
        let cut = stalled
            .iter_mut()
            .map(|(s, read)| closed_by_now(s, read))
            .filter(|&closed| closed)
            .count();
        (cut, stalled)
    })
    .await
    .unwrap();
    assert!(
        cut >= 1,
        "the scrape was answered before any of the {SLOTS} stalled clients was cut: they did not hold every slot"
    );
    // Every stalled client is cut by the server (the test never closes or writes to them):
    // each reads to EOF, with no answer but possibly a 408.
    for (s, read) in stalled {
        let (read, buf) = tokio::task::spawn_blocking(move || {
            let (mut s, mut buf) = (s, read);
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            (std::io::Read::read_to_end(&mut s, &mut buf), buf)
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&buf).into_owned();
        read.unwrap_or_else(|e| {
            panic!("a stalled client not closed by the server: {e}; read {text:?}")
        });
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408 "),
            "a stalled client got {text:?}"
        );
    }
    d.shutdown().await;
}

/// Whether the server has closed `s` (its FIN already received), without waiting; the bytes
/// before it are appended to `read`.
fn closed_by_now(s: &std::net::TcpStream, read: &mut Vec<u8>) -> bool {
    use std::io::Read;
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match (&*s).read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => read.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) => panic!("reading a stalled client: {e}"),
        }
    }
}
