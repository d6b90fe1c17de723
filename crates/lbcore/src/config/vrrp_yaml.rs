//! YAML front end for the vrrpd model.
//!
//! Owns: the YAML schema (serde structs with `deny_unknown_fields`; keys are the keepalived
//! keywords, so `docs/configuration-vrrpd.md` documents both dialects in one table), durations as
//! seconds or `"50ms"`-style strings, and the mapping of serde_norway errors and of validation
//! problems to `file:line:col`. The YAML is read into the same keyword-level form as
//! keepalived.conf and validated by the same code ([`super::keepalived`]'s `validate`), so a
//! setting means exactly the same in both dialects. Must not: read any file but the one given.
//!
//! Positions: serde_norway reports a position only with an error, so validation problems are
//! placed with a one-pass index of every node's position built from yaml-rust2's marked events
//! (`Locator`). Should yaml-rust2 read a document differently from serde_norway, each position
//! is found instead by re-reading the document with a probe that deliberately fails at that path
//! (one parse per located value: correct, only slower).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::config::keepalived::raw::*;
use crate::config::keepalived::validate::validate;
use crate::config::vrrp::VrrpConfig;
use crate::diag::{Diagnostics, Span, did_you_mean};

/// Parses vrrpd YAML text read from `path`. Returns `Some(config)` iff no diagnostic is an error.
pub fn parse_str(text: &str, path: &Path) -> (Option<VrrpConfig>, Diagnostics) {
    let mut d = Diagnostics::new();
    let file: Arc<Path> = Arc::from(path);
    let parsed: YFile = if text.trim().is_empty() {
        YFile::default()
    } else {
        match serde_yaml::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                let (span, msg) = yaml_error(&file, &e);
                d.error(&span, msg);
                return (None, d);
            }
        }
    };
    let loc = Locator::new(text, file.clone());
    let raw = Conv { loc: &loc }.file(&parsed, Span::new(file, 1, 1));
    let config = validate(raw, &mut d);
    if d.has_errors() {
        (None, d)
    } else {
        (Some(config), d)
    }
}

/// A serde_norway error as a span and a message without the trailing position.
fn yaml_error(file: &Arc<Path>, e: &serde_yaml::Error) -> (Span, String) {
    let mut msg = e.to_string();
    let span = match e.location() {
        Some(l) => {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            if let Some(i) = msg.find(&suffix) {
                msg.replace_range(i..i + suffix.len(), "");
            }
            Span::new(file.clone(), to_u32(l.line()), to_u32(l.column()))
        }
        None => Span::new(file.clone(), 1, 1),
    };
    (span, friendlier(&msg))
}

fn to_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// serde's "unknown field `x`, expected one of `a`, `b`, ..." → "unknown field 'x'; did you mean
/// 'y'?" (the full list stays when nothing is close).
fn friendlier(msg: &str) -> String {
    let Some(start) = msg.find("unknown field `") else {
        return msg.to_string();
    };
    let rest = &msg[start + "unknown field `".len()..];
    let Some(end) = rest.find('`') else {
        return msg.to_string();
    };
    let field = &rest[..end];
    let expected: Vec<&str> = rest[end..].split('`').skip(2).step_by(2).collect();
    match did_you_mean(field, expected.iter().copied()) {
        Some(s) => format!(
            "{}unknown field '{field}'; did you mean '{s}'?",
            &msg[..start]
        ),
        None => msg.to_string(),
    }
}

// ---- positions --------------------------------------------------------------------------------

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Seg {
    Key(String),
    Idx(usize),
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

fn idx(n: usize) -> Seg {
    Seg::Idx(n)
}

/// Finds where values are written: from a one-pass index of the document built with
/// yaml-rust2's marked events, or, if that parser disagrees with serde_norway about the document,
/// by probing (see the module doc).
struct Locator<'a> {
    text: &'a str,
    file: Arc<Path>,
    index: Option<HashMap<Vec<Seg>, Span>>,
    cache: RefCell<HashMap<Vec<Seg>, Span>>,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str, file: Arc<Path>) -> Self {
        let index = position_index(text, &file);
        Self {
            text,
            file,
            index,
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// The position of the value at `path`, if it is written.
    fn exact(&self, path: &[Seg]) -> Option<Span> {
        if let Some(index) = &self.index {
            return index.get(path).cloned();
        }
        let de = serde_yaml::Deserializer::from_str(self.text);
        match (Probe { path }).deserialize(de) {
            Err(e) if e.to_string().contains(HIT) => Some(self.span(path)),
            _ => None,
        }
    }

    /// The position of the value at `path`, or of its nearest existing ancestor.
    fn span(&self, path: &[Seg]) -> Span {
        if let Some(index) = &self.index {
            return (0..=path.len())
                .rev()
                .find_map(|n| index.get(&path[..n]))
                .cloned()
                .unwrap_or_else(|| Span::new(self.file.clone(), 1, 1));
        }
        if let Some(s) = self.cache.borrow().get(path) {
            return s.clone();
        }
        let de = serde_yaml::Deserializer::from_str(self.text);
        let span = match (Probe { path }).deserialize(de) {
            Err(e) => match e.location() {
                Some(l) => Span::new(self.file.clone(), to_u32(l.line()), to_u32(l.column())),
                None => Span::new(self.file.clone(), 1, 1),
            },
            Ok(()) => Span::new(self.file.clone(), 1, 1),
        };
        self.cache.borrow_mut().insert(path.to_vec(), span.clone());
        span
    }
}

/// Every node's path and position, in one pass over yaml-rust2's marked events.
fn position_index(text: &str, file: &Arc<Path>) -> Option<HashMap<Vec<Seg>, Span>> {
    use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
    use yaml_rust2::scanner::Marker;

    struct Rx(Vec<(Event, Marker)>);
    impl MarkedEventReceiver for Rx {
        fn on_event(&mut self, ev: Event, mark: Marker) {
            self.0.push((ev, mark));
        }
    }

    fn walk(
        ev: &[(Event, Marker)],
        i: &mut usize,
        path: &mut Vec<Seg>,
        out: &mut HashMap<Vec<Seg>, Span>,
        file: &Arc<Path>,
    ) -> Option<()> {
        let (e, m) = ev.get(*i)?;
        // A mapping is placed at its first key, as libyaml (serde_norway) places it.
        let m = match (e, ev.get(*i + 1)) {
            (Event::MappingStart(..), Some((Event::Scalar(..), k))) => k,
            _ => m,
        };
        out.insert(
            path.clone(),
            Span::new(file.clone(), to_u32(m.line()), to_u32(m.col() + 1)),
        );
        *i += 1;
        match e {
            Event::MappingStart(..) => loop {
                match &ev.get(*i)?.0 {
                    Event::MappingEnd => {
                        *i += 1;
                        return Some(());
                    }
                    Event::Scalar(k, ..) => {
                        *i += 1;
                        path.push(Seg::Key(k.clone()));
                    }
                    _ => {
                        // A complex key: index it under a path no lookup uses.
                        path.push(Seg::Idx(usize::MAX));
                        walk(ev, i, path, &mut HashMap::new(), file)?;
                    }
                }
                walk(ev, i, path, out, file)?;
                path.pop();
            },
            Event::SequenceStart(..) => {
                let mut n = 0;
                loop {
                    if matches!(ev.get(*i)?.0, Event::SequenceEnd) {
                        *i += 1;
                        return Some(());
                    }
                    path.push(Seg::Idx(n));
                    walk(ev, i, path, out, file)?;
                    path.pop();
                    n += 1;
                }
            }
            Event::Scalar(..) | Event::Alias(_) => Some(()),
            _ => None,
        }
    }

    let mut rx = Rx(Vec::new());
    Parser::new_from_str(text).load(&mut rx, false).ok()?;
    let start =
        rx.0.iter()
            .position(|(e, _)| matches!(e, Event::DocumentStart))?
            + 1;
    let mut out = HashMap::new();
    let mut i = start;
    walk(&rx.0, &mut i, &mut Vec::new(), &mut out, file)?;
    Some(out)
}

/// Walks to `path` and fails there, so that the error carries the value's position.
struct Probe<'p> {
    path: &'p [Seg],
}

