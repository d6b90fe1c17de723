//! The liveness contract between proxyd and vrrpd (DESIGN §1).
//!
//! Owns the two things both daemons must agree on, and nothing else: the pid file's format and
//! the one-line query/answer spoken on proxyd's liveness Unix socket. It must not open files or
//! sockets: proxyd's `liveness` module serves the answer, vrrpd's tracker reads the pid file and
//! asks the question.
//!
//! # The contract
//!
//! 1. **Pid file.** proxyd writes its pid as decimal ASCII followed by a newline (HAProxy's
//!    format, so `kill -0 $(cat FILE)` scripts keep working). It is written atomically (temporary
//!    file then rename) so a reader never sees a partial number, and removed when proxyd exits.
//!    vrrpd checks the pid with signal 0 and, to learn of an exit at once, holds a pidfd on it.
//! 2. **Liveness socket.** A Unix stream socket. The client sends [`REQUEST`]; proxyd answers one
//!    line (an [`Answer`]) and closes. The line is at most [`MAX_LINE`] bytes. proxyd is
//!    *serving* when every frontend can route to at least one usable server (an Exchange
//!    service with no CAS behind it is an outage the pair should fail over for).
//!
//! Wire form of an answer (fields separated by one space, names cannot contain spaces because
//! HAProxy proxy names cannot):
//!
//! ```text
//! serving pid=4242 frontends=3/3
//! not-serving pid=4242 frontends=2/3 down=cas_smtp
//! ```

use std::fmt;

/// What a client writes on the liveness socket.
pub const REQUEST: &[u8] = b"serving?\n";

/// Longest answer line accepted, newline included.
pub const MAX_LINE: usize = 4096;

/// Where the Debian package's proxyd writes its pid file (systemd `RuntimeDirectory=proxyd`).
pub const DEFAULT_PID_FILE: &str = "/run/proxyd/proxyd.pid";

/// Where proxyd listens for liveness queries unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/proxyd/liveness.sock";

/// Errors decoding a pid file, a request or an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The pid file holds no decimal pid on its first line.
    #[error("pid file does not start with a process id: {0:?}")]
    BadPid(String),
    /// The pid is 0 or 1, which no daemon can have.
    #[error("pid file names pid {0}, which cannot be proxyd")]
    ImpossiblePid(u32),
    /// The request is not [`REQUEST`].
    #[error("unknown liveness request (expected \"serving?\")")]
    BadRequest,
    /// The answer line is longer than [`MAX_LINE`].
    #[error("liveness answer longer than {MAX_LINE} bytes")]
    TooLong,
    /// The answer does not follow the wire form.
    #[error("malformed liveness answer: {0}")]
    BadAnswer(&'static str),
}

/// Reads the pid from a pid file's contents (first line, surrounding whitespace ignored).
pub fn parse_pid_file(text: &str) -> Result<u32, Error> {
    let first = text.lines().next().unwrap_or("").trim();
    let pid: u32 = first
        .parse()
        .map_err(|_| Error::BadPid(first.chars().take(32).collect()))?;
    if pid <= 1 {
        return Err(Error::ImpossiblePid(pid));
    }
    Ok(pid)
}

/// The pid file's contents for `pid`.
pub fn pid_file_contents(pid: u32) -> String {
    format!("{pid}\n")
}

/// Checks that `buf` (what the client sent, up to its first newline) is the one request.
pub fn parse_request(buf: &[u8]) -> Result<(), Error> {
    let line = buf.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line == &REQUEST[..REQUEST.len() - 1] {
        Ok(())
    } else {
        Err(Error::BadRequest)
    }
}

/// proxyd's answer to [`REQUEST`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// proxyd's process id (lets the tracker tie the answer to the pid file).
    pub pid: u32,
    /// Number of frontends configured.
    pub frontends: u32,
    /// Names of frontends that cannot reach any usable server, in configuration order.
    pub down: Vec<String>,
}

impl Answer {
    /// Builds the answer from each frontend's name and whether it can reach a usable server.
    pub fn from_frontends<'a>(
        pid: u32,
        frontends: impl IntoIterator<Item = (&'a str, bool)>,
    ) -> Self {
        let mut total = 0u32;
        let mut down = Vec::new();
        for (name, usable) in frontends {
            total = total.saturating_add(1);
            if !usable {
                down.push(name.to_owned());
            }
        }
        Answer {
            pid,
            frontends: total,
            down,
        }
    }

    /// Frontends that can reach a usable server.
    pub fn usable(&self) -> u32 {
        let down = u32::try_from(self.down.len()).unwrap_or(u32::MAX);
        self.frontends.saturating_sub(down)
    }

    /// Serving: at least one frontend, and every frontend has a usable server.
    pub fn serving(&self) -> bool {
        self.frontends > 0 && self.down.is_empty()
    }

