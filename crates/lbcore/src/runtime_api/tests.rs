//! Parser and formatter tests; expected texts are HAProxy 2.6.12's answers captured on the
//! Debian build (`socat` on a `stats socket` at each level).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::format::{self, CheckRow, LastCheck, ServerRow, TableHead, TableRow};
use super::*;
use crate::balance::HealthState;

fn words(s: &str) -> Vec<String> {
    let mut v = split_line(s);
    assert_eq!(v.len(), 1, "{s:?} is one command");
    v.remove(0)
}

fn ok(s: &str) -> Command {
    parse(&words(s)).unwrap_or_else(|e| panic!("{s:?}: {e:?}"))
}

fn err(s: &str) -> Rejected {
    match parse(&words(s)) {
        Ok(c) => panic!("{s:?} parsed as {c:?}"),
        Err(e) => e,
    }
}

fn srv(b: &str, s: &str) -> ServerRef {
    ServerRef {
        backend: b.into(),
        server: s.into(),
    }
}

#[test]
fn split_separates_commands_and_words() {
    assert_eq!(
        split_line("get weight a/b;get weight a/c\n"),
        vec![vec!["get", "weight", "a/b"], vec!["get", "weight", "a/c"]]
    );
    assert_eq!(
        split_line("get weight a/b; show backend ;\tshow  info\r\n"),
        vec![
            vec!["get", "weight", "a/b"],
            vec!["show", "backend"],
            vec!["show", "info"]
        ]
    );
    // Escapes: `\;` stays in the word, `\ ` joins words, quotes are plain characters.
    assert_eq!(
        split_line(r"get weight a/b\;x"),
        vec![vec!["get", "weight", "a/b;x"]]
    );
    assert_eq!(
        split_line(r"show table a\ b"),
        vec![vec!["show", "table", "a b"]]
    );
    assert_eq!(
        split_line("get weight \"a/b\""),
        vec![vec!["get", "weight", "\"a/b\""]]
    );
    // Empty commands are kept (each gets an answer).
    assert_eq!(split_line(""), vec![Vec::<String>::new()]);
    assert_eq!(split_line(";"), vec![Vec::<String>::new(), vec![]]);
}

#[test]
fn every_command_parses() {
    assert_eq!(ok("help"), Command::Help(vec![]));
    assert_eq!(ok("help show"), Command::Help(vec!["show".into()]));
    assert_eq!(ok("prompt"), Command::Prompt);
    assert_eq!(ok("quit"), Command::Quit);
    assert_eq!(ok("show info"), Command::ShowInfo);
    assert_eq!(ok("show info extra"), Command::ShowInfo);
    assert_eq!(ok("show stat"), Command::ShowStat);
    assert_eq!(ok("show servers state"), Command::ShowServersState(None));
    assert_eq!(
        ok("show servers state cas_rpc"),
        Command::ShowServersState(Some("cas_rpc".into()))
    );
    assert_eq!(ok("show backend"), Command::ShowBackend);
    assert_eq!(ok("show table"), Command::ShowTables);
    assert_eq!(
        ok("show table cas_rpc"),
        Command::ShowTable {
            name: "cas_rpc".into(),
            filter: None
        }
    );
    assert_eq!(
        ok("show table cas_rpc key 10.0.0.1"),
        Command::ShowTable {
            name: "cas_rpc".into(),
            filter: Some(TableFilter::Key("10.0.0.1".into()))
        }
    );
    assert_eq!(
        ok("show table t data.server_id eq 1 data.server_id lt 9"),
        Command::ShowTable {
            name: "t".into(),
            filter: Some(TableFilter::ServerId(vec![(CmpOp::Eq, 1), (CmpOp::Lt, 9)]))
        }
    );
    assert_eq!(
        ok("clear table cas_rpc"),
        Command::ClearTable {
            name: "cas_rpc".into(),
            filter: None
        }
    );
    assert_eq!(
        ok("clear table cas_rpc key 10.0.0.1"),
        Command::ClearTable {
            name: "cas_rpc".into(),
            filter: Some(TableFilter::Key("10.0.0.1".into()))
        }
    );
    assert_eq!(
        ok("clear table t data.server_id ne 2"),
        Command::ClearTable {
            name: "t".into(),
            filter: Some(TableFilter::ServerId(vec![(CmpOp::Ne, 2)]))
        }
    );
    for (w, s) in [
        ("ready", AdminState::Ready),
        ("drain", AdminState::Drain),
        ("maint", AdminState::Maint),
    ] {
        assert_eq!(
            ok(&format!("set server be/s1 state {w}")),
            Command::SetState(srv("be", "s1"), s)
        );
    }
    assert_eq!(
        ok("set server be/s1 weight 20"),
        Command::SetWeight(srv("be", "s1"), Weight::Absolute(20))
    );
    assert_eq!(
        ok("set server be/s1 weight 50%"),
        Command::SetWeight(srv("be", "s1"), Weight::Percent(50))
    );
    assert_eq!(
        ok("set weight be/s1 30"),
        Command::SetWeight(srv("be", "s1"), Weight::Absolute(30))
    );
    assert_eq!(ok("get weight be/s1"), Command::GetWeight(srv("be", "s1")));
    assert_eq!(
        ok("enable server be/s1"),
        Command::SetState(srv("be", "s1"), AdminState::Ready)
    );
    assert_eq!(
        ok("disable server be/s1"),
        Command::SetState(srv("be", "s1"), AdminState::Maint)
    );
    assert_eq!(
        ok("shutdown sessions server be/s1"),
        Command::ShutdownSessions(srv("be", "s1"))
    );
    assert_eq!(ok("show cli level"), Command::ShowCliLevel);
    assert_eq!(ok("user"), Command::LowerLevel(Level::User));
    assert_eq!(ok("operator"), Command::LowerLevel(Level::Operator));
    // The first '/' splits; what follows is the server name, empty or not.
    assert_eq!(
        ok("get weight be/a/b"),
        Command::GetWeight(srv("be", "a/b"))
    );
    assert_eq!(ok("get weight be/"), Command::GetWeight(srv("be", "")));
}

