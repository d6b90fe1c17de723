//! Stick-table replication between the two boxes (HAProxy's `peers`, reference §2.6): our own
//! wire protocol, versioned and length-prefixed, and the pure rules that decide what a received
//! entry does to a table.
//!
//! Owns: the frame format ([`encode`], [`decode`], [`frame_len`]), the hello and its checks
//! ([`check_hello`]), last-writer-wins ([`remote_wins`]), where a received expiry puts an entry
//! ([`learned_at`]) and the reconnect backoff ([`backoff`]). Must not touch sockets or read the
//! clock (proxyd's `peers` module does both). Decoding never panics, whatever the input.
//!
//! HAProxy's own protocol (`peers-v2.0.txt`) is not spoken: this is proxyd to proxyd only.
//!
//! ## Wire format, version 1.0
//!
//! Every message is one frame; integers are big-endian.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Length (type + body, 1..=MAX_FRAME)           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |  Body ...
//! +-+-+-+-+-+-+-+-+
//!
//! str8    = len:u8 (1..=255) UTF-8 bytes
//! Hello      (1) = "LBPR" major:u8 minor:u8 from:str8 to:str8 section:str8
//! HelloReply (2) = status:u8 major:u8 minor:u8
//! Updates    (3) = table:str8 count:u16 entry*count
//!     entry      = family:u8 (4 | 6) address (4 | 16 bytes) server_id:u32 expire_ms:u32
//!                  (expire_ms = 0xFFFF_FFFF: the entry never expires)
//! ResyncEnd  (4) = (empty)   the full table pushed after a hello is complete
//! Heartbeat  (5) = (empty)   sent every HEARTBEAT by both ends while idle
//! ```
//!
//! A connection carries one direction of data: the connecting peer sends a Hello, the accepting
//! peer answers a HelloReply (and closes unless it is `Ok`), then the connecting peer pushes its
//! whole table (Updates…, ResyncEnd) and its local changes from then on; the accepting peer only
//! sends Heartbeats. Each pair of peers therefore holds two connections, one per direction. A
//! peer of another major version is refused; a higher minor version may add message types, which
//! a receiver of a lower minor skips.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use bytes::BufMut;

use crate::config::proxy::PeersSection;

/// Protocol major version: a peer with another major version is refused.
pub const VERSION_MAJOR: u8 = 1;
/// Protocol minor version: compatible additions (new message types, skipped by older peers).
pub const VERSION_MINOR: u8 = 0;
/// First bytes of a Hello body, so a stray client (or an HAProxy peer) is told apart at once.
pub const MAGIC: [u8; 4] = *b"LBPR";
/// Bytes of the length prefix.
pub const HEADER_LEN: usize = 4;
/// Largest `Length` accepted (type byte + body): a frame is never bigger, so a reader needs at
/// most this much memory per connection.
pub const MAX_FRAME: usize = 64 * 1024;
/// Largest number of entries in one Updates frame (keeps a frame under [`MAX_FRAME`] with a
/// 255-byte table name: 1 + 256 + 2 + 1024 × 25 bytes).
pub const MAX_BATCH: usize = 1024;
/// Wire value of "never expires".
pub const NO_EXPIRY: u32 = u32::MAX;
/// Interval of heartbeats on an idle connection.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A connection on which nothing arrived for this long is dead (three heartbeats missed).
pub const DEAD_AFTER: Duration = Duration::from_secs(6);
/// First reconnect delay after a failed or lost connection.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay (HAProxy retries a peer every 5 s).
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

const T_HELLO: u8 = 1;
const T_HELLO_REPLY: u8 = 2;
const T_UPDATES: u8 = 3;
const T_RESYNC_END: u8 = 4;
const T_HEARTBEAT: u8 = 5;

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// First message of a connection, from the connecting peer.
    Hello(Hello),
    /// The accepting peer's answer to a Hello.
    HelloReply(HelloReply),
    /// Entries of one table.
    Updates(Updates),
    /// The full resync that follows a hello is complete.
    ResyncEnd,
    /// Keep-alive on an idle connection.
    Heartbeat,
    /// A message type of a later minor version, skipped (its type byte).
    Unknown(u8),
}

/// The connecting peer introduces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Sender's protocol major version.
    pub major: u8,
    /// Sender's protocol minor version.
    pub minor: u8,
    /// Sender's peer name (its `peer` line in the section).
    pub from: String,
    /// The peer name the sender believes it is talking to.
    pub to: String,
    /// The `peers` section both belong to.
    pub section: String,
}

/// Outcome of a hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HelloStatus {
    /// Accepted: updates follow.
    Ok,
    /// Another major version.
    BadVersion,
    /// The section is not one the receiver runs.
    UnknownSection,
    /// `from` is not a remote peer of the section (or is the receiver itself).
    UnknownPeer,
    /// `to` is not the receiver's local peer name.
    WrongPeer,
    /// The connection does not come from the address configured for `from`.
    WrongAddress,
    /// A status of a later version.
    Other(u8),
}

