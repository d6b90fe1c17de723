//! HAProxy's `option tcplog` access-log line.
//!
//! Owns formatting `%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq`
//! (HAProxy configuration manual §8.2.2) from a finished session's record. It must not decide
//! where the line goes.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a session reports when it ends.
#[derive(Debug, Clone)]
pub struct Record {
    /// Client address (`%ci:%cp`).
    pub client: SocketAddr,
    /// Accept time (`%t`).
    pub accepted: SystemTime,
    /// Frontend name (`%ft`).
    pub frontend: String,
    /// Backend name (`%b`), `<NOSRV>`-style placeholders when none.
    pub backend: String,
    /// Server name (`%s`).
    pub server: String,
    /// Time waiting in queue (`%Tw`), `None` = never reached that stage (-1).
    pub tw: Option<Duration>,
    /// Time to connect to the server (`%Tc`), `None` = -1.
    pub tc: Option<Duration>,
    /// Total session time (`%Tt`).
    pub tt: Duration,
    /// Bytes sent to the client (`%B`).
    pub bytes: u64,
    /// Termination state (`%ts`, two characters; `--` = normal).
    pub termination: &'static str,
    /// `%ac/%fc/%bc/%sc/%rc`: process, frontend, backend, server connections and retries.
    pub counts: [u64; 5],
}

/// `dd/Mon/yyyy:HH:MM:SS.mmm` in UTC.
pub fn format_date(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let sod = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02}.{:03}",
        MONTHS[usize::try_from(month - 1).unwrap_or(0)],
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        d.subsec_millis()
    )
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-1".to_owned(), |d| d.as_millis().to_string())
}

/// The tcplog line for `r`.
pub fn format(r: &Record) -> String {
    let mut s = String::with_capacity(128);
    let ip = r.client.ip().to_canonical();
    let _ = write!(
        s,
        "{ip}:{} [{}] {} {}/{} {}/{}/{} {} {} {}/{}/{}/{}/{} 0/0",
        r.client.port(),
        format_date(r.accepted),
        r.frontend,
        r.backend,
        r.server,
        ms(r.tw),
        ms(r.tc),
        r.tt.as_millis(),
        r.bytes,
        r.termination,
        r.counts[0],
        r.counts[1],
        r.counts[2],
        r.counts[3],
        r.counts[4],
    );
    s
}

/// Syslog facility code of `name` (`local0` = 16), `None` if unknown.
fn facility_code(name: &str) -> Option<u8> {
    const NAMES: [&str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
        "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    ];
    NAMES
        .iter()
        .position(|n| *n == name)
        .and_then(|p| u8::try_from(p).ok())
}

/// Sends `line` to every `log` target: `stdout`/`stderr` raw, `ip[:port]` as an RFC 3164 UDP
/// datagram at level info (port 514 by default); other targets (Unix sockets) are not supported
/// yet and the line goes to tracing instead, as it does when there is no target.
pub fn emit(targets: &[lbcore::config::proxy::LogTarget], line: &str) {
    let mut sent = false;
    for t in targets {
        match t.address.as_str() {
            "stdout" => {
                println!("{line}");
                sent = true;
            }
            "stderr" => {
                eprintln!("{line}");
                sent = true;
            }
            a => {
                let addr = a.parse::<SocketAddr>().ok().or_else(|| {
                    a.parse::<std::net::IpAddr>()
                        .ok()
                        .map(|ip| SocketAddr::new(ip, 514))
                });
                if let Some(addr) = addr {
                    // RFC 3164 §4.1: PRI = facility * 8 + severity (6 = informational).
                    let pri = u32::from(facility_code(&t.facility).unwrap_or(16)) * 8 + 6;
                    let msg = format!("<{pri}>proxyd[{}]: {line}", std::process::id());
                    let bind: SocketAddr = if addr.is_ipv6() {
                        "[::]:0".parse()
                    } else {
                        "0.0.0.0:0".parse()
                    }
                    .unwrap_or(addr);
                    if let Ok(s) = std::net::UdpSocket::bind(bind) {
                        let _ = s.send_to(msg.as_bytes(), addr);
                        sent = true;
                    }
                }
            }
        }
    }
    if !sent {
        tracing::info!(line, "tcplog");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_haproxy_sample_line() {
        // Reference §2.9: `127.0.0.1:34522 [24/Nov/2026:00:56:00.544] cas_rpc cas_rpc/cas1 1/0/2 5 -- 1/1/0/0/0 0/0`
        let accepted = UNIX_EPOCH + Duration::from_millis(1_795_481_760_544);
        let r = Record {
            client: "127.0.0.1:34522".parse().unwrap(),
            accepted,
            frontend: "cas_rpc".into(),
            backend: "cas_rpc".into(),
            server: "cas1".into(),
            tw: Some(Duration::from_millis(1)),
            tc: Some(Duration::ZERO),
            tt: Duration::from_millis(2),
            bytes: 5,
            termination: "--",
            counts: [1, 1, 0, 0, 0],
        };
        assert_eq!(
            format(&r),
            "127.0.0.1:34522 [24/Nov/2026:00:56:00.544] cas_rpc cas_rpc/cas1 1/0/2 5 -- 1/1/0/0/0 0/0"
        );
    }

    #[test]
    fn leap_day_and_unreached_stages() {
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29T00:00:00Z
        assert_eq!(format_date(t), "29/Feb/2000:00:00:00.000");
        assert_eq!(ms(None), "-1");
    }
}
