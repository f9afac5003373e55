//! A loopback stand-in for Microsoft Entra ID as the issuer of workload identity
//! federation assertions: RSA test keys (made by `openssl` at start; no key is ever
//! committed), a JWKS endpoint at `/{tenant}/discovery/v2.0/keys` that counts its fetches,
//! key rotation, and a signer that makes `RS256` assertions shaped like Entra's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rsa::PublicKeyComponents;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// The customer's Entra tenant in the tests.
pub const ENTRA_TENANT: &str = "ce5f061f-abe6-4e40-9615-301f87bcb7f0";
/// Entra's provisioning workload identity (`sub`).
pub const SUBJECT: &str = "3c8f2a9e-51d4-4b1a-9e77-0d6c2b4f8a10";
/// The audience Entra's connectivity page shows.
pub const AUDIENCE: &str = "api://b5ba7a93-4452-4522-aeb4-a2b5da870c16";

struct Key {
    kid: String,
    pair: Arc<RsaKeyPair>,
    published: bool,
}

struct Shared {
    keys: Mutex<Vec<Key>>,
    fetches: AtomicU32,
}

/// The stand-in, serving until dropped with the test's runtime.
pub struct EntraIssuer {
    /// What `ENTRA_LOGIN_URL` is set to (`http://127.0.0.1:<port>`).
    pub login_url: String,
    shared: Arc<Shared>,
}

/// A new 2048-bit RSA key from `openssl genpkey`.
fn new_key_pair() -> RsaKeyPair {
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-outform",
            "DER",
        ])
        .output()
        .expect("openssl genpkey (Debian's openssl) makes the test keys");
    assert!(out.status.success(), "openssl genpkey failed");
    // OpenSSL 3 writes the traditional PKCS#1 form with -outform DER.
    RsaKeyPair::from_der(&out.stdout)
        .or_else(|_| RsaKeyPair::from_pkcs8(&out.stdout))
        .expect("an RSA private key")
}

fn jwk(key: &Key) -> Value {
    let public = PublicKeyComponents::<Vec<u8>>::from(key.pair.public());
    json!({
        "kty": "RSA", "use": "sig", "kid": key.kid,
        "n": URL_SAFE_NO_PAD.encode(&public.n),
        "e": URL_SAFE_NO_PAD.encode(&public.e),
        "x5t": key.kid,
    })
}

impl EntraIssuer {
    /// Starts with one published key, `k1`.
    pub async fn start() -> EntraIssuer {
        let shared = Arc::new(Shared {
            keys: Mutex::new(vec![Key {
                kid: "k1".into(),
                pair: Arc::new(new_key_pair()),
                published: true,
            }]),
            fetches: AtomicU32::new(0),
        });
        let state = Arc::clone(&shared);
        let router = axum::Router::new().route(
            "/{tenant}/discovery/v2.0/keys",
            axum::routing::get(
                move |axum::extract::Path(tenant): axum::extract::Path<String>| {
                    let state = Arc::clone(&state);
                    async move {
                        state.fetches.fetch_add(1, Ordering::SeqCst);
                        if tenant != ENTRA_TENANT {
                            return (axum::http::StatusCode::BAD_REQUEST, String::new());
                        }
                        let keys = state.keys.lock().unwrap();
                        let jwks: Vec<Value> =
                            keys.iter().filter(|k| k.published).map(jwk).collect();
                        (
                            axum::http::StatusCode::OK,
                            json!({ "keys": jwks }).to_string(),
                        )
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let login_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        EntraIssuer { login_url, shared }
    }

    /// How many times the key set was fetched.
    pub fn fetches(&self) -> u32 {
        self.shared.fetches.load(Ordering::SeqCst)
    }

    /// Adds a key; `published` puts it in the JWKS (an unpublished key signs forgeries).
    pub fn add_key(&self, kid: &str, published: bool) {
        self.shared.keys.lock().unwrap().push(Key {
            kid: kid.into(),
            pair: Arc::new(new_key_pair()),
            published,
        });
    }

    /// Takes a key out of the JWKS (Microsoft retiring it).
    pub fn unpublish(&self, kid: &str) {
        for k in self.shared.keys.lock().unwrap().iter_mut() {
            if k.kid == kid {
                k.published = false;
            }
        }
    }

    /// Signs `claims` with key `kid` (RS256) under `header_kid` (normally the same).
    pub fn sign_as(&self, kid: &str, header: &Value, claims: &Value) -> String {
        let pair = {
            let keys = self.shared.keys.lock().unwrap();
            Arc::clone(&keys.iter().find(|k| k.kid == kid).expect("known key").pair)
        };
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; pair.public().modulus_len()];
        pair.sign(
            &RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        self.sign_as(
            kid,
            &json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
            claims,
        )
    }

    /// The claims of an assertion as Entra's provisioning service presents it (Microsoft's
    /// documented example: `iat` = `nbf`, valid 65 minutes), with a fresh `uti`.
    pub fn claims(now: i64) -> Value {
        json!({
            "aud": AUDIENCE,
            "iss": format!("https://login.microsoftonline.com/{ENTRA_TENANT}/v2.0"),
            "iat": now, "nbf": now, "exp": now + 3900,
            "appid": "b5ba7a93-4452-4522-aeb4-a2b5da870c16",
            "appidacr": "2",
            "idp": format!("https://login.microsoftonline.com/{ENTRA_TENANT}/v2.0"),
            "oid": "d2f8ee76-c549-45b8-a143-f5b640669704",
            "sub": SUBJECT,
            "tid": ENTRA_TENANT,
            "uti": URL_SAFE_NO_PAD.encode(uuid_bytes()),
            "ver": "2.0",
        })
    }

    /// A valid assertion signed with `k1`, issued now.
    pub fn assertion(&self) -> String {
        self.sign("k1", &Self::claims(now()))
    }
}

fn uuid_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    b
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