#[test]
fn levels_follow_haproxy() {
    use Level::*;
    for (line, level) in [
        ("help", User),
        ("prompt", User),
        ("quit", User),
        ("show info", User),
        ("show stat", User),
        ("show servers state", User),
        ("show backend", User),
        ("show table", User),
        ("show table t", User),
        ("get weight b/s", User),
        ("show cli level", User),
        ("user", User),
        ("show table t key 1.2.3.4", Operator),
        ("clear table t", Operator),
        ("operator", Operator),
        ("set server b/s state drain", Admin),
        ("set server b/s weight 1", Admin),
        ("set weight b/s 1", Admin),
        ("enable server b/s", Admin),
        ("disable server b/s", Admin),
        ("shutdown sessions server b/s", Admin),
    ] {
        assert_eq!(ok(line).level(), level, "{line}");
    }
    assert!(User < Operator && Operator < Admin);
    assert_eq!(Level::default(), Operator, "HAProxy's default socket level");
    assert_eq!(Level::parse("admin"), Some(Admin));
    assert_eq!(Level::parse("root"), None);
    assert!(ok("clear table t").changes_state());
    assert!(ok("set server b/s state maint").changes_state());
    assert!(!ok("show table t").changes_state());
}

#[test]
fn every_error_has_haproxys_text_and_level() {
    let cases: &[(&str, Level, &str)] = &[
        ("", Level::User, "Empty command; 'help' lists the commands."),
        (
            "foo bar",
            Level::User,
            "Unknown command: 'foo bar'; 'help' lists the commands.",
        ),
        (
            "GET weight a/b",
            Level::User,
            "Unknown command: 'GET weight a/b'; 'help' lists the commands.",
        ),
        (
            "show sess",
            Level::User,
            "'show sess' is a HAProxy command proxyd does not implement; 'help' lists the commands.",
        ),
        (
            "set maxconn server b/s 10",
            Level::User,
            "'set maxconn' is a HAProxy command proxyd does not implement; 'help' lists the commands.",
        ),
        ("get weight", Level::User, "Require 'backend/server'."),
        (
            "get weight cas_rpc",
            Level::User,
            "Require 'backend/server'.",
        ),
        ("set server", Level::Admin, "Require 'backend/server'."),
        (
            "set server cas_rpc state drain",
            Level::Admin,
            "Require 'backend/server'.",
        ),
        ("enable server", Level::Admin, "Require 'backend/server'."),
        (
            "disable server x",
            Level::Admin,
            "Require 'backend/server'.",
        ),
        (
            "shutdown sessions server",
            Level::Admin,
            "Require 'backend/server'.",
        ),
        (
            "set server b/s",
            Level::Admin,
            "usage: set server <backend>/<server> state ready|drain|maint | weight <weight>[%]",
        ),
        (
            "set server b/s bogus",
            Level::Admin,
            "usage: set server <backend>/<server> state ready|drain|maint | weight <weight>[%]",
        ),
        (
            "set server b/s addr 1.2.3.4",
            Level::Admin,
            "'set server addr' is not supported by proxyd.",
        ),
        (
            "set server b/s state",
            Level::Admin,
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.",
        ),
        (
            "set server b/s state bogus",
            Level::Admin,
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.",
        ),
        (
            "set server b/s weight",
            Level::Admin,
            "Require <weight> or <weight%>.",
        ),
        (
            "set weight b/s",
            Level::Admin,
            "Require <weight> or <weight%>.",
        ),
        ("set weight", Level::Admin, "Require 'backend/server'."),
        (
            "set server b/s weight 300",
            Level::Admin,
            "Absolute weight can only be between 0 and 256 inclusive.",
        ),
        (
            "set server b/s weight 257",
            Level::Admin,
            "Absolute weight can only be between 0 and 256 inclusive.",
        ),
        (
            "set server b/s weight -1",
            Level::Admin,
            "Absolute weight can only be between 0 and 256 inclusive.",
        ),
        (
            "set server b/s weight abc",
            Level::Admin,
            "Empty weight string empty or preceded by garbage",
        ),
        (
            "set server b/s weight 10x",
            Level::Admin,
            "Trailing garbage in weight string",
        ),
        (
            "set weight b/s -5%",
            Level::Admin,
            "Relative weight must be positive.",
        ),
        (
            "clear table",
            Level::Operator,
            "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>",
        ),
        (
            "clear table t foo",
            Level::Operator,
            "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>",
        ),
        ("clear table t key", Level::Operator, "Key value expected"),
        ("show table t key", Level::Operator, "Key value expected"),
        (
            "show table t foo",
            Level::Operator,
            "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>",
        ),
        (
            "show table t data.server_id foo 2",
            Level::Operator,
            "Filter entry #1: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"",
        ),
        (
            "show table t data.server_id eq",
            Level::Operator,
            "Filter entry #1: Require a valid integer value to compare against",
        ),
        (
            "clear table t data.server_id eq 1 data.conn_cnt gt 2",
            Level::Operator,
            "Filter entry #2: Unknown data type",
        ),
        (
            "show table t data.foo eq 2",
            Level::Operator,
            "Filter entry #1: Unknown data type",
        ),
        (
            "show table t data.server_id eq x",
            Level::Operator,
            "Filter entry #1: Require a valid integer value to compare against",
        ),
        (
            "show table t data.server_id eq 1 data.server_id eq 1 data.server_id eq 1 data.server_id eq 1 data.server_id eq 1",
            Level::Operator,
            "Too many filters, at most 4 are supported",
        ),
        (
            "show info json",
            Level::User,
            "'show info json' is not supported by proxyd.",
        ),
        (
            "show stat typed",
            Level::User,
            "'show stat typed' is not supported by proxyd.",
        ),
    ];
    for (line, level, text) in cases {
        let e = err(line);
        assert_eq!(e.error.to_string(), *text, "{line:?}");
        assert_eq!(e.level, *level, "{line:?}");
        assert!(!text.contains('\n'), "one line: {text:?}");
    }
    // An unknown command is echoed, but not at any length.
    let long = "x".repeat(20_000);
    let e = err(&long).error.to_string();
    assert!(e.len() < 200, "{}", e.len());
    assert!(e.contains("..."));
}