impl HelloStatus {
    fn code(self) -> u8 {
        match self {
            HelloStatus::Ok => 0,
            HelloStatus::BadVersion => 1,
            HelloStatus::UnknownSection => 2,
            HelloStatus::UnknownPeer => 3,
            HelloStatus::WrongPeer => 4,
            HelloStatus::WrongAddress => 5,
            HelloStatus::Other(c) => c,
        }
    }

    fn from_code(c: u8) -> Self {
        match c {
            0 => HelloStatus::Ok,
            1 => HelloStatus::BadVersion,
            2 => HelloStatus::UnknownSection,
            3 => HelloStatus::UnknownPeer,
            4 => HelloStatus::WrongPeer,
            5 => HelloStatus::WrongAddress,
            c => HelloStatus::Other(c),
        }
    }

    /// A short lowercase reason for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            HelloStatus::Ok => "ok",
            HelloStatus::BadVersion => "protocol version mismatch",
            HelloStatus::UnknownSection => "unknown peers section",
            HelloStatus::UnknownPeer => "unknown peer name",
            HelloStatus::WrongPeer => "hello addressed to another peer",
            HelloStatus::WrongAddress => "peer connects from an unexpected address",
            HelloStatus::Other(_) => "refused",
        }
    }
}

/// The accepting peer's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloReply {
    /// Accepted or why not.
    pub status: HelloStatus,
    /// Receiver's protocol major version.
    pub major: u8,
    /// Receiver's protocol minor version.
    pub minor: u8,
}

/// Entries of one stick table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updates {
    /// Table name (the declaring backend's name, the same on both boxes).
    pub table: String,
    /// At most [`MAX_BATCH`] entries.
    pub entries: Vec<Update>,
}

/// One stick-table entry on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update {
    /// The key (client address).
    pub key: IpAddr,
    /// Server `id` ("server IDs are used to identify servers remotely", reference §2.6).
    pub server_id: u32,
    /// Time left before the entry expires on the sender, millisecond precision; `None` when its
    /// table has no `expire`.
    pub expire: Option<Duration>,
}

/// Why bytes are not a valid frame. Every variant names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The length prefix is 0 or above [`MAX_FRAME`].
    #[error("frame length {0} out of range 1..={MAX_FRAME}")]
    BadLength(usize),
    /// The body ends before a field.
    #[error("frame truncated in {0}")]
    Truncated(&'static str),
    /// Bytes left after the last field.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    /// A Hello without the magic.
    #[error("not a proxyd peers hello (bad magic)")]
    BadMagic,
    /// A name that is empty or not UTF-8.
    #[error("invalid {0}: empty or not UTF-8")]
    BadName(&'static str),
    /// An address family other than 4 or 6.
    #[error("unknown address family {0}")]
    BadFamily(u8),
    /// More entries than [`MAX_BATCH`].
    #[error("{0} entries in one update frame (at most {MAX_BATCH})")]
    TooManyEntries(usize),
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A name longer than 255 bytes or empty.
    #[error("{0} must be 1 to 255 bytes long")]
    BadName(&'static str),
    /// More entries than [`MAX_BATCH`].
    #[error("{0} entries in one update frame (at most {MAX_BATCH})")]
    TooManyEntries(usize),
}

fn put_str(out: &mut Vec<u8>, s: &str, what: &'static str) -> Result<(), EncodeError> {
    let n = u8::try_from(s.len()).map_err(|_| EncodeError::BadName(what))?;
    if n == 0 {
        return Err(EncodeError::BadName(what));
    }
    out.put_u8(n);
    out.put_slice(s.as_bytes());
    Ok(())
}

/// Wire value of an expiry: milliseconds, saturating just below [`NO_EXPIRY`].
pub fn expire_ms(expire: Option<Duration>) -> u32 {
    match expire {
        None => NO_EXPIRY,
        Some(d) => u32::try_from(d.as_millis()).map_or(NO_EXPIRY - 1, |ms| ms.min(NO_EXPIRY - 1)),
    }
}

/// Appends `msg` as one frame (length prefix included) to `out`. On error `out` is unchanged.
pub fn encode(msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    out.put_u32(0);
    let r = encode_body(msg, out);
    if r.is_err() {
        out.truncate(start);
        return r;
    }
    let len = out.len() - start - HEADER_LEN;
    debug_assert!(len <= MAX_FRAME);
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out[start..start + HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn encode_body(msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match msg {
        Message::Hello(h) => {
            out.put_u8(T_HELLO);
            out.put_slice(&MAGIC);
            out.put_u8(h.major);
            out.put_u8(h.minor);
            put_str(out, &h.from, "peer name")?;
            put_str(out, &h.to, "peer name")?;
            put_str(out, &h.section, "section name")?;
        }
        Message::HelloReply(r) => {
            out.put_u8(T_HELLO_REPLY);
            out.put_u8(r.status.code());
            out.put_u8(r.major);
            out.put_u8(r.minor);
        }
        Message::Updates(u) => {
            if u.entries.len() > MAX_BATCH {
                return Err(EncodeError::TooManyEntries(u.entries.len()));
            }
            out.put_u8(T_UPDATES);
            put_str(out, &u.table, "table name")?;
            out.put_u16(u16::try_from(u.entries.len()).unwrap_or(u16::MAX));
            for e in &u.entries {
                match e.key.to_canonical() {
                    IpAddr::V4(a) => {
                        out.put_u8(4);
                        out.put_slice(&a.octets());
                    }
                    IpAddr::V6(a) => {
                        out.put_u8(6);
                        out.put_slice(&a.octets());
                    }
                }
                out.put_u32(e.server_id);
                out.put_u32(expire_ms(e.expire));
            }
        }
        Message::ResyncEnd => out.put_u8(T_RESYNC_END),
        Message::Heartbeat => out.put_u8(T_HEARTBEAT),
        Message::Unknown(t) => out.put_u8(*t),
    }
    Ok(())
}

/// The body length announced by a frame's 4-byte prefix, checked against [`MAX_FRAME`] so a
/// reader allocates at most that much.
pub fn frame_len(header: [u8; HEADER_LEN]) -> Result<usize, DecodeError> {
    let n = usize::try_from(u32::from_be_bytes(header)).unwrap_or(usize::MAX);
    if n == 0 || n > MAX_FRAME {
        return Err(DecodeError::BadLength(n));
    }
    Ok(n)
}

/// Decodes one frame at the start of `buf` (prefix included). `Ok(None)`: more bytes are
/// needed; `Ok(Some((msg, used)))`: `used` bytes of `buf` were the frame.
pub fn decode_stream(buf: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
    let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let n = frame_len(*header)?;
    let Some(body) = buf.get(HEADER_LEN..HEADER_LEN + n) else {
        return Ok(None);
    };
    Ok(Some((decode(body)?, HEADER_LEN + n)))
}

/// A bounds-checked reader over a frame body.
struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated(what));
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Ok(h)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn str8(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let n = usize::from(self.u8(what)?);
        let b = self.take(n, what)?;
        match std::str::from_utf8(b) {
            Ok(s) if !s.is_empty() => Ok(s.to_owned()),
            _ => Err(DecodeError::BadName(what)),
        }
    }
    fn end(&self) -> Result<(), DecodeError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.0.len()))
        }
    }
}

