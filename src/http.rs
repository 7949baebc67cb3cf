//! The HTTP server: `/metrics`, `/alerts`, `/rules`, the JSON detail endpoints, `/healthz`,
//! `/readyz`, and the web console (`/`, `/ui/…`, [`crate::console`]).
//!
//! Everything served comes from memory (the snapshot and the alert engine's last evaluation): no
//! handler touches a database. HTTP/1.1 only, over TLS when configured ([`crate::web`]); a client
//! gets `web.header_read_timeout` to send its request headers, 64 KiB of them at most, and
//! `web.max_connections` are served at once, so slow or hostile clients cannot exhaust it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{
    HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, VARY, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS,
};
use hyper::http::request::Parts;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tracing::debug;

use crate::alerts::Alerts;
use crate::console;
use crate::gzip;
use crate::pages::{self, Page};
use crate::snapshot::Snapshot;
use crate::web::Web;

/// Content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Largest request head (request line and headers) read; more gets 431.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// A request to re-read the configuration file; the reply says how it went.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// Serves until `shutdown` turns true, exposed as `web` says (TLS, authentication, limits).
/// With `lifecycle`, `POST /-/reload` sends reload requests there.
pub async fn serve(
    listener: TcpListener,
    web: Web,
    snapshot: Arc<Snapshot>,
    alerts: Arc<Alerts>,
    lifecycle: Option<mpsc::Sender<ReloadRequest>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(web.max_connections));
    let web = Arc::new(web);
    loop {
        // At most max_connections at once: the next one waits in the kernel's backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = shutdown.changed() => break,
        };
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
        let handler = Handler {
            web: web.clone(),
            snapshot: snapshot.clone(),
            alerts: alerts.clone(),
            lifecycle: lifecycle.clone(),
        };
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            match handler.web.tls.clone() {
                Some(tls) => {
                    match tokio::time::timeout(handler.web.header_read_timeout, tls.accept(stream))
                        .await
                    {
                        Ok(Ok(s)) => handler.serve_connection(TokioIo::new(s), peer).await,
                        Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => handler.serve_connection(TokioIo::new(stream), peer).await,
            }
        });
    }
}

/// What serving one connection needs.
#[derive(Clone)]
struct Handler {
    web: Arc<Web>,
    snapshot: Arc<Snapshot>,
    alerts: Arc<Alerts>,
    lifecycle: Option<mpsc::Sender<ReloadRequest>>,
}

impl Handler {
    async fn serve_connection<I>(self, io: I, peer: SocketAddr)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let timeout = self.web.header_read_timeout;
        let service = service_fn(move |req: Request<Incoming>| {
            let h = self.clone();
            async move { Ok::<_, Infallible>(h.handle(req).await) }
        });
        if let Err(e) = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(timeout)
            .max_buf_size(MAX_HEADER_BYTES)
            .serve_connection(io, service)
            .await
        {
            debug!(%peer, error = %e, "connection ended with an error");
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Chunks> {
        // hyper bounds what it buffers per connection; a head that still got through whole is
        // refused here.
        let head_bytes: usize = req.uri().to_string().len()
            + req
                .headers()
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len() + 4)
                .sum::<usize>();
        if head_bytes > MAX_HEADER_BYTES {
            return text(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request headers too large\n",
            );
        }
        let path = req.uri().path();
        let open = self.web.open_health_endpoints && (path == "/healthz" || path == "/readyz");
        if let (Some(auth), false) = (&self.web.auth, open) {
            let header = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            if !auth.allows(header).await {
                let mut r = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
                r.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"pgvitals\""),
                );
                return r;
            }
        }
        let (req, body) = req.into_parts();
        if let Err(refused) = self.read_body(&req, body).await {
            return refused;
        }
        if req.uri.path() == "/-/reload" {
            return reload(&req, self.lifecycle.clone()).await;
        }
        route(&req, &self.snapshot, &self.alerts)
    }

    /// Reads and drops the request body (no endpoint takes one), refusing one over
    /// `max_request_body_bytes` by its Content-Length or, chunked, by the bytes as they come,
    /// and one that does not arrive within the header timeout.
    async fn read_body(&self, req: &Parts, body: Incoming) -> Result<(), Response<Chunks>> {
        let limit = self.web.max_request_body_bytes;
        let too_large = || text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
        let declared = req
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        if body.is_end_stream() {
            return Ok(());
        }
        let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
        match tokio::time::timeout(self.web.header_read_timeout, limited.collect()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is::<LengthLimitError>() => Err(too_large()),
            Ok(Err(_)) => Err(text(StatusCode::BAD_REQUEST, "unreadable request body\n")),
            Err(_) => Err(text(StatusCode::REQUEST_TIMEOUT, "request body too slow\n")),
        }
    }
}