#[test]
fn weights_parse_and_resolve_as_haproxy() {
    assert_eq!(parse_weight("0"), Ok(Weight::Absolute(0)));
    assert_eq!(parse_weight("256"), Ok(Weight::Absolute(256)));
    assert_eq!(parse_weight("+7"), Ok(Weight::Absolute(7)));
    assert_eq!(parse_weight("0%"), Ok(Weight::Percent(0)));
    assert_eq!(
        parse_weight("99999999999999999999%"),
        Ok(Weight::Percent(25_600))
    );
    assert_eq!(parse_weight("%"), Err(ParseError::WeightGarbage));
    assert_eq!(parse_weight(""), Err(ParseError::WeightGarbage));
    assert_eq!(parse_weight("300x"), Err(ParseError::WeightRange));
    assert_eq!(parse_weight("5%x"), Err(ParseError::WeightTrailing));
    // Observed: initial 50 → 50% is 25, 200% is 100, 600% is capped at 256.
    assert_eq!(Weight::Percent(50).resolve(50), 25);
    assert_eq!(Weight::Percent(200).resolve(50), 100);
    assert_eq!(Weight::Percent(600).resolve(50), 256);
    assert_eq!(Weight::Percent(25_600).resolve(256), 256);
    assert_eq!(Weight::Absolute(10).resolve(50), 10);
    assert!(static_weight_allowed(0, 50));
    assert!(static_weight_allowed(50, 50));
    assert!(!static_weight_allowed(10, 50));
}

