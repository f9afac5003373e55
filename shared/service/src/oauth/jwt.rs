//! The JWS compact serialisation (RFC 7515) for exactly two algorithms: `HS256` for the
//! access tokens this service issues, `RS256` for the client assertions Microsoft Entra ID
//! signs. Nothing else is accepted — `alg: none` and every other algorithm are refused by
//! the callers, which name the one algorithm they expect.
//!
//! The signature checks are ring's: `hmac::verify` compares in constant time, and RSA
//! verification uses PKCS#1 v1.5 with SHA-256 over 2048–8192-bit moduli.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// The longest compact JWS parsed (an Entra assertion is ~1.5 KB).
pub const MAX_JWT_BYTES: usize = 8 * 1024;

/// Why a compact JWS could not be read or verified. Never carries the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of JSON objects, or too long.
    Malformed,
    /// The header names another algorithm than the one expected.
    Algorithm,
    /// The signature does not verify with the key.
    Signature,
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug)]
pub struct Jws<'a> {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

fn object(part: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed),
    }
}

impl<'a> Jws<'a> {
    pub fn parse(token: &'a str) -> Result<Jws<'a>, JwtError> {
        if token.len() > MAX_JWT_BYTES {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
        Ok(Jws {
            header: object(h)?,
            claims: object(c)?,
            signing_input: &token[..h.len() + 1 + c.len()],
            signature,
        })
    }

    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    pub fn kid(&self) -> Option<&str> {
        self.header
            .get("kid")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
    }

    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A NumericDate claim (seconds since the epoch; fractions are truncated).
    pub fn claim_time(&self, name: &str) -> Option<i64> {
        let v = self.claims.get(name)?;
        v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
    }

    /// The raw signature (used to name an assertion that carries no `jti`).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Checks an `HS256` signature with `key` (constant time).
    pub fn verify_hs256(&self, key: &[u8]) -> Result<(), JwtError> {
        if self.alg() != Some("HS256") {
            return Err(JwtError::Algorithm);
        }
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
        ring::hmac::verify(&key, self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| JwtError::Signature)
    }

    /// Checks an `RS256` signature with the RSA public key (`n`, `e`: big-endian bytes).
    pub fn verify_rs256(&self, n: &[u8], e: &[u8]) -> Result<(), JwtError> {
        if self.alg() != Some("RS256") {
            return Err(JwtError::Algorithm);
        }
        let key = ring::signature::RsaPublicKeyComponents { n, e };
        key.verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            self.signing_input.as_bytes(),
            &self.signature,
        )
        .map_err(|_| JwtError::Signature)
    }
}

/// Signs `claims` with `HS256` under `kid`.
pub fn sign_hs256(kid: &str, typ: &str, claims: &Value, key: &[u8]) -> String {
    let header = serde_json::json!({"alg": "HS256", "typ": typ, "kid": kid});
    let mut out = String::with_capacity(512);
    out.push_str(&URL_SAFE_NO_PAD.encode(header.to_string()));
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&key, out.as_bytes());
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(tag.as_ref()));
    out
}

/// Decodes a base64url JWK member (`n`, `e`).
pub fn b64url(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hs256_round_trip_and_tampering() {
        let t = sign_hs256(
            "k1",
            "at+jwt",
            &serde_json::json!({"sub": "c1"}),
            b"secret-key",
        );
        let jws = Jws::parse(&t).unwrap();
        assert_eq!(jws.kid(), Some("k1"));
        assert_eq!(jws.claim_str("sub"), Some("c1"));
        assert_eq!(jws.verify_hs256(b"secret-key"), Ok(()));
        assert_eq!(jws.verify_hs256(b"other-key"), Err(JwtError::Signature));
        assert_eq!(jws.verify_rs256(b"n", b"e"), Err(JwtError::Algorithm));

        // Claims changed after signing.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(r#"{"sub":"c2"}"#);
        parts[1] = &forged;
        let forged = parts.join(".");
        assert_eq!(
            Jws::parse(&forged).unwrap().verify_hs256(b"secret-key"),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn alg_none_and_malformed_tokens_are_refused() {
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#)
        );
        let jws = Jws::parse(&none).unwrap();
        assert_eq!(jws.verify_hs256(b"k"), Err(JwtError::Algorithm));
        assert_eq!(jws.verify_rs256(b"n", b"e"), Err(JwtError::Algorithm));
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.",
            "e30.W10.",
            &"a".repeat(9000),
        ] {
            assert_eq!(
                Jws::parse(bad).unwrap_err(),
                JwtError::Malformed,
                "{bad:.20}"
            );
        }
    }
}