/// Decodes a frame body (the bytes after the length prefix: type and body).
pub fn decode(body: &[u8]) -> Result<Message, DecodeError> {
    if body.is_empty() || body.len() > MAX_FRAME {
        return Err(DecodeError::BadLength(body.len()));
    }
    let mut r = Rd(&body[1..]);
    let msg = match body[0] {
        T_HELLO => {
            if r.take(MAGIC.len(), "hello magic")? != MAGIC {
                return Err(DecodeError::BadMagic);
            }
            let major = r.u8("hello version")?;
            let minor = r.u8("hello version")?;
            Message::Hello(Hello {
                major,
                minor,
                from: r.str8("sender peer name")?,
                to: r.str8("receiver peer name")?,
                section: r.str8("section name")?,
            })
        }
        T_HELLO_REPLY => Message::HelloReply(HelloReply {
            status: HelloStatus::from_code(r.u8("hello reply status")?),
            major: r.u8("hello reply version")?,
            minor: r.u8("hello reply version")?,
        }),
        T_UPDATES => {
            let table = r.str8("table name")?;
            let count = usize::from(r.u16("entry count")?);
            if count > MAX_BATCH {
                return Err(DecodeError::TooManyEntries(count));
            }
            let mut entries = Vec::with_capacity(count);
            for _ in 0..count {
                let key = match r.u8("address family")? {
                    4 => {
                        let b = r.take(4, "IPv4 address")?;
                        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
                    }
                    6 => {
                        let b = r.take(16, "IPv6 address")?;
                        let mut o = [0u8; 16];
                        o.copy_from_slice(b);
                        IpAddr::V6(Ipv6Addr::from(o))
                    }
                    f => return Err(DecodeError::BadFamily(f)),
                };
                let server_id = r.u32("server id")?;
                let ms = r.u32("expiry")?;
                entries.push(Update {
                    key,
                    server_id,
                    expire: (ms != NO_EXPIRY).then(|| Duration::from_millis(u64::from(ms))),
                });
            }
            Message::Updates(Updates { table, entries })
        }
        T_RESYNC_END => Message::ResyncEnd,
        T_HEARTBEAT => Message::Heartbeat,
        // A later minor version's message: skipped whole, whatever its body.
        t => return Ok(Message::Unknown(t)),
    };
    r.end()?;
    Ok(msg)
}

