//! The HTML stats report: HAProxy's layout (one table per proxy with Queue, Sessions, Bytes,
//! Denied, Errors, Warnings and Server column groups; its CSS class names per server state),
//! a self refresh (`stats refresh`: a meta refresh back to the bare URI, so an action's message
//! does not stick), and with admin rights a form per backend posting HAProxy's
//! `s=<server>&action=<ready|drain|maint|shutdown>&b=#<iid>` (MGMT §9.1 and the 2.6 page).
//!
//! Owns the markup and the human time format. It must not decide who may act nor apply actions
//! (proxyd does), and it escapes every name it prints.

use std::fmt::Write as _;
use std::time::Duration;

use super::model::{Backend, Frontend, Proxy, Server, Snapshot};
use super::status::{backend_status, frontend_status, server_status};

/// The outcome of an admin action, carried in the redirect as `<uri>;st=<CODE>` (HAProxy's
/// codes and messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionResult {
    /// `DONE`: applied to every server named.
    Done,
    /// `PART`: applied to some; other names were unknown.
    Part,
    /// `NONE`: no server was selected.
    None,
    /// `ERRP`: invalid parameters (unknown action or backend, no known server).
    Errp,
    /// `EXCD`: the request was too large.
    Excd,
    /// `DENY`: this client may not act.
    Deny,
    /// `UNKN`: anything else.
    Unkn,
}

impl ActionResult {
    /// The code in the redirect (`DONE`, ...).
    pub fn code(self) -> &'static str {
        match self {
            ActionResult::Done => "DONE",
            ActionResult::Part => "PART",
            ActionResult::None => "NONE",
            ActionResult::Errp => "ERRP",
            ActionResult::Excd => "EXCD",
            ActionResult::Deny => "DENY",
            ActionResult::Unkn => "UNKN",
        }
    }

    /// Parses a code; unknown codes read as `UNKN`.
    pub fn from_code(code: &str) -> Self {
        match code {
            "DONE" => ActionResult::Done,
            "PART" => ActionResult::Part,
            "NONE" => ActionResult::None,
            "ERRP" => ActionResult::Errp,
            "EXCD" => ActionResult::Excd,
            "DENY" => ActionResult::Deny,
            _ => ActionResult::Unkn,
        }
    }

    /// HAProxy's message for it (HTML).
    pub fn message(self) -> &'static str {
        match self {
            ActionResult::Done => "Action processed successfully.",
            ActionResult::Part => {
                "Action partially processed.<br>Some server names are probably unknown or ambiguous (duplicated names in the backend)."
            }
            ActionResult::None => "Nothing has changed.",
            ActionResult::Errp => {
                "Action not processed because of invalid parameters.<ul><li>The action is maybe unknown.</li><li>The backend name is probably unknown or ambiguous (duplicated names).</li><li>Some server names are probably unknown or ambiguous (duplicated names in the backend).</li></ul>"
            }
            ActionResult::Excd => {
                "<b>Action not processed : the buffer couldn't store all the data.<br>You should retry with less servers at a time.</b>"
            }
            ActionResult::Deny => "<b>Action denied.</b>",
            ActionResult::Unkn => "Unexpected result.",
        }
    }

    fn class(self) -> &'static str {
        match self {
            ActionResult::Done => "active_up",
            ActionResult::Part | ActionResult::None => "active_going_down",
            ActionResult::Errp | ActionResult::Excd | ActionResult::Deny => "active_down",
            ActionResult::Unkn => "active_no_check",
        }
    }
}

/// What the page shows besides the snapshot.
#[derive(Debug, Clone, Copy)]
pub struct HtmlOptions<'a> {
    /// The stats URI (forms post to it; the refresh returns to it).
    pub uri: &'a str,
    /// Self refresh period (`stats refresh`), `None` for none (`;norefresh`).
    pub refresh: Option<Duration>,
    /// The client may use the admin actions (`stats admin` matched).
    pub admin: bool,
    /// The result of the action that redirected here (`;st=`).
    pub message: Option<ActionResult>,
}

/// HAProxy's short human duration: `42s`, `3m12s`, `2h05m`, `3d4h`.
pub fn human(d: Duration) -> String {
    let t = d.as_secs();
    if t < 60 {
        format!("{t}s")
    } else if t < 3600 {
        format!("{}m{}s", t / 60, t % 60)
    } else if t < 86400 {
        format!("{}h{:02}m", t / 3600, (t % 3600) / 60)
    } else {
        format!("{}d{}h", t / 86400, (t % 86400) / 3600)
    }
}

