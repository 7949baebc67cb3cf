//! A real Prometheus server (Debian's `prometheus`) for the end-to-end dashboard test: started
//! on a free 127.0.0.1 port with a throwaway TSDB, scraping the given targets every second,
//! killed on drop. `PGVITALS_PROMETHEUS` names the binary; otherwise `prometheus` from PATH.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts one scraping `targets` (job `pgvitals`) every second; waits until it is ready.
    pub async fn start(targets: &[SocketAddr]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        let list = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: pgvitals\n    static_configs:\n      - targets: [{list}]\n"
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let binary = std::env::var("PGVITALS_PROMETHEUS").unwrap_or_else(|_| "prometheus".into());
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting `{binary}` failed ({e}): the Debian package `prometheus` is needed, or set PGVITALS_PROMETHEUS")
            });
        let p = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok()
                && super::get(addr, "/-/ready").await.0 == 200
            {
                return p;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Prometheus did not become ready on {addr} within 60 s"
            );
            // An external process: nothing to await but its port.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET path` on its HTTP API; the parsed JSON, whatever the status.
    pub async fn api(&self, path: &str) -> Value {
        let (_, body) = super::get(self.addr, path).await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// An instant query: `Ok(result)` or `Err(the error Prometheus gave)`.
    pub async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let v = self
            .api(&format!("/api/v1/query?query={}", url_encode(expr)))
            .await;
        if v["status"] != "success" {
            return Err(format!("{}: {}", v["errorType"], v["error"]));
        }
        Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// Polls until `expr` returns at least one series (scrapes arrive on Prometheus' clock);
    /// panics after `timeout`.
    pub async fn wait_for(&self, timeout: Duration, expr: &str) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self.query(expr).await;
            if let Ok(series) = &r {
                if !series.is_empty() {
                    return series.clone();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {timeout:?} waiting for `{expr}`: {r:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query-string value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