#[test]
fn table_filters_compare_server_ids() {
    let f = TableFilter::ServerId(vec![(CmpOp::Ge, 2), (CmpOp::Lt, 4)]);
    assert!(!f.server_id_matches(1));
    assert!(f.server_id_matches(2));
    assert!(f.server_id_matches(3));
    assert!(!f.server_id_matches(4));
    for (op, yes, no) in [
        (CmpOp::Eq, 5, 6),
        (CmpOp::Ne, 6, 5),
        (CmpOp::Le, 5, 6),
        (CmpOp::Gt, 6, 5),
    ] {
        let f = TableFilter::ServerId(vec![(op, 5)]);
        assert!(f.server_id_matches(yes), "{op:?} {yes}");
        assert!(!f.server_id_matches(no), "{op:?} {no}");
    }
    assert!(TableFilter::Key("x".into()).server_id_matches(9));
}

#[test]
fn framing_matches_haproxy() {
    let mut out = String::new();
    format::frame(&mut out, "50 (initial 50)", false);
    assert_eq!(out, "50 (initial 50)\n\n");
    let mut out = String::new();
    format::frame(&mut out, "", true);
    format::frame(&mut out, "50 (initial 50)\n", true);
    assert_eq!(out, "\n> 50 (initial 50)\n\n> ");
    assert_eq!(format::weight(10, 50), "10 (initial 50)");
    assert_eq!(
        format::backends(["li", "b6"]),
        "# name\nli\nb6\n",
        "show backend"
    );
}

#[test]
fn help_lists_commands_in_haproxys_layout() {
    let h = format::help(&[]);
    assert!(h.starts_with("The following commands are valid at this level:\n"));
    assert!(h.contains(
        "  get weight <bk>/<srv>                   : report a server's current weight\n"
    ));
    assert!(h.contains("  shutdown sessions server <bk>/<srv>     : kill sessions on a server\n"));
    assert!(h.ends_with("  quit                                    : disconnect\n"));
    let only = format::help(&["show".into(), "table".into()]);
    assert_eq!(only.lines().count(), 2, "{only}");
    assert_eq!(format::help(&["nothing".into()]), h, "no match lists all");
}

fn row<'a>() -> ServerRow<'a> {
    ServerRow {
        backend_id: 3,
        backend: "cas_rpc",
        id: 1,
        name: "cas1",
        addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: Some(19001),
        up: true,
        admin: AdminState::Ready,
        disabled_in_config: false,
        weight: 50,
        initial_weight: 50,
        since_change: Duration::from_secs(11),
        check: None,
        rise: 2,
        fall: 3,
        check_port: None,
        check_addr: None,
    }
}