/// Judges a hello received on a connection from `from_addr` by the process whose peer name is
/// `local` in each of `sections`: version, section, names, and the source address against the one
/// configured for the claimed peer (an unspecified configured address accepts any source).
pub fn check_hello(
    h: &Hello,
    sections: &[&PeersSection],
    local: &str,
    from_addr: IpAddr,
) -> HelloStatus {
    if h.major != VERSION_MAJOR {
        return HelloStatus::BadVersion;
    }
    let Some(section) = sections.iter().find(|s| s.name == h.section) else {
        return HelloStatus::UnknownSection;
    };
    if h.to != local {
        return HelloStatus::WrongPeer;
    }
    let Some(peer) = section.remotes(local).find(|p| p.name == h.from) else {
        return HelloStatus::UnknownPeer;
    };
    let ip = peer.addr.ip();
    if !ip.is_unspecified() && ip.to_canonical() != from_addr.to_canonical() {
        return HelloStatus::WrongAddress;
    }
    HelloStatus::Ok
}

/// The local entry a received one competes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    /// Its server id.
    pub server_id: u32,
    /// Its time left (`None`: the table has no `expire`).
    pub expire: Option<Duration>,
}

/// Last writer wins: does the received entry replace `local`?
///
/// With `expire` on both sides, an entry's time left says when it was last written (its table's
/// `expire` after the write), so the one with more time left is the later write; equal times left
/// with different servers go to the peer whose name sorts first (`tie_to_remote` says whether
/// that is the sender), so both ends settle on the same server. Without expiry information the
/// received entry wins when it names another server (arrival order). An entry received already
/// expired never wins.
pub fn remote_wins(local: Option<Local>, remote: &Update, tie_to_remote: bool) -> bool {
    if remote.expire.is_some_and(|d| d.is_zero()) {
        return false;
    }
    let Some(l) = local else {
        return true;
    };
    match (l.expire, remote.expire) {
        (Some(le), Some(re)) => {
            let (lm, rm) = (le.as_millis(), re.as_millis());
            rm > lm || (rm == lm && l.server_id != remote.server_id && tie_to_remote)
        }
        _ => l.server_id != remote.server_id,
    }
}

/// The instant to pass as `now` to `StickTable::learn` so that an entry of a table with
/// `table_expire` ends up expiring `remaining` after `now`: the moment it was last written, as
/// seen from here. A remaining time above the table's own `expire` is capped to it; without
/// either value the entry is learned `now`.
pub fn learned_at(
    now: Instant,
    table_expire: Option<Duration>,
    remaining: Option<Duration>,
) -> Instant {
    match (table_expire, remaining) {
        (Some(e), Some(r)) => now.checked_sub(e.saturating_sub(r)).unwrap_or(now),
        _ => now,
    }
}

