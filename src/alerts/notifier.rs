//! Delivery of alerts to Alertmanager (`POST /api/v2/alerts`), the way Prometheus does it.
//!
//! After every evaluation the engine hands over a [`Batch`]: every firing alert (`startsAt` =
//! when it started firing, `endsAt` = a few evaluation intervals ahead, so Alertmanager resolves
//! it by itself if pgvitals goes away) and every alert resolved within `resolved_retention`
//! (`endsAt` = when it resolved). Each configured Alertmanager gets the batch; a failed POST is
//! retried with backoff until it succeeds or a newer batch replaces it (the newer one carries
//! everything the older one did). Delivery runs in its own task: a slow or down Alertmanager
//! never delays polling or evaluation.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::engine::{Alert, Engine, Labels};
use crate::clock::rfc3339;
use crate::config::{read_secret_file, Config, TlsClientConfig};
use crate::telemetry::{Labeled, Telemetry};

/// How far ahead a firing alert's `endsAt` is set, in evaluation intervals (at least a minute
/// each), like Prometheus.
const VALID_FOR_INTERVALS: u32 = 4;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One alert as Alertmanager's API v2 takes it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    /// Identity labels, `alertname` included.
    pub labels: Labels,
    /// Annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// When it started firing.
    pub starts_at: String,
    /// When it resolved, or until when it is valid.
    pub ends_at: String,
    /// Where it came from.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

/// What one evaluation delivers.
#[derive(Debug, Default)]
pub struct Batch {
    /// Firing and recently resolved alerts.
    pub alerts: Vec<PostableAlert>,
}

impl Batch {
    /// The firing and recently resolved alerts of `engine` at `now`.
    pub fn new(engine: &Engine, now: SystemTime, interval: Duration, external_url: &str) -> Batch {
        let valid_for = interval.max(Duration::from_secs(60)) * VALID_FOR_INTERVALS;
        let post = |a: &Alert, ends: SystemTime| PostableAlert {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: rfc3339(a.fired_at.unwrap_or(a.active_at)),
            ends_at: rfc3339(ends),
            generator_url: format!("{external_url}/alerts"),
        };
        let firing = engine
            .active()
            .filter(|a| a.state == super::engine::State::Firing)
            .map(|a| post(a, now + valid_for));
        let resolved = engine
            .resolved()
            .map(|a| post(a, a.resolved_at.unwrap_or(now)));
        Batch {
            alerts: firing.chain(resolved).collect(),
        }
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Where and how to deliver: URLs, secrets read, and an HTTP(S) client with the TLS settings.
pub struct Delivery {
    urls: Vec<String>,
    timeout: Duration,
    authorization: Option<String>,
    client: HttpClient,
}

/// The TLS client settings: the system's CA certificates, or only `ca_file`'s; a client
/// certificate when configured.
fn tls_client(tls: Option<&TlsClientConfig>) -> anyhow::Result<rustls::ClientConfig> {
    use anyhow::Context;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?;
    let builder = match tls.and_then(|t| t.ca_file.as_ref()) {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).with_context(|| {
                format!("alertmanager.tls.ca_file: cannot read `{}`", ca.display())
            })? {
                let cert = cert.with_context(|| {
                    format!("alertmanager.tls.ca_file: `{}` is not PEM", ca.display())
                })?;
                roots.add(cert).with_context(|| {
                    format!(
                        "alertmanager.tls.ca_file: a certificate in `{}`",
                        ca.display()
                    )
                })?;
            }
            anyhow::ensure!(
                !roots.is_empty(),
                "alertmanager.tls.ca_file: `{}` holds no certificate",
                ca.display()
            );
            builder.with_root_certificates(roots)
        }
        None => builder
            .with_native_roots()
            .context("loading the system's CA certificates")?,
    };
    let (Some(cert), Some(key)) = (
        tls.and_then(|t| t.cert_file.as_ref()),
        tls.and_then(|t| t.key_file.as_ref()),
    ) else {
        return Ok(builder.with_no_client_auth());
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "alertmanager.tls.cert_file: cannot read `{}`",
                cert.display()
            )
        })?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("alertmanager.tls.key_file: cannot read `{}`", key.display()))?;
    builder
        .with_client_auth_cert(chain, key)
        .context("alertmanager.tls: the client certificate and key do not go together")
}