/// Whether the client takes a gzip body (`Accept-Encoding: gzip`, as Prometheus sends, and not
/// `gzip;q=0`).
fn accepts_gzip(req: &Parts) -> bool {
    req.headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip")) && !refused
        })
}

/// Binds the listen address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// A response body of a few chunks sent one after the other (the exposition is the snapshot's
/// cached bytes followed by the alert series, without copying either).
pub struct Chunks(VecDeque<Bytes>);

impl Chunks {
    fn one(b: Bytes) -> Chunks {
        Chunks(VecDeque::from([b]))
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

fn route(req: &Parts, snapshot: &Snapshot, alerts: &Alerts) -> Response<Chunks> {
    if req.method != Method::GET && req.method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    match req.uri.path() {
        "/metrics" => {
            let alert_series = alerts.views().exposition;
            let compressed = accepts_gzip(req);
            let body: VecDeque<Bytes> = if compressed {
                // Pieces compressed when their polls published, under one gzip header.
                let pieces = snapshot.render_gzip();
                let alert_piece = gzip::Piece::compress(&alert_series);
                gzip::member(pieces.iter().chain([&alert_piece])).into()
            } else {
                let mut body: VecDeque<Bytes> = snapshot.render_chunks().iter().cloned().collect();
                if !alert_series.is_empty() {
                    body.push_back(alert_series);
                }
                body
            };
            let mut r = Response::new(Chunks(body));
            let h = r.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
            if compressed {
                h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        }
        "/alerts" => json_bytes(alerts.views().alerts),
        "/rules" => json_bytes(alerts.views().rules),
        "/statements" => match pages::statements::page(snapshot, req.uri.query().unwrap_or("")) {
            Ok(p) => page(p),
            Err(e) => text(StatusCode::BAD_REQUEST, &format!("{e}\n")),
        },
        p if p.starts_with("/statements/") => {
            let queryid = &p["/statements/".len()..];
            match pages::statements::statement(snapshot, queryid, req.uri.query().unwrap_or("")) {
                Ok(Some(p)) => page(p),
                Ok(None) => text(
                    StatusCode::NOT_FOUND,
                    &format!("no statement {queryid} in the history of any target\n"),
                ),
                Err(e) => text(StatusCode::BAD_REQUEST, &format!("{e}\n")),
            }
        }
        "/findings" => page(pages::findings::page(snapshot)),
        "/migrations" => page(pages::migrations::page(snapshot)),
        "/connections" => page(pages::connections::page(
            snapshot,
            req.uri.query().unwrap_or(""),
        )),
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
        p if console::owns(p) => {
            let (status, p) =
                match console::answer(p, req.uri.query().unwrap_or(""), snapshot, alerts) {
                    console::Answer::Page(p) => (StatusCode::OK, p),
                    console::Answer::NotFound(p) => (StatusCode::NOT_FOUND, p),
                    console::Answer::BadRequest(p) => (StatusCode::BAD_REQUEST, p),
                };
            let mut r = page(p);
            *r.status_mut() = status;
            let h = r.headers_mut();
            h.insert(
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(console::CONTENT_SECURITY_POLICY),
            );
            h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// `POST /-/reload` (only with `web.enable_lifecycle: true`): re-reads the configuration file;
/// 200 when applied, 500 with the error when refused.
async fn reload(req: &Parts, lifecycle: Option<mpsc::Sender<ReloadRequest>>) -> Response<Chunks> {
    let Some(lifecycle) = lifecycle else {
        return text(
            StatusCode::FORBIDDEN,
            "lifecycle endpoints are off (web.enable_lifecycle: false)\n",
        );
    };
    if req.method != Method::POST && req.method != Method::PUT {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only POST or PUT\n");
    }
    let (tx, rx) = oneshot::channel();
    if lifecycle.send(tx).await.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    match rx.await {
        Ok(Ok(())) => text(StatusCode::OK, "configuration reloaded\n"),
        Ok(Err(e)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("configuration reload refused: {e}\n"),
        ),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
    }
}

fn page(p: Page) -> Response<Chunks> {
    let mut r = Response::new(Chunks::one(p.body));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(p.content_type));
    r
}

fn json_bytes(body: Bytes) -> Response<Chunks> {
    let mut r = Response::new(Chunks::one(body));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn text(status: StatusCode, body: &str) -> Response<Chunks> {
    let mut r = Response::new(Chunks::one(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