    /// Decodes one answer line (the trailing newline is optional).
    pub fn decode(line: &[u8]) -> Result<Self, Error> {
        if line.len() > MAX_LINE {
            return Err(Error::TooLong);
        }
        let text = std::str::from_utf8(line).map_err(|_| Error::BadAnswer("not UTF-8"))?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let mut words = text.split(' ');
        let serving = match words.next() {
            Some("serving") => true,
            Some("not-serving") => false,
            _ => return Err(Error::BadAnswer("first word is not serving/not-serving")),
        };
        let mut pid = None;
        let mut counts = None;
        let mut down = Vec::new();
        for w in words {
            let (key, value) = w
                .split_once('=')
                .ok_or(Error::BadAnswer("field without '='"))?;
            match key {
                "pid" => pid = Some(value.parse().map_err(|_| Error::BadAnswer("bad pid"))?),
                "frontends" => {
                    let (u, t) = value
                        .split_once('/')
                        .ok_or(Error::BadAnswer("frontends is not usable/total"))?;
                    let u: u32 = u
                        .parse()
                        .map_err(|_| Error::BadAnswer("bad usable count"))?;
                    let t: u32 = t.parse().map_err(|_| Error::BadAnswer("bad total count"))?;
                    counts = Some((u, t));
                }
                "down" => down = value.split(',').map(str::to_owned).collect(),
                // Unknown fields are for later versions; an older tracker skips them.
                _ => {}
            }
        }
        let pid = pid.ok_or(Error::BadAnswer("no pid"))?;
        let (usable, frontends) = counts.ok_or(Error::BadAnswer("no frontends"))?;
        let answer = Answer {
            pid,
            frontends,
            down,
        };
        if answer.usable() != usable || answer.serving() != serving {
            return Err(Error::BadAnswer("counts contradict the verdict"));
        }
        Ok(answer)
    }
}

impl fmt::Display for Answer {
    /// The wire form, without the newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.serving() {
            "serving"
        } else {
            "not-serving"
        };
        write!(
            f,
            "{verdict} pid={} frontends={}/{}",
            self.pid,
            self.usable(),
            self.frontends
        )?;
        if !self.down.is_empty() {
            write!(f, " down={}", self.down.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_round_trip_and_rejects() {
        assert_eq!(parse_pid_file(&pid_file_contents(4242)), Ok(4242));
        assert_eq!(parse_pid_file("  77 \nextra"), Ok(77));
        assert!(matches!(parse_pid_file(""), Err(Error::BadPid(_))));
        assert!(matches!(parse_pid_file("12ab"), Err(Error::BadPid(_))));
        assert!(matches!(parse_pid_file("-5"), Err(Error::BadPid(_))));
        assert_eq!(parse_pid_file("1\n"), Err(Error::ImpossiblePid(1)));
        assert_eq!(parse_pid_file("0"), Err(Error::ImpossiblePid(0)));
    }

    #[test]
    fn request_is_exact() {
        assert_eq!(parse_request(REQUEST), Ok(()));
        assert_eq!(parse_request(b"serving?\r\n"), Ok(()));
        assert_eq!(parse_request(b"serving?"), Ok(()));
        assert_eq!(parse_request(b"show info\n"), Err(Error::BadRequest));
        assert_eq!(parse_request(b""), Err(Error::BadRequest));
    }

    #[test]
    fn answer_wire_form_round_trips() {
        let up = Answer::from_frontends(10, [("a", true), ("b", true)]);
        assert!(up.serving());
        assert_eq!(up.to_string(), "serving pid=10 frontends=2/2");
        assert_eq!(Answer::decode(b"serving pid=10 frontends=2/2\n"), Ok(up));

        let half = Answer::from_frontends(10, [("a", true), ("smtp", false), ("pop", false)]);
        assert!(!half.serving());
        assert_eq!(half.usable(), 1);
        let line = half.to_string();
        assert_eq!(line, "not-serving pid=10 frontends=1/3 down=smtp,pop");
        assert_eq!(Answer::decode(line.as_bytes()), Ok(half));
    }

    #[test]
    fn no_frontend_is_not_serving() {
        let none = Answer::from_frontends(9, []);
        assert!(!none.serving());
        assert_eq!(none.to_string(), "not-serving pid=9 frontends=0/0");
        assert_eq!(Answer::decode(none.to_string().as_bytes()), Ok(none));
    }

    #[test]
    fn decode_rejects_malformed_and_contradictory_lines() {
        for bad in [
            &b""[..],
            b"maybe pid=1 frontends=1/1",
            b"serving frontends=1/1",
            b"serving pid=1",
            b"serving pid=x frontends=1/1",
            b"serving pid=1 frontends=11",
            b"serving pid=1 frontends=1/1 junk",
            b"serving pid=1 frontends=1/2 down=a",
            b"serving pid=1 frontends=0/0",
            b"not-serving pid=1 frontends=2/2",
            b"\xff\xfe",
        ] {
            assert!(
                Answer::decode(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(Answer::decode(&[b'a'; MAX_LINE + 1]), Err(Error::TooLong));
        // Fields a later version adds are skipped.
        let a = Answer::decode(b"serving pid=3 frontends=1/1 uptime=5").unwrap();
        assert_eq!(a.pid, 3);
    }
}