impl Delivery {
    /// The delivery settings of `config`, `None` without `alertmanager:`. Reads the password or
    /// token file.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Delivery>> {
        let Some(am) = &config.alertmanager else {
            return Ok(None);
        };
        let secret = |value: &Option<String>, file: &Option<std::path::PathBuf>, key: &str| match (
            value, file,
        ) {
            (Some(v), _) => Ok(Some(v.clone())),
            (None, Some(f)) => read_secret_file(f)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("alertmanager.{key}: {e}")),
            (None, None) => Ok(None),
        };
        let authorization = if let Some(b) = &am.basic_auth {
            let password = secret(&b.password, &b.password_file, "basic_auth.password_file")?
                .unwrap_or_default();
            Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{password}", b.username))
            ))
        } else {
            secret(&am.bearer_token, &am.bearer_token_file, "bearer_token_file")?
                .map(|t| format!("Bearer {t}"))
        };
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(am.timeout.0));
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_client(am.tls.as_ref())?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Some(Delivery {
            urls: am
                .urls
                .iter()
                .map(|u| u.trim_end_matches('/').to_string())
                .collect(),
            timeout: am.timeout.0,
            authorization,
            client: Client::builder(TokioExecutor::new()).build(https),
        }))
    }
}

/// Posts batches to every configured Alertmanager.
pub struct Notifier {
    sent: Arc<Labeled<1>>,
    failed: Arc<Labeled<1>>,
    alerts_sent: Arc<Labeled<1>>,
}

impl Notifier {
    /// A notifier whose counters are rendered with `telemetry`.
    pub fn new(telemetry: &Telemetry) -> Result<Notifier, String> {
        let counter = |name: &'static str, help: &'static str| -> Result<Arc<Labeled<1>>, String> {
            let c = Arc::new(Labeled::counter(name, help, ["alertmanager"]));
            telemetry.register(c.clone())?;
            Ok(c)
        };
        Ok(Notifier {
            sent: counter(
                "pgvitals_alertmanager_notifications_total",
                "Batches of alerts Alertmanager accepted.",
            )?,
            failed: counter(
                "pgvitals_alertmanager_notifications_failed_total",
                "Attempts to deliver a batch of alerts that failed (each retry counts).",
            )?,
            alerts_sent: counter(
                "pgvitals_alertmanager_alerts_sent_total",
                "Alerts (firing or resolved) in batches Alertmanager accepted.",
            )?,
        })
    }

    /// Delivers each new batch until `shutdown`.
    pub async fn run(
        self,
        mut batches: watch::Receiver<Arc<Batch>>,
        delivery: watch::Receiver<Option<Arc<Delivery>>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let this = Arc::new(self);
        loop {
            tokio::select! {
                r = batches.changed() => if r.is_err() { break },
                _ = shutdown.changed() => break,
            }
            let batch = batches.borrow_and_update().clone();
            let Some(d) = delivery.borrow().clone() else {
                continue;
            };
            if batch.alerts.is_empty() {
                continue;
            }
            let body = Bytes::from(serde_json::to_vec(&batch.alerts).expect("alerts serialize"));
            let mut posts = JoinSet::new();
            for url in &d.urls {
                posts.spawn(this.clone().deliver(
                    url.clone(),
                    d.clone(),
                    body.clone(),
                    batch.alerts.len(),
                    batches.clone(),
                    shutdown.clone(),
                ));
            }
            while posts.join_next().await.is_some() {}
        }
    }

    /// Posts one batch to one Alertmanager, retrying with backoff until it is accepted, a
    /// newer batch arrives, or the daemon stops.
    async fn deliver(
        self: Arc<Self>,
        url: String,
        d: Arc<Delivery>,
        body: Bytes,
        count: usize,
        mut newer: watch::Receiver<Arc<Batch>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut backoff = Duration::from_millis(500);
        loop {
            match tokio::time::timeout(d.timeout, self.post(&url, &d, body.clone())).await {
                Ok(Ok(())) => {
                    self.sent.inc([&url]);
                    self.alerts_sent.inc_by([&url], count as f64);
                    debug!(alertmanager = %url, alerts = count, "alerts delivered");
                    return;
                }
                Ok(Err(e)) => {
                    self.failed.inc([&url]);
                    warn!(alertmanager = %url, error = format!("{e:#}"), retry_in = ?backoff, "delivering alerts failed");
                }
                Err(_) => {
                    self.failed.inc([&url]);
                    warn!(alertmanager = %url, timeout = ?d.timeout, retry_in = ?backoff, "delivering alerts timed out");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = newer.changed() => return,
                _ = shutdown.changed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn post(&self, url: &str, d: &Delivery, body: Bytes) -> anyhow::Result<()> {
        let mut req = hyper::Request::post(format!("{url}/api/v2/alerts"))
            .header(CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("pgvitals/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(a) = &d.authorization {
            req = req.header(AUTHORIZATION, a);
        }
        let resp = d.client.request(req.body(Full::new(body))?).await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = resp.into_body().collect().await.map(|b| b.to_bytes());
        let text = body
            .as_deref()
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned())
            .unwrap_or_default();
        anyhow::bail!("Alertmanager answered {status}: {}", text.trim())
    }
}
