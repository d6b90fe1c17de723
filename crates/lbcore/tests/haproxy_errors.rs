//! Every diagnostic the haproxy.cfg front end can emit, one table row per emitting site of
//! `lexer.rs` and `parser.rs` (each `error`/`warning` call, and each helper `Err` message that
//! becomes one), asserting the exact message and `file:line:col`.
//!
//! Each body follows [`HEAD`] (4 lines, so the body starts at line 5) unless it starts with `@`
//! (then it is the whole file). A configuration is returned exactly when an error is expected
//! not to be.

use std::collections::BTreeMap;
use std::path::Path;

use lbcore::config::haproxy::parse_str;

const HEAD: &str = "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n";

/// (emitting site, config body, exact diagnostics).
const CASES: &[(&str, &str, &str)] = &[
    (
        "parser: conditional block directive",
        ".if defined(X)\n",
        "t.cfg:5:1: error: conditional block directive '.if' is not supported\n",
    ),
    (
        "parser: keyword outside of a section",
        "@  maxconn 10\n",
        "t.cfg:1:3: error: 'maxconn' outside of a section; a section keyword (global, defaults, frontend, backend, listen) expected\n",
    ),
    (
        "parser: ignored section warning",
        "userlist u\n  user admin insecure-password x\n",
        "t.cfg:5:1: warning: section 'userlist' is valid HAProxy but not implemented by proxyd; its content is ignored\n",
    ),
    (
        "parser: 'global' takes no argument",
        "global foo\n",
        "t.cfg:5:8: error: 'global' takes no argument\n",
    ),
    (
        "parser: 'defaults' takes at most a name",
        "defaults a b\n",
        "t.cfg:5:12: error: 'defaults' takes at most a name\n",
    ),
    (
        "parser: proxy needs a name",
        "backend\n  server s1 192.0.2.21:80\n",
        "t.cfg:5:1: error: 'backend' needs a name\n",
    ),
    (
        "parser: invalid character in proxy name",
        "backend b@d\n  server s1 192.0.2.21:80\n",
        "t.cfg:5:9: error: invalid character in proxy name 'b@d'\n",
    ),
    (
        "parser: listen NAME ADDR deprecated",
        "listen x :80\n  server s1 192.0.2.21:80\n",
        "t.cfg:5:10: warning: 'listen NAME ADDR:PORT' is deprecated (HAProxy 2.x refuses it); use a 'bind' line\n",
    ),
    (
        "parser: frontend takes only a name",
        "frontend f :80\n  bind :80\n  default_backend b\nbackend b\n  server s1 192.0.2.21:80\n",
        "t.cfg:5:12: error: 'frontend' takes only a name\n",
    ),
    (
        "parser: unknown keyword (did you mean)",
        "listen x\n  bind :80\n  balanse roundrobin\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: error: unknown keyword 'balanse' in 'listen' section; did you mean 'balance'?\n",
    ),
    (
        "parser: valid HAProxy keyword not implemented",
        "listen x\n  bind :80\n  cookie SRV insert\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: warning: keyword 'cookie' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: need() missing argument",
        "global\n  pidfile\n",
        "t.cfg:6:3: error: 'pidfile' expects a path\n",
    ),
    (
        "parser: num() not an integer",
        "global\n  nbthread two\n",
        "t.cfg:6:12: error: invalid value 'two' for nbthread: an integer expected\n",
    ),
    (
        "parser: time() bad unit",
        "listen x\n  bind :80\n  timeout client 5x\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:18: error: invalid time unit 'x' in '5x': us, ms, s, m, h or d expected\n",
    ),
    (
        "parser: extra() unexpected argument",
        "global\n  daemon now\n",
        "t.cfg:6:10: error: unexpected argument 'now' to 'daemon'\n",
    ),
    (
        "parser: unknown global keyword",
        "global\n  deamon\n",
        "t.cfg:6:3: error: unknown keyword 'deamon' in 'global' section; did you mean 'daemon'?\n",
    ),
    (
        "parser: global keyword not implemented",
        "global\n  chroot /var/empty\n  tune.bufsize 32768\n",
        "t.cfg:6:3: warning: global keyword 'chroot' is valid HAProxy but not implemented by proxyd; ignored\nt.cfg:7:3: warning: global keyword 'tune.bufsize' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: invalid ssl-server-verify",
        "global\n  ssl-server-verify maybe\n",
        "t.cfg:6:21: error: invalid ssl-server-verify 'maybe': none or required expected\n",
    ),
    (
        "parser: invalid octal stats socket mode",
        "global\n  stats socket /run/s mode 89\n",
        "t.cfg:6:28: error: invalid octal mode '89'\n",
    ),
    (
        "parser: invalid stats socket level",
        "global\n  stats socket /run/s level root\n",
        "t.cfg:6:29: error: invalid stats socket level 'root': user, operator or admin expected\n",
    ),
    (
        "parser: expose-fd expects listeners",
        "global\n  stats socket /run/s expose-fd all\n",
        "t.cfg:6:23: error: 'expose-fd' expects 'listeners'\n",
    ),
    (
        "parser: stats socket parameter not implemented",
        "global\n  stats socket /run/s process 1\n",
        "t.cfg:6:23: warning: stats socket parameter 'process' is valid HAProxy but not implemented by proxyd; ignored\nt.cfg:6:31: warning: stats socket parameter '1' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: global stats keyword not implemented",
        "global\n  stats maxconn 10\n",
        "t.cfg:6:9: warning: global stats keyword 'maxconn' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: global stats without keyword",
        "global\n  stats\n",
        "t.cfg:6:3: error: 'stats' expects 'socket' or 'timeout'\n",
    ),
    (
        "parser: log without facility",
        "global\n  log 127.0.0.1:514\n",
        "t.cfg:6:3: error: 'log' expects a facility after the address\n",
    ),
    (
        "parser: keyword not allowed in section",
        "backend b\n  bind :80\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:3: error: 'bind' is not allowed in a 'backend' section\n",
    ),
    (
        "parser: invalid mode",
        "listen x\n  bind :80\n  mode udp\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:8: error: invalid mode 'udp': tcp or http expected\n",
    ),
    (
        "parser: bind parameter not implemented",
        "listen x\n  bind :80 v4v6\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:12: warning: bind parameter 'v4v6' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: unknown bind parameter",
        "listen x\n  bind :80 transparant\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:12: error: unknown bind parameter 'transparant'; did you mean 'transparent'?\n",
    ),
    (
        "parser: balance valid but unsupported",
        "listen x\n  bind :80\n  balance uri\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:11: error: balance 'uri' is valid HAProxy but not supported by proxyd (roundrobin, static-rr, leastconn, source, first)\n",
    ),
    (
        "parser: balance hdr() unsupported",
        "listen x\n  bind :80\n  balance hdr(host)\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:11: error: balance 'hdr(host)' is valid HAProxy but not supported by proxyd (roundrobin, static-rr, leastconn, source, first)\n",
    ),
    (
        "parser: unknown balance algorithm",
        "listen x\n  bind :80\n  balance roundrobyn\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:11: error: unknown balance algorithm 'roundrobyn'; roundrobin, static-rr, leastconn, source or first expected; did you mean 'roundrobin'?\n",
    ),
    (
        "parser: invalid hash-type",
        "listen x\n  bind :80\n  hash-type consistant\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:13: error: invalid hash-type 'consistant': map-based or consistent expected; did you mean 'consistent'?\n",
    ),
    (
        "parser: invalid hash function",
        "listen x\n  bind :80\n  hash-type consistent md5\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:24: error: invalid hash function 'md5': sdbm, djb2, wt6, crc32 or avalanche expected\n",
    ),
    (
        "parser: hash function not implemented",
        "listen x\n  bind :80\n  hash-type consistent sdbm\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:24: warning: hash function 'sdbm' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: stick rule not implemented",
        "listen x\n  bind :80\n  stick match src\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:9: warning: stick rule 'match' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: stick expects on",
        "listen x\n  bind :80\n  stick off\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: error: 'stick' expects 'on src [table <name>]'\n",
    ),
    (
        "parser: stick on other sample",
        "listen x\n  bind :80\n  stick-table type ip size 1k\n  stick on dst\n  server s1 192.0.2.21:80\n",
        "t.cfg:8:12: error: stick on 'dst' is not supported; only 'src'\n",
    ),
    (
        "parser: stick on with condition",
        "listen x\n  bind :80\n  stick-table type ip size 1k\n  stick on src if TRUE\n  server s1 192.0.2.21:80\n",
        "t.cfg:8:16: error: unexpected 'if' in 'stick on' (conditions are not supported)\n",
    ),
    (
        "parser: tcp-request ruleset not implemented",
        "listen x\n  bind :80\n  tcp-request content accept\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:15: warning: tcp-request ruleset 'content' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: tcp-request without ruleset",
        "listen x\n  bind :80\n  tcp-request\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: error: 'tcp-request' expects 'connection'\n",
    ),
    (
        "parser: tcp-request action not implemented",
        "listen x\n  bind :80\n  tcp-request connection silent-drop\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:26: warning: tcp-request connection action 'silent-drop' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: unknown tcp-request action",
        "listen x\n  bind :80\n  tcp-request connection allow\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:26: error: unknown tcp-request connection action 'allow': accept or reject expected\n",
    ),
    (
        "parser: unknown timeout",
        "listen x\n  bind :80\n  timeout clinet 5s\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:11: error: unknown timeout 'clinet'; did you mean 'client'?\n",
    ),
    (
        "parser: timeout not implemented",
        "listen x\n  bind :80\n  timeout tunnel 1h\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:11: warning: timeout 'tunnel' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: timeout without effect",
        "frontend f\n  bind :80\n  timeout client 1s\n  timeout server 1s\n  default_backend b\nbackend b\n  server s1 192.0.2.21:80\n",
        "t.cfg:8:11: warning: 'timeout server' has no effect in frontend 'f'\n",
    ),
    (
        "parser: deprecated contimeout",
        "listen x\n  bind :80\n  contimeout 5000\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: warning: 'contimeout' is deprecated (HAProxy 2.1+ refuses it); use 'timeout connect'\n",
    ),
    (
        "parser: 'no' without option",
        "listen x\n  bind :80\n  no log\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:6: error: 'no' is only supported before 'option' ('no option <name>')\n",
    ),
    (
        "parser: option not implemented",
        "listen x\n  bind :80\n  option httplog\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:10: warning: option 'httplog' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: unknown option",
        "listen x\n  bind :80\n  option tcplogg\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:10: error: unknown option 'tcplogg'; did you mean 'tcplog'?\n",
    ),
    (
        "parser: check option in frontend",
        "frontend f\n  bind :80\n  option httpchk\n  default_backend b\nbackend b\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:10: error: 'option httpchk' is not allowed in a 'frontend' section\n",
    ),
    (
        "parser: option httpchk too many arguments",
        "backend b\n  option httpchk GET / HTTP/1.1 extra\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:33: error: 'option httpchk' takes at most a method, a URI and a version\n",
    ),
    (
        "parser: option smtpchk bad arguments",
        "backend b\n  option smtpchk HELLO x\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:10: error: 'option smtpchk' expects nothing or 'HELO|EHLO <domain>'\n",
    ),
    (
        "parser: option takes no argument",
        "backend b\n  option redispatch yes\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:21: error: 'option redispatch' takes no argument\n",
    ),
    (
        "parser: tcp-check connect parameter not implemented",
        "backend b\n  option tcp-check\n  tcp-check connect linger\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:21: warning: tcp-check connect parameter 'linger' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: unsupported tcp-check expect matcher",
        "backend b\n  option tcp-check\n  tcp-check expect regex ^220\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:20: error: unsupported tcp-check expect matcher 'regex': string, rstring or binary expected\n",
    ),
    (
        "parser: tcp-check action not implemented",
        "backend b\n  option tcp-check\n  tcp-check comment probe\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:13: warning: tcp-check action 'comment' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: unknown tcp-check action",
        "backend b\n  option tcp-check\n  tcp-check sned QUIT\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:13: error: unknown tcp-check action 'sned': connect, send, send-binary or expect expected\n",
    ),
    (
        "parser: invalid hex string",
        "backend b\n  option tcp-check\n  tcp-check send-binary 0g\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:25: error: invalid hex string '0g'\n",
    ),
    (
        "parser: second http-check send",
        "backend b\n  option httpchk\n  http-check send meth GET\n  http-check send uri /\n  server s1 192.0.2.21:80\n",
        "t.cfg:8:3: error: only one 'http-check send' per proxy is supported by proxyd\n",
    ),
    (
        "parser: http-check action not implemented",
        "backend b\n  option httpchk\n  http-check disable-on-404\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:14: warning: http-check action 'disable-on-404' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: unknown http-check action",
        "backend b\n  option httpchk\n  http-check expct status 200\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:14: error: unknown http-check action 'expct': send or expect expected; did you mean 'expect'?\n",
    ),
    (
        "parser: http-check expect option not implemented",
        "backend b\n  option httpchk\n  http-check expect comment probe status 200\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:21: warning: http-check expect option 'comment' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: http-check expect hdr unsupported",
        "backend b\n  option httpchk\n  http-check expect hdr name Server\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:21: error: http-check expect matcher 'hdr' is valid HAProxy but not supported by proxyd (status, rstatus, string, rstring)\n",
    ),
    (
        "parser: unknown http-check expect matcher",
        "backend b\n  option httpchk\n  http-check expect stauts 200\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:21: error: unknown http-check expect matcher 'stauts': status, rstatus, string or rstring expected; did you mean 'status'?\n",
    ),
    (
        "parser: http-check expect without pattern",
        "backend b\n  option httpchk\n  http-check expect status\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:21: error: 'http-check' expects a pattern\n",
    ),
    (
        "parser: empty http-check expect pattern",
        "backend b\n  option httpchk\n  http-check expect string \"\"\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:28: error: empty http-check expect pattern\n",
    ),
    (
        "parser: invalid HTTP status list",
        "backend b\n  option httpchk\n  http-check expect status 200,2xx\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:28: error: invalid HTTP status '2xx' in '200,2xx': three-digit codes or ranges such as 200,301-302 expected\n",
    ),
    (
        "parser: http-check send parameter without value",
        "backend b\n  option httpchk\n  http-check send meth\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:19: error: 'http-check send' 'meth' expects a value\n",
    ),
    (
        "parser: invalid http-check send header",
        "backend b\n  option httpchk\n  http-check send hdr Bad:Name x\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:23: error: invalid header 'Bad:Name' in 'http-check send'\n",
    ),
    (
        "parser: http-check send log-format",
        "backend b\n  option httpchk\n  http-check send uri-lf /%[src]\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:19: error: 'http-check send uri-lf' (log-format) is not supported by proxyd; use 'uri'\n",
    ),
    (
        "parser: unknown http-check send parameter",
        "backend b\n  option httpchk\n  http-check send methd GET\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:19: error: unknown 'http-check send' parameter 'methd'; did you mean 'meth'?\n",
    ),
    (
        "parser: stats keyword not implemented",
        "listen st\n  mode http\n  bind :8080\n  stats enable\n  stats scope x\n",
        "t.cfg:9:9: warning: stats keyword 'scope' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: unknown stats keyword",
        "listen st\n  mode http\n  bind :8080\n  stats enable\n  stats foo\n",
        "t.cfg:9:9: error: unknown stats keyword 'foo'\n",
    ),
    (
        "parser: stick-table type unsupported",
        "listen x\n  bind :80\n  stick-table type string size 1k\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:20: error: stick-table type 'string' is valid HAProxy but not supported by proxyd (ip or ipv6)\n",
    ),
    (
        "parser: invalid stick-table type",
        "listen x\n  bind :80\n  stick-table type ipv4 size 1k\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:20: error: invalid stick-table type 'ipv4': ip or ipv6 expected\n",
    ),
    (
        "parser: invalid stick-table size",
        "listen x\n  bind :80\n  stick-table type ip size 10x\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:28: error: invalid size unit 'x' in '10x': k, m or g expected\n",
    ),
    (
        "parser: stick-table names an unknown peers section",
        "listen x\n  bind :80\n  stick-table type ip size 1k peers lb\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: error: listen 'x': stick-table refers to unknown peers section 'lb'\n",
    ),
    (
        "parser: stick-table parameter not implemented",
        "listen x\n  bind :80\n  stick-table type ip size 1k store conn_cur\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:31: warning: stick-table parameter 'store' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: unknown stick-table parameter",
        "listen x\n  bind :80\n  stick-table type ip size 1k expir 1m\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:31: error: unknown stick-table parameter 'expir'; did you mean 'expire'?\nt.cfg:7:37: error: unknown stick-table parameter '1m'\n",
    ),
    (
        "parser: stick-table without type",
        "listen x\n  bind :80\n  stick-table size 1k\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: error: 'stick-table' needs 'type ip|ipv6'\n",
    ),
    (
        "parser: stick-table without size",
        "listen x\n  bind :80\n  stick-table type ip\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: error: 'stick-table' needs 'size <n>'\n",
    ),
    (
        "parser: second stick-table",
        "listen x\n  bind :80\n  stick-table type ip size 1k\n  stick-table type ip size 2k\n  server s1 192.0.2.21:80\n",
        "t.cfg:8:3: error: only one 'stick-table' per proxy\n",
    ),
    (
        "parser: invalid character in ACL name",
        "listen x\n  bind :80\n  acl a/b src 192.0.2.0/24\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:7: error: invalid character in ACL name 'a/b'\n",
    ),
    (
        "parser: unsupported ACL criterion",
        "listen x\n  bind :80\n  acl a req.ssl_sni example.org\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:9: error: ACL criterion 'req.ssl_sni' is not supported (src, dst, src_port, dst_port)\n",
    ),
    (
        "parser: ACL pattern file flag",
        "listen x\n  bind :80\n  acl a src -f /etc/nets\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:13: error: ACL flag '-f' (pattern files) is not supported\nt.cfg:7:3: error: acl 'a' has no pattern\n",
    ),
    (
        "parser: invalid ACL network",
        "listen x\n  bind :80\n  acl a src 192.0.2.0/33 bogus 192.0.2.0/255.0.255.0\n  tcp-request connection reject if a\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:13: error: invalid prefix length in '192.0.2.0/33'\nt.cfg:7:26: error: invalid address or network 'bogus'\nt.cfg:7:32: error: invalid netmask in '192.0.2.0/255.0.255.0'\nt.cfg:7:3: error: acl 'a' has no pattern\n",
    ),
    (
        "parser: invalid ACL port range",
        "listen x\n  bind :80\n  acl p dst_port 80-70\n  tcp-request connection reject if p\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:18: error: invalid port or port range '80-70'\nt.cfg:7:3: error: acl 'p' has no pattern\n",
    ),
    (
        "parser: ACL port not a number",
        "listen x\n  bind :80\n  acl p dst_port http\n  tcp-request connection reject if p\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:18: error: invalid port or port range 'http'\nt.cfg:7:3: error: acl 'p' has no pattern\n",
    ),
    (
        "parser: ACL without pattern",
        "listen x\n  bind :80\n  acl a src\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: error: acl 'a' has no pattern\n",
    ),
    (
        "parser: if or unless expected",
        "listen x\n  bind :80\n  tcp-request connection reject when TRUE\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:33: error: 'if' or 'unless' expected, got 'when'\n",
    ),
    (
        "parser: anonymous ACL",
        "listen x\n  bind :80\n  tcp-request connection reject if { src 192.0.2.1 }\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:36: error: anonymous ACLs ('{ ... }') are not supported; declare a named acl\n",
    ),
    (
        "parser: ACL name after !",
        "listen x\n  bind :80\n  tcp-request connection reject if !\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:36: error: ACL name expected after '!'\n",
    ),
    (
        "parser: empty condition",
        "listen x\n  bind :80\n  tcp-request connection reject if TRUE or\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:33: error: empty condition after 'if'\n",
    ),
    (
        "parser: server name and address missing",
        "listen x\n  bind :80\n  server s1\n",
        "t.cfg:7:10: error: 'server' expects an address\nt.cfg:5:1: warning: listen 'x' has no server\n",
    ),
    (
        "parser: server host name",
        "listen x\n  bind :80\n  server s1 cas1.example.org:80\n",
        "t.cfg:7:13: error: invalid server address 'cas1.example.org:80': an IP address expected (host names are not resolved)\nt.cfg:5:1: warning: listen 'x' has no server\n",
    ),
    (
        "parser: server host name without port",
        "listen x\n  bind :80\n  server s1 cas1\n",
        "t.cfg:7:13: error: invalid server address 'cas1': an IP address expected (host names are not resolved)\nt.cfg:5:1: warning: listen 'x' has no server\n",
    ),
    (
        "parser: server port offset",
        "listen x\n  bind :80\n  server s1 192.0.2.21:+1\n",
        "t.cfg:7:13: error: server address '192.0.2.21:+1': port offsets are not supported\nt.cfg:5:1: warning: listen 'x' has no server\n",
    ),
    (
        "parser: server invalid port",
        "listen x\n  bind :80\n  server s1 192.0.2.21:0\n",
        "t.cfg:7:13: error: server address '192.0.2.21:0': invalid port '0'\nt.cfg:5:1: warning: listen 'x' has no server\n",
    ),
    (
        "parser: server parameter without value",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 inter\n",
        "t.cfg:7:27: error: 'server x/s1': 'inter' expects a time\n",
    ),
    (
        "parser: server inter 0",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 inter 0\n",
        "t.cfg:7:33: error: 'server x/s1': invalid value 0 for 'inter'\n",
    ),
    (
        "parser: server weight and rise out of range",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 weight 300 rise 0\n",
        "t.cfg:7:34: error: 'server x/s1': invalid value 300 for 'weight' (0 to 256)\nt.cfg:7:43: error: 'server x/s1': invalid value 0 for 'rise' (at least 1)\n",
    ),
    (
        "parser: server port not a number",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 port http\n",
        "t.cfg:7:32: error: invalid value 'http' for 'port' of 'server x/s1': an integer expected\n",
    ),
    (
        "parser: server invalid check address",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 addr cas1\n",
        "t.cfg:7:32: error: 'server x/s1': invalid check address 'cas1'\n",
    ),
    (
        "parser: server empty ca-file",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 ca-file \"\"\n",
        "t.cfg:7:35: error: 'server x/s1': 'ca-file' expects a path\n",
    ),
    (
        "parser: server invalid verify",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 verify maybe\n",
        "t.cfg:7:34: error: 'server x/s1': invalid verify 'maybe': none or required expected\n",
    ),
    (
        "parser: server invalid on-marked-down",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 on-marked-down nothing\n",
        "t.cfg:7:42: error: 'server x/s1': invalid on-marked-down 'nothing': shutdown-sessions expected\n",
    ),
    (
        "parser: server parameter not implemented",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 slowstart 10s\n",
        "t.cfg:7:27: warning: 'server x/s1': server parameter 'slowstart' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "parser: unknown server keyword",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 chek\n",
        "t.cfg:7:27: error: 'server x/s1': unknown keyword 'chek'; did you mean 'check'?\n",
    ),
    (
        "parser: bind UNIX socket",
        "listen x\n  bind /run/x.sock\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:8: error: bind address '/run/x.sock': only IPv4/IPv6 addresses are supported (no UNIX sockets or fd@)\nt.cfg:5:1: error: listen 'x' has no 'bind' line\n",
    ),
    (
        "parser: bind without port",
        "listen x\n  bind 192.0.2.100\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:8: error: bind address '192.0.2.100': a port is required ('addr:port')\nt.cfg:5:1: error: listen 'x' has no 'bind' line\n",
    ),
    (
        "parser: bind invalid IP",
        "listen x\n  bind 192.0.2.300:80\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:8: error: bind address '192.0.2.300:80': invalid IP address '192.0.2.300'\nt.cfg:5:1: error: listen 'x' has no 'bind' line\n",
    ),
    (
        "parser: bind port out of range",
        "listen x\n  bind :99999\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:8: error: bind address ':99999': invalid port or port range '99999'\nt.cfg:5:1: error: listen 'x' has no 'bind' line\n",
    ),
    (
        "parser: bind invalid port range",
        "listen x\n  bind :90-80\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:8: error: bind address ':90-80': invalid port or port range '90-80'\nt.cfg:5:1: error: listen 'x' has no 'bind' line\n",
    ),
    (
        "finish: duplicate proxy name",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80\nlisten x\n  bind :80\n  server s1 192.0.2.21:80\n",
        "t.cfg:8:1: error: proxy 'x' has the same name as listen 'x' declared at t.cfg:5:1\n",
    ),
    (
        "finish: stick-table in a frontend",
        "frontend f\n  bind :80\n  stick-table type ip size 1k\n  default_backend b\nbackend b\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: warning: stick-table in frontend 'f' is ignored (no track-sc support); declare it in a backend or listen section\n",
    ),
    (
        "finish: mode http outside stats",
        "listen x\n  bind :80\n  mode http\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: error: listen 'x': 'mode http' is only supported for a stats listener ('listen' with 'stats enable') until L7 exists; use 'mode tcp'\n",
    ),
    (
        "finish: stats listener without bind",
        "listen st\n  mode http\n  stats enable\n",
        "t.cfg:5:1: error: listen 'st' has no 'bind' line\n",
    ),
    (
        "finish: stats without mode http",
        "listen x\n  bind :80\n  stats enable\n  server s1 192.0.2.21:80\n",
        "t.cfg:5:1: warning: listen 'x': 'stats' needs 'mode http'; ignored\n",
    ),
    (
        "finish: unknown ACL",
        "listen x\n  bind :80\n  acl ok src 192.0.2.0/24\n  tcp-request connection reject unless okk\n  server s1 192.0.2.21:80\n",
        "t.cfg:8:3: error: listen 'x': unknown ACL 'okk'; did you mean 'ok'?\n",
    ),
    (
        "finish: frontend without bind",
        "frontend f\n  default_backend b\nbackend b\n  server s1 192.0.2.21:80\n",
        "t.cfg:5:1: error: frontend 'f' has no 'bind' line\n",
    ),
    (
        "finish: use_backend to a missing backend",
        "frontend f\n  bind :80\n  use_backend nothere if TRUE\n",
        "t.cfg:7:15: error: frontend 'f': unable to find backend 'nothere'\n",
    ),
    (
        "finish: missing default_backend",
        "frontend f\n  bind :80\n  default_backend bakend\nbackend backend\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:19: error: frontend 'f': unable to find default_backend 'bakend'; did you mean 'backend'?\n",
    ),
    (
        "finish: frontend without any backend",
        "frontend f\n  bind :80\n",
        "t.cfg:5:1: warning: frontend 'f' has no 'default_backend' and no 'use_backend'; it will refuse every connection\n",
    ),
    (
        "finish: missing timeouts of a frontend",
        "@frontend f\n  bind :80\n  default_backend b\nbackend b\n  timeout connect 1s\n  timeout server 1s\n  server s1 192.0.2.21:80\n",
        "t.cfg:1:1: warning: missing timeouts for frontend 'f': client; idle connections never expire\n",
    ),
    (
        "finish: missing stick-table",
        "listen x\n  bind :80\n  stick on src table st\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: error: listen 'x': unable to find stick-table 'st'\n",
    ),
    (
        "finish: duplicate server name",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80\n  server s1 192.0.2.21:80\n",
        "t.cfg:8:3: error: listen 'x': another server named 's1' was already defined at t.cfg:7:3\n",
    ),
    (
        "finish: duplicate server id",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 id 2\n  server s2 192.0.2.22:80 id 2\n",
        "t.cfg:8:3: error: listen 'x': server 's2' has the same id 2 as server 's1'\n",
    ),
    (
        "finish: verify required by default without ca-file",
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 check check-ssl\n",
        "t.cfg:7:3: error: 'server x/s1': verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default.\n",
    ),
    (
        "finish: explicit verify required without ca-file",
        "global\n  ssl-server-verify none\nlisten x\n  bind :80\n  server s1 192.0.2.21:80 check check-ssl verify required\n",
        "t.cfg:9:43: error: 'server x/s1': verify is enabled but no CA file specified.\n",
    ),
    (
        "finish: missing timeouts of a backend",
        "@backend b\n  server s1 192.0.2.21:80\n",
        "t.cfg:1:1: warning: missing timeouts for backend 'b': connect, server; idle connections never expire\n",
    ),
    (
        "finish: backend without server",
        "backend b\n",
        "t.cfg:5:1: warning: backend 'b' has no server\n",
    ),
    (
        "finish: checked server without port",
        "listen x\n  bind :80\n  server s1 192.0.2.21 check\n",
        "t.cfg:5:1: error: listen 'x': a server without a port needs 'port <n>' to be checked\n",
    ),
    (
        "finish: balance first without maxconn",
        "listen x\n  bind :80\n  balance first\n  server s1 192.0.2.21:80\n",
        "t.cfg:5:1: warning: listen 'x': 'balance first' needs 'maxconn' on every server\n",
    ),
    (
        "finish: tcp-check rules without option",
        "listen x\n  bind :80\n  tcp-check send x\n  server s1 192.0.2.21:80\n",
        "t.cfg:5:1: warning: listen 'x': 'tcp-check' rules without 'option tcp-check' are ignored\n",
    ),
    (
        "finish: http-check rules without option",
        "listen x\n  bind :80\n  http-check expect status 200\n  server s1 192.0.2.21:80\n",
        "t.cfg:5:1: warning: listen 'x': 'http-check' rules without 'option httpchk' are ignored\n",
    ),
    (
        "lexer: unterminated quote",
        "listen x\n  bind :80\n  log \"127.0.0.1:514 local0\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:7: error: unterminated quote\nt.cfg:7:3: error: 'log' expects a facility after the address\n",
    ),
    (
        "lexer: backslash at end of line",
        "listen x\n  bind :80\n  log 127.0.0.1:514 local0\\\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:27: error: backslash at end of line\n",
    ),
    (
        "lexer: invalid \\x escape",
        "listen x\n  bind :80\n  tcp-check send \\x4g\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:18: error: invalid \\x escape: two hex digits expected\nt.cfg:5:1: warning: listen 'x': 'tcp-check' rules without 'option tcp-check' are ignored\n",
    ),
    (
        "lexer: unknown escape",
        "listen x\n  bind :80\n  tcp-check send \\q\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:18: error: unknown escape sequence '\\q'\nt.cfg:5:1: warning: listen 'x': 'tcp-check' rules without 'option tcp-check' are ignored\n",
    ),
    (
        "lexer: missing } after ${",
        "listen x\n  bind \"${VIP:80\"\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:9: error: missing '}' after '${'\nt.cfg:6:8: error: unterminated quote\nt.cfg:6:8: error: bind address '': a port is required ('addr:port')\nt.cfg:5:1: error: listen 'x' has no 'bind' line\n",
    ),
    (
        "lexer: invalid environment variable name",
        "listen x\n  bind \"${VI P}:80\"\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:9: error: invalid environment variable name 'VI P'\n",
    ),
    (
        "lexer: unset environment variable",
        "listen x\n  bind \"${NOPE}:80\"\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:9: warning: environment variable 'NOPE' is not set; it expands to an empty string\n",
    ),
    (
        "lexer: invalid time",
        "listen x\n  bind :80\n  timeout client soon\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:18: error: invalid time 'soon': a number with an optional unit (us, ms, s, m, h, d) expected\n",
    ),
    (
        "lexer: invalid size",
        "listen x\n  bind :80\n  stick-table type ip size big\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:28: error: invalid size 'big': a number with an optional unit (k, m, g) expected\n",
    ),
    (
        "lexer: invalid size unit",
        "listen x\n  bind :80\n  stick-table type ip size 10t\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:28: error: invalid size unit 't' in '10t': k, m or g expected\n",
    ),
    (
        "lexer: size too large",
        "listen x\n  bind :80\n  stick-table type ip size 99999999999g\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:28: error: size '99999999999g' is too large\n",
    ),
];

#[test]
fn every_diagnostic_site_reports_its_exact_message_and_position() {
    let mut failures = Vec::new();
    for (site, body, expected) in CASES {
        let text = match body.strip_prefix('@') {
            Some(whole) => whole.to_string(),
            None => format!("{HEAD}{body}"),
        };
        let (cfg, d) = parse_str(&text, Path::new("t.cfg"), &BTreeMap::new());
        let got = d.to_string();
        if got != *expected {
            failures.push(format!(
                "{site}:\n  expected: {expected:?}\n  got:      {got:?}"
            ));
        }
        assert!(
            !expected.is_empty(),
            "{site}: a case must expect a diagnostic"
        );
        assert_eq!(
            cfg.is_none(),
            expected.contains(": error: "),
            "{site}: a config is returned iff no error"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_site_is_listed_once() {
    let mut sites: Vec<&str> = CASES.iter().map(|(s, _, _)| *s).collect();
    let n = sites.len();
    sites.sort_unstable();
    sites.dedup();
    assert_eq!(sites.len(), n, "duplicate site names");
}
