//! keepalived.conf keyword interpreter: walks the block tree and fills the keyword-level
//! [`RawConfig`], one handler per keyword of reference §1.2–1.7.
//!
//! Owns: argument syntax (counts, numbers, booleans, command strings, `track_*` lines), warnings
//! for valid keepalived keywords vrrpd does not implement, and "unknown keyword" errors with a
//! did-you-mean hint from the block's keyword table ([`super::keywords`]). Must not: check
//! ranges, apply defaults or resolve names ([`super::validate`] does, for both dialects).

use crate::diag::{Diagnostics, Span, did_you_mean};

use super::keywords::{self, Table};
use super::lexer::Tok;
use super::raw::*;
use super::tree::{Block, Node};

/// keepalived's `<TIMER>` syntax (`lib/parser.c` `read_decimal_unsigned_strvec`): an optional
/// `+`, digits, an optional `.` and more digits. No sign, exponent, `inf`, `nan` or hex, so the
/// value is always finite and non-negative (range checks are validation's job).
fn decimal_seconds(s: &str) -> Option<f64> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    let well_formed = digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1;
    if !well_formed {
        return None;
    }
    digits.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Interprets the whole tree.
pub(crate) fn interpret(nodes: &[Node], file: Span, diags: &mut Diagnostics) -> RawConfig {
    let mut p = P { d: diags };
    let mut raw = RawConfig::new(file);
    for n in nodes {
        p.top(n, &mut raw);
    }
    raw
}

struct P<'d> {
    d: &'d mut Diagnostics,
}

fn sp(t: &Tok) -> Sp<String> {
    Sp::new(t.text.clone(), t.span.clone())
}