/// The page's uptime format: `0d 1h02m03s`.
pub fn uptime(d: Duration) -> String {
    let t = d.as_secs();
    format!(
        "{}d {}h{:02}m{:02}s",
        t / 86400,
        (t % 86400) / 3600,
        (t % 3600) / 60,
        t % 60
    )
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = "body{font-family:arial,helvetica,sans-serif;font-size:12px;color:#000;background:#fff}\
h1{font-size:18px;color:#fff;background:#20a0ff;padding:4px}\
table.px{border-collapse:collapse;margin:8px 0 2px 0;width:100%}\
table.px caption{text-align:left;font-weight:bold;background:#b00040;color:#fff;padding:2px 6px}\
table.px th,table.px td{border:1px solid #999;padding:1px 4px;text-align:right;white-space:nowrap}\
table.px th{background:#ffe0e0;text-align:center}\
td.name,td.status,td.lastchk{text-align:left}\
tr.frontend,tr.backend{background:#e8e8d0;font-weight:bold}\
.active_up{background:#c0ffc0}.active_going_down{background:#ffffa0}\
.active_going_up{background:#ffd020}.active_down{background:#ff9090}\
.active_no_check{background:#e0e0e0}.active_draining{background:#20a0ff}\
.backup_up{background:#c0d0ff}.backup_going_down{background:#ffa0a0}\
.backup_going_up{background:#ffff80}.backup_down{background:#c06060}\
.backup_no_check{background:#e0e0e0}.backup_draining{background:#20a0ff}\
.maintain{background:#c07820}\
div.msg{padding:4px;margin:6px 0;border:1px solid #999}\
div.actions{margin-bottom:12px}";

/// Renders the report.
pub fn render(snap: &Snapshot, opts: &HtmlOptions<'_>) -> String {
    let uri = escape(opts.uri);
    let mut o = String::with_capacity(16 * 1024);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    if let Some(r) = opts.refresh {
        let _ = writeln!(
            o,
            "<meta http-equiv=\"refresh\" content=\"{};url={uri}\">",
            r.as_secs().max(1)
        );
    }
    let _ = writeln!(
        o,
        "<title>Statistics Report for proxyd</title>\n<style>{CSS}</style></head><body>"
    );
    o.push_str("<h1>proxyd statistics report</h1>\n<p id=\"info\">");
    let _ = write!(o, "pid = {} (process #1)<br>", snap.pid);
    let _ = write!(o, "uptime = {}<br>", uptime(snap.uptime));
    if let Some(v) = &snap.version {
        let _ = write!(o, "version = {}<br>", escape(v));
    }
    match opts.refresh {
        Some(r) => {
            let _ = write!(o, "refresh = {}", human(r));
        }
        None => o.push_str("refresh = off"),
    }
    o.push_str("</p>\n");
    if let Some(m) = opts.message {
        let _ = writeln!(
            o,
            "<div class=\"msg {}\" id=\"action-result\" data-code=\"{}\"><a href=\"{uri}\" title=\"Remove this message\">[X]</a> {}</div>",
            m.class(),
            m.code(),
            m.message()
        );
    }
    o.push_str("<p class=\"legend\"><span class=\"active_up\">&nbsp;active UP&nbsp;</span> <span class=\"backup_up\">&nbsp;backup UP&nbsp;</span> <span class=\"active_going_down\">&nbsp;UP, going down&nbsp;</span> <span class=\"active_going_up\">&nbsp;DOWN, going up&nbsp;</span> <span class=\"active_down\">&nbsp;DOWN&nbsp;</span> <span class=\"active_draining\">&nbsp;DRAIN&nbsp;</span> <span class=\"maintain\">&nbsp;MAINT&nbsp;</span> <span class=\"active_no_check\">&nbsp;not checked&nbsp;</span></p>\n");
    for p in &snap.proxies {
        proxy(&mut o, p, opts, &uri);
    }
    o.push_str("</body></html>\n");
    o
}

fn proxy(o: &mut String, p: &Proxy, opts: &HtmlOptions<'_>, uri: &str) {
    let name = escape(&p.name);
    let form = opts.admin && p.backend.as_ref().is_some_and(|b| !b.servers.is_empty());
    if form {
        let _ = writeln!(
            o,
            "<form method=\"post\" action=\"{uri}\" id=\"form-{name}\" data-proxy=\"{name}\">"
        );
    }
    let _ = writeln!(
        o,
        "<table class=\"px\" id=\"px-{name}\"><caption><a name=\"{name}\"></a>{name}</caption>"
    );
    let lead = if opts.admin {
        "<th rowspan=\"2\"></th>"
    } else {
        ""
    };
    let _ = writeln!(
        o,
        "<thead><tr>{lead}<th rowspan=\"2\"></th><th colspan=\"3\">Queue</th><th colspan=\"5\">Sessions</th><th colspan=\"2\">Bytes</th><th>Denied</th><th colspan=\"3\">Errors</th><th colspan=\"2\">Warnings</th><th colspan=\"9\">Server</th></tr>"
    );
    let _ = writeln!(
        o,
        "<tr><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th><th>In</th><th>Out</th><th>Req</th><th>Req</th><th>Conn</th><th>Resp</th><th>Retr</th><th>Redis</th><th>Status</th><th>LastChg</th><th>LastChk</th><th>Wght</th><th>Act</th><th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th></tr></thead><tbody>"
    );
    if let Some(f) = &p.frontend {
        frontend(o, p, f, opts.admin);
    }
    if let Some(b) = &p.backend {
        for s in &b.servers {
            server(o, p, s, opts.admin);
        }
        backend(o, p, b, opts.admin);
    }
    o.push_str("</tbody></table>\n");
    if form {
        let _ = writeln!(
            o,
            "<div class=\"actions\">Choose the action to perform on the checked servers : <select name=\"action\"><option value=\"\"></option><option value=\"ready\">Set state to READY</option><option value=\"drain\">Set state to DRAIN</option><option value=\"maint\">Set state to MAINT</option><option value=\"shutdown\">Kill Sessions</option></select><input type=\"hidden\" name=\"b\" value=\"#{}\">&nbsp;<input type=\"submit\" value=\"Apply\"></div></form>",
            p.iid
        );
    }
}

fn or_dash(v: Option<u32>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn row(o: &mut String, class: &str, id: &str, cells: &[(&str, String)]) {
    let _ = write!(o, "<tr class=\"{class}\" data-row=\"{id}\">");
    for (c, v) in cells {
        if c.is_empty() {
            let _ = write!(o, "<td>{v}</td>");
        } else {
            let _ = write!(o, "<td class=\"{c}\">{v}</td>");
        }
    }
    o.push_str("</tr>\n");
}

fn frontend(o: &mut String, p: &Proxy, f: &Frontend, admin: bool) {
    let t = &f.traffic;
    let mut cells = Vec::new();
    if admin {
        cells.push(("", String::new()));
    }
    let e = String::new;
    cells.extend([
        ("name", "Frontend".to_string()),
        ("", e()),
        ("", e()),
        ("", e()),
        ("", t.scur.to_string()),
        ("", t.smax.to_string()),
        ("", or_dash(t.slim)),
        ("", t.stot.to_string()),
        ("", e()),
        ("", t.bin.to_string()),
        ("", t.bout.to_string()),
        ("", f.dreq.to_string()),
        ("", f.ereq.to_string()),
        ("", e()),
        ("", e()),
        ("", e()),
        ("", e()),
        ("status", frontend_status(t.scur, t.slim).to_string()),
    ]);
    cells.extend(std::iter::repeat_with(|| ("", e())).take(8));
    row(
        o,
        "frontend",
        &escape(&format!("{}/FRONTEND", p.name)),
        &cells,
    );
}

fn yes(b: bool) -> String {
    if b { "Y" } else { "-" }.to_string()
}

fn server(o: &mut String, p: &Proxy, s: &Server, admin: bool) {
    let st = server_status(s);
    let t = &s.traffic;
    let name = escape(&s.name);
    let mut cells = Vec::new();
    if admin {
        cells.push((
            "",
            format!("<input type=\"checkbox\" name=\"s\" value=\"{name}\">"),
        ));
    }
    let (lastchk, chk, dwn, dwntme) = match &s.check {
        Some(c) => {
            let last = match &c.last {
                Some(r) => {
                    let tip = if r.info.is_empty() {
                        r.desc.clone()
                    } else {
                        format!("{}: {}", r.desc, r.info)
                    };
                    let code = r.code.map(|c| format!("/{c}")).unwrap_or_default();
                    format!(
                        "<span title=\"{}\">{}{code} in {}ms</span>",
                        escape(&tip),
                        escape(&r.status),
                        r.duration.as_millis()
                    )
                }
                None => "<span title=\"Initializing\">INI</span>".to_string(),
            };
            (
                last,
                s.chkfail.to_string(),
                s.chkdown.to_string(),
                human(s.downtime),
            )
        }
        None => Default::default(),
    };
    cells.extend([
        (
            "name",
            format!(
                "<span title=\"{}, id: {}\">{name}</span>",
                escape(&s.addr),
                s.sid
            ),
        ),
        ("", s.qcur.to_string()),
        ("", s.qmax.to_string()),
        ("", or_dash(s.qlimit)),
        ("", t.scur.to_string()),
        ("", t.smax.to_string()),
        ("", or_dash(t.slim)),
        ("", t.stot.to_string()),
        ("", s.lbtot.to_string()),
        ("", t.bin.to_string()),
        ("", t.bout.to_string()),
        ("", String::new()),
        ("", String::new()),
        ("", s.econ.to_string()),
        ("", s.eresp.to_string()),
        ("", s.wretr.to_string()),
        ("", s.wredis.to_string()),
        ("status", st.to_string()),
        ("lastchg", human(s.lastchg)),
        ("lastchk", lastchk),
        ("", s.weight.to_string()),
        ("", yes(!s.backup)),
        ("", yes(s.backup)),
        ("", chk),
        ("", dwn),
        ("", dwntme),
    ]);
    row(
        o,
        &st.css_class(s.backup),
        &escape(&format!("{}/{}", p.name, s.name)),
        &cells,
    );
}

fn backend(o: &mut String, p: &Proxy, b: &Backend, admin: bool) {
    let t = &b.traffic;
    let mut cells = Vec::new();
    if admin {
        cells.push(("", String::new()));
    }
    let e = String::new;
    cells.extend([
        (
            "name",
            format!(
                "<span title=\"balancing: {}\">Backend</span>",
                escape(&b.algo)
            ),
        ),
        ("", b.qcur.to_string()),
        ("", b.qmax.to_string()),
        ("", e()),
        ("", t.scur.to_string()),
        ("", t.smax.to_string()),
        ("", e()),
        ("", t.stot.to_string()),
        ("", b.lbtot.to_string()),
        ("", t.bin.to_string()),
        ("", t.bout.to_string()),
        ("", "0".to_string()),
        ("", e()),
        ("", b.econ.to_string()),
        ("", b.eresp.to_string()),
        ("", b.wretr.to_string()),
        ("", b.wredis.to_string()),
        ("status", backend_status(b).to_string()),
        ("lastchg", b.lastchg.map(human).unwrap_or_default()),
        ("lastchk", e()),
        ("", b.weight().to_string()),
        ("", b.active().to_string()),
        ("", b.backups().to_string()),
        ("", e()),
        ("", e()),
        ("", e()),
    ]);
    row(
        o,
        "backend",
        &escape(&format!("{}/BACKEND", p.name)),
        &cells,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(admin: bool, message: Option<ActionResult>) -> HtmlOptions<'static> {
        HtmlOptions {
            uri: "/stats",
            refresh: Some(Duration::from_secs(10)),
            admin,
            message,
        }
    }

    #[test]
    fn rows_show_status_and_counters() {
        let snap = crate::stats::csv::tests::sample();
        let page = render(&snap, &opts(false, None));
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"10;url=/stats\">"));
        assert!(page.contains("<tr class=\"active_up\" data-row=\"cas_rpc/cas1\">"));
        assert!(page.contains("<tr class=\"active_draining\" data-row=\"cas_rpc/cas2\">"));
        assert!(page.contains("<td class=\"status\">DRAIN 2/3</td>"));
        assert!(page.contains("<span title=\"Layer4 check passed\">L4OK in 3ms</span>"));
        assert!(page.contains("<td class=\"lastchg\">42s</td>"));
        assert!(page.contains("version = 0.1.0"));
        assert!(page.contains("uptime = 0d 1h00m00s"));
        // Without admin rights: no form, no checkbox.
        assert!(!page.contains("<form"));
        assert!(!page.contains("checkbox"));
        // Every row has as many cells as the header announces.
        for line in page.lines().filter(|l| l.starts_with("<tr class=")) {
            assert_eq!(line.matches("<td").count(), 26, "{line}");
        }
    }

    #[test]
    fn admin_form_and_action_message() {
        let mut snap = crate::stats::csv::tests::sample();
        snap.version = None;
        let page = render(&snap, &opts(true, Some(ActionResult::Done)));
        assert!(page.contains("<form method=\"post\" action=\"/stats\" id=\"form-cas_rpc\""));
        assert!(page.contains("<input type=\"checkbox\" name=\"s\" value=\"cas2\">"));
        assert!(page.contains("<option value=\"maint\">Set state to MAINT</option>"));
        assert!(page.contains("<input type=\"hidden\" name=\"b\" value=\"#1\">"));
        assert!(page.contains("data-code=\"DONE\""));
        assert!(page.contains("Action processed successfully."));
        assert!(!page.contains("version ="));
        for line in page.lines().filter(|l| l.starts_with("<tr class=")) {
            assert_eq!(line.matches("<td").count(), 27, "{line}");
        }
    }

    #[test]
    fn names_are_escaped() {
        let mut snap = crate::stats::csv::tests::sample();
        snap.proxies[0].name = "<script>".into();
        let page = render(&snap, &opts(true, None));
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;"));
    }

    #[test]
    fn human_times() {
        assert_eq!(human(Duration::from_secs(42)), "42s");
        assert_eq!(human(Duration::from_secs(192)), "3m12s");
        assert_eq!(human(Duration::from_secs(7500)), "2h05m");
        assert_eq!(human(Duration::from_secs(3 * 86400 + 4 * 3600)), "3d4h");
        assert_eq!(ActionResult::from_code("PART"), ActionResult::Part);
        assert_eq!(ActionResult::from_code("zzz"), ActionResult::Unkn);
    }
}
