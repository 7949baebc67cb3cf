//! A TCP proxy on 127.0.0.1 between pgvitals and PostgreSQL that injects network faults:
//! pass traffic, cut every connection (and refuse new ones), stall (accept, forward nothing), or
//! delay every chunk. It counts the connections open through it, and those whose data a stall
//! is holding back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does to traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Forward everything.
    Pass,
    /// Close every connection and refuse new ones.
    Down,
    /// Accept connections, forward nothing (held data goes through once it passes again).
    Stall,
    /// Forward each chunk after a delay.
    Delay(Duration),
}

/// A running proxy; stops with the test's runtime.
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    open: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    holding: Arc<AtomicUsize>,
}

impl Proxy {
    /// Starts forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, rx) = watch::channel(Mode::Pass);
        let open = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let holding = Arc::new(AtomicUsize::new(0));
        let (o, p, h) = (open.clone(), peak.clone(), holding.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if *rx.borrow() == Mode::Down {
                    drop(client);
                    continue;
                }
                let rx = rx.clone();
                let (o, p, h) = (o.clone(), p.clone(), h.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let now = o.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let h = Held {
                        proxy: h,
                        directions: AtomicUsize::new(0),
                    };
                    tokio::select! {
                        _ = pump(cr, sw, rx.clone(), &h) => {}
                        _ = pump(sr, cw, rx.clone(), &h) => {}
                    }
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Proxy {
            addr,
            mode,
            open,
            peak,
            holding,
        }
    }

    /// Where pgvitals connects.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes what happens to traffic (existing connections included).
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Connections open through the proxy now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Most connections open at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Connections with data held back now, in either direction: while stalled, requests not
    /// delivered to PostgreSQL or answers not delivered to pgvitals.
    pub fn holding(&self) -> usize {
        self.holding.load(Ordering::SeqCst)
    }
}

/// What one connection holds back: its directions holding data; the connection counts in
/// [`Proxy::holding`] while there is at least one.
struct Held {
    proxy: Arc<AtomicUsize>,
    directions: AtomicUsize,
}

/// One direction's share in [`Held`] while it has data held back.
struct Holding<'a> {
    held: &'a Held,
    counted: bool,
}

impl Holding<'_> {
    fn set(&mut self, holds: bool) {
        if holds == self.counted {
            return;
        }
        self.counted = holds;
        if holds {
            if self.held.directions.fetch_add(1, Ordering::SeqCst) == 0 {
                self.held.proxy.fetch_add(1, Ordering::SeqCst);
            }
        } else if self.held.directions.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.held.proxy.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// Copies one direction until either side closes or the proxy goes down. While stalled it
/// keeps reading (and holding) what arrives, so a side that gives up and closes is noticed.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
    connection: &Held,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut held: Vec<u8> = Vec::new();
    let mut holding = Holding {
        held: connection,
        counted: false,
    };
    loop {
        tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    held.extend_from_slice(&buf[..n]);
                    holding.set(true);
                }
            },
            r = mode.changed() => if r.is_err() { return },
        }
        let m = *mode.borrow_and_update();
        match m {
            Mode::Down => return,
            Mode::Stall => continue,
            Mode::Delay(d) => tokio::time::sleep(d).await,
            Mode::Pass => {}
        }
        if !held.is_empty() {
            if to.write_all(&held).await.is_err() {
                return;
            }
            held.clear();
            holding.set(false);
        }
    }
}
