//! One health check against one address: TCP connect, HTTP(S) GET, TLS hello, SMTP dialogue and
//! `tcp-check` scripts, each reported with HAProxy's check status codes (reference §3.6).
//!
//! Owns the wire dialogue of a single check; it must not keep state between checks, count
//! rise/fall or log state changes (that is [`super::checker`]).

use std::net::SocketAddr;
use std::time::Duration;

use lbcore::config::proxy::{ExpectKind, HealthCheck, HttpExpect, HttpMatch, TcpCheckStep};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::tls::TlsCheck;

/// HAProxy's check status codes (`check_statuses[]` in `src/check.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `L4OK`: TCP connect succeeded.
    L4Ok,
    /// `L4TOUT`: TCP connect timed out.
    L4Tout,
    /// `L4CON`: TCP connect failed (refused, unreachable).
    L4Con,
    /// `L6OK`: TLS handshake succeeded.
    L6Ok,
    /// `L6TOUT`: TLS handshake timed out.
    L6Tout,
    /// `L6RSP`: TLS handshake failed.
    L6Rsp,
    /// `L7OK`: application check passed.
    L7Ok,
    /// `L7STS`: application answered with a wrong status.
    L7Sts,
    /// `L7RSP`: application answer could not be understood or did not match.
    L7Rsp,
    /// `L7TOUT`: application did not answer in time.
    L7Tout,
}

impl Status {
    /// The short code HAProxy shows (`L4OK`, `L7STS`, ...).
    pub fn code(self) -> &'static str {
        match self {
            Status::L4Ok => "L4OK",
            Status::L4Tout => "L4TOUT",
            Status::L4Con => "L4CON",
            Status::L6Ok => "L6OK",
            Status::L6Tout => "L6TOUT",
            Status::L6Rsp => "L6RSP",
            Status::L7Ok => "L7OK",
            Status::L7Sts => "L7STS",
            Status::L7Rsp => "L7RSP",
            Status::L7Tout => "L7TOUT",
        }
    }

    /// The description HAProxy logs after `reason:`.
    pub fn reason(self) -> &'static str {
        match self {
            Status::L4Ok => "Layer4 check passed",
            Status::L4Tout => "Layer4 timeout",
            Status::L4Con => "Layer4 connection problem",
            Status::L6Ok => "Layer6 check passed",
            Status::L6Tout => "Layer6 timeout",
            Status::L6Rsp => "Layer6 invalid response",
            Status::L7Ok => "Layer7 check passed",
            Status::L7Sts => "Layer7 wrong status",
            Status::L7Rsp => "Layer7 invalid response",
            Status::L7Tout => "Layer7 timeout",
        }
    }

    /// True for the passing codes.
    pub fn passed(self) -> bool {
        matches!(self, Status::L4Ok | Status::L6Ok | Status::L7Ok)
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// HAProxy status code.
    pub status: Status,
    /// Application status (HTTP status, SMTP reply code), when one was read.
    pub code: Option<u16>,
    /// Short description (`Connection refused`, the HTTP reason phrase, ...).
    pub info: String,
    /// Time from the start of the check to its outcome.
    pub duration: Duration,
}

impl CheckResult {
    /// True when the check passed.
    pub fn passed(&self) -> bool {
        self.status.passed()
    }
}

/// Most of an HTTP check answer read (headers and body): HAProxy's default `tune.bufsize`.
pub const HTTP_CHECK_BUFSIZE: usize = 16 * 1024;

/// A failed step: status and description.
type Fail = (Status, Option<u16>, String);

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Conn = Box<dyn Io>;

/// Runs one check of `kind` against `target`, over TLS when `ssl` is given (`check-ssl`), giving
/// up after `timeout` for the whole check. Without `http-check expect`, 2xx and 3xx HTTP answers
/// pass, as in HAProxy.
pub async fn run_check(
    kind: &HealthCheck,
    target: SocketAddr,
    ssl: Option<&TlsCheck>,
    timeout: Duration,
) -> CheckResult {
    let start = Instant::now();
    let deadline = start + timeout;
    let outcome = match kind {
        HealthCheck::Tcp => connect(target, ssl, deadline).await.map(|_| {
            let status = if ssl.is_some() {
                Status::L6Ok
            } else {
                Status::L4Ok
            };
            (status, None, String::new())
        }),
        HealthCheck::SslHello => {
            // Reference §3.6: HAProxy's SSLv3 hello is refused by TLS-1.2-only IIS; a real
            // TLS 1.2/1.3 ClientHello answered by a ServerHello is what we accept instead.
            let hello = TlsCheck::insecure();
            connect(target, Some(ssl.unwrap_or(&hello)), deadline)
                .await
                .map(|_| (Status::L6Ok, None, String::new()))
        }
        HealthCheck::Http {
            method,
            uri,
            version,
            headers,
            body,
            expect,
        } => {
            let req = HttpRequest {
                method,
                uri,
                version,
                headers,
                body,
            };
            http(target, ssl, deadline, &req, expect).await
        }
        HealthCheck::Smtp { verb, domain } => smtp(target, ssl, deadline, verb, domain).await,
        HealthCheck::TcpCheck(steps) => tcp_check(target, ssl, deadline, steps).await,
    };
    let (status, code, info) = match outcome {
        Ok(ok) | Err(ok) => ok,
    };
    CheckResult {
        status,
        code,
        info,
        duration: start.elapsed(),
    }
}