/// Reconnect delay after `failures` consecutive failures (0 = first retry): [`BACKOFF_MIN`]
/// doubling up to [`BACKOFF_MAX`].
pub fn backoff(failures: u32) -> Duration {
    BACKOFF_MIN
        .saturating_mul(1u32 << failures.min(16))
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(msg: &Message) -> Vec<u8> {
        let mut v = Vec::new();
        encode(msg, &mut v).unwrap();
        v
    }

    fn hello() -> Hello {
        Hello {
            major: VERSION_MAJOR,
            minor: VERSION_MINOR,
            from: "lb1".into(),
            to: "lb2".into(),
            section: "lbpair".into(),
        }
    }

    #[test]
    fn hello_bytes_follow_the_documented_layout() {
        let v = frame(&Message::Hello(hello()));
        let mut want = vec![0, 0, 0, 22, 1, b'L', b'B', b'P', b'R', 1, 0];
        want.extend_from_slice(b"\x03lb1\x03lb2\x06lbpair");
        assert_eq!(v, want);
        assert_eq!(
            decode_stream(&v),
            Ok(Some((Message::Hello(hello()), v.len())))
        );
    }

    #[test]
    fn update_bytes_follow_the_documented_layout() {
        let msg = Message::Updates(Updates {
            table: "st".into(),
            entries: vec![
                Update {
                    key: "192.0.2.7".parse().unwrap(),
                    server_id: 2,
                    expire: Some(Duration::from_millis(1500)),
                },
                Update {
                    key: "2001:db8::1".parse().unwrap(),
                    server_id: 0x0102_0304,
                    expire: None,
                },
            ],
        });
        let v = frame(&msg);
        let mut want = vec![0, 0, 0, 6 + 13 + 25, 3, 2, b's', b't', 0, 2];
        want.extend_from_slice(&[4, 192, 0, 2, 7, 0, 0, 0, 2, 0, 0, 0x05, 0xdc]);
        want.extend_from_slice(&[
            6, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ]);
        want.extend_from_slice(&[1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(v, want);
        assert_eq!(decode(&v[4..]), Ok(msg));
    }

    #[test]
    fn ipv4_mapped_keys_travel_as_ipv4() {
        let msg = Message::Updates(Updates {
            table: "t".into(),
            entries: vec![Update {
                key: "::ffff:192.0.2.9".parse().unwrap(),
                server_id: 1,
                expire: None,
            }],
        });
        let Ok(Message::Updates(u)) = decode(&frame(&msg)[4..]) else {
            panic!("not updates");
        };
        assert_eq!(u.entries[0].key, "192.0.2.9".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn bad_frames_are_named() {
        assert_eq!(frame_len([0, 0, 0, 0]), Err(DecodeError::BadLength(0)));
        assert_eq!(
            frame_len([0, 1, 0, 1]),
            Err(DecodeError::BadLength(MAX_FRAME + 1))
        );
        assert_eq!(frame_len([0, 1, 0, 0]), Ok(MAX_FRAME));
        assert_eq!(
            decode(&[1, b'H', b'T', b'T', b'P']),
            Err(DecodeError::BadMagic)
        );
        assert_eq!(decode(&[5, 0]), Err(DecodeError::Trailing(1)));
        assert_eq!(
            decode(&[3, 1, b't', 0, 1, 5]),
            Err(DecodeError::BadFamily(5))
        );
        assert_eq!(
            decode(&[3, 1, b't', 0, 1, 4, 1, 2]),
            Err(DecodeError::Truncated("IPv4 address"))
        );
        assert_eq!(
            decode(&[3, 1, b't', 0x04, 0x01]),
            Err(DecodeError::TooManyEntries(1025))
        );
        assert_eq!(decode(&[3, 0]), Err(DecodeError::BadName("table name")));
        assert_eq!(
            decode(&[3, 1, 0xff, 0, 0]),
            Err(DecodeError::BadName("table name"))
        );
        assert_eq!(
            decode(&[2, 0, 1]),
            Err(DecodeError::Truncated("hello reply version"))
        );
        assert_eq!(decode(&[]), Err(DecodeError::BadLength(0)));
        // A later minor version's message type is skipped, body and all.
        assert_eq!(decode(&[42, 1, 2, 3]), Ok(Message::Unknown(42)));
    }

    #[test]
    fn partial_frames_ask_for_more() {
        let v = frame(&Message::Heartbeat);
        assert_eq!(v, [0, 0, 0, 1, 5]);
        for cut in 0..v.len() {
            assert_eq!(decode_stream(&v[..cut]), Ok(None), "cut at {cut}");
        }
        let mut two = v.clone();
        two.extend(frame(&Message::ResyncEnd));
        assert_eq!(decode_stream(&two), Ok(Some((Message::Heartbeat, 5))));
        assert_eq!(decode_stream(&two[5..]), Ok(Some((Message::ResyncEnd, 5))));
    }

    #[test]
    fn encode_refuses_what_cannot_be_decoded() {
        let mut out = vec![9];
        let long = "x".repeat(256);
        let mut h = hello();
        h.from = long;
        assert_eq!(
            encode(&Message::Hello(h), &mut out),
            Err(EncodeError::BadName("peer name"))
        );
        let too_many = Message::Updates(Updates {
            table: "t".into(),
            entries: vec![
                Update {
                    key: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    server_id: 1,
                    expire: None
                };
                MAX_BATCH + 1
            ],
        });
        assert_eq!(
            encode(&too_many, &mut out),
            Err(EncodeError::TooManyEntries(MAX_BATCH + 1))
        );
        assert_eq!(out, [9], "a failed encode leaves the buffer as it was");
    }

    #[test]
    fn a_full_batch_with_the_longest_name_fits_a_frame() {
        let msg = Message::Updates(Updates {
            table: "t".repeat(255),
            entries: vec![
                Update {
                    key: "2001:db8::1".parse().unwrap(),
                    server_id: u32::MAX,
                    expire: Some(Duration::from_secs(3600)),
                };
                MAX_BATCH
            ],
        });
        let v = frame(&msg);
        assert!(v.len() - HEADER_LEN <= MAX_FRAME, "{}", v.len());
        assert_eq!(decode_stream(&v).unwrap().unwrap().0, msg);
    }

    #[test]
    fn expiry_saturates_below_never() {
        assert_eq!(expire_ms(None), NO_EXPIRY);
        assert_eq!(expire_ms(Some(Duration::from_millis(7))), 7);
        assert_eq!(
            expire_ms(Some(Duration::from_secs(u64::MAX))),
            NO_EXPIRY - 1
        );
    }

    #[test]
    fn hellos_are_judged_by_version_section_names_and_address() {
        let a: IpAddr = "192.0.2.11".parse().unwrap();
        let peer = |name: &str, addr: &str| crate::config::proxy::Peer {
            name: name.into(),
            addr: addr.parse().unwrap(),
            span: crate::diag::Span::file_start("t.cfg"),
        };
        let section = PeersSection {
            name: "lbpair".into(),
            peers: vec![
                peer("lb1", "192.0.2.11:10000"),
                peer("lb2", "192.0.2.12:10000"),
            ],
            disabled: false,
            span: crate::diag::Span::file_start("t.cfg"),
        };
        let sections = [&section];
        let ok = hello();
        assert_eq!(check_hello(&ok, &sections, "lb2", a), HelloStatus::Ok);
        let with = |f: &dyn Fn(&mut Hello)| {
            let mut h = hello();
            f(&mut h);
            check_hello(&h, &sections, "lb2", a)
        };
        assert_eq!(with(&|h| h.major = 2), HelloStatus::BadVersion);
        assert_eq!(with(&|h| h.minor = 9), HelloStatus::Ok);
        assert_eq!(
            with(&|h| h.section = "other".into()),
            HelloStatus::UnknownSection
        );
        assert_eq!(with(&|h| h.to = "lb3".into()), HelloStatus::WrongPeer);
        assert_eq!(
            with(&|h| h.from = "intruder".into()),
            HelloStatus::UnknownPeer
        );
        // A peer cannot claim the receiver's own name.
        assert_eq!(with(&|h| h.from = "lb2".into()), HelloStatus::UnknownPeer);
        let elsewhere: IpAddr = "192.0.2.99".parse().unwrap();
        assert_eq!(
            check_hello(&ok, &sections, "lb2", elsewhere),
            HelloStatus::WrongAddress
        );
        let mapped: IpAddr = "::ffff:192.0.2.11".parse().unwrap();
        assert_eq!(check_hello(&ok, &sections, "lb2", mapped), HelloStatus::Ok);
    }

    fn upd(server_id: u32, ms: Option<u64>) -> Update {
        Update {
            key: IpAddr::V4(Ipv4Addr::LOCALHOST),
            server_id,
            expire: ms.map(Duration::from_millis),
        }
    }

    fn loc(server_id: u32, ms: Option<u64>) -> Option<Local> {
        Some(Local {
            server_id,
            expire: ms.map(Duration::from_millis),
        })
    }

    #[test]
    fn the_later_write_wins() {
        assert!(remote_wins(None, &upd(1, Some(10)), false));
        assert!(
            !remote_wins(None, &upd(1, Some(0)), false),
            "already expired"
        );
        // More time left = written later.
        assert!(remote_wins(loc(1, Some(100)), &upd(2, Some(200)), false));
        assert!(!remote_wins(loc(1, Some(200)), &upd(2, Some(100)), true));
        // Same server: only a fresher copy is worth writing (it extends the expiry).
        assert!(remote_wins(loc(1, Some(100)), &upd(1, Some(200)), false));
        assert!(!remote_wins(loc(1, Some(100)), &upd(1, Some(100)), true));
        // A tie on different servers goes to the peer whose name sorts first, on both ends.
        assert!(remote_wins(loc(1, Some(100)), &upd(2, Some(100)), true));
        assert!(!remote_wins(loc(1, Some(100)), &upd(2, Some(100)), false));
        // No expiry information: arrival order.
        assert!(remote_wins(loc(1, None), &upd(2, None), false));
        assert!(!remote_wins(loc(1, None), &upd(1, None), true));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // A test needs some instant to count from.
    fn received_expiry_sets_the_learn_instant() {
        let now = Instant::now() + Duration::from_secs(100_000);
        let e = Some(Duration::from_secs(60));
        assert_eq!(
            learned_at(now, e, Some(Duration::from_secs(45))),
            now - Duration::from_secs(15)
        );
        // Capped to the local table's expire.
        assert_eq!(learned_at(now, e, Some(Duration::from_secs(90))), now);
        assert_eq!(learned_at(now, None, Some(Duration::from_secs(5))), now);
        assert_eq!(learned_at(now, e, None), now);
        // With a StickTable the entry expires `remaining` after now.
        let mut t = crate::balance::StickTable::new(10, e);
        let key: IpAddr = "192.0.2.5".parse().unwrap();
        t.learn(key, 2, learned_at(now, e, Some(Duration::from_secs(45))));
        assert_eq!(
            t.peek(key).unwrap().expires_in(now),
            Some(Duration::from_secs(45))
        );
    }

    #[test]
    fn backoff_doubles_then_stays_bounded() {
        assert_eq!(backoff(0), BACKOFF_MIN);
        assert_eq!(backoff(1), BACKOFF_MIN * 2);
        assert_eq!(backoff(3), BACKOFF_MIN * 8);
        assert_eq!(backoff(6), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    fn arb_name() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_.:-]{1,40}"
    }

    fn arb_update() -> impl Strategy<Value = Update> {
        (
            prop_oneof![
                any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
                any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o)).to_canonical()),
            ],
            any::<u32>(),
            proptest::option::of(0u64..u64::from(NO_EXPIRY - 1)),
        )
            .prop_map(|(key, server_id, ms)| Update {
                key,
                server_id,
                expire: ms.map(Duration::from_millis),
            })
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (any::<u8>(), any::<u8>(), arb_name(), arb_name(), arb_name()).prop_map(
                |(major, minor, from, to, section)| Message::Hello(Hello {
                    major,
                    minor,
                    from,
                    to,
                    section
                })
            ),
            (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(s, major, minor)| {
                Message::HelloReply(HelloReply {
                    status: HelloStatus::from_code(s),
                    major,
                    minor,
                })
            }),
            (arb_name(), proptest::collection::vec(arb_update(), 0..50))
                .prop_map(|(table, entries)| Message::Updates(Updates { table, entries })),
            Just(Message::ResyncEnd),
            Just(Message::Heartbeat),
        ]
    }

    proptest! {
        #[test]
        fn every_message_round_trips(msgs in proptest::collection::vec(arb_message(), 1..5)) {
            let mut buf = Vec::new();
            for m in &msgs {
                encode(m, &mut buf).unwrap();
            }
            let mut at = 0;
            for m in &msgs {
                let (got, used) = decode_stream(&buf[at..]).unwrap().unwrap();
                prop_assert_eq!(&got, m);
                at += used;
            }
            prop_assert_eq!(at, buf.len());
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(&bytes);
            let _ = decode_stream(&bytes);
        }

        #[test]
        fn decoding_mutated_frames_never_panics(
            msg in arb_message(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut v = frame(&msg);
            for (i, b) in flips {
                let n = v.len();
                v[i % n] ^= b;
            }
            let cut = cut % (v.len() + 1);
            if let Ok(Some((_, used))) = decode_stream(&v[..cut]) {
                prop_assert!(used <= cut);
            }
            if v.len() > HEADER_LEN {
                let _ = decode(&v[HEADER_LEN..]);
            }
        }
    }
}

#[cfg(test)]
mod config_tests {
    //! The `peers` parts of the configuration (haproxy.cfg and YAML front ends, the model's
    //! local-peer check), next to the protocol they configure.

    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::path::Path;

    use crate::config::proxy::ProxyConfig;
    use crate::diag::Diagnostics;

    fn cfg(text: &str) -> (Option<ProxyConfig>, String) {
        let (c, d) = crate::config::haproxy::parse_str(text, Path::new("t.cfg"), &BTreeMap::new());
        (c, d.to_string())
    }

    fn yaml(text: &str) -> (Option<ProxyConfig>, String) {
        let (c, d) =
            crate::config::proxy_yaml::parse_str(text, Path::new("p.yaml"), &BTreeMap::new());
        (c, d.to_string())
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const TABLE: &str = "backend st\n  stick-table type ip size 1k expire 1h peers lbpair\n";

    #[test]
    fn peer_lines_give_the_section_and_the_table_keeps_its_name() {
        let (c, d) = cfg(&format!(
            "peers lbpair\n  peer lb1 192.0.2.11:10000\n  peer lb2 [2001:db8::12]:10000\n{TABLE}"
        ));
        assert_eq!(d, "");
        let c = c.unwrap();
        let s = c.peers_section("lbpair").unwrap();
        assert!(!s.disabled);
        assert_eq!((s.span.line, s.span.col), (1, 1));
        let got: Vec<(&str, SocketAddr)> =
            s.peers.iter().map(|p| (p.name.as_str(), p.addr)).collect();
        assert_eq!(
            got,
            [
                ("lb1", addr("192.0.2.11:10000")),
                ("lb2", addr("[2001:db8::12]:10000"))
            ]
        );
        assert_eq!(s.local("lb2").unwrap().addr, addr("[2001:db8::12]:10000"));
        assert_eq!(
            s.remotes("lb2")
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["lb1"]
        );
        let t = c.backend("st").unwrap().stick_table.as_ref().unwrap();
        assert_eq!(t.peers.as_deref(), Some("lbpair"));
    }

    #[test]
    fn bind_and_server_lines_give_the_same_model() {
        let (c, d) = cfg(&format!(
            "peers lbpair\n  bind 192.0.2.11:10000\n  server lb1\n  server lb2 192.0.2.12:10000\n{TABLE}"
        ));
        assert_eq!(d, "");
        let c = c.unwrap();
        let got: Vec<(String, SocketAddr)> = c.peers[0]
            .peers
            .iter()
            .map(|p| (p.name.clone(), p.addr))
            .collect();
        assert_eq!(
            got,
            [
                ("lb1".to_owned(), addr("192.0.2.11:10000")),
                ("lb2".to_owned(), addr("192.0.2.12:10000"))
            ]
        );
    }

    #[test]
    fn yaml_peers_are_the_same_section() {
        let (c, d) = yaml(
            "peers:\n  lbpair:\n    peer:\n      lb1: 192.0.2.11:10000\n      lb2: 192.0.2.12:10000\nbackend:\n  st:\n    stick-table: type ip size 1k expire 1h peers lbpair\n",
        );
        assert_eq!(d, "");
        let c = c.unwrap();
        let s = &c.peers[0];
        assert_eq!(s.name, "lbpair");
        assert_eq!(s.peers[1].addr, addr("192.0.2.12:10000"));
        assert_eq!((s.peers[1].span.line, s.peers[1].span.col), (5, 7));
        assert_eq!(
            c.backend("st")
                .unwrap()
                .stick_table
                .as_ref()
                .unwrap()
                .peers
                .as_deref(),
            Some("lbpair")
        );
        let (c2, d) = yaml(
            "peers:\n  lbpair:\n    bind: 192.0.2.11:10000\n    server: {lb1: , lb2: 192.0.2.12:10000}\n",
        );
        assert_eq!(d, "");
        let p = &c2.unwrap().peers[0].peers;
        assert_eq!(
            (p[0].name.as_str(), p[0].addr, p[1].addr),
            ("lb1", addr("192.0.2.11:10000"), addr("192.0.2.12:10000"))
        );
        let (_, d) = yaml("peers:\n  p:\n    peer:\n      lb1: 192.0.2.11\n");
        assert_eq!(
            d,
            "p.yaml:4:12: error: peer address '192.0.2.11' needs a port ('addr:port')\n\
             p.yaml:1:1: error: peers section 'p' has no peer\n"
        );
    }

    #[test]
    fn the_local_peer_must_be_in_every_section() {
        let (c, _) = cfg(&format!(
            "peers lbpair\n  peer lb1 192.0.2.11:10000\n  peer lb2 192.0.2.12:10000\npeers off\n  disabled\n  peer x 192.0.2.1:1\n{TABLE}"
        ));
        let c = c.unwrap();
        let mut d = Diagnostics::new();
        c.check_local_peer("lb1", &mut d);
        assert!(d.is_empty(), "{d}");
        c.check_local_peer("vm", &mut d);
        assert_eq!(
            d.to_string(),
            "t.cfg:1:1: error: peers section 'lbpair' has no peer named 'vm', the local peer name (the host name unless set with -L NAME or 'localpeer'); its peers are: lb1, lb2\n"
        );
        assert!(c.peers_section("off").unwrap().disabled);
    }

    #[test]
    fn localpeer_is_read_from_global() {
        let (c, d) = cfg("global\n  localpeer lb2\n");
        assert_eq!(d, "");
        assert_eq!(c.unwrap().global.localpeer.as_deref(), Some("lb2"));
    }

    #[test]
    fn every_peers_mistake_is_located() {
        let cases: &[(&str, &str)] = &[
            (
                "backend st\n  stick-table type ip size 1k peers lbpiar\npeers lbpair\n  peer lb1 192.0.2.1:1\n",
                "t.cfg:2:3: error: backend 'st': stick-table refers to unknown peers section 'lbpiar'; did you mean 'lbpair'?\n",
            ),
            (
                "peers p\n  peer lb1 192.0.2.1:1\n  peer lb1 192.0.2.2:1\n",
                "t.cfg:3:8: error: peers section 'p': another peer named 'lb1' was already defined at t.cfg:2:8\n",
            ),
            (
                "peers p\n  peer a 192.0.2.1:1\npeers p\n  peer b 192.0.2.1:2\n",
                "t.cfg:3:1: error: peers section 'p' has the same name as another peers section declared at t.cfg:1:1\n",
            ),
            (
                "peers p\n  peer a 192.0.2.1:1\n  peer b host.example:1\n",
                "t.cfg:3:10: error: invalid server address 'host.example:1': an IP address expected (host names are not resolved)\n",
            ),
            (
                "peers p\n  server lb1\n  server lb2 192.0.2.2:1\n",
                "t.cfg:2:10: error: peers section 'p': peer 'lb1' has no address and the section has no 'bind ADDR:PORT'\n",
            ),
            (
                "peers p\n  bind 192.0.2.1:1\n  server lb1\n  server lb2\n",
                "t.cfg:4:10: error: peers section 'p': peer 'lb2' has no address; only the local peer may omit it (it listens on 'bind')\n",
            ),
            (
                "peers p\n  bind 192.0.2.1:1\n  server lb2 192.0.2.2:1\n",
                "t.cfg:2:3: error: peers section 'p': 'bind' is the local peer's address, but no 'server NAME' line without an address names the local peer\n",
            ),
            (
                "peers p\n  bind 192.0.2.1:1-3\n  server a\n",
                "t.cfg:2:8: error: peers 'bind' takes one port, not a range: '192.0.2.1:1-3'\n\
                 t.cfg:3:10: error: peers section 'p': peer 'a' has no address and the section has no 'bind ADDR:PORT'\n",
            ),
            (
                "peers p\n  peer a 192.0.2.1:1\n  table t type ip size 1k\n",
                "t.cfg:3:3: error: 'table' in a peers section is not supported by proxyd; declare the stick-table in a backend with 'peers <section>'\n",
            ),
            (
                "peers p\n  peer a 192.0.2.1:1\n  per b 192.0.2.1:2\n",
                "t.cfg:3:3: error: unknown keyword 'per' in 'peers' section; did you mean 'peer'?\n",
            ),
            (
                "peers p\n  peer a 192.0.2.1:1 foo\n",
                "t.cfg:2:22: error: unexpected argument 'foo' to 'peer'\n",
            ),
            (
                "peers p\n  peer a\n",
                "t.cfg:2:8: error: 'peer' expects an address (addr:port)\n\
                 t.cfg:1:1: error: peers section 'p' has no peer\n",
            ),
            (
                "peers\n  peer a 192.0.2.1:1\n",
                "t.cfg:1:1: error: 'peers' needs a name\n",
            ),
            (
                "peers p\n  peer a 192.0.2.1:1\n  log global\n",
                "t.cfg:3:3: warning: peers keyword 'log' is valid HAProxy but not implemented by proxyd; ignored\n",
            ),
        ];
        for (text, want) in cases {
            let (_, got) = cfg(text);
            assert_eq!(got, *want, "config:\n{text}");
        }
    }
}
