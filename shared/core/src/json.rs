//! The one reader of request bodies: serde_json's parser (UTF-8 checked, lone surrogates
//! and control characters in strings refused, nesting bounded at 128 levels), building a
//! [`Value`] but refusing an object that names a key twice.
//!
//! serde_json keeps the last of duplicate keys silently; here `{"userName": "a",
//! "userName": "b"}` is ambiguous, and so is `{"userName": "a", "USERNAME": "b"}` since
//! attribute names are case-insensitive (RFC 7643 §2.1): either is `400 invalidSyntax`
//! naming the key, instead of one value winning by position.

use crate::error::{ScimError, ScimResult};
use crate::path::truncate;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// Parses a request body: JSON with no key twice in one object (in any case).
pub fn parse_body(bytes: &[u8]) -> ScimResult<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    value.map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix(DUPLICATE) {
            Some(rest) => ScimError::invalid_syntax(format!(
                "The request body names the key '{}' twice in one object{}.",
                truncate(rest.split(" at line").next().unwrap_or(""), 64),
                position(&e)
            )),
            None if e.is_eof() => ScimError::invalid_syntax(format!(
                "The request body is not valid JSON: it ends too early{}.",
                position(&e)
            )),
            None => ScimError::invalid_syntax(format!(
                "The request body is not valid JSON{}.",
                position(&e)
            )),
        }
    })
}

const DUPLICATE: &str = "duplicate key: ";

fn position(e: &serde_json::Error) -> String {
    format!(" (line {}, column {})", e.line(), e.column())
}

/// A [`Value`] seed that refuses duplicate keys.
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        // Folded keys seen so far: a set, so an object of many keys costs O(n log n).
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.to_lowercase()) {
                return Err(de::Error::custom(format!("{DUPLICATE}{key}")));
            }
            let value = map.next_value_seed(Strict)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_body_parses_as_serde_json_would() {
        let text = r#"{"userName": "ann", "n": [1, -2, 3.5, true, null, {"a": {}}], "é": "ü"}"#;
        assert_eq!(
            parse_body(text.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        assert_eq!(parse_body(b"[]").unwrap(), json!([]));
    }

    #[test]
    fn a_key_twice_in_one_object_in_any_case_is_invalid_syntax() {
        for text in [
            r#"{"userName": "a", "userName": "b"}"#,
            r#"{"userName": "a", "USERNAME": "b"}"#,
            r#"{"name": {"givenName": "a", "givenname": "b"}}"#,
            r#"{"Operations": [{"op": "add", "OP": "remove"}]}"#,
        ] {
            let e = parse_body(text.as_bytes()).unwrap_err();
            assert_eq!(e.scim_type.map(|t| t.as_str()), Some("invalidSyntax"));
            assert!(e.detail.contains("twice"), "{text}: {}", e.detail);
        }
        assert!(parse_body(br#"{"a": {"x": 1}, "b": {"x": 1}}"#).is_ok());
    }

    #[test]
    fn an_object_of_many_keys_is_read_in_n_log_n() {
        // 100,000 keys (about 1 MB, the body limit): quadratic checking would take minutes.
        let keys: Vec<String> = (0..100_000).map(|i| format!("\"k{i}\": 1")).collect();
        let text = format!("{{{}}}", keys.join(","));
        let started = std::time::Instant::now();
        assert_eq!(
            parse_body(text.as_bytes())
                .unwrap()
                .as_object()
                .unwrap()
                .len(),
            100_000
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let text = format!("{{{}, \"K99999\": 2}}", keys.join(","));
        assert!(parse_body(text.as_bytes()).is_err());
    }

    #[test]
    fn hostile_bytes_are_invalid_syntax_never_a_panic() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        for bytes in [
            deep.as_bytes(),
            b"{\"a\": \"\xff\"}",
            br#"{"a": "\ud800"}"#,
            b"{\"a\": \"\x00\"}",
            b"",
            b"{\"a\": 1} x",
            b"{\"a\": 1e999}",
        ] {
            let e = parse_body(bytes).unwrap_err();
            assert_eq!(e.status, 400);
        }
    }
}