/// Connects (and handshakes TLS when `ssl`), mapping failures to L4/L6 codes.
async fn connect(
    target: SocketAddr,
    ssl: Option<&TlsCheck>,
    deadline: Instant,
) -> Result<Conn, Fail> {
    let tcp = match timeout_at(deadline, TcpStream::connect(target)).await {
        Err(_) => return Err((Status::L4Tout, None, String::new())),
        Ok(Err(e)) => return Err((Status::L4Con, None, io_info(&e))),
        Ok(Ok(s)) => s,
    };
    let _ = tcp.set_nodelay(true);
    let Some(tls) = ssl else {
        return Ok(Box::new(tcp));
    };
    match timeout_at(
        deadline,
        tls.connector().connect(tls.server_name(target), tcp),
    )
    .await
    {
        Err(_) => Err((Status::L6Tout, None, String::new())),
        // HAProxy reports a failed handshake (certificate refused included) as L6RSP with
        // "SSL handshake failure"; the TLS library's reason follows in parentheses.
        Ok(Err(e)) => Err((
            Status::L6Rsp,
            None,
            format!("SSL handshake failure ({})", io_info(&e)),
        )),
        Ok(Ok(s)) => Ok(Box::new(s)),
    }
}

/// HAProxy-like description of an I/O error: `Connection refused`, not the full OS text.
fn io_info(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "Connection refused".to_owned(),
        std::io::ErrorKind::ConnectionReset => "Connection reset by peer".to_owned(),
        _ => e.to_string(),
    }
}

async fn write_all(conn: &mut Conn, data: &[u8], deadline: Instant) -> Result<(), Fail> {
    match timeout_at(deadline, conn.write_all(data)).await {
        Err(_) => Err((Status::L7Tout, None, String::new())),
        Ok(Err(e)) => Err((Status::L7Rsp, None, io_info(&e))),
        Ok(Ok(())) => Ok(()),
    }
}

/// Reads more bytes into `buf`; `Ok(false)` on end of stream.
async fn read_more(conn: &mut Conn, buf: &mut Vec<u8>, deadline: Instant) -> Result<bool, Fail> {
    let mut chunk = [0u8; 4096];
    match timeout_at(deadline, conn.read(&mut chunk)).await {
        Err(_) => Err((Status::L7Tout, None, String::new())),
        Ok(Err(e)) => Err((Status::L7Rsp, None, io_info(&e))),
        Ok(Ok(0)) => Ok(false),
        Ok(Ok(n)) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(true)
        }
    }
}

/// Reads until `buf` holds a complete line (CRLF or LF); returns the line without its end.
async fn read_line(conn: &mut Conn, buf: &mut Vec<u8>, deadline: Instant) -> Result<String, Fail> {
    loop {
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            return Ok(String::from_utf8_lossy(&line).trim_end().to_owned());
        }
        // Bounded: a check answer longer than 16 KiB without a line end is invalid.
        if buf.len() > 16 * 1024 || !read_more(conn, buf, deadline).await? {
            return Err((Status::L7Rsp, None, "incomplete line".to_owned()));
        }
    }
}

/// What an HTTP check sends (`option httpchk` and `http-check send`).
struct HttpRequest<'a> {
    method: &'a str,
    uri: &'a str,
    version: &'a str,
    headers: &'a [(String, String)],
    body: &'a str,
}

