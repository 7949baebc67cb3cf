//! A real Prometheus server (Debian's `prometheus`) for the end-to-end dashboard test: started
//! on a free 127.0.0.1 port with a throwaway TSDB, scraping the given targets every second,
//! killed on drop. `PGVITALS_PROMETHEUS` names the binary; otherwise `prometheus` from PATH.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running Prometheus.
pub struct Prometheus {
    _child: super::KillOnDrop,
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
        let addr = super::free_local_addr();
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
            _child: super::KillOnDrop(child),
            addr,
            _dir: dir,
        };
        super::poll_until(
            Duration::from_secs(60),
            Duration::from_millis(100),
            "Prometheus to be ready",
            || async move {
                tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| e.to_string())?;
                match super::get(addr, "/-/ready").await.0 {
                    200 => Ok(()),
                    s => Err(format!("/-/ready answered {s}")),
                }
            },
        )
        .await;
        p
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
        super::poll_until(
            timeout,
            Duration::from_millis(200),
            &format!("`{expr}`"),
            || async move {
                match self.query(expr).await {
                    Ok(series) if !series.is_empty() => Ok(series),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await
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
