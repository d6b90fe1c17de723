//! proxyd's side of the liveness contract with vrrpd (`lbcore::liveness`, DESIGN §1).
//!
//! Owns the liveness Unix socket (binding it safely next to a possibly stale file, answering
//! one query per connection) and the pid file's atomic write. It must not decide what
//! "serving" means beyond reading [`Shared`]: the wire form and the verdict rule are lbcore's.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lbcore::liveness::{self, Answer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use crate::Shared;

/// How long a client has to send its request before the connection is dropped.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Socket file permissions: owner and group (vrrpd runs as root; an operator group may ask too).
const SOCKET_MODE: u32 = 0o660;

/// The current answer: every frontend with whether any backend it routes to has a usable server.
pub fn answer(shared: &Shared) -> Answer {
    let frontends = shared
        .config
        .frontends
        .iter()
        .zip(&shared.routes)
        .map(|(fe, r)| {
            let usable = r
                .use_backends
                .iter()
                .flatten()
                .chain(r.default_backend.as_ref())
                .any(|&bi| {
                    shared.backends[bi]
                        .servers
                        .iter()
                        .any(|s| s.takes_traffic())
                });
            (fe.name.as_str(), usable)
        });
    Answer::from_frontends(std::process::id(), frontends)
}

/// Binds the liveness socket at `path`. A file left by a proxyd that died is replaced; a socket
/// another live process answers on is not (`AddrInUse`), so two proxyds never steal each other's.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match UnixListener::bind(path) {
        Ok(l) => return finish_bind(l, path),
        Err(e) if e.kind() != io::ErrorKind::AddrInUse => return Err(e),
        Err(_) => {}
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is answered by another process", path.display()),
        ));
    }
    std::fs::remove_file(path)?;
    finish_bind(UnixListener::bind(path)?, path)
}

fn finish_bind(l: UnixListener, path: &Path) -> io::Result<UnixListener> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))?;
    Ok(l)
}

/// Counters of the liveness socket.
#[derive(Debug, Default)]
pub struct Counters {
    /// Queries answered.
    pub answered: AtomicU64,
    /// Connections dropped for a malformed or missing request.
    pub bad_requests: AtomicU64,
}

/// Answers queries on `listener` until `stop`, then removes the socket file at `path`.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    current: crate::Current,
    counters: Arc<Counters>,
    stop: CancellationToken,
) {
    loop {
        let conn = tokio::select! {
            () = stop.cancelled() => break,
            c = listener.accept() => c,
        };
        match conn {
            Ok((stream, _)) => {
                // The generation in force now (a reload may have replaced it).
                let shared = current.borrow().clone();
                let counters = counters.clone();
                tokio::spawn(async move { one(stream, &shared, &counters).await });
            }
            Err(e) => {
                tracing::warn!(error = %e, "liveness accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    let _ = std::fs::remove_file(&path);
}

async fn one(mut stream: UnixStream, shared: &Shared, counters: &Counters) {
    let mut buf = [0u8; 64];
    let mut len = 0;
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        while len < buf.len() && !buf[..len].contains(&b'\n') {
            match stream.read(&mut buf[len..]).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => len += n,
            }
        }
        true
    })
    .await;
    // A connect-and-close with nothing sent is a probe (another proxyd checking whether this
    // socket is live, see [`bind`]), not a bad request.
    if read == Ok(false) && len == 0 {
        return;
    }
    if read.is_err() || liveness::parse_request(&buf[..len]).is_err() {
        let n = counters.bad_requests.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(count = n, "liveness request malformed or missing");
        let _ = stream.write_all(b"error unknown request\n").await;
        return;
    }
    let line = format!("{}\n", answer(shared));
    if stream.write_all(line.as_bytes()).await.is_ok() {
        counters.answered.fetch_add(1, Ordering::Relaxed);
    }
}

/// Writes the pid file atomically (temporary file in the same directory, then rename), so a
/// reader never sees a partial pid.
pub fn write_pid_file(path: &Path) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, liveness::pid_file_contents(std::process::id()))?;
    std::fs::rename(&tmp, path)
}
