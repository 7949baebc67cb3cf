//! A real Alertmanager (Debian's `prometheus-alertmanager`) for the delivery tests: started on a
//! free 127.0.0.1 port with a throwaway storage directory and clustering off, killed on drop.
//! `PGVITALS_ALERTMANAGER` names the binary; otherwise `prometheus-alertmanager` or
//! `alertmanager` is taken from PATH. A missing binary fails the test loudly.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A running Alertmanager.
pub struct Alertmanager {
    _child: super::KillOnDrop,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

fn binary() -> String {
    if let Ok(b) = std::env::var("PGVITALS_ALERTMANAGER") {
        return b;
    }
    for name in ["prometheus-alertmanager", "alertmanager"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()));
        if found {
            return name.to_string();
        }
    }
    panic!("Alertmanager is needed for this test (Debian package `prometheus-alertmanager`, or set PGVITALS_ALERTMANAGER)");
}

impl Alertmanager {
    /// Starts one and waits until `/-/ready` answers.
    pub async fn start() -> Alertmanager {
        Alertmanager::start_with_web_config(None).await
    }

    /// Starts one with an exporter-toolkit web configuration (TLS, basic auth) and waits
    /// until it accepts connections (with TLS on, the plain-HTTP readiness probe cannot ask).
    pub async fn start_with_web_config(web: Option<&str>) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: nowhere\n  group_wait: 0s\nreceivers:\n  - name: nowhere\n",
        )
        .unwrap();
        let addr = super::free_local_addr();
        let mut cmd = Command::new(binary());
        if let Some(web) = web {
            let file = dir.path().join("web.yml");
            std::fs::write(&file, web).unwrap();
            cmd.arg(format!("--web.config.file={}", file.display()));
        }
        let child = cmd
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting Alertmanager");
        let am = Alertmanager {
            _child: super::KillOnDrop(child),
            addr,
            _dir: dir,
        };
        let tls = web.is_some();
        super::poll_until(
            Duration::from_secs(30),
            Duration::from_millis(50),
            "Alertmanager to listen",
            || async move {
                tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| e.to_string())?;
                // With TLS on, the plain-HTTP readiness probe cannot ask: a listening port it is.
                if tls || super::get(addr, "/-/ready").await.0 == 200 {
                    Ok(())
                } else {
                    Err("not ready".into())
                }
            },
        )
        .await;
        am
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `GET /api/v2/alerts`: the alerts it holds that are not resolved.
    pub async fn alerts(&self) -> Vec<serde_json::Value> {
        let (status, body) = super::get(self.addr, "/api/v2/alerts").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("Alertmanager answers JSON")
    }

    /// Polls its API until `cond` holds (it has no change notification); panics after `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        cond: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let cond = &cond;
        super::poll_until(
            timeout,
            Duration::from_millis(100),
            &format!("{what} in Alertmanager"),
            || async move {
                let alerts = self.alerts().await;
                if cond(&alerts) {
                    Ok(alerts)
                } else {
                    Err(format!("it holds {alerts:#?}"))
                }
            },
        )
        .await
    }
}
