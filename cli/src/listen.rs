//! The HTTP/1.1 server of `liveship serve`, built the way nginx runs: one
//! worker thread per core, each with its own single-threaded runtime and
//! its own listening socket on the same port (`SO_REUSEPORT`, so the kernel
//! spreads connections over them). A request is read, answered and logged on
//! one thread, with no hand-over between threads: on a 2-core machine that
//! hand-over (wake-ups, work stealing) cost more than the lookup itself.
//! Each connection is served by src/h1.rs: device lookups there, anything
//! else by hyper and the router.
//!
//! Background work (the guard ticker, pruning, SQLite's blocking calls)
//! stays on the runtime that started the server.

use crate::h1::{connection, Serving};
use anyhow::{Context, Result};
use axum::Router;
use hyper_util::rt::TokioTimer;
use liveship_core::http::fast::FastLookup;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;

/// How long open connections may take to finish their requests once
/// shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);

/// The listening sockets of one address, one per worker, not yet served.
#[derive(Debug)]
pub struct Listeners {
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
    sockets: Vec<std::net::TcpListener>,
}

/// The worker threads serving one address.
#[derive(Debug)]
pub struct Workers {
    stop: CancellationToken,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Binds `listen` once per worker (port 0: a free port, the same for all).
/// Connections wait in the backlog until [`Listeners::serve`].
pub async fn bind_all(listen: &str, workers: usize, share_port: bool) -> Result<Listeners> {
    let wanted = tokio::net::lookup_host(listen)
        .await
        .with_context(|| format!("cannot resolve {listen}"))?
        .next()
        .with_context(|| format!("{listen} resolves to no address"))?;
    // The workers' sockets share the port (SO_REUSEPORT), which would also
    // let this process share it with another server already listening
    // there, splitting requests between two servers and two sets of data.
    // A plain bind first finds such a server.
    if wanted.port() != 0 && !share_port {
        if let Err(e) = std::net::TcpListener::bind(wanted) {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::bail!(
                    "{listen} is in use by another process (another `liveship serve`?); \
                     stop it, choose another --listen, or pass --share-port to serve beside it \
                     (as for a rolling restart)"
                );
            }
            return Err(e).with_context(|| format!("cannot listen on {listen}"));
        }
    }
    let first = bind(wanted).with_context(|| format!("cannot listen on {listen}"))?;
    let addr = first.local_addr()?;
    let mut sockets = vec![first];
    for _ in 1..workers.max(1) {
        sockets.push(bind(addr).with_context(|| format!("cannot listen on {addr} again"))?);
    }
    Ok(Listeners { addr, sockets })
}

impl Listeners {
    /// Starts one worker thread per socket, serving `router`, with device
    /// lookups through `fast` when given (src/h1.rs).
    pub fn serve(self, router: Router, fast: Option<FastLookup>) -> Result<Workers> {
        let stop = CancellationToken::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        // The timer enforces hyper's header read timeout (30 s): a client that
        // opens a connection and sends nothing does not hold it for ever.
        http.timer(TokioTimer::new());
        let serving = Serving { router, http, fast };
        let mut threads = Vec::new();
        for (i, socket) in self.sockets.into_iter().enumerate() {
            let (serving, stopped) = (serving.clone(), stop.clone());
            let thread = std::thread::Builder::new()
                .name(format!("liveship-http-{i}"))
                .spawn(move || worker(socket, serving, stopped))
                .context("starting a worker thread")?;
            threads.push(thread);
        }
        Ok(Workers { stop, threads })
    }
}

fn worker(socket: std::net::TcpListener, serving: Serving, stopped: CancellationToken) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(rt) => rt.block_on(async move {
            match TcpListener::from_std(socket) {
                Ok(listener) => accept(listener, serving, stopped).await,
                Err(e) => tracing::error!(error = %e, "a worker could not listen"),
            }
        }),
        Err(e) => tracing::error!(error = %e, "a worker could not start its runtime"),
    }
}

impl Workers {
    /// Stops accepting, lets open connections finish (up to 10 s), and
    /// waits for every worker.
    pub async fn stop(self) {
        self.stop.cancel();
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// One listening socket; every worker's shares the port (`SO_REUSEPORT`).
fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    // Still non-blocking, as tokio made it: what `TcpListener::from_std` needs.
    socket.listen(1024)?.into_std()
}

async fn accept(listener: TcpListener, serving: Serving, stopped: CancellationToken) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors, most likely: wait rather
                        // than spin, and keep serving open connections.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // The watcher counts the connection until it ends, so the
                // drain below waits for it too.
                tokio::spawn(connection(stream, serving.clone(), graceful.watcher(), stopped.clone()));
            }
            _ = stopped.cancelled() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10 s of shutdown were closed");
    }
}
