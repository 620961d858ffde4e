//! Placeholders and partial patterns.
//!
//! Strings in case data may hold `{name}` placeholders: `{prefix}` (a topic
//! prefix unique to the run of the case), `{client}` (a client id stem
//! unique to the run) and values captured from received packets. A string
//! that is exactly one placeholder takes the captured value with its type
//! (so `packet_id = "{pid}"` becomes a number).
//!
//! A pattern compares only the fields it names. Special values:
//! `"$absent"` (field missing or null), `"$present"`, `{ "$in" = [...] }`
//! (any of), `{ "$not" = v }`, `{ "$contains" = v }` (an array element
//! matches).

use std::collections::BTreeMap;

use serde_json::Value;

/// Named values for placeholders.
pub type Vars = BTreeMap<String, Value>;

/// Replaces placeholders in every string of `v`.
pub fn substitute(v: &Value, vars: &Vars) -> Value {
    match v {
        Value::String(s) => substitute_str_value(s, vars),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The value of `name`, or of a path inside a captured value
/// (`connack_a.properties.assigned_client_identifier`).
fn var<'v>(vars: &'v Vars, name: &str) -> Option<&'v Value> {
    if let Some(v) = vars.get(name) {
        return Some(v);
    }
    let (head, path) = name.split_once('.')?;
    lookup(vars.get(head)?, path)
}

fn substitute_str_value(s: &str, vars: &Vars) -> Value {
    if let Some(name) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        if let Some(v) = var(vars, name) {
            return v.clone();
        }
    }
    Value::String(substitute_str(s, vars))
}