#[test]
fn servers_state_lines_match_haproxy() {
    // Each expected line is one HAProxy 2.6.12 printed for the same situation.
    assert_eq!(
        format::servers_state_line(&row()),
        "3 cas_rpc 1 cas1 127.0.0.1 2 0 50 50 11 1 0 2 0 0 0 0 - 19001 - 0 0 - - 0"
    );
    let checked = ServerRow {
        id: 2,
        name: "cas2",
        port: Some(19002),
        since_change: Duration::from_secs(7),
        check: Some(CheckRow {
            health: HealthState::Up,
            last: Some(LastCheck {
                code: "L4OK",
                passed: true,
            }),
        }),
        ..row()
    };
    assert_eq!(
        format::servers_state_line(&checked),
        "3 cas_rpc 2 cas2 127.0.0.1 2 0 50 50 7 6 3 4 6 0 0 0 - 19002 - 0 0 - - 0"
    );
    let drained = ServerRow {
        admin: AdminState::Drain,
        since_change: Duration::ZERO,
        ..row()
    };
    assert_eq!(
        format::servers_state_line(&drained),
        "3 cas_rpc 1 cas1 127.0.0.1 2 8 50 50 0 1 0 2 0 0 0 0 - 19001 - 0 0 - - 0"
    );
    let maint = ServerRow {
        admin: AdminState::Maint,
        since_change: Duration::ZERO,
        ..row()
    };
    assert_eq!(
        format::servers_state_line(&maint),
        "3 cas_rpc 1 cas1 127.0.0.1 0 1 50 50 0 1 0 0 8 0 0 0 - 19001 - 0 0 - - 0"
    );
    let checked_maint = ServerRow {
        admin: AdminState::Maint,
        since_change: Duration::ZERO,
        ..checked
    };
    assert_eq!(
        format::servers_state_line(&checked_maint),
        "3 cas_rpc 2 cas2 127.0.0.1 0 1 50 50 0 6 3 0 14 0 0 0 - 19002 - 0 0 - - 0"
    );
    let disabled = ServerRow {
        backend_id: 4,
        backend: "b6",
        weight: 1,
        initial_weight: 1,
        admin: AdminState::Maint,
        disabled_in_config: true,
        since_change: Duration::from_secs(3),
        ..row()
    };
    assert_eq!(
        format::servers_state_line(&disabled),
        "4 b6 1 cas1 127.0.0.1 0 5 1 1 3 1 0 0 8 0 0 0 - 19001 - 0 0 - - 0"
    );
    // A failing check, DOWN, with its own port and address.
    let down = ServerRow {
        up: false,
        port: None,
        check_port: Some(8080),
        check_addr: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9))),
        check: Some(CheckRow {
            health: HealthState::Down,
            last: Some(LastCheck {
                code: "L4CON",
                passed: false,
            }),
        }),
        ..row()
    };
    assert_eq!(
        format::servers_state_line(&down),
        "3 cas_rpc 1 cas1 127.0.0.1 0 0 50 50 11 8 2 0 6 0 0 0 - 0 - 0 8080 192.0.2.9 - 0"
    );
    let all = format::servers_state([&row(), &checked]);
    let mut lines = all.lines();
    assert_eq!(lines.next(), Some("1"));
    assert_eq!(
        lines.next(),
        Some(
            "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port"
        )
    );
    assert_eq!(lines.count(), 2);
    assert_eq!(
        format::SERVERS_STATE_HEADER.split(' ').count() - 1,
        format::servers_state_line(&row()).split(' ').count(),
        "one value per column"
    );
}

#[test]
fn raw_health_and_check_codes() {
    assert_eq!(format::raw_health(HealthState::Up, 2, 3), 4);
    assert_eq!(format::raw_health(HealthState::Down, 2, 3), 0);
    assert_eq!(
        format::raw_health(
            HealthState::GoingDown {
                remaining: 1,
                fall: 3
            },
            2,
            3
        ),
        2
    );
    assert_eq!(
        format::raw_health(
            HealthState::GoingUp {
                successes: 1,
                rise: 2
            },
            2,
            3
        ),
        1
    );
    assert_eq!(format::check_status_number("L4OK"), Some(6));
    assert_eq!(format::check_status_number("L7OK"), Some(15));
    assert_eq!(format::check_status_number("L7STS"), Some(17));
    assert_eq!(format::check_status_number("nope"), None);
}

#[test]
fn proxy_ids_count_from_two_in_file_order() {
    // fe (line 10), listen li (frontend and backend, line 14), backend b6 (line 24): 2, 3, 4.
    let ids = format::proxy_ids([("b6", 24), ("li", 14), ("fe", 10), ("li", 14)]);
    assert_eq!(ids, vec![("fe", 2), ("li", 3), ("b6", 4)]);
}

