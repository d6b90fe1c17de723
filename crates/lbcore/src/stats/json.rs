//! HAProxy's typed JSON (`<uri>;json`, `show stat json`): an array with one array per row, each
//! holding one object per filled field:
//! `{"objType":"Server","proxyId":3,"id":1,"field":{"pos":17,"name":"status"},"processNum":1,
//! "tags":{"origin":"Status","nature":"Gauge","scope":"Process"},"value":{"type":"str",
//! "value":"UP"}}` (MGMT §9.2; tags as haproxy 2.6.12 printed them for each field).
//!
//! Owns the tags table; the values are [`super::csv::fields`]'. It must not add fields the CSV
//! does not have.

use serde::Serialize;

use super::csv::{self, Value};
use super::model::{Row, Snapshot};

#[derive(Serialize)]
struct Field {
    pos: usize,
    name: &'static str,
}

#[derive(Serialize)]
struct Tags {
    origin: &'static str,
    nature: &'static str,
    scope: &'static str,
}

#[derive(Serialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
enum Typed {
    U32(u32),
    U64(u64),
    Str(String),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    obj_type: &'static str,
    proxy_id: u32,
    id: u32,
    field: Field,
    process_num: u32,
    tags: Tags,
    value: Typed,
}

/// `(origin, nature, scope)` of field `name` in a row of type `obj` (`Frontend`, `Backend`,
/// `Server`), as HAProxy tags it.
pub fn tags(obj: &str, name: &str) -> (&'static str, &'static str, &'static str) {
    const P: &str = "Process";
    const S: &str = "Service";
    match name {
        "pxname" | "svname" => ("Key", "Name", S),
        "pid" => ("Key", "Gauge", P),
        "iid" | "sid" => ("Key", "Gauge", S),
        "qcur" | "scur" => ("Metric", "Gauge", P),
        "qmax" | "smax" => ("Metric", "Max", P),
        "slim" | "qlimit" => ("Config", "Limit", P),
        "status" => ("Status", "Gauge", P),
        "weight" | "uweight" => ("Metric", "Avg", P),
        "act" | "bck" if obj == "Server" => ("Status", "Gauge", P),
        "act" | "bck" => ("Metric", "Gauge", P),
        "lastchg" => ("Metric", "Age", P),
        "check_status" | "check_code" | "last_chk" | "check_desc" => ("Metric", "Output", P),
        "check_duration" => ("Metric", "Duration", P),
        "type" | "check_rise" | "check_fall" | "check_health" | "addr" | "mode" | "algo" => {
            ("Config", "Gauge", S)
        }
        // stot, bin, bout, dreq, dresp, ereq, econ, eresp, wretr, wredis, chkfail, chkdown,
        // downtime, lbtot, hrsp_*, req_tot.
        _ => ("Metric", "Counter", P),
    }
}

/// The typed JSON of `snap`.
pub fn render(snap: &Snapshot) -> String {
    let rows: Vec<Vec<Entry>> = snap
        .rows()
        .iter()
        .map(|row| {
            let (obj, id) = match row {
                Row::Frontend(..) => ("Frontend", 0),
                Row::Backend(..) => ("Backend", 0),
                Row::Server(_, _, s) => ("Server", s.sid),
            };
            let mut fields = csv::fields(snap, row);
            fields.sort_by_key(|(n, _)| csv::position(n));
            fields
                .into_iter()
                .filter_map(|(name, v)| {
                    let pos = csv::position(name)?;
                    let (origin, nature, scope) = tags(obj, name);
                    Some(Entry {
                        obj_type: obj,
                        proxy_id: row.proxy().iid,
                        id,
                        field: Field { pos, name },
                        process_num: 1,
                        tags: Tags {
                            origin,
                            nature,
                            scope,
                        },
                        value: match v {
                            Value::U32(x) => Typed::U32(x),
                            Value::U64(x) => Typed::U64(x),
                            Value::Str(s) => Typed::Str(s),
                        },
                    })
                })
                .collect()
        })
        .collect();
    // Serializing plain structs of strings and integers cannot fail.
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_shape_as_haproxy() {
        let snap = crate::stats::csv::tests::sample();
        let text = render(&snap);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let rows = v.as_array().unwrap();
        assert_eq!(rows.len(), 4);
        // The exact object, key order included, HAProxy prints for a frontend's pxname.
        assert!(
            text.starts_with(r#"[[{"objType":"Frontend","proxyId":1,"id":0,"field":{"pos":0,"name":"pxname"},"processNum":1,"tags":{"origin":"Key","nature":"Name","scope":"Service"},"value":{"type":"str","value":"cas_rpc"}},"#),
            "{text}"
        );
        let cas2 = rows[2].as_array().unwrap();
        let status = cas2
            .iter()
            .find(|f| f["field"]["name"] == "status")
            .unwrap();
        assert_eq!(status["field"]["pos"], 17);
        assert_eq!(status["value"]["value"], "DRAIN 2/3");
        assert_eq!(status["tags"]["origin"], "Status");
        assert_eq!(status["id"], 2);
        let act = cas2.iter().find(|f| f["field"]["name"] == "act").unwrap();
        assert_eq!(act["tags"]["origin"], "Status");
        let stot = cas2.iter().find(|f| f["field"]["name"] == "stot").unwrap();
        assert_eq!(stot["value"]["type"], "u64");
        // Positions ascend within a row, as in HAProxy's output.
        let pos: Vec<u64> = cas2
            .iter()
            .map(|f| f["field"]["pos"].as_u64().unwrap())
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
    }
}