impl P<'_> {
    // ---- generic helpers -------------------------------------------------------------------

    fn unknown(&mut self, n: &Node, table: &Table) {
        let w = n.kw.text.as_str();
        if table.ignored.contains(&w) {
            let what = keywords::category(w)
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            let block = if n.block.is_some() {
                "; its block is skipped"
            } else {
                ""
            };
            self.d.warning(
                &n.kw.span,
                format!(
                    "keepalived keyword '{w}'{what} is not supported by vrrpd and is ignored{block}"
                ),
            );
            return;
        }
        let hint = did_you_mean(w, table.known.iter().chain(table.ignored.iter()).copied())
            .map(|s| format!("; did you mean '{s}'?"))
            .unwrap_or_default();
        self.d.error(
            &n.kw.span,
            format!("unknown keyword '{w}' in {}{hint}", table.name),
        );
    }

    /// Errors on a block after a keyword that takes none; returns false when there was one.
    fn no_block(&mut self, n: &Node) -> bool {
        if let Some(b) = &n.block {
            self.d.error(
                &b.open,
                format!("'{}' does not take a {{ ... }} block", n.kw.text),
            );
            return false;
        }
        true
    }

    fn need_block<'n>(&mut self, n: &'n Node) -> Option<&'n Block> {
        if n.block.is_none() {
            self.d.error(
                &n.kw.span,
                format!("'{}' needs a {{ ... }} block", n.kw.text),
            );
        }
        n.block.as_ref()
    }

    /// At most `max` arguments; warns about the rest.
    fn max_args(&mut self, n: &Node, max: usize) {
        if n.args.len() > max {
            let extra: Vec<&str> = n.args[max..].iter().map(|t| t.text.as_str()).collect();
            self.d.warning(
                &n.args[max].span,
                format!(
                    "extra arguments after '{}' ignored: {}",
                    n.kw.text,
                    extra.join(" ")
                ),
            );
        }
    }

    /// Exactly one argument.
    fn one<'n>(&mut self, n: &'n Node) -> Option<&'n Tok> {
        self.no_block(n);
        match n.args.first() {
            None => {
                self.d
                    .error(&n.kw.span, format!("'{}' needs a value", n.kw.text));
                None
            }
            Some(t) => {
                self.max_args(n, 1);
                Some(t)
            }
        }
    }

    fn string(&mut self, n: &Node) -> Option<Sp<String>> {
        self.one(n).map(sp)
    }

    fn int_tok(&mut self, kw: &str, t: &Tok) -> Option<Sp<i64>> {
        match t.text.parse::<i64>() {
            Ok(v) => Some(Sp::new(v, t.span.clone())),
            Err(_) => {
                self.d
                    .error(&t.span, format!("{kw}: '{}' is not an integer", t.text));
                None
            }
        }
    }

    fn int(&mut self, n: &Node) -> Option<Sp<i64>> {
        let t = self.one(n)?;
        self.int_tok(&n.kw.text, t)
    }

    fn timer_tok(&mut self, kw: &str, t: &Tok) -> Option<Sp<f64>> {
        match decimal_seconds(&t.text) {
            Some(v) => Some(Sp::new(v, t.span.clone())),
            None => {
                self.d.error(
                    &t.span,
                    format!("{kw}: '{}' is not a number of seconds", t.text),
                );
                None
            }
        }
    }

    /// `<TIMER>`: seconds, fractions allowed.
    fn timer(&mut self, n: &Node) -> Option<Sp<f64>> {
        let t = self.one(n)?;
        self.timer_tok(&n.kw.text, t)
    }

    /// A flag with an optional `<BOOL>` (`on|off|true|false|yes|no`).
    fn flag(&mut self, n: &Node) -> Option<Sp<bool>> {
        self.no_block(n);
        let Some(t) = n.args.first() else {
            return Some(Sp::new(true, n.kw.span.clone()));
        };
        self.max_args(n, 1);
        match t.text.to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" => Some(Sp::new(true, t.span.clone())),
            "off" | "false" | "no" => Some(Sp::new(false, t.span.clone())),
            _ => {
                self.d.error(
                    &t.span,
                    format!(
                        "{}: '{}' is not a boolean (on|off|true|false|yes|no)",
                        n.kw.text, t.text
                    ),
                );
                None
            }
        }
    }

    /// `KEYWORD [OPTION]`: the option word (placed at it) or `None` (placed at the keyword).
    fn option_word(&mut self, n: &Node) -> Option<Sp<Option<String>>> {
        self.no_block(n);
        self.max_args(n, 1);
        Some(match n.args.first() {
            None => Sp::new(None, n.kw.span.clone()),
            Some(a) => Sp::new(Some(a.text.clone()), a.span.clone()),
        })
    }

    /// Every argument kept verbatim (options acted on later, e.g. `use_vmac [name] [mac]`).
    fn words(&mut self, n: &Node) -> Option<Sp<Vec<String>>> {
        self.no_block(n);
        Some(Sp::new(
            n.args.iter().map(|t| t.text.clone()).collect(),
            n.kw.span.clone(),
        ))
    }

    /// A bare flag that takes no argument.
    fn bare(&mut self, n: &Node) -> Option<Sp<bool>> {
        self.no_block(n);
        self.max_args(n, 0);
        Some(Sp::new(true, n.kw.span.clone()))
    }

    fn set<T>(&mut self, slot: &mut Option<Sp<T>>, v: Option<Sp<T>>, n: &Node) {
        if let Some(v) = v {
            if slot.is_some() {
                self.d.warning(
                    &n.kw.span,
                    format!("'{}' given more than once; the last one wins", n.kw.text),
                );
            }
            *slot = Some(v);
        }
    }

    /// `USER [GROUP]`, `USER :GROUP` or `USER:GROUP` from `toks`.
    fn user_from(&mut self, kw: &Tok, toks: &[Tok]) -> Option<RawUser> {
        let first = toks.first()?;
        if let Some((u, g)) = first.text.split_once(':') {
            if toks.len() > 1 {
                self.d
                    .error(&toks[1].span, format!("{}: too many arguments", kw.text));
            }
            let g = (!g.is_empty()).then(|| Sp::new(g.to_string(), first.span.clone()));
            return Some((Sp::new(u.to_string(), first.span.clone()), g));
        }
        let group = toks
            .get(1)
            .map(|g| Sp::new(g.text.trim_start_matches(':').to_string(), g.span.clone()));
        if toks.len() > 2 {
            self.d
                .error(&toks[2].span, format!("{}: too many arguments", kw.text));
        }
        Some((sp(first), group.filter(|g| !g.v.is_empty())))
    }

    fn user(&mut self, n: &Node) -> Option<RawUser> {
        self.no_block(n);
        if n.args.is_empty() {
            self.d
                .error(&n.kw.span, format!("'{}' needs a user name", n.kw.text));
            return None;
        }
        self.user_from(&n.kw, &n.args)
    }

    /// `KEYWORD CMD [user [group]]` (reference §1.1 "Script strings": the first token is the
    /// whole command line).
    fn command(&mut self, n: &Node) -> Option<RawCommand> {
        self.no_block(n);
        let Some(cmd) = n.args.first() else {
            self.d
                .error(&n.kw.span, format!("'{}' needs a command", n.kw.text));
            return None;
        };
        let rest = &n.args[1..];
        if rest.len() > 2 {
            self.d.error(
                &rest[2].span,
                format!(
                    "'{}' takes a command and at most a user and a group; quote a command line \
                     that contains spaces",
                    n.kw.text
                ),
            );
        } else if let Some(u) = rest.first().filter(|u| {
            [
                &keywords::SCRIPT,
                &keywords::INSTANCE,
                &keywords::SYNC_GROUP,
            ]
            .iter()
            .any(|t| t.known.contains(&u.text.as_str()))
        }) {
            self.d.warning(
                &u.span,
                format!(
                    "'{}' after the command is read as a user name, as keepalived does; put '{}' \
                     on a line of its own",
                    u.text, u.text
                ),
            );
        } else if !cmd.quoted && rest.first().is_some_and(|u| u.text.starts_with('-')) {
            let words: Vec<&str> = rest.iter().map(|t| t.text.as_str()).collect();
            self.d.warning(
                &rest[0].span,
                format!(
                    "'{}' after the command is read as user and group, as keepalived does; quote \
                     the whole command line",
                    words.join(" ")
                ),
            );
        }
        let user = if rest.is_empty() {
            None
        } else {
            self.user_from(&n.kw, rest)
        };
        Some(RawCommand {
            cmd: Sp::new(RawCmdLine::Line(cmd.text.clone()), cmd.span.clone()),
            user,
        })
    }

    /// The words of every line of a value block (`notification_email`, `group`).
    fn value_words(&mut self, n: &Node) -> Vec<Sp<String>> {
        let mut out = Vec::new();
        let Some(b) = self.need_block(n) else {
            return out;
        };
        self.max_args(n, 0);
        for item in &b.items {
            self.no_block(item);
            out.push(sp(&item.kw));
            out.extend(item.args.iter().map(sp));
        }
        out
    }

    /// The lines of a value block, split into words.
    fn value_lines(&mut self, n: &Node) -> Vec<Vec<Sp<String>>> {
        let mut out = Vec::new();
        let Some(b) = self.need_block(n) else {
            return out;
        };
        self.max_args(n, 0);
        for item in &b.items {
            self.no_block(item);
            out.push(
                std::iter::once(&item.kw)
                    .chain(&item.args)
                    .map(sp)
                    .collect(),
            );
        }
        out
    }

    /// `NAME [weight N [reverse|noreverse|no_reverse]]` lines of a `track_*` block.
    fn track_refs(&mut self, n: &Node) -> Vec<RawTrackRef> {
        let mut out = Vec::new();
        for line in self.value_lines(n) {
            let mut it = line.into_iter();
            let Some(name) = it.next() else { continue };
            let mut r = RawTrackRef {
                name,
                weight: None,
                reverse: false,
            };
            while let Some(w) = it.next() {
                match w.v.as_str() {
                    "weight" => match it.next() {
                        Some(v) => match v.v.parse::<i64>() {
                            Ok(x) => r.weight = Some(Sp::new(x, v.span)),
                            Err(_) => self.d.error(
                                &v.span,
                                format!("{}: weight '{}' is not an integer", n.kw.text, v.v),
                            ),
                        },
                        None => self.d.error(&w.span, "'weight' needs a value"),
                    },
                    "reverse" => r.reverse = true,
                    "noreverse" | "no_reverse" => r.reverse = false,
                    other => self.d.error(
                        &w.span,
                        format!(
                            "{}: unexpected '{other}' (expected weight N [reverse|noreverse])",
                            n.kw.text
                        ),
                    ),
                }
            }
            out.push(r);
        }
        out
    }

    /// `weight N [reverse]` of a script or tracked process.
    fn weight(&mut self, n: &Node, weight: &mut Option<Sp<i64>>, reverse: &mut bool) {
        self.no_block(n);
        let Some(v) = n.args.first() else {
            self.d.error(&n.kw.span, "'weight' needs a value");
            return;
        };
        let w = self.int_tok("weight", v);
        self.set(weight, w, n);
        match n.args.get(1).map(|t| t.text.as_str()) {
            None => *reverse = false,
            Some("reverse") => *reverse = true,
            Some("noreverse" | "no_reverse") => *reverse = false,
            Some(o) => self.d.error(
                &n.args[1].span,
                format!("weight: unexpected '{o}' (expected reverse)"),
            ),
        }
        self.max_args(n, 2);
    }

    /// The block name of `vrrp_instance NAME {`.
    fn block_name(&mut self, n: &Node) -> Option<Sp<String>> {
        match n.args.as_slice() {
            [] => {
                self.d
                    .error(&n.kw.span, format!("'{}' needs a name", n.kw.text));
                None
            }
            [name, rest @ ..] => {
                if let Some(r) = rest.first() {
                    self.d
                        .error(&r.span, format!("'{}' takes one name", n.kw.text));
                }
                Some(sp(name))
            }
        }
    }

    fn notify(&mut self, n: &Node, notify: &mut RawNotify) -> bool {
        let slot = match n.kw.text.as_str() {
            "notify_master" => &mut notify.master,
            "notify_backup" => &mut notify.backup,
            "notify_fault" => &mut notify.fault,
            "notify_stop" => &mut notify.stop,
            "notify_master_rx_lower_pri" => &mut notify.master_rx_lower_pri,
            "notify" => &mut notify.generic,
            "notify_deleted" => {
                notify.deleted_flag = true;
                if !n.args.is_empty() {
                    notify.deleted = self.command(n);
                } else {
                    self.no_block(n);
                }
                return true;
            }
            _ => return false,
        };
        let c = self.command(n);
        if slot.is_some() {
            self.d.warning(
                &n.kw.span,
                format!("'{}' given more than once; the last one wins", n.kw.text),
            );
        }
        if c.is_some() {
            *slot = c;
        }
        true
    }

    // ---- blocks ------------------------------------------------------------------------------

    fn top(&mut self, n: &Node, raw: &mut RawConfig) {
        match n.kw.text.as_str() {
            "global_defs" => {
                self.max_args(n, 0);
                if let Some(b) = self.need_block(n) {
                    for item in &b.items {
                        self.global(item, &mut raw.global);
                    }
                }
            }
            "vrrp_script" => {
                let name = self.block_name(n);
                if let (Some(name), Some(b)) = (name, self.need_block(n)) {
                    let mut s = RawScript {
                        name,
                        script: None,
                        interval: None,
                        timeout: None,
                        weight: None,
                        reverse: false,
                        rise: None,
                        fall: None,
                        user: None,
                        init_fail: None,
                    };
                    for item in &b.items {
                        self.script(item, &mut s);
                    }
                    raw.scripts.push(s);
                }
            }
            "vrrp_track_process" => {
                let name = self.block_name(n);
                if let (Some(name), Some(b)) = (name, self.need_block(n)) {
                    let mut t = RawTrackProcess {
                        name,
                        process: None,
                        param_match: None,
                        full_command: None,
                        weight: None,
                        reverse: false,
                        quorum: None,
                        quorum_max: None,
                        delay: None,
                        fork_delay: None,
                        terminate_delay: None,
                    };
                    for item in &b.items {
                        self.track_process(item, &mut t);
                    }
                    raw.track_processes.push(t);
                }
            }
            "vrrp_instance" => {
                let name = self.block_name(n);
                if let (Some(name), Some(b)) = (name, self.need_block(n)) {
                    let mut i = RawInstance::new(name);
                    for item in &b.items {
                        self.instance(item, &mut i);
                    }
                    raw.instances.push(i);
                }
            }
            "vrrp_sync_group" => {
                let name = self.block_name(n);
                if let (Some(name), Some(b)) = (name, self.need_block(n)) {
                    let mut g = RawSyncGroup {
                        name,
                        group: Vec::new(),
                        track_script: Vec::new(),
                        track_interface: Vec::new(),
                        track_process: Vec::new(),
                        track_file: Vec::new(),
                        track_proxyd: Vec::new(),
                        notify: RawNotify::default(),
                        smtp_alert: None,
                        tracking_weight: None,
                        notify_priority_changes: None,
                    };
                    for item in &b.items {
                        self.sync_group(item, &mut g);
                    }
                    raw.sync_groups.push(g);
                }
            }
            "track_file" | "vrrp_track_file" => {
                let name = self.block_name(n);
                if let (Some(name), Some(b)) = (name, self.need_block(n)) {
                    let mut t = RawTrackFile {
                        name,
                        file: None,
                        weight: None,
                        reverse: false,
                        init_file: None,
                    };
                    for item in &b.items {
                        self.track_file(item, &mut t);
                    }
                    raw.track_files.push(t);
                }
            }
            "track_proxyd" => {
                let name = self.block_name(n);
                if let (Some(name), Some(b)) = (name, self.need_block(n)) {
                    let mut t = RawTrackProxyd::new(name);
                    for item in &b.items {
                        self.track_proxyd(item, &mut t);
                    }
                    raw.track_proxyds.push(t);
                }
            }
            "net_namespace" | "instance" | "use_pid_dir" => {
                self.process_identity(n, &mut raw.global);
            }
            _ => self.unknown(n, &keywords::TOP),
        }
    }

    /// `net_namespace`, `instance`, `use_pid_dir`: top level in keepalived 2.2.7, also read in
    /// `global_defs`. Returns false if `n` is none of them.
    fn process_identity(&mut self, n: &Node, g: &mut RawGlobal) -> bool {
        match n.kw.text.as_str() {
            "net_namespace" => {
                let v = self.string(n);
                self.set(&mut g.net_namespace, v, n);
            }
            "instance" => {
                let v = self.string(n);
                self.set(&mut g.instance, v, n);
            }
            "use_pid_dir" => {
                let v = self.bare(n);
                self.set(&mut g.use_pid_dir, v, n);
            }
            _ => return false,
        }
        true
    }

    /// A `global_defs` keyword that tunes keepalived's process scheduling: warned about, no effect.
    fn scheduling_knob(&mut self, n: &Node) {
        self.no_block(n);
        self.d.warning(
            &n.kw.span,
            format!(
                "'{}' has no effect in vrrpd and is ignored: it tunes the scheduling of \
                 keepalived's single-threaded VRRP process, where one event loop runs every \
                 instance's timers, the scripts and netlink; vrrpd is not a single-threaded \
                 scheduler (each instance runs on its own task of a multi-threaded runtime); set \
                 CPU priority, affinity or memory locking in the service unit instead",
                n.kw.text
            ),
        );
    }

    fn track_proxyd(&mut self, n: &Node, t: &mut RawTrackProxyd) {
        match n.kw.text.as_str() {
            "pid_file" => {
                let v = self.string(n);
                self.set(&mut t.pid_file, v, n);
            }
            "liveness_socket" => {
                let v = self.string(n);
                self.set(&mut t.liveness_socket, v, n);
            }
            "require_serving" => {
                let v = self.flag(n);
                self.set(&mut t.require_serving, v, n);
            }
            "interval" => {
                let v = self.timer(n);
                self.set(&mut t.interval, v, n);
            }
            "timeout" => {
                let v = self.timer(n);
                self.set(&mut t.timeout, v, n);
            }
            "weight" => self.weight(n, &mut t.weight, &mut t.reverse),
            _ => self.unknown(n, &keywords::TRACK_PROXYD),
        }
    }

    fn track_file(&mut self, n: &Node, t: &mut RawTrackFile) {
        match n.kw.text.as_str() {
            "file" => {
                let v = self.string(n);
                self.set(&mut t.file, v, n);
            }
            "weight" => self.weight(n, &mut t.weight, &mut t.reverse),
            "init_file" => {
                self.no_block(n);
                let mut init = RawInitFile {
                    span: n.kw.span.clone(),
                    value: None,
                    overwrite: false,
                };
                for (k, a) in n.args.iter().enumerate() {
                    if a.text == "overwrite" {
                        init.overwrite = true;
                    } else if k == 0 {
                        init.value = self.int_tok("init_file", a);
                    } else {
                        self.d.error(
                            &a.span,
                            format!(
                                "init_file: unexpected '{}' (expected [VALUE] [overwrite])",
                                a.text
                            ),
                        );
                    }
                }
                t.init_file = Some(init);
            }
            _ => self.unknown(n, &keywords::TRACK_FILE),
        }
    }

    fn global(&mut self, n: &Node, g: &mut RawGlobal) {
        if self.garp(n, &mut g.garp, "vrrp_") {
            return;
        }
        match n.kw.text.as_str() {
            "router_id" => {
                let v = self.string(n);
                self.set(&mut g.router_id, v, n);
            }
            "notification_email" => {
                let v = self.value_words(n);
                g.notification_email.extend(v);
            }
            "notification_email_from" => {
                let v = self.string(n);
                self.set(&mut g.notification_email_from, v, n);
            }
            "smtp_server" => {
                self.no_block(n);
                match n.args.as_slice() {
                    [] => self
                        .d
                        .error(&n.kw.span, "'smtp_server' needs a host or address"),
                    [host, rest @ ..] => {
                        let port = match rest.first() {
                            Some(p) => self.int_tok("smtp_server port", p),
                            None => None,
                        };
                        self.max_args(n, 2);
                        if g.smtp_server.is_some() {
                            self.d.warning(
                                &n.kw.span,
                                "'smtp_server' given more than once; the last one wins",
                            );
                        }
                        g.smtp_server = Some((sp(host), port));
                    }
                }
            }
            "smtp_helo_name" => {
                let v = self.string(n);
                self.set(&mut g.smtp_helo_name, v, n);
            }
            "smtp_connect_timeout" => {
                let v = self.timer(n);
                self.set(&mut g.smtp_connect_timeout, v, n);
            }
            "smtp_alert" => {
                let v = self.flag(n);
                self.set(&mut g.smtp_alert, v, n);
            }
            "smtp_alert_vrrp" => {
                let v = self.flag(n);
                self.set(&mut g.smtp_alert_vrrp, v, n);
            }
            "no_email_faults" => {
                let v = self.bare(n);
                self.set(&mut g.no_email_faults, v, n);
            }
            "script_user" => g.script_user = self.user(n),
            "enable_script_security" => {
                let v = self.bare(n);
                self.set(&mut g.enable_script_security, v, n);
            }
            "vrrp_version" => {
                let v = self.int(n);
                self.set(&mut g.vrrp_version, v, n);
            }
            "vrrp_strict" => {
                let v = self.bare(n);
                self.set(&mut g.vrrp_strict, v, n);
            }
            "vrrp_mcast_group4" => {
                let v = self.string(n);
                self.set(&mut g.mcast_group4, v, n);
            }
            "vrrp_mcast_group6" => {
                let v = self.string(n);
                self.set(&mut g.mcast_group6, v, n);
            }
            "vrrp_garp_interval" => {
                let v = self.timer(n);
                self.set(&mut g.garp_interval, v, n);
            }
            "vrrp_gna_interval" => {
                let v = self.timer(n);
                self.set(&mut g.gna_interval, v, n);
            }
            "vrrp_min_garp" => {
                let v = self.flag(n);
                self.set(&mut g.min_garp, v, n);
            }
            "vrrp_down_timer_adverts" => {
                let v = self.int(n);
                self.set(&mut g.down_timer_adverts, v, n);
            }
            "vrrp_lower_prio_no_advert" => {
                let v = self.flag(n);
                self.set(&mut g.lower_prio_no_advert, v, n);
            }
            "vrrp_higher_prio_send_advert" => {
                let v = self.flag(n);
                self.set(&mut g.higher_prio_send_advert, v, n);
            }
            "v3_checksum_as_v2" => {
                let v = self.flag(n);
                self.set(&mut g.v3_checksum_as_v2, v, n);
            }
            "vrrp_skip_check_adv_addr" => {
                let v = self.flag(n);
                self.set(&mut g.skip_check_adv_addr, v, n);
            }
            "vrrp_check_unicast_src" => {
                let v = self.bare(n);
                self.set(&mut g.check_unicast_src, v, n);
            }
            "vrrp_startup_delay" => {
                let v = self.timer(n);
                self.set(&mut g.startup_delay, v, n);
            }
            "notify_fifo" | "vrrp_notify_fifo" => {
                self.no_block(n);
                let fifo = match n.args.as_slice() {
                    [] => {
                        self.d
                            .error(&n.kw.span, format!("'{}' needs a path", n.kw.text));
                        None
                    }
                    [path, rest @ ..] => {
                        let owner = if rest.is_empty() {
                            None
                        } else {
                            self.user_from(&n.kw, rest)
                        };
                        Some(RawFifo {
                            path: sp(path),
                            owner,
                        })
                    }
                };
                if n.kw.text == "notify_fifo" {
                    g.notify_fifo = fifo;
                } else {
                    g.vrrp_notify_fifo = fifo;
                }
            }
            "notify_fifo_script" => g.notify_fifo_script = self.command(n),
            "vrrp_notify_fifo_script" => g.vrrp_notify_fifo_script = self.command(n),
            "vrrp_notify_priority_changes" => {
                let v = self.flag(n);
                self.set(&mut g.notify_priority_changes, v, n);
            }
            "default_interface" => {
                let v = self.string(n);
                self.set(&mut g.default_interface, v, n);
            }
            "vrrp_garp_extra_if" => {
                self.no_block(n);
                g.extra
                    .push((sp(&n.kw), n.args.iter().map(|t| t.text.clone()).collect()));
            }
            "vrrp_delay_after_boot" => {
                let v = self.timer(n);
                self.set(&mut g.delay_after_boot, v, n);
            }
            "dynamic_interfaces" => {
                let v = self.option_word(n);
                self.set(&mut g.dynamic_interfaces, v, n);
            }
            "state_dump_file" => {
                let v = self.string(n);
                self.set(&mut g.state_dump_file, v, n);
            }
            "stats_dump_file" => {
                let v = self.string(n);
                self.set(&mut g.stats_dump_file, v, n);
            }
            "json_dump_file" => {
                let v = self.string(n);
                self.set(&mut g.json_dump_file, v, n);
            }
            "data_use_instance" => {
                let v = self.flag(n);
                self.set(&mut g.data_use_instance, v, n);
            }
            // Read by the lexer (it governs how includes are checked).
            "include_check" => {}
            w if keywords::SCHEDULING.contains(&w) => self.scheduling_knob(n),
            _ => {
                if !self.process_identity(n, g) {
                    self.unknown(n, &keywords::GLOBAL);
                }
            }
        }
    }

    fn script(&mut self, n: &Node, s: &mut RawScript) {
        match n.kw.text.as_str() {
            "script" => {
                let c = self.command(n);
                if s.script.is_some() && c.is_some() {
                    self.d.warning(
                        &n.kw.span,
                        "'script' given more than once; the last one wins",
                    );
                }
                if c.is_some() {
                    s.script = c;
                }
            }
            "interval" => {
                let v = self.timer(n);
                self.set(&mut s.interval, v, n);
            }
            "timeout" => {
                let v = self.timer(n);
                self.set(&mut s.timeout, v, n);
            }
            "weight" => self.weight(n, &mut s.weight, &mut s.reverse),
            "rise" => {
                let v = self.int(n);
                self.set(&mut s.rise, v, n);
            }
            "fall" => {
                let v = self.int(n);
                self.set(&mut s.fall, v, n);
            }
            "user" => s.user = self.user(n),
            "init_fail" => {
                let v = self.bare(n);
                self.set(&mut s.init_fail, v, n);
            }
            _ => self.unknown(n, &keywords::SCRIPT),
        }
    }

    fn track_process(&mut self, n: &Node, t: &mut RawTrackProcess) {
        match n.kw.text.as_str() {
            "process" => {
                self.no_block(n);
                if n.args.is_empty() {
                    self.d.error(&n.kw.span, "'process' needs a process name");
                } else {
                    let v = Some(Sp::new(
                        n.args.iter().map(|a| a.text.clone()).collect(),
                        n.args[0].span.clone(),
                    ));
                    self.set(&mut t.process, v, n);
                }
            }
            "param_match" => {
                let v = self.string(n);
                self.set(&mut t.param_match, v, n);
            }
            "full_command" => {
                let v = self.bare(n);
                self.set(&mut t.full_command, v, n);
            }
            "weight" => self.weight(n, &mut t.weight, &mut t.reverse),
            "quorum" => {
                let v = self.int(n);
                self.set(&mut t.quorum, v, n);
            }
            "quorum_max" => {
                let v = self.int(n);
                self.set(&mut t.quorum_max, v, n);
            }
            "delay" => {
                let v = self.timer(n);
                self.set(&mut t.delay, v, n);
            }
            "fork_delay" => {
                let v = self.timer(n);
                self.set(&mut t.fork_delay, v, n);
            }
            "terminate_delay" => {
                let v = self.timer(n);
                self.set(&mut t.terminate_delay, v, n);
            }
            _ => self.unknown(n, &keywords::TRACK_PROCESS),
        }
    }

    fn instance(&mut self, n: &Node, i: &mut RawInstance) {
        if self.notify(n, &mut i.notify) {
            return;
        }
        if self.garp(n, &mut i.garp, "") {
            return;
        }
        match n.kw.text.as_str() {
            "state" => {
                if let Some(t) = self.one(n) {
                    let v = match t.text.as_str() {
                        "MASTER" => Some(RawState::Master),
                        "BACKUP" => Some(RawState::Backup),
                        _ => {
                            self.d.error(
                                &t.span,
                                format!("state must be MASTER or BACKUP, not '{}'", t.text),
                            );
                            None
                        }
                    };
                    let v = v.map(|v| Sp::new(v, t.span.clone()));
                    self.set(&mut i.state, v, n);
                }
            }
            "interface" => {
                let v = self.string(n);
                self.set(&mut i.interface, v, n);
            }
            "virtual_router_id" => {
                let v = self.int(n);
                self.set(&mut i.vrid, v, n);
            }
            "priority" => {
                let v = self.int(n);
                self.set(&mut i.priority, v, n);
            }
            "advert_int" => {
                let v = self.timer(n);
                self.set(&mut i.advert_int, v, n);
            }
            "version" => {
                let v = self.int(n);
                self.set(&mut i.version, v, n);
            }
            "native_ipv6" => {
                self.bare(n);
                i.native_ipv6 = Some(n.kw.span.clone());
            }
            "nopreempt" => {
                self.bare(n);
                i.preempt = Some(Sp::new(false, n.kw.span.clone()));
            }
            "preempt" => {
                self.bare(n);
                i.preempt = Some(Sp::new(true, n.kw.span.clone()));
            }
            "preempt_delay" => {
                let v = self.timer(n);
                self.set(&mut i.preempt_delay, v, n);
            }
            "authentication" => {
                self.max_args(n, 0);
                if let Some(b) = self.need_block(n) {
                    let mut a = RawAuth {
                        span: n.kw.span.clone(),
                        auth_type: None,
                        auth_pass: None,
                    };
                    for item in &b.items {
                        match item.kw.text.as_str() {
                            "auth_type" => {
                                if let Some(t) = self.one(item) {
                                    let v = match t.text.as_str() {
                                        "PASS" => Some(RawAuthType::Pass),
                                        "AH" => Some(RawAuthType::Ah),
                                        _ => {
                                            self.d.error(
                                                &t.span,
                                                format!(
                                                    "auth_type must be PASS or AH, not '{}'",
                                                    t.text
                                                ),
                                            );
                                            None
                                        }
                                    };
                                    let v = v.map(|v| Sp::new(v, t.span.clone()));
                                    self.set(&mut a.auth_type, v, item);
                                }
                            }
                            "auth_pass" => {
                                let v = self.string(item);
                                self.set(&mut a.auth_pass, v, item);
                            }
                            _ => self.unknown(item, &keywords::AUTH),
                        }
                    }
                    i.auth = Some(a);
                }
            }
            "virtual_ipaddress" => {
                let v = self.value_lines(n);
                i.vips.extend(v);
            }
            "virtual_ipaddress_excluded" => {
                let v = self.value_lines(n);
                i.excluded_vips.extend(v);
            }
            "virtual_routes" | "virtual_rules" => {
                let lines: Vec<Sp<String>> = self
                    .value_lines(n)
                    .into_iter()
                    .filter_map(|l| {
                        let span = l.first()?.span.clone();
                        let text: Vec<String> = l.into_iter().map(|w| w.v).collect();
                        Some(Sp::new(text.join(" "), span))
                    })
                    .collect();
                if n.kw.text == "virtual_routes" {
                    i.virtual_routes.extend(lines);
                } else {
                    i.virtual_rules.extend(lines);
                }
            }
            "track_script" => {
                let v = self.track_refs(n);
                i.track_script.extend(v);
            }
            "track_interface" => {
                let v = self.track_refs(n);
                i.track_interface.extend(v);
            }
            "track_process" => {
                let v = self.track_refs(n);
                i.track_process.extend(v);
            }
            "track_file" => {
                let v = self.track_refs(n);
                i.track_file.extend(v);
            }
            "track_proxyd" => {
                let v = self.track_refs(n);
                i.track_proxyd.extend(v);
            }
            "dont_track_primary" => {
                let v = self.bare(n);
                self.set(&mut i.dont_track_primary, v, n);
            }
            "mcast_src_ip" | "unicast_src_ip" => {
                let v = self.string(n);
                self.set(&mut i.src_ip, v, n);
            }
            "track_src_ip" => {
                let v = self.bare(n);
                self.set(&mut i.track_src_ip, v, n);
            }
            "unicast_peer" => {
                i.unicast_peer_span = Some(n.kw.span.clone());
                for line in self.value_lines(n) {
                    let mut it = line.into_iter();
                    let Some(addr) = it.next() else { continue };
                    let mut peer = RawPeer {
                        addr,
                        min_ttl: None,
                        max_ttl: None,
                    };
                    while let Some(w) = it.next() {
                        let slot = match w.v.as_str() {
                            "min_ttl" => &mut peer.min_ttl,
                            "max_ttl" => &mut peer.max_ttl,
                            other => {
                                self.d.error(
                                    &w.span,
                                    format!("unicast_peer: unexpected '{other}' (expected min_ttl N or max_ttl N)"),
                                );
                                continue;
                            }
                        };
                        match it.next() {
                            Some(v) => match v.v.parse::<i64>() {
                                Ok(x) => *slot = Some(Sp::new(x, v.span)),
                                Err(_) => self.d.error(
                                    &v.span,
                                    format!("unicast_peer: {} '{}' is not an integer", w.v, v.v),
                                ),
                            },
                            None => self.d.error(&w.span, format!("'{}' needs a value", w.v)),
                        }
                    }
                    i.unicast_peers.push(peer);
                }
            }
            "unicast_ttl" => {
                let v = self.int(n);
                self.set(&mut i.unicast_ttl, v, n);
            }
            "unicast_fault_no_peer" => {
                let v = self.bare(n);
                self.set(&mut i.unicast_fault_no_peer, v, n);
            }
            "check_unicast_src" => {
                let v = self.bare(n);
                self.set(&mut i.check_unicast_src, v, n);
            }
            "accept" => {
                let v = self.bare(n);
                self.set(&mut i.accept, v, n);
            }
            "no_accept" => {
                self.bare(n);
                i.accept = Some(Sp::new(false, n.kw.span.clone()));
            }
            "lower_prio_no_advert" => {
                let v = self.flag(n);
                self.set(&mut i.lower_prio_no_advert, v, n);
            }
            "higher_prio_send_advert" => {
                let v = self.flag(n);
                self.set(&mut i.higher_prio_send_advert, v, n);
            }
            "down_timer_adverts" => {
                let v = self.int(n);
                self.set(&mut i.down_timer_adverts, v, n);
            }
            "v3_checksum_as_v2" => {
                let v = self.flag(n);
                self.set(&mut i.v3_checksum_as_v2, v, n);
            }
            "skip_check_adv_addr" => {
                let v = self.flag(n);
                self.set(&mut i.skip_check_adv_addr, v, n);
            }
            "strict_mode" => {
                let v = self.flag(n);
                self.set(&mut i.strict_mode, v, n);
            }
            "owner_ignore_adverts" => {
                let v = self.flag(n);
                self.set(&mut i.owner_ignore_adverts, v, n);
            }
            "promote_secondaries" => {
                let v = self.bare(n);
                self.set(&mut i.promote_secondaries, v, n);
            }
            "kernel_rx_buf_size" => {
                let v = self.int(n);
                self.set(&mut i.kernel_rx_buf_size, v, n);
            }
            "use_vmac" => {
                let v = self.words(n);
                self.set(&mut i.use_vmac, v, n);
            }
            "vmac_xmit_base" => {
                let v = self.bare(n);
                self.set(&mut i.vmac_xmit_base, v, n);
            }
            "use_ipvlan" => {
                let v = self.words(n);
                self.set(&mut i.use_ipvlan, v, n);
            }
            "old_unicast_checksum" => {
                let v = self.option_word(n);
                self.set(&mut i.old_unicast_checksum, v, n);
            }
            "smtp_alert" => {
                let v = self.flag(n);
                self.set(&mut i.smtp_alert, v, n);
            }
            "notify_priority_changes" => {
                let v = self.flag(n);
                self.set(&mut i.notify_priority_changes, v, n);
            }
            _ => self.unknown(n, &keywords::INSTANCE),
        }
    }

    /// `garp_*` keywords (per instance); returns false if `n` is not one.
    fn garp(&mut self, n: &Node, g: &mut RawGarp, prefix: &str) -> bool {
        let Some(kw) = n.kw.text.strip_prefix(prefix) else {
            return false;
        };
        match kw {
            "garp_master_delay" => {
                let v = self.timer(n);
                self.set(&mut g.master_delay, v, n);
            }
            "garp_master_repeat" => {
                let v = self.int(n);
                self.set(&mut g.master_repeat, v, n);
            }
            "garp_master_refresh" => {
                let v = self.timer(n);
                self.set(&mut g.master_refresh, v, n);
            }
            "garp_master_refresh_repeat" => {
                let v = self.int(n);
                self.set(&mut g.master_refresh_repeat, v, n);
            }
            "garp_lower_prio_delay" => {
                let v = self.timer(n);
                self.set(&mut g.lower_prio_delay, v, n);
            }
            "garp_lower_prio_repeat" => {
                let v = self.int(n);
                self.set(&mut g.lower_prio_repeat, v, n);
            }
            _ => return false,
        }
        true
    }

    fn sync_group(&mut self, n: &Node, g: &mut RawSyncGroup) {
        if n.kw.text != "notify_master_rx_lower_pri" && self.notify(n, &mut g.notify) {
            return;
        }
        match n.kw.text.as_str() {
            "group" => {
                let v = self.value_words(n);
                g.group.extend(v);
            }
            "track_script" => {
                let v = self.track_refs(n);
                g.track_script.extend(v);
            }
            "track_interface" => {
                let v = self.track_refs(n);
                g.track_interface.extend(v);
            }
            "track_process" => {
                let v = self.track_refs(n);
                g.track_process.extend(v);
            }
            "track_file" => {
                let v = self.track_refs(n);
                g.track_file.extend(v);
            }
            "track_proxyd" => {
                let v = self.track_refs(n);
                g.track_proxyd.extend(v);
            }
            "smtp_alert" => {
                let v = self.flag(n);
                self.set(&mut g.smtp_alert, v, n);
            }
            "sync_group_tracking_weight" => {
                let v = self.bare(n);
                self.set(&mut g.tracking_weight, v, n);
            }
            "global_tracking" => {
                self.bare(n);
                self.d.warning(
                    &n.kw.span,
                    "global_tracking is deprecated; treated as sync_group_tracking_weight (use \
                     track_* on the sync group instead)",
                );
                g.tracking_weight = Some(Sp::new(true, n.kw.span.clone()));
            }
            "notify_priority_changes" => {
                let v = self.flag(n);
                self.set(&mut g.notify_priority_changes, v, n);
            }
            _ => self.unknown(n, &keywords::SYNC_GROUP),
        }
    }
}