#[test]
fn tables_print_as_haproxy() {
    assert_eq!(
        format::table_head(&TableHead {
            name: "cas_rpc",
            key_type: "ip",
            size: 10240,
            used: 1
        }),
        "# table: cas_rpc, type: ip, size:10240, used:1"
    );
    let r = TableRow {
        tag: 0x55ee_bd1f_7360,
        key: IpAddr::V4(Ipv4Addr::LOCALHOST),
        ipv6_table: false,
        expires_in: Some(Duration::from_millis(1_799_993)),
        server_id: 1,
        server_key: Some("cas1"),
    };
    assert_eq!(
        format::table_row(&r),
        "0x55eebd1f7360: key=127.0.0.1 use=0 exp=1799993 server_id=1 server_key=cas1"
    );
    let v6 = TableRow {
        tag: 0x10,
        ipv6_table: true,
        expires_in: None,
        server_id: 2,
        server_key: None,
        ..r
    };
    assert_eq!(
        format::table_row(&v6),
        "0x10: key=::ffff:127.0.0.1 use=0 exp=0 server_id=2"
    );
}

#[test]
fn info_has_haproxys_keys() {
    let i = format::Info {
        name: "proxyd",
        version: "0.1.0",
        nbthread: 2,
        pid: 42,
        uptime: Duration::from_secs(90_061),
        start_time_sec: 1_795_504_838,
        ulimit_n: 20_000,
        maxconn: 4096,
        curr_conns: 1,
        cum_conns: 82,
        stopping: false,
        listeners: 5,
        dropped_logs: 0,
        total_bytes_out: 48_700,
        node: "vm",
    };
    let text = format::info(&i);
    assert!(text.starts_with("Name: proxyd\nVersion: 0.1.0\n"));
    assert!(text.contains("\nUptime: 1d 1h01m01s\nUptime_sec: 90061\n"));
    assert!(text.contains("\nCurrConns: 1\nCumConns: 82\n"));
    assert!(text.contains("\nMaxconn: 4096\nHard_maxconn: 4096\n"));
    assert!(text.lines().all(|l| l.contains(": ")));
    assert_eq!(format::uptime(Duration::from_secs(10)), "0d 0h00m10s");
}

#[test]
fn admin_change_lines_match_haproxy() {
    let c = format::Counts {
        active: 1,
        backup: 0,
        sessions: 1,
        requeued: 0,
        queued: 0,
    };
    let line = |from, to, up| format::admin_change_line("cas_rpc", "cas1", false, from, to, up, c);
    use AdminState::*;
    assert_eq!(
        line(Ready, Drain, true).as_deref(),
        Some(
            "Server cas_rpc/cas1 enters drain state. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        )
    );
    assert_eq!(
        line(Drain, Ready, true).as_deref(),
        Some("Server cas_rpc/cas1 is UP (leaving forced drain).")
    );
    assert_eq!(
        line(Drain, Maint, true).as_deref(),
        Some(
            "Server cas_rpc/cas1 is going DOWN for maintenance. 1 active and 0 backup servers left. 1 sessions active, 0 requeued, 0 remaining in queue."
        )
    );
    assert_eq!(
        line(Maint, Ready, true).as_deref(),
        Some("Server cas_rpc/cas1 is UP/READY (leaving forced maintenance).")
    );
    assert_eq!(
        line(Maint, Drain, true).as_deref(),
        Some("Server cas_rpc/cas1 is UP/DRAIN (leaving forced maintenance).")
    );
    assert_eq!(
        line(Ready, Maint, false).as_deref(),
        Some("Server cas_rpc/cas1 was DOWN and now enters maintenance.")
    );
    assert_eq!(line(Drain, Drain, true), None);
    assert_eq!(
        format::admin_change_line("b", "s", true, Maint, Ready, false, c).as_deref(),
        Some("Backup Server b/s is DOWN/READY (leaving forced maintenance).")
    );
    assert_eq!(
        format::no_server_line("cas_rpc"),
        "proxy 'cas_rpc' has no server available!"
    );
}