const HIT: &str = "probe: value reached";
const MISS: &str = "probe: path not found";

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(HIT))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(HIT))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(HIT))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(HIT))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(HIT))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(HIT))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(HIT))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Seg::Key(want), rest)) = self.path.split_first() else {
            return Err(de::Error::custom(HIT));
        };
        while let Some(k) = map.next_key::<KeyText>()? {
            if k.0 == *want {
                return map.next_value_seed(Probe { path: rest });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Err(de::Error::custom(MISS))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Seg::Idx(want), rest)) = self.path.split_first() else {
            return Err(de::Error::custom(HIT));
        };
        let mut i = 0;
        loop {
            if i == *want {
                return match seq.next_element_seed(Probe { path: rest })? {
                    Some(()) | None => Err(de::Error::custom(MISS)),
                };
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(de::Error::custom(MISS));
            }
            i += 1;
        }
    }
}

/// A mapping key as text (non-string keys never match a path).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

// ---- value types ------------------------------------------------------------------------------

/// A duration: a number of seconds (`1`, `0.05`) or a string with a unit (`"50ms"`, `"1s"`,
/// `"1.5s"`, `"2m"`, `"1h"`, `"100us"`; no unit = seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
struct YDuration(f64);

impl<'de> Deserialize<'de> for YDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = YDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration: seconds, or a string like \"50ms\", \"1s\", \"2m\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<YDuration, E> {
                Ok(YDuration(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<YDuration, E> {
                if v < 0 {
                    return Err(E::custom(format!("duration {v} is negative")));
                }
                Ok(YDuration(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<YDuration, E> {
                if !v.is_finite() || v < 0.0 {
                    return Err(E::custom(format!(
                        "duration {v} is not a non-negative number"
                    )));
                }
                // `+ 0.0` turns -0.0 into 0.0.
                Ok(YDuration(v + 0.0))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<YDuration, E> {
                parse_duration(s).map(YDuration).ok_or_else(|| {
                    E::custom(format!(
                        "invalid duration '{s}': expected seconds or a number with a unit (us, ms, s, m, h), like \"50ms\""
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `"50ms"` → 0.05 (seconds).
fn parse_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    // Divide for sub-second units so that "100us" is exactly 0.0001.
    let secs = match unit.trim() {
        "" | "s" => v,
        "ms" => v / 1e3,
        "us" | "µs" => v / 1e6,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return None,
    };
    Some(secs).filter(|v| v.is_finite())
}

/// A command: a command line (split the keepalived way), an argv list, or
/// `{command: LINE|[ARGV], user: U, group: G}`.
#[derive(Debug, Clone, PartialEq)]
struct YCommand {
    cmd: RawCmdLine,
    user: Option<String>,
    group: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YCommandMap {
    command: YLineOrArgv,
    user: Option<String>,
    group: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum YLineOrArgv {
    Line(String),
    Argv(Vec<String>),
}

impl From<YLineOrArgv> for RawCmdLine {
    fn from(v: YLineOrArgv) -> Self {
        match v {
            YLineOrArgv::Line(l) => RawCmdLine::Line(l),
            YLineOrArgv::Argv(a) => RawCmdLine::Argv(a),
        }
    }
}

impl<'de> Deserialize<'de> for YCommand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = YCommand;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a command line, a list of arguments, or {command, user, group}")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<YCommand, E> {
                Ok(YCommand {
                    cmd: RawCmdLine::Line(s.to_string()),
                    user: None,
                    group: None,
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<YCommand, A::Error> {
                let argv = Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(YCommand {
                    cmd: RawCmdLine::Argv(argv),
                    user: None,
                    group: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<YCommand, A::Error> {
                let m = YCommandMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(YCommand {
                    cmd: m.command.into(),
                    user: m.user,
                    group: m.group,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A tracker reference: `NAME` or `{name, weight, reverse}`.
#[derive(Debug, Clone, PartialEq)]
struct YTrackRef {
    name: String,
    weight: Option<i64>,
    reverse: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YTrackRefMap {
    name: String,
    weight: Option<i64>,
    #[serde(default)]
    reverse: bool,
}

impl<'de> Deserialize<'de> for YTrackRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = YTrackRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name or {name, weight, reverse}")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<YTrackRef, E> {
                Ok(YTrackRef {
                    name: s.to_string(),
                    weight: None,
                    reverse: false,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<YTrackRef, A::Error> {
                let m = YTrackRefMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(YTrackRef {
                    name: m.name,
                    weight: m.weight,
                    reverse: m.reverse,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A unicast peer: `ADDR` or `{address, min_ttl, max_ttl}`.
#[derive(Debug, Clone, PartialEq)]
struct YPeer {
    address: String,
    min_ttl: Option<i64>,
    max_ttl: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YPeerMap {
    address: String,
    min_ttl: Option<i64>,
    max_ttl: Option<i64>,
}

impl<'de> Deserialize<'de> for YPeer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = YPeer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address or {address, min_ttl, max_ttl}")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<YPeer, E> {
                Ok(YPeer {
                    address: s.to_string(),
                    min_ttl: None,
                    max_ttl: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<YPeer, A::Error> {
                let m = YPeerMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(YPeer {
                    address: m.address,
                    min_ttl: m.min_ttl,
                    max_ttl: m.max_ttl,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `use_vmac`: `true`, an interface name, or a list of keepalived's `use_vmac` arguments.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
enum YVmac {
    Flag(bool),
    Name(String),
    Args(Vec<String>),
}

/// A flag that may also be given one option word (`dynamic_interfaces: allow_if_changes`,
/// `old_unicast_checksum: never`): `true`, `false` or the word (checked by validation).
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
enum YFlagOrWord {
    Flag(bool),
    Word(String),
}

/// `init_file`: `true`, a value, or `{value, overwrite}`.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
enum YInitFile {
    Flag(bool),
    Value(i64),
    Full(YInitFileMap),
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct YInitFileMap {
    value: Option<i64>,
    #[serde(default)]
    overwrite: bool,
}

/// `notify_deleted`: `true` or a command.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
enum YNotifyDeleted {
    Flag(bool),
    Command(YCommand),
}

/// A FIFO: a path or `{path, user, group}`.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
enum YFifo {
    Path(String),
    Full(YFifoMap),
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct YFifoMap {
    path: String,
    user: Option<String>,
    group: Option<String>,
}

/// `smtp_server`: a host or `{host, port}`.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
enum YSmtp {
    Host(String),
    Full(YSmtpMap),
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct YSmtpMap {
    host: String,
    port: Option<i64>,
}

/// `user` / `script_user`: `USER` or `USER:GROUP`.
fn split_user(s: &str) -> (String, Option<String>) {
    match s.split_once(':') {
        Some((u, g)) if !g.is_empty() => (u.to_string(), Some(g.to_string())),
        Some((u, _)) => (u.to_string(), None),
        None => (s.to_string(), None),
    }
}

// ---- the schema -------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct YFile {
    #[serde(default)]
    global_defs: YGlobal,
    #[serde(default)]
    vrrp_scripts: Vec<YScript>,
    #[serde(default)]
    vrrp_track_processes: Vec<YTrackProcess>,
    #[serde(default)]
    vrrp_track_files: Vec<YTrackFile>,
    #[serde(default)]
    track_proxyds: Vec<YTrackProxyd>,
    #[serde(default)]
    vrrp_instances: Vec<YInstance>,
    #[serde(default)]
    vrrp_sync_groups: Vec<YSyncGroup>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct YGlobal {
    router_id: Option<String>,
    #[serde(default)]
    notification_email: Vec<String>,
    notification_email_from: Option<String>,
    smtp_server: Option<YSmtp>,
    smtp_helo_name: Option<String>,
    smtp_connect_timeout: Option<YDuration>,
    smtp_alert: Option<bool>,
    smtp_alert_vrrp: Option<bool>,
    no_email_faults: Option<bool>,
    script_user: Option<String>,
    enable_script_security: Option<bool>,
    vrrp_version: Option<i64>,
    vrrp_strict: Option<bool>,
    vrrp_mcast_group4: Option<String>,
    vrrp_mcast_group6: Option<String>,
    vrrp_garp_master_delay: Option<YDuration>,
    vrrp_garp_master_repeat: Option<i64>,
    vrrp_garp_master_refresh: Option<YDuration>,
    vrrp_garp_master_refresh_repeat: Option<i64>,
    vrrp_garp_lower_prio_delay: Option<YDuration>,
    vrrp_garp_lower_prio_repeat: Option<i64>,
    vrrp_garp_interval: Option<YDuration>,
    vrrp_gna_interval: Option<YDuration>,
    vrrp_min_garp: Option<bool>,
    vrrp_garp_extra_if: Option<Vec<String>>,
    vrrp_down_timer_adverts: Option<i64>,
    vrrp_lower_prio_no_advert: Option<bool>,
    vrrp_higher_prio_send_advert: Option<bool>,
    v3_checksum_as_v2: Option<bool>,
    vrrp_skip_check_adv_addr: Option<bool>,
    vrrp_check_unicast_src: Option<bool>,
    vrrp_startup_delay: Option<YDuration>,
    notify_fifo: Option<YFifo>,
    notify_fifo_script: Option<YCommand>,
    vrrp_notify_fifo: Option<YFifo>,
    vrrp_notify_fifo_script: Option<YCommand>,
    vrrp_notify_priority_changes: Option<bool>,
    default_interface: Option<String>,
    net_namespace: Option<String>,
    instance: Option<String>,
    use_pid_dir: Option<bool>,
    vrrp_delay_after_boot: Option<YDuration>,
    dynamic_interfaces: Option<YFlagOrWord>,
    state_dump_file: Option<String>,
    stats_dump_file: Option<String>,
    json_dump_file: Option<String>,
    data_use_instance: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YScript {
    name: String,
    script: Option<YCommand>,
    interval: Option<YDuration>,
    timeout: Option<YDuration>,
    weight: Option<i64>,
    #[serde(default)]
    reverse: bool,
    rise: Option<i64>,
    fall: Option<i64>,
    user: Option<String>,
    init_fail: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YTrackProcess {
    name: String,
    process: Option<YLineOrArgv>,
    param_match: Option<String>,
    full_command: Option<bool>,
    weight: Option<i64>,
    #[serde(default)]
    reverse: bool,
    quorum: Option<i64>,
    quorum_max: Option<i64>,
    delay: Option<YDuration>,
    fork_delay: Option<YDuration>,
    terminate_delay: Option<YDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YTrackFile {
    name: String,
    file: Option<String>,
    weight: Option<i64>,
    #[serde(default)]
    reverse: bool,
    init_file: Option<YInitFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YTrackProxyd {
    name: String,
    pid_file: Option<String>,
    liveness_socket: Option<String>,
    require_serving: Option<bool>,
    interval: Option<YDuration>,
    timeout: Option<YDuration>,
    weight: Option<i64>,
    #[serde(default)]
    reverse: bool,
}

#[derive(Deserialize, Clone, Copy)]
enum YState {
    #[serde(rename = "MASTER")]
    Master,
    #[serde(rename = "BACKUP")]
    Backup,
}

#[derive(Deserialize, Clone, Copy)]
enum YAuthType {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "AH")]
    Ah,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YAuth {
    auth_type: Option<YAuthType>,
    auth_pass: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YInstance {
    name: String,
    state: Option<YState>,
    interface: Option<String>,
    virtual_router_id: Option<i64>,
    priority: Option<i64>,
    advert_int: Option<YDuration>,
    version: Option<i64>,
    native_ipv6: Option<bool>,
    preempt: Option<bool>,
    preempt_delay: Option<YDuration>,
    authentication: Option<YAuth>,
    #[serde(default)]
    virtual_ipaddress: Vec<String>,
    #[serde(default)]
    virtual_ipaddress_excluded: Vec<String>,
    #[serde(default)]
    virtual_routes: Vec<String>,
    #[serde(default)]
    virtual_rules: Vec<String>,
    #[serde(default)]
    track_script: Vec<YTrackRef>,
    #[serde(default)]
    track_interface: Vec<YTrackRef>,
    #[serde(default)]
    track_process: Vec<YTrackRef>,
    #[serde(default)]
    track_file: Vec<YTrackRef>,
    #[serde(default)]
    track_proxyd: Vec<YTrackRef>,
    dont_track_primary: Option<bool>,
    #[serde(alias = "mcast_src_ip")]
    unicast_src_ip: Option<String>,
    track_src_ip: Option<bool>,
    unicast_peer: Option<Vec<YPeer>>,
    unicast_ttl: Option<i64>,
    unicast_fault_no_peer: Option<bool>,
    check_unicast_src: Option<bool>,
    accept: Option<bool>,
    garp_master_delay: Option<YDuration>,
    garp_master_repeat: Option<i64>,
    garp_master_refresh: Option<YDuration>,
    garp_master_refresh_repeat: Option<i64>,
    garp_lower_prio_delay: Option<YDuration>,
    garp_lower_prio_repeat: Option<i64>,
    lower_prio_no_advert: Option<bool>,
    higher_prio_send_advert: Option<bool>,
    down_timer_adverts: Option<i64>,
    v3_checksum_as_v2: Option<bool>,
    skip_check_adv_addr: Option<bool>,
    strict_mode: Option<bool>,
    owner_ignore_adverts: Option<bool>,
    promote_secondaries: Option<bool>,
    kernel_rx_buf_size: Option<i64>,
    use_vmac: Option<YVmac>,
    vmac_xmit_base: Option<bool>,
    use_ipvlan: Option<YVmac>,
    old_unicast_checksum: Option<YFlagOrWord>,
    notify_master: Option<YCommand>,
    notify_backup: Option<YCommand>,
    notify_fault: Option<YCommand>,
    notify_stop: Option<YCommand>,
    notify_deleted: Option<YNotifyDeleted>,
    notify_master_rx_lower_pri: Option<YCommand>,
    notify: Option<YCommand>,
    smtp_alert: Option<bool>,
    notify_priority_changes: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YSyncGroup {
    name: String,
    #[serde(default)]
    group: Vec<String>,
    #[serde(default)]
    track_script: Vec<YTrackRef>,
    #[serde(default)]
    track_interface: Vec<YTrackRef>,
    #[serde(default)]
    track_process: Vec<YTrackRef>,
    #[serde(default)]
    track_file: Vec<YTrackRef>,
    #[serde(default)]
    track_proxyd: Vec<YTrackRef>,
    notify_master: Option<YCommand>,
    notify_backup: Option<YCommand>,
    notify_fault: Option<YCommand>,
    notify_stop: Option<YCommand>,
    notify_deleted: Option<YNotifyDeleted>,
    notify: Option<YCommand>,
    smtp_alert: Option<bool>,
    sync_group_tracking_weight: Option<bool>,
    notify_priority_changes: Option<bool>,
}

// ---- YAML → keyword-level form ----------------------------------------------------------------

/// The `notify*` keys of an instance or sync group.
struct YNotifyRefs<'a> {
    master: &'a Option<YCommand>,
    backup: &'a Option<YCommand>,
    fault: &'a Option<YCommand>,
    stop: &'a Option<YCommand>,
    deleted: &'a Option<YNotifyDeleted>,
    rx_lower: &'a Option<YCommand>,
    generic: &'a Option<YCommand>,
}

/// Converts the parsed YAML into [`RawConfig`], locating each value it carries.
struct Conv<'a, 'l> {
    loc: &'a Locator<'l>,
}

/// A path under `base`.
fn at(base: &[Seg], more: &[Seg]) -> Vec<Seg> {
    let mut p = base.to_vec();
    p.extend_from_slice(more);
    p
}

impl Conv<'_, '_> {
    fn sp<T>(&self, v: T, path: &[Seg]) -> Sp<T> {
        Sp::new(v, self.loc.span(path))
    }

    fn opt<T: Clone, U>(
        &self,
        v: &Option<T>,
        base: &[Seg],
        name: &'static str,
        f: impl Fn(T) -> U,
    ) -> Option<Sp<U>> {
        v.as_ref()
            .map(|x| self.sp(f(x.clone()), &at(base, &[key(name)])))
    }

    fn b(&self, v: &Option<bool>, base: &[Seg], name: &'static str) -> Option<Sp<bool>> {
        self.opt(v, base, name, |x| x)
    }

    fn i(&self, v: &Option<i64>, base: &[Seg], name: &'static str) -> Option<Sp<i64>> {
        self.opt(v, base, name, |x| x)
    }

    fn d(&self, v: &Option<YDuration>, base: &[Seg], name: &'static str) -> Option<Sp<f64>> {
        self.opt(v, base, name, |x| x.0)
    }

    fn s(&self, v: &Option<String>, base: &[Seg], name: &'static str) -> Option<Sp<String>> {
        self.opt(v, base, name, |x| x)
    }

    fn strings(&self, v: &[String], base: &[Seg], name: &'static str) -> Vec<Sp<String>> {
        v.iter()
            .enumerate()
            .map(|(n, s)| self.sp(s.clone(), &at(base, &[key(name), idx(n)])))
            .collect()
    }

    fn user(&self, v: &Option<String>, base: &[Seg], name: &'static str) -> Option<RawUser> {
        let s = self.s(v, base, name)?;
        let (u, g) = split_user(&s.v);
        Some((Sp::new(u, s.span.clone()), g.map(|g| Sp::new(g, s.span))))
    }

    fn command(
        &self,
        v: &Option<YCommand>,
        base: &[Seg],
        name: &'static str,
    ) -> Option<RawCommand> {
        let c = v.as_ref()?;
        self.command_at(c, &at(base, &[key(name)]))
    }

    fn command_at(&self, c: &YCommand, path: &[Seg]) -> Option<RawCommand> {
        let span = self.loc.span(path);
        let user = c.user.as_ref().map(|u| {
            (
                Sp::new(u.clone(), span.clone()),
                c.group.as_ref().map(|g| Sp::new(g.clone(), span.clone())),
            )
        });
        Some(RawCommand {
            cmd: Sp::new(c.cmd.clone(), span),
            user,
        })
    }

    fn refs(&self, v: &[YTrackRef], base: &[Seg], name: &'static str) -> Vec<RawTrackRef> {
        v.iter()
            .enumerate()
            .map(|(n, r)| {
                let p = at(base, &[key(name), idx(n)]);
                let span = self.loc.span(&p);
                RawTrackRef {
                    name: Sp::new(r.name.clone(), span.clone()),
                    weight: r.weight.map(|w| self.sp(w, &at(&p, &[key("weight")]))),
                    reverse: r.reverse,
                }
            })
            .collect()
    }

    fn notify(&self, base: &[Seg], n: YNotifyRefs<'_>) -> RawNotify {
        let YNotifyRefs {
            master,
            backup,
            fault,
            stop,
            deleted,
            rx_lower,
            generic,
        } = n;
        let (deleted_flag, deleted) = match deleted {
            None | Some(YNotifyDeleted::Flag(false)) => (false, None),
            Some(YNotifyDeleted::Flag(true)) => (true, None),
            Some(YNotifyDeleted::Command(c)) => (
                true,
                self.command_at(c, &at(base, &[key("notify_deleted")])),
            ),
        };
        RawNotify {
            master: self.command(master, base, "notify_master"),
            backup: self.command(backup, base, "notify_backup"),
            fault: self.command(fault, base, "notify_fault"),
            stop: self.command(stop, base, "notify_stop"),
            deleted,
            deleted_flag,
            master_rx_lower_pri: self.command(rx_lower, base, "notify_master_rx_lower_pri"),
            generic: self.command(generic, base, "notify"),
        }
    }

    /// `true` → the bare keyword, a word → the keyword with that option, `false` → unset.
    fn flag_or_word(
        &self,
        v: &Option<YFlagOrWord>,
        base: &[Seg],
        name: &'static str,
    ) -> Option<Sp<Option<String>>> {
        match v.as_ref()? {
            YFlagOrWord::Flag(false) => None,
            YFlagOrWord::Flag(true) => Some(self.sp(None, &at(base, &[key(name)]))),
            YFlagOrWord::Word(w) => Some(self.sp(Some(w.clone()), &at(base, &[key(name)]))),
        }
    }

    /// `use_vmac` / `use_ipvlan`: `true`, a name or a list of arguments.
    fn vmac(&self, v: &Option<YVmac>, base: &[Seg], name: &'static str) -> Option<Sp<Vec<String>>> {
        let args = match v.as_ref()? {
            YVmac::Flag(false) => return None,
            YVmac::Flag(true) => Vec::new(),
            YVmac::Name(n) => vec![n.clone()],
            YVmac::Args(a) => a.clone(),
        };
        Some(self.sp(args, &at(base, &[key(name)])))
    }

    fn track_file(&self, t: &YTrackFile, p: &[Seg]) -> RawTrackFile {
        let init_path = at(p, &[key("init_file")]);
        RawTrackFile {
            name: self.sp(t.name.clone(), &at(p, &[key("name")])),
            file: self.s(&t.file, p, "file"),
            weight: self.i(&t.weight, p, "weight"),
            reverse: t.reverse,
            init_file: match &t.init_file {
                None | Some(YInitFile::Flag(false)) => None,
                Some(i) => {
                    let (value, overwrite) = match i {
                        YInitFile::Value(v) => (Some(self.sp(*v, &init_path)), false),
                        YInitFile::Full(m) => (
                            m.value
                                .map(|v| self.sp(v, &at(&init_path, &[key("value")]))),
                            m.overwrite,
                        ),
                        YInitFile::Flag(_) => (None, false),
                    };
                    Some(RawInitFile {
                        span: self.loc.span(&init_path),
                        value,
                        overwrite,
                    })
                }
            },
        }
    }

    fn track_proxyd(&self, t: &YTrackProxyd, p: &[Seg]) -> RawTrackProxyd {
        RawTrackProxyd {
            name: self.sp(t.name.clone(), &at(p, &[key("name")])),
            pid_file: self.s(&t.pid_file, p, "pid_file"),
            liveness_socket: self.s(&t.liveness_socket, p, "liveness_socket"),
            require_serving: self.b(&t.require_serving, p, "require_serving"),
            interval: self.d(&t.interval, p, "interval"),
            timeout: self.d(&t.timeout, p, "timeout"),
            weight: self.i(&t.weight, p, "weight"),
            reverse: t.reverse,
        }
    }

    fn fifo(&self, v: &Option<YFifo>, base: &[Seg], name: &'static str) -> Option<RawFifo> {
        let f = v.as_ref()?;
        let span = self.loc.span(&at(base, &[key(name)]));
        Some(match f {
            YFifo::Path(p) => RawFifo {
                path: Sp::new(p.clone(), span),
                owner: None,
            },
            YFifo::Full(m) => RawFifo {
                path: Sp::new(m.path.clone(), span.clone()),
                owner: m.user.as_ref().map(|u| {
                    (
                        Sp::new(u.clone(), span.clone()),
                        m.group.as_ref().map(|g| Sp::new(g.clone(), span.clone())),
                    )
                }),
            },
        })
    }

    fn file(&self, f: &YFile, file: Span) -> RawConfig {
        let mut raw = RawConfig::new(file);
        raw.global = self.global(&f.global_defs, &[key("global_defs")]);
        for (n, s) in f.vrrp_scripts.iter().enumerate() {
            raw.scripts
                .push(self.script(s, &[key("vrrp_scripts"), idx(n)]));
        }
        for (n, t) in f.vrrp_track_processes.iter().enumerate() {
            raw.track_processes
                .push(self.track_process(t, &[key("vrrp_track_processes"), idx(n)]));
        }
        for (n, t) in f.vrrp_track_files.iter().enumerate() {
            raw.track_files
                .push(self.track_file(t, &[key("vrrp_track_files"), idx(n)]));
        }
        for (n, t) in f.track_proxyds.iter().enumerate() {
            raw.track_proxyds
                .push(self.track_proxyd(t, &[key("track_proxyds"), idx(n)]));
        }
        for (n, i) in f.vrrp_instances.iter().enumerate() {
            raw.instances
                .push(self.instance(i, &[key("vrrp_instances"), idx(n)]));
        }
        for (n, g) in f.vrrp_sync_groups.iter().enumerate() {
            raw.sync_groups
                .push(self.sync_group(g, &[key("vrrp_sync_groups"), idx(n)]));
        }
        raw
    }

    fn global(&self, g: &YGlobal, p: &[Seg]) -> RawGlobal {
        RawGlobal {
            router_id: self.s(&g.router_id, p, "router_id"),
            notification_email: self.strings(&g.notification_email, p, "notification_email"),
            notification_email_from: self.s(
                &g.notification_email_from,
                p,
                "notification_email_from",
            ),
            smtp_server: g.smtp_server.as_ref().map(|s| {
                let span = self.loc.span(&at(p, &[key("smtp_server")]));
                match s {
                    YSmtp::Host(h) => (Sp::new(h.clone(), span), None),
                    YSmtp::Full(m) => (
                        Sp::new(m.host.clone(), span.clone()),
                        m.port
                            .map(|port| self.sp(port, &at(p, &[key("smtp_server"), key("port")]))),
                    ),
                }
            }),
            smtp_helo_name: self.s(&g.smtp_helo_name, p, "smtp_helo_name"),
            smtp_connect_timeout: self.d(&g.smtp_connect_timeout, p, "smtp_connect_timeout"),
            smtp_alert: self.b(&g.smtp_alert, p, "smtp_alert"),
            smtp_alert_vrrp: self.b(&g.smtp_alert_vrrp, p, "smtp_alert_vrrp"),
            no_email_faults: self.b(&g.no_email_faults, p, "no_email_faults"),
            script_user: self.user(&g.script_user, p, "script_user"),
            enable_script_security: self.b(&g.enable_script_security, p, "enable_script_security"),
            vrrp_version: self.i(&g.vrrp_version, p, "vrrp_version"),
            vrrp_strict: self.b(&g.vrrp_strict, p, "vrrp_strict"),
            mcast_group4: self.s(&g.vrrp_mcast_group4, p, "vrrp_mcast_group4"),
            mcast_group6: self.s(&g.vrrp_mcast_group6, p, "vrrp_mcast_group6"),
            garp: RawGarp {
                master_delay: self.d(&g.vrrp_garp_master_delay, p, "vrrp_garp_master_delay"),
                master_repeat: self.i(&g.vrrp_garp_master_repeat, p, "vrrp_garp_master_repeat"),
                master_refresh: self.d(&g.vrrp_garp_master_refresh, p, "vrrp_garp_master_refresh"),
                master_refresh_repeat: self.i(
                    &g.vrrp_garp_master_refresh_repeat,
                    p,
                    "vrrp_garp_master_refresh_repeat",
                ),
                lower_prio_delay: self.d(
                    &g.vrrp_garp_lower_prio_delay,
                    p,
                    "vrrp_garp_lower_prio_delay",
                ),
                lower_prio_repeat: self.i(
                    &g.vrrp_garp_lower_prio_repeat,
                    p,
                    "vrrp_garp_lower_prio_repeat",
                ),
            },
            min_garp: self.b(&g.vrrp_min_garp, p, "vrrp_min_garp"),
            garp_interval: self.d(&g.vrrp_garp_interval, p, "vrrp_garp_interval"),
            gna_interval: self.d(&g.vrrp_gna_interval, p, "vrrp_gna_interval"),
            down_timer_adverts: self.i(&g.vrrp_down_timer_adverts, p, "vrrp_down_timer_adverts"),
            lower_prio_no_advert: self.b(
                &g.vrrp_lower_prio_no_advert,
                p,
                "vrrp_lower_prio_no_advert",
            ),
            higher_prio_send_advert: self.b(
                &g.vrrp_higher_prio_send_advert,
                p,
                "vrrp_higher_prio_send_advert",
            ),
            v3_checksum_as_v2: self.b(&g.v3_checksum_as_v2, p, "v3_checksum_as_v2"),
            skip_check_adv_addr: self.b(&g.vrrp_skip_check_adv_addr, p, "vrrp_skip_check_adv_addr"),
            check_unicast_src: self.b(&g.vrrp_check_unicast_src, p, "vrrp_check_unicast_src"),
            startup_delay: self.d(&g.vrrp_startup_delay, p, "vrrp_startup_delay"),
            notify_fifo: self.fifo(&g.notify_fifo, p, "notify_fifo"),
            notify_fifo_script: self.command(&g.notify_fifo_script, p, "notify_fifo_script"),
            vrrp_notify_fifo: self.fifo(&g.vrrp_notify_fifo, p, "vrrp_notify_fifo"),
            vrrp_notify_fifo_script: self.command(
                &g.vrrp_notify_fifo_script,
                p,
                "vrrp_notify_fifo_script",
            ),
            notify_priority_changes: self.b(
                &g.vrrp_notify_priority_changes,
                p,
                "vrrp_notify_priority_changes",
            ),
            default_interface: self.s(&g.default_interface, p, "default_interface"),
            net_namespace: self.s(&g.net_namespace, p, "net_namespace"),
            instance: self.s(&g.instance, p, "instance"),
            use_pid_dir: self.b(&g.use_pid_dir, p, "use_pid_dir"),
            delay_after_boot: self.d(&g.vrrp_delay_after_boot, p, "vrrp_delay_after_boot"),
            dynamic_interfaces: self.flag_or_word(&g.dynamic_interfaces, p, "dynamic_interfaces"),
            state_dump_file: self.s(&g.state_dump_file, p, "state_dump_file"),
            stats_dump_file: self.s(&g.stats_dump_file, p, "stats_dump_file"),
            json_dump_file: self.s(&g.json_dump_file, p, "json_dump_file"),
            data_use_instance: self.b(&g.data_use_instance, p, "data_use_instance"),
            extra: g
                .vrrp_garp_extra_if
                .as_ref()
                .map(|args| {
                    vec![(
                        self.sp(
                            "vrrp_garp_extra_if".to_string(),
                            &at(p, &[key("vrrp_garp_extra_if")]),
                        ),
                        args.clone(),
                    )]
                })
                .unwrap_or_default(),
        }
    }

    fn script(&self, s: &YScript, p: &[Seg]) -> RawScript {
        RawScript {
            name: self.sp(s.name.clone(), &at(p, &[key("name")])),
            script: self.command(&s.script, p, "script"),
            interval: self.d(&s.interval, p, "interval"),
            timeout: self.d(&s.timeout, p, "timeout"),
            weight: self.i(&s.weight, p, "weight"),
            reverse: s.reverse,
            rise: self.i(&s.rise, p, "rise"),
            fall: self.i(&s.fall, p, "fall"),
            user: self.user(&s.user, p, "user"),
            init_fail: self.b(&s.init_fail, p, "init_fail"),
        }
    }

    fn track_process(&self, t: &YTrackProcess, p: &[Seg]) -> RawTrackProcess {
        RawTrackProcess {
            name: self.sp(t.name.clone(), &at(p, &[key("name")])),
            process: t.process.as_ref().map(|v| {
                let argv = match v {
                    YLineOrArgv::Line(l) => l.split_whitespace().map(str::to_string).collect(),
                    YLineOrArgv::Argv(a) => a.clone(),
                };
                self.sp(argv, &at(p, &[key("process")]))
            }),
            param_match: self.s(&t.param_match, p, "param_match"),
            full_command: self.b(&t.full_command, p, "full_command"),
            weight: self.i(&t.weight, p, "weight"),
            reverse: t.reverse,
            quorum: self.i(&t.quorum, p, "quorum"),
            quorum_max: self.i(&t.quorum_max, p, "quorum_max"),
            delay: self.d(&t.delay, p, "delay"),
            fork_delay: self.d(&t.fork_delay, p, "fork_delay"),
            terminate_delay: self.d(&t.terminate_delay, p, "terminate_delay"),
        }
    }

    fn addr_lines(&self, v: &[String], p: &[Seg], name: &'static str) -> Vec<Vec<Sp<String>>> {
        v.iter()
            .enumerate()
            .map(|(n, line)| {
                let span = self.loc.span(&at(p, &[key(name), idx(n)]));
                line.split_whitespace()
                    .map(|w| Sp::new(w.to_string(), span.clone()))
                    .collect()
            })
            .collect()
    }

    fn instance(&self, y: &YInstance, p: &[Seg]) -> RawInstance {
        let mut r = RawInstance::new(self.sp(y.name.clone(), &at(p, &[key("name")])));
        r.state = self.opt(&y.state, p, "state", |s| match s {
            YState::Master => RawState::Master,
            YState::Backup => RawState::Backup,
        });
        r.interface = self.s(&y.interface, p, "interface");
        r.vrid = self.i(&y.virtual_router_id, p, "virtual_router_id");
        r.priority = self.i(&y.priority, p, "priority");
        r.advert_int = self.d(&y.advert_int, p, "advert_int");
        r.version = self.i(&y.version, p, "version");
        r.native_ipv6 = y
            .native_ipv6
            .filter(|b| *b)
            .map(|_| self.loc.span(&at(p, &[key("native_ipv6")])));
        r.preempt = self.b(&y.preempt, p, "preempt");
        r.preempt_delay = self.d(&y.preempt_delay, p, "preempt_delay");
        r.auth = y.authentication.as_ref().map(|a| {
            let ap = at(p, &[key("authentication")]);
            RawAuth {
                span: self.loc.span(&ap),
                auth_type: self.opt(&a.auth_type, &ap, "auth_type", |t| match t {
                    YAuthType::Pass => RawAuthType::Pass,
                    YAuthType::Ah => RawAuthType::Ah,
                }),
                auth_pass: self.s(&a.auth_pass, &ap, "auth_pass"),
            }
        });
        r.vips = self.addr_lines(&y.virtual_ipaddress, p, "virtual_ipaddress");
        r.excluded_vips = self.addr_lines(
            &y.virtual_ipaddress_excluded,
            p,
            "virtual_ipaddress_excluded",
        );
        r.virtual_routes = self.strings(&y.virtual_routes, p, "virtual_routes");
        r.virtual_rules = self.strings(&y.virtual_rules, p, "virtual_rules");
        r.track_script = self.refs(&y.track_script, p, "track_script");
        r.track_interface = self.refs(&y.track_interface, p, "track_interface");
        r.track_process = self.refs(&y.track_process, p, "track_process");
        r.track_file = self.refs(&y.track_file, p, "track_file");
        r.track_proxyd = self.refs(&y.track_proxyd, p, "track_proxyd");
        r.dont_track_primary = self.b(&y.dont_track_primary, p, "dont_track_primary");
        r.src_ip = y.unicast_src_ip.as_ref().map(|v| {
            // The key may have been written as its alias, mcast_src_ip.
            let span = self
                .loc
                .exact(&at(p, &[key("unicast_src_ip")]))
                .unwrap_or_else(|| self.loc.span(&at(p, &[key("mcast_src_ip")])));
            Sp::new(v.clone(), span)
        });
        r.track_src_ip = self.b(&y.track_src_ip, p, "track_src_ip");
        if let Some(peers) = &y.unicast_peer {
            r.unicast_peer_span = Some(self.loc.span(&at(p, &[key("unicast_peer")])));
            r.unicast_peers = peers
                .iter()
                .enumerate()
                .map(|(n, peer)| {
                    let pp = at(p, &[key("unicast_peer"), idx(n)]);
                    let addr_path = if peer.min_ttl.is_some() || peer.max_ttl.is_some() {
                        at(&pp, &[key("address")])
                    } else {
                        pp.clone()
                    };
                    RawPeer {
                        addr: self.sp(peer.address.clone(), &addr_path),
                        min_ttl: peer
                            .min_ttl
                            .map(|v| self.sp(v, &at(&pp, &[key("min_ttl")]))),
                        max_ttl: peer
                            .max_ttl
                            .map(|v| self.sp(v, &at(&pp, &[key("max_ttl")]))),
                    }
                })
                .collect();
        }
        r.unicast_ttl = self.i(&y.unicast_ttl, p, "unicast_ttl");
        r.unicast_fault_no_peer = self.b(&y.unicast_fault_no_peer, p, "unicast_fault_no_peer");
        r.check_unicast_src = self.b(&y.check_unicast_src, p, "check_unicast_src");
        r.accept = self.b(&y.accept, p, "accept");
        r.garp = RawGarp {
            master_delay: self.d(&y.garp_master_delay, p, "garp_master_delay"),
            master_repeat: self.i(&y.garp_master_repeat, p, "garp_master_repeat"),
            master_refresh: self.d(&y.garp_master_refresh, p, "garp_master_refresh"),
            master_refresh_repeat: self.i(
                &y.garp_master_refresh_repeat,
                p,
                "garp_master_refresh_repeat",
            ),
            lower_prio_delay: self.d(&y.garp_lower_prio_delay, p, "garp_lower_prio_delay"),
            lower_prio_repeat: self.i(&y.garp_lower_prio_repeat, p, "garp_lower_prio_repeat"),
        };
        r.lower_prio_no_advert = self.b(&y.lower_prio_no_advert, p, "lower_prio_no_advert");
        r.higher_prio_send_advert =
            self.b(&y.higher_prio_send_advert, p, "higher_prio_send_advert");
        r.down_timer_adverts = self.i(&y.down_timer_adverts, p, "down_timer_adverts");
        r.v3_checksum_as_v2 = self.b(&y.v3_checksum_as_v2, p, "v3_checksum_as_v2");
        r.skip_check_adv_addr = self.b(&y.skip_check_adv_addr, p, "skip_check_adv_addr");
        r.strict_mode = self.b(&y.strict_mode, p, "strict_mode");
        r.owner_ignore_adverts = self.b(&y.owner_ignore_adverts, p, "owner_ignore_adverts");
        r.promote_secondaries = self.b(&y.promote_secondaries, p, "promote_secondaries");
        r.kernel_rx_buf_size = self.i(&y.kernel_rx_buf_size, p, "kernel_rx_buf_size");
        r.use_vmac = self.vmac(&y.use_vmac, p, "use_vmac");
        r.vmac_xmit_base = self.b(&y.vmac_xmit_base, p, "vmac_xmit_base");
        r.use_ipvlan = self.vmac(&y.use_ipvlan, p, "use_ipvlan");
        r.old_unicast_checksum =
            self.flag_or_word(&y.old_unicast_checksum, p, "old_unicast_checksum");
        r.notify = self.notify(
            p,
            YNotifyRefs {
                master: &y.notify_master,
                backup: &y.notify_backup,
                fault: &y.notify_fault,
                stop: &y.notify_stop,
                deleted: &y.notify_deleted,
                rx_lower: &y.notify_master_rx_lower_pri,
                generic: &y.notify,
            },
        );
        r.smtp_alert = self.b(&y.smtp_alert, p, "smtp_alert");
        r.notify_priority_changes =
            self.b(&y.notify_priority_changes, p, "notify_priority_changes");
        r
    }

    fn sync_group(&self, y: &YSyncGroup, p: &[Seg]) -> RawSyncGroup {
        RawSyncGroup {
            name: self.sp(y.name.clone(), &at(p, &[key("name")])),
            group: self.strings(&y.group, p, "group"),
            track_script: self.refs(&y.track_script, p, "track_script"),
            track_interface: self.refs(&y.track_interface, p, "track_interface"),
            track_process: self.refs(&y.track_process, p, "track_process"),
            track_file: self.refs(&y.track_file, p, "track_file"),
            track_proxyd: self.refs(&y.track_proxyd, p, "track_proxyd"),
            notify: self.notify(
                p,
                YNotifyRefs {
                    master: &y.notify_master,
                    backup: &y.notify_backup,
                    fault: &y.notify_fault,
                    stop: &y.notify_stop,
                    deleted: &y.notify_deleted,
                    rx_lower: &None,
                    generic: &y.notify,
                },
            ),
            smtp_alert: self.b(&y.smtp_alert, p, "smtp_alert"),
            tracking_weight: self.b(
                &y.sync_group_tracking_weight,
                p,
                "sync_group_tracking_weight",
            ),
            notify_priority_changes: self.b(
                &y.notify_priority_changes,
                p,
                "notify_priority_changes",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("50ms"), Some(0.05));
        assert_eq!(parse_duration("1.5s"), Some(1.5));
        assert_eq!(parse_duration("2m"), Some(120.0));
        assert_eq!(parse_duration("3"), Some(3.0));
        assert_eq!(parse_duration("100us"), Some(0.0001));
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration("ms"), None);
    }

    #[test]
    fn locator_finds_values_and_falls_back_to_the_parent() {
        let text = "a:\n  - x: 1\n    y: [3, 4]\n  - z: q\n";
        let file: Arc<Path> = Arc::from(Path::new("t.yaml"));
        let indexed = Locator::new(text, file.clone());
        assert!(indexed.index.is_some());
        let probing = Locator {
            text,
            file,
            index: None,
            cache: RefCell::new(HashMap::new()),
        };
        for loc in [indexed, probing] {
            let pos = |p: &[Seg]| {
                let s = loc.span(p);
                (s.line, s.col)
            };
            assert_eq!(pos(&[key("a"), idx(0), key("y"), idx(1)]), (3, 12));
            assert_eq!(pos(&[key("a"), idx(1), key("z")]), (4, 8));
            assert_eq!(pos(&[key("a"), idx(0), key("missing")]), (2, 5));
            assert!(loc.exact(&[key("a"), idx(0), key("missing")]).is_none());
            assert_eq!(
                loc.exact(&[key("a"), idx(1), key("z")]).map(|s| s.line),
                Some(4)
            );
        }
    }
}
