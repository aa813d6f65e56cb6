//! JSON text exactly as Node's `JSON.stringify(JSON.parse(text))` writes it again.
//!
//! Remotion's `validateWebhookSignature()` does not hash the bytes it received: it hashes
//! `JSON.stringify(body)` of the parsed body. A receiver written with it accepts a signature
//! only if that re-serialisation gives back the very bytes that were signed, so the body is
//! written the way JavaScript writes JSON: no whitespace, numbers as `Number.prototype.toString`
//! prints them (`1` not `1.0`, `1e+21`, integers beyond 2^53 rounded as a double), and object
//! keys that are array indices (`"0"`, `"42"`) first in ascending order, the others after them
//! in the order given. Strings are escaped as both serializers do.

use serde_json::{Number, Value};

/// `entries` as a JSON object, in this order (array-index keys first, as JavaScript orders them).
pub fn object(entries: &[(&str, Value)]) -> String {
    let mut out = String::new();
    write_object(&mut out, entries.iter().map(|(k, v)| (*k, v)));
    out
}

/// `value` as JSON text.
pub fn to_text(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map.iter().map(|(k, v)| (k.as_str(), v))),
    }
}

fn write_object<'a>(out: &mut String, entries: impl Iterator<Item = (&'a str, &'a Value)>) {
    let entries: Vec<(&str, &Value)> = entries.collect();
    let mut indices: Vec<(u32, &str, &Value)> =
        entries.iter().filter_map(|(k, v)| array_index(k).map(|i| (i, *k, *v))).collect();
    indices.sort_by_key(|(i, ..)| *i);
    let named = entries.iter().filter(|(k, _)| array_index(k).is_none()).copied();
    out.push('{');
    for (n, (key, value)) in indices.into_iter().map(|(_, k, v)| (k, v)).chain(named).enumerate() {
        if n > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

/// A key JavaScript treats as an array index: the canonical decimal form of 0 ..= 2^32 - 2.
fn array_index(key: &str) -> Option<u32> {
    let canonical = key == "0" || (!key.starts_with('0') && key.bytes().all(|b| b.is_ascii_digit()));
    if !canonical || key.is_empty() {
        return None;
    }
    key.parse::<u32>().ok().filter(|i| *i != u32::MAX)
}

fn write_string(out: &mut String, s: &str) {
    // serde_json escapes exactly what JSON.stringify escapes for strings Rust can hold
    // (quote, backslash, control characters; \b \f \n \r \t short, the rest \u00xx).
    out.push_str(&Value::String(s.to_owned()).to_string());
}

/// Largest integer a double holds exactly: beyond it JavaScript rounds.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

fn number(n: &Number) -> String {
    if let Some(u) = n.as_u64().filter(|u| *u <= MAX_SAFE_INTEGER) {
        return u.to_string();
    }
    if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER) {
        return i.to_string();
    }
    js_double(n.as_f64().unwrap_or(0.0))
}

/// `Number.prototype.toString()` of a double (ECMA-262 Number::toString, radix 10).
pub fn js_double(x: f64) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let sign = if x < 0.0 { "-" } else { "" };
    // Rust's shortest round-trip digits, as `d.ddde±x`: the digits and exponent JavaScript uses.
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i64;
    let n = exponent.parse::<i64>().unwrap_or(0) + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e_sign = if e >= 0 { "+" } else { "-" };
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() { first.to_owned() } else { format!("{first}.{rest}") };
        format!("{mantissa}e{e_sign}{}", e.abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn doubles_print_as_javascript_prints_them() {
        // Expected strings are what Node prints for String(x).
        let cases = [
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.00428, "0.00428"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e21, "1e+21"),
            (1.25e22, "1.25e+22"),
            (100.0, "100"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-0.0, "0"),
        ];
        for (x, js) in cases {
            assert_eq!(js_double(x), js, "{x:?}");
        }
    }

    #[test]
    fn integers_beyond_two_to_the_53_round_as_doubles() {
        assert_eq!(to_text(&json!(9007199254740991u64)), "9007199254740991");
        assert_eq!(to_text(&json!(12345678901234567890u64)), "12345678901234567000");
        assert_eq!(to_text(&json!(-42)), "-42");
    }

    #[test]
    fn objects_put_array_index_keys_first_as_javascript_does() {
        let value: Value = serde_json::from_str(r#"{"b":1,"10":2,"a":[1.0,"x\n\u0001é"],"2":null,"01":true}"#).unwrap();
        // serde_json sorts the other keys; JavaScript keeps that order after the indices.
        assert_eq!(to_text(&value), r#"{"2":null,"10":2,"01":true,"a":[1,"x\n\u0001é"],"b":1}"#);
        assert_eq!(object(&[("type", json!("success")), ("7", json!(7))]), r#"{"7":7,"type":"success"}"#);
    }
}
