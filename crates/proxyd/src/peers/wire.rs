//! Frames of [`lbcore::peers`] over a tokio stream: one read or write per call, each bounded in
//! size ([`MAX_FRAME`]) and, by the caller, in time. Must not interpret messages.

use lbcore::peers::{self, HEADER_LEN, MAX_FRAME, Message};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{PeersError, WRITE_TIMEOUT};

/// Reads one frame into `buf` (reused; grows to at most [`MAX_FRAME`]) and decodes it. A clean
/// end of stream before a frame is [`PeersError::Closed`].
pub(super) async fn read<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Message, PeersError> {
    let mut header = [0u8; HEADER_LEN];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(PeersError::Closed),
        Err(e) => return Err(e.into()),
    }
    let n = peers::frame_len(header)?;
    debug_assert!(n <= MAX_FRAME);
    buf.resize(n, 0);
    r.read_exact(buf).await?;
    Ok(peers::decode(buf)?)
}

/// Reads one frame, failing with [`PeersError::Timeout`] after `limit`.
pub(super) async fn read_within<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limit: std::time::Duration,
    what: &'static str,
) -> Result<Message, PeersError> {
    tokio::time::timeout(limit, read(r, buf))
        .await
        .map_err(|_| PeersError::Timeout(what))?
}

/// Writes already encoded frames, failing with [`PeersError::Timeout`] when the peer does not
/// take them within [`WRITE_TIMEOUT`].
pub(super) async fn write_bytes<W: AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
) -> Result<(), PeersError> {
    tokio::time::timeout(WRITE_TIMEOUT, w.write_all(bytes))
        .await
        .map_err(|_| PeersError::Timeout("writing to the peer"))??;
    Ok(())
}

/// Encodes and writes one message (see [`write_bytes`]).
pub(super) async fn write<W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: &Message,
) -> Result<(), PeersError> {
    let mut out = Vec::new();
    peers::encode(msg, &mut out)?;
    write_bytes(w, &out).await
}