impl HttpRequest<'_> {
    fn bytes(&self) -> Vec<u8> {
        let mut r = format!("{} {} {}\r\n", self.method, self.uri, self.version);
        for (name, value) in self.headers {
            r.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.body.is_empty() {
            r.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        r.push_str("Connection: close\r\n\r\n");
        r.push_str(self.body);
        r.into_bytes()
    }
}

/// A parsed HTTP check answer: status code, reason phrase and (bounded) body.
struct HttpAnswer {
    code: u16,
    reason: String,
    body: Vec<u8>,
}

async fn http(
    target: SocketAddr,
    ssl: Option<&TlsCheck>,
    deadline: Instant,
    req: &HttpRequest<'_>,
    expect: &[HttpExpect],
) -> Result<(Status, Option<u16>, String), Fail> {
    let mut conn = connect(target, ssl, deadline).await?;
    write_all(&mut conn, &req.bytes(), deadline).await?;
    let need_body = expect
        .iter()
        .any(|e| matches!(e.matcher, HttpMatch::String(_) | HttpMatch::Rstring(_)));
    let answer = read_http_answer(&mut conn, deadline, need_body).await?;
    if expect.is_empty() {
        // HAProxy without `http-check expect`: any 2xx or 3xx passes, else L7STS.
        let status = if (200..400).contains(&answer.code) {
            Status::L7Ok
        } else {
            Status::L7Sts
        };
        return Ok((status, Some(answer.code), answer.reason));
    }
    for e in expect {
        evaluate_expect(e, &answer)?;
    }
    Ok((Status::L7Ok, Some(answer.code), answer.reason))
}

/// One `http-check expect` rule against the answer (HAProxy `tcpcheck_eval_expect_http`):
/// status matchers fail with L7STS and the reason phrase, body matchers with L7RSP.
fn evaluate_expect(e: &HttpExpect, a: &HttpAnswer) -> Result<(), Fail> {
    let regex = |p: &str| {
        regex::bytes::Regex::new(p).map_err(|err| {
            (
                Status::L7Rsp,
                Some(a.code),
                format!("invalid regex '{p}': {err}"),
            )
        })
    };
    let (matched, body_rule) = match &e.matcher {
        HttpMatch::Status(ranges) => (
            ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&a.code)),
            false,
        ),
        HttpMatch::Rstatus(p) => (regex(p)?.is_match(a.code.to_string().as_bytes()), false),
        HttpMatch::String(p) | HttpMatch::Rstring(p) => {
            if a.body.is_empty() {
                return Err((
                    Status::L7Rsp,
                    Some(a.code),
                    "HTTP content check could not find a response body".to_owned(),
                ));
            }
            let m = match &e.matcher {
                HttpMatch::Rstring(_) => regex(p)?.is_match(&a.body),
                _ => a.body.windows(p.len()).any(|w| w == p.as_bytes()),
            };
            (m, true)
        }
    };
    if matched != e.negated {
        return Ok(());
    }
    if !body_rule {
        return Err((Status::L7Sts, Some(a.code), a.reason.clone()));
    }
    let info = if e.negated {
        "HTTP check matched unwanted content"
    } else {
        "HTTP content check did not match"
    };
    Err((Status::L7Rsp, Some(a.code), info.to_owned()))
}

/// Reads the status line, the headers and, when `need_body`, the body until the end of the
/// stream, `Content-Length` or [`HTTP_CHECK_BUFSIZE`] bytes, whichever comes first.
async fn read_http_answer(
    conn: &mut Conn,
    deadline: Instant,
    need_body: bool,
) -> Result<HttpAnswer, Fail> {
    let mut buf = Vec::new();
    let line = read_line(conn, &mut buf, deadline).await?;
    // Status line: HTTP/1.x SP 3DIGIT SP reason.
    let mut parts = line.splitn(3, ' ');
    let proto = parts.next().unwrap_or("");
    let code = parts.next().and_then(|c| c.parse::<u16>().ok());
    let reason = parts.next().unwrap_or("").to_owned();
    let Some(code) = code.filter(|c| proto.starts_with("HTTP/") && (100..=999).contains(c)) else {
        return Err((Status::L7Rsp, None, line));
    };
    if !need_body {
        return Ok(HttpAnswer {
            code,
            reason,
            body: Vec::new(),
        });
    }
    let mut length = None;
    let mut header_bytes = line.len();
    loop {
        let h = read_line(conn, &mut buf, deadline).await?;
        header_bytes += h.len() + 2;
        if h.is_empty() {
            break;
        }
        if header_bytes > HTTP_CHECK_BUFSIZE {
            return Err((Status::L7Rsp, Some(code), "headers too long".to_owned()));
        }
        if let Some((name, value)) = h.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let cap = length.unwrap_or(usize::MAX).min(HTTP_CHECK_BUFSIZE);
    // Bounded by `cap` and the deadline; a timeout after part of the body is matched as is,
    // as HAProxy matches what fits in its buffer.
    while buf.len() < cap {
        match read_more(conn, &mut buf, deadline).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) if buf.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    buf.truncate(cap);
    Ok(HttpAnswer {
        code,
        reason,
        body: buf,
    })
}

/// Reads one (possibly multi-line `NNN-`) SMTP reply: code and the text of its last line.
async fn smtp_reply(
    conn: &mut Conn,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<(u16, String), Fail> {
    // Bounded: at most 64 continuation lines.
    for _ in 0..64 {
        let line = read_line(conn, buf, deadline).await?;
        let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
        let Some(code) = code else {
            return Err((Status::L7Rsp, None, line));
        };
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, line.get(4..).unwrap_or("").to_owned()));
        }
    }
    Err((Status::L7Rsp, None, "too many reply lines".to_owned()))
}