/// Replaces `{name}` in a string; unknown names stay as written.
pub fn substitute_str(s: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match var(vars, name) {
                    Some(Value::String(v)) => out.push_str(v),
                    Some(v) => out.push_str(&v.to_string()),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Checks `actual` against `pattern`; the error says where they differ.
pub fn matches(pattern: &Value, actual: &Value) -> Result<(), String> {
    matches_at(pattern, Some(actual), "")
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "nothing".into(),
        Some(v) => v.to_string(),
    }
}

fn num_eq(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn matches_at(pattern: &Value, actual: Option<&Value>, path: &str) -> Result<(), String> {
    let here = if path.is_empty() { "packet" } else { path };
    let absent = matches!(actual, None | Some(Value::Null));
    match pattern {
        Value::String(s) if s == "$absent" => {
            if absent {
                Ok(())
            } else {
                Err(format!("{here}: expected absent, got {}", show(actual)))
            }
        }
        Value::String(s) if s == "$present" => {
            if absent {
                Err(format!("{here}: expected present, got nothing"))
            } else {
                Ok(())
            }
        }
        Value::Object(o) if o.len() == 1 && o.contains_key("$in") => {
            let options = o["$in"].as_array().cloned().unwrap_or_default();
            if options.iter().any(|p| matches_at(p, actual, path).is_ok()) {
                Ok(())
            } else {
                Err(format!(
                    "{here}: expected one of {}, got {}",
                    o["$in"],
                    show(actual)
                ))
            }
        }
        Value::Object(o) if o.len() == 1 && o.contains_key("$not") => {
            if matches_at(&o["$not"], actual, path).is_ok() {
                Err(format!(
                    "{here}: expected not {}, got {}",
                    o["$not"],
                    show(actual)
                ))
            } else {
                Ok(())
            }
        }
        Value::Object(o) if o.len() == 1 && o.contains_key("$contains") => {
            let want = &o["$contains"];
            match actual {
                Some(Value::Array(items))
                    if items
                        .iter()
                        .any(|x| matches_at(want, Some(x), path).is_ok()) =>
                {
                    Ok(())
                }
                _ => Err(format!(
                    "{here}: expected an element matching {want}, got {}",
                    show(actual)
                )),
            }
        }
        Value::Object(o) => {
            let empty = serde_json::Map::new();
            let fields = match actual {
                Some(Value::Object(a)) => a,
                // A missing object (e.g. no properties) is an empty one.
                None | Some(Value::Null) => &empty,
                Some(other) => return Err(format!("{here}: expected an object, got {other}")),
            };
            for (k, p) in o {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                matches_at(p, fields.get(k), &sub)?;
            }
            Ok(())
        }
        Value::Array(want) => match actual {
            Some(Value::Array(got)) if got.len() == want.len() => {
                for (i, (p, a)) in want.iter().zip(got).enumerate() {
                    matches_at(p, Some(a), &format!("{here}[{i}]"))?;
                }
                Ok(())
            }
            _ => Err(format!("{here}: expected {pattern}, got {}", show(actual))),
        },
        Value::Number(_) => match actual {
            Some(a) if num_eq(pattern, a) => Ok(()),
            _ => Err(format!("{here}: expected {pattern}, got {}", show(actual))),
        },
        // A `false` flag and a missing one are the same.
        Value::Bool(false) if absent => Ok(()),
        _ => {
            if actual == Some(pattern) {
                Ok(())
            } else {
                Err(format!("{here}: expected {pattern}, got {}", show(actual)))
            }
        }
    }
}

/// The value at a dotted path (`properties.topic_alias`, `reason_codes.0`).
pub fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur {
            Value::Object(o) => o.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partial_object_match_ignores_other_fields() {
        let p = json!({"type": "PUBLISH", "qos": 1});
        let a = json!({"type": "PUBLISH", "qos": 1, "topic": "x", "retain": false});
        assert!(matches(&p, &a).is_ok());
        let err = matches(&json!({"qos": 2}), &a).unwrap_err();
        assert!(err.contains("qos: expected 2, got 1"), "{err}");
    }

    #[test]
    fn special_values() {
        let a = json!({"reason_code": 135, "properties": {"topic_alias": 3}});
        assert!(matches(&json!({"reason_code": {"$in": [128, 135]}}), &a).is_ok());
        assert!(matches(&json!({"reason_code": {"$in": [128]}}), &a).is_err());
        assert!(matches(&json!({"reason_code": {"$not": 0}}), &a).is_ok());
        assert!(matches(&json!({"x": "$absent"}), &a).is_ok());
        assert!(matches(&json!({"properties": {"topic_alias": "$absent"}}), &a).is_err());
        assert!(matches(&json!({"properties": {"topic_alias": "$present"}}), &a).is_ok());
        // Missing objects count as empty.
        assert!(matches(&json!({"nothing": {"a": "$absent"}}), &a).is_ok());
        assert!(matches(&json!({"nothing": {"a": 1}}), &a).is_err());
        // Missing false flags count as false.
        assert!(matches(&json!({"dup": false}), &a).is_ok());
        let arr = json!({"l": [[ "k", "v" ], ["a", "b"]]});
        assert!(matches(&json!({"l": {"$contains": ["a", "b"]}}), &arr).is_ok());
        assert!(matches(&json!({"l": {"$contains": ["a", "c"]}}), &arr).is_err());
        assert!(matches(&json!({"l": [["k", "v"]]}), &arr).is_err());
    }

    #[test]
    fn placeholders_keep_types_when_whole() {
        let mut vars = Vars::new();
        vars.insert("prefix".into(), json!("mk/1"));
        vars.insert("pid".into(), json!(7));
        let v = json!({"topic": "{prefix}/a", "packet_id": "{pid}", "x": "{nope}"});
        assert_eq!(
            substitute(&v, &vars),
            json!({"topic": "mk/1/a", "packet_id": 7, "x": "{nope}"})
        );
        assert_eq!(substitute_str("a{pid}b{", &vars), "a7b{");
        vars.insert("ca".into(), json!({"properties": {"id": "x1", "n": 3}}));
        assert_eq!(substitute(&json!("{ca.properties.n}"), &vars), json!(3));
        assert_eq!(substitute_str("id={ca.properties.id}", &vars), "id=x1");
        assert_eq!(substitute_str("{ca.nothing}", &vars), "{ca.nothing}");
    }

    #[test]
    fn lookup_paths() {
        let v = json!({"a": {"b": [1, 2]}});
        assert_eq!(lookup(&v, "a.b.1"), Some(&json!(2)));
        assert_eq!(lookup(&v, "a.c"), None);
    }
}
