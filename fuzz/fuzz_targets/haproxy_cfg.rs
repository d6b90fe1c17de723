//! Fuzzes the haproxy.cfg front end (lexer, keyword reader, validation) on arbitrary bytes
//! decoded lossily as UTF-8, and the YAML dialect on the same text. Neither may panic, and a
//! config is returned exactly when no error was reported.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let env: BTreeMap<String, String> = [("VIP".to_string(), "192.0.2.100".to_string())].into();
    let (cfg, d) = lbcore::config::haproxy::parse_str(&text, Path::new("f.cfg"), &env);
    assert_eq!(cfg.is_some(), !d.has_errors());
    let (cfg, d) = lbcore::config::proxy_yaml::parse_str(&text, Path::new("f.yaml"), &env);
    assert_eq!(cfg.is_some(), !d.has_errors());
});
