//! The HTTP server: `/metrics`, `/healthz`, `/readyz` and the `/` index.
//!
//! Everything served comes from the in-memory snapshot: no handler touches a database. HTTP/1.1
//! only; a client gets 10 s to send its request headers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::debug;

use crate::snapshot::Snapshot;

/// Content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    snapshot: Arc<Snapshot>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let snapshot = snapshot.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let snapshot = snapshot.clone();
                async move { Ok::<_, Infallible>(route(&req, &snapshot)) }
            });
            if let Err(e) = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// Binds the listen address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

fn route(req: &Request<Incoming>, snapshot: &Snapshot) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    match req.uri().path() {
        "/metrics" => {
            let mut r = Response::new(Full::new(snapshot.render()));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            r
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            let waiting = snapshot.not_ready();
            if waiting.is_empty() {
                text(StatusCode::OK, "ready\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("not polled yet: {}\n", waiting.join(", ")),
                )
            }
        }
        "/" => {
            let mut r = Response::new(Full::new(Bytes::from_static(INDEX_HTML.as_bytes())));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

const INDEX_HTML: &str = concat!(
    "<!doctype html><html><head><title>pgvitals</title></head><body>",
    "<h1>pgvitals ",
    env!("CARGO_PKG_VERSION"),
    "</h1><p>PostgreSQL health monitor.</p><ul>",
    "<li><a href=\"/metrics\">/metrics</a> Prometheus exposition, from the last poll</li>",
    "<li><a href=\"/healthz\">/healthz</a> process alive</li>",
    "<li><a href=\"/readyz\">/readyz</a> every target polled at least once</li>",
    "</ul></body></html>\n"
);