async fn smtp(
    target: SocketAddr,
    ssl: Option<&TlsCheck>,
    deadline: Instant,
    verb: &str,
    domain: &str,
) -> Result<(Status, Option<u16>, String), Fail> {
    let mut conn = connect(target, ssl, deadline).await?;
    let mut buf = Vec::new();
    // RFC 5321 §4.2: 220 greeting, then HELO/EHLO answered by 250.
    let (code, text) = smtp_reply(&mut conn, &mut buf, deadline).await?;
    if code != 220 {
        return Err((Status::L7Sts, Some(code), text));
    }
    write_all(
        &mut conn,
        format!("{verb} {domain}\r\n").as_bytes(),
        deadline,
    )
    .await?;
    let (code, text) = smtp_reply(&mut conn, &mut buf, deadline).await?;
    if code != 250 {
        return Err((Status::L7Sts, Some(code), text));
    }
    // Best effort: the verdict is already known.
    let _ = write_all(&mut conn, b"QUIT\r\n", deadline).await;
    Ok((Status::L7Ok, Some(code), text))
}

async fn tcp_check(
    target: SocketAddr,
    ssl: Option<&TlsCheck>,
    deadline: Instant,
    steps: &[TcpCheckStep],
) -> Result<(Status, Option<u16>, String), Fail> {
    let mut conn: Option<Conn> = None;
    let mut buf = Vec::new();
    let mut level = Status::L4Ok;
    // HAProxy: a script that does not start with `connect` connects implicitly first.
    if !matches!(steps.first(), Some(TcpCheckStep::Connect { .. })) {
        conn = Some(connect(target, ssl, deadline).await?);
        if ssl.is_some() {
            level = Status::L6Ok;
        }
    }
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        match step {
            TcpCheckStep::Connect {
                port,
                ssl: step_ssl,
            } => {
                let addr = SocketAddr::new(target.ip(), port.unwrap_or(target.port()));
                let insecure = TlsCheck::insecure();
                let tls = if *step_ssl {
                    Some(ssl.unwrap_or(&insecure))
                } else {
                    None
                };
                conn = Some(connect(addr, tls, deadline).await?);
                buf.clear();
                if tls.is_some() {
                    level = Status::L6Ok;
                }
            }
            TcpCheckStep::Send(data) | TcpCheckStep::SendBinary(data) => {
                let c = conn.as_mut().ok_or((
                    Status::L7Rsp,
                    None,
                    format!("no connection at step {n}"),
                ))?;
                write_all(c, data, deadline).await?;
            }
            TcpCheckStep::Expect {
                negated,
                kind,
                pattern,
            } => {
                let c = conn.as_mut().ok_or((
                    Status::L7Rsp,
                    None,
                    format!("no connection at step {n}"),
                ))?;
                let regex = match kind {
                    ExpectKind::Rstring => Some(
                        regex::bytes::Regex::new(&String::from_utf8_lossy(pattern)).map_err(
                            |e| (Status::L7Rsp, None, format!("bad regex at step {n}: {e}")),
                        )?,
                    ),
                    _ => None,
                };
                let matches = |b: &[u8]| match &regex {
                    Some(re) => re.is_match(b),
                    None => pattern.is_empty() || b.windows(pattern.len()).any(|w| w == pattern),
                };
                let shown = String::from_utf8_lossy(pattern).into_owned();
                if *negated {
                    // Negated: one read's worth of data must not match.
                    if buf.is_empty() {
                        read_more(c, &mut buf, deadline).await?;
                    }
                    if matches(&buf) {
                        return Err((
                            Status::L7Rsp,
                            None,
                            format!("TCPCHK matched unwanted content '{shown}' at step {n}"),
                        ));
                    }
                } else {
                    // Bounded by the deadline and a 64 KiB buffer.
                    while !matches(&buf) {
                        if buf.len() > 64 * 1024 || !read_more(c, &mut buf, deadline).await? {
                            return Err((
                                Status::L7Rsp,
                                None,
                                format!("TCPCHK did not match content '{shown}' at step {n}"),
                            ));
                        }
                    }
                }
                buf.clear();
                level = Status::L7Ok;
            }
        }
    }
    Ok((level, None, String::new()))
}
