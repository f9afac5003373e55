//! The change-event contract: what every consumer of the tenant's event bus can rely on.
//!
//! Every write puts one audit record in its own transaction (see `port::Audit`); the
//! publisher turns each new audit record into one EventBridge event:
//!
//! - `Source`: [`EVENT_SOURCE`]
//! - `DetailType`: the event name, one of [`EVENT_NAMES`]
//! - `Detail`: [`ChangeEvent`] as JSON (camelCase). Never a token or a password.

use serde_json::{json, Value};

pub const EVENT_SOURCE: &str = "scim.provisioning";

/// Every event name the service emits.
pub const EVENT_NAMES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "user.deleted",
    "user.restored",
    "user.expired",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.members.added",
    "group.members.removed",
    "group.members.changed",
];

/// The detail of a change event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    pub event: String,
    pub tenant: String,
    /// `User` or `Group`.
    pub resource_type: String,
    pub id: String,
    pub external_id: Option<String>,
    /// Canonical names of the attributes that changed.
    pub changed_attributes: Vec<String>,
    pub members_added: Vec<String>,
    pub members_removed: Vec<String>,
    pub request_id: String,
    /// The non-secret id of the token (or the job name) that made the change.
    pub actor: String,
    /// When the change was written (RFC 3339, UTC).
    pub at: String,
}

impl ChangeEvent {
    pub fn detail(&self) -> Value {
        json!({
            "event": self.event,
            "tenant": self.tenant,
            "resourceType": self.resource_type,
            "id": self.id,
            "externalId": self.external_id,
            "changedAttributes": self.changed_attributes,
            "membersAdded": self.members_added,
            "membersRemoved": self.members_removed,
            "requestId": self.request_id,
            "actor": self.actor,
            "at": self.at,
        })
    }
}

/// RFC 9967 Security Event Tokens: every change event is also published as a signed SET
/// (`DetailType` [`set::DETAIL_TYPE`], `Detail` `{"set": "<JWS>", "jti", "txn"}`).
pub mod set {
    use super::ChangeEvent;
    use crate::oauth::keys::SigningKey;
    use serde_json::{json, Map, Value};
    use sha2::{Digest, Sha256};

    /// The EventBridge `DetailType` of a SET entry, beside the change events'.
    pub const DETAIL_TYPE: &str = "scim.security-event";
    /// The JWS `typ` of a SET (RFC 8417 §2.3).
    pub const TYP: &str = "secevent+jwt";

    pub const CREATE_NOTICE: &str = "urn:ietf:params:scim:event:prov:create:notice";
    pub const PATCH_NOTICE: &str = "urn:ietf:params:scim:event:prov:patch:notice";
    pub const DELETE: &str = "urn:ietf:params:scim:event:prov:delete";
    pub const ACTIVATE: &str = "urn:ietf:params:scim:event:prov:activate";
    pub const DEACTIVATE: &str = "urn:ietf:params:scim:event:prov:deactivate";
    /// The completion of an asynchronous request (RFC 9967 §2.5.1.3; `crate::jobs`).
    pub const ASYNC_RESPONSE: &str = "urn:ietf:params:scim:event:misc:asyncresp";

    /// Every event URI this service publishes (ServiceProviderConfig's
    /// `securityEvents.eventUris`).
    pub const EVENT_URIS: &[&str] = &[
        CREATE_NOTICE,
        PATCH_NOTICE,
        DELETE,
        ACTIVATE,
        DEACTIVATE,
        ASYNC_RESPONSE,
    ];

    /// The event URIs (with their payloads) of a change event. Changes are published in
    /// "notice" mode: the attributes that changed, never their values (no personal data in
    /// a SET). An update is `prov:patch:notice` whether the client sent PUT or PATCH: the
    /// audit record keeps what changed, not the method. A change of `active` adds
    /// `prov:activate` / `prov:deactivate` to the same SET (one transaction, RFC 9967 §2.1).
    pub fn events(e: &ChangeEvent) -> Map<String, Value> {
        let attributes = || json!({"attributes": e.changed_attributes});
        let mut out = Map::new();
        match e.event.as_str() {
            "user.created" | "group.created" | "user.restored" => {
                out.insert(CREATE_NOTICE.into(), attributes());
            }
            "user.deleted" | "group.deleted" => {
                out.insert(DELETE.into(), json!({}));
            }
            "user.deactivated" | "user.expired" => {
                out.insert(PATCH_NOTICE.into(), attributes());
                out.insert(DEACTIVATE.into(), json!({}));
            }
            "user.reactivated" => {
                out.insert(PATCH_NOTICE.into(), attributes());
                out.insert(ACTIVATE.into(), json!({}));
            }
            _ => {
                let mut changed = e.changed_attributes.clone();
                if (!e.members_added.is_empty() || !e.members_removed.is_empty())
                    && !changed.iter().any(|c| c == "members")
                {
                    changed.push("members".into());
                }
                out.insert(PATCH_NOTICE.into(), json!({"attributes": changed}));
            }
        }
        out
    }

    /// The transaction id of a change: the same for every SET about it (re-sent or sent to
    /// several receivers).
    pub fn txn(e: &ChangeEvent) -> String {
        of_change("txn", e)
    }

    /// The token id: derived from the change, so a SET published again after a retry or a
    /// redelivery has the same `jti` and a receiver can drop the repeat.
    pub fn jti(e: &ChangeEvent) -> String {
        of_change("jti", e)
    }

    /// The token id of an asynchronous request's completion: derived from the tenant and
    /// the completion's `txn`, so a completion published again has the same `jti`.
    pub fn async_jti(tenant: &str, txn: &str) -> String {
        digest(&["asyncresp", tenant, txn])
    }

    /// A digest of what identifies the change, under `purpose`.
    fn of_change(purpose: &str, e: &ChangeEvent) -> String {
        digest(&[
            purpose,
            &e.tenant,
            &e.request_id,
            &e.resource_type,
            &e.id,
            &e.event,
            &e.at,
        ])
    }

    fn digest(parts: &[&str]) -> String {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p.as_bytes());
        }
        h.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The SET's claims (RFC 9967 §2): `iss` the Tenant URL, `aud` the configured audience,
    /// `sub_id` in the `scim` format (the resource's relative URI, id and externalId).
    pub fn claims(e: &ChangeEvent, issuer: &str, audience: &str) -> Value {
        let endpoint = if e.resource_type == "Group" {
            "Groups"
        } else {
            "Users"
        };
        let mut sub_id = json!({
            "format": "scim",
            "uri": format!("/{endpoint}/{}", e.id),
            "id": e.id,
        });
        if let (Some(x), Some(obj)) = (&e.external_id, sub_id.as_object_mut()) {
            obj.insert("externalId".into(), json!(x));
        }
        let iat =
            time::OffsetDateTime::parse(&e.at, &time::format_description::well_known::Rfc3339)
                .map(|t| t.unix_timestamp())
                .unwrap_or_default();
        json!({
            "iss": issuer,
            "aud": audience,
            "iat": iat,
            "jti": jti(e),
            "txn": txn(e),
            "sub_id": sub_id,
            "events": events(e),
        })
    }

    /// The signed SET (JWS compact, `HS256` with the stack's SET signing key).
    pub fn sign(e: &ChangeEvent, issuer: &str, audience: &str, key: &SigningKey) -> String {
        key.sign(TYP, &claims(e, issuer, audience))
    }

    /// The EventBridge detail of a SET entry.
    pub fn detail(e: &ChangeEvent, token: &str) -> Value {
        json!({"set": token, "jti": jti(e), "txn": txn(e)})
    }

    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    mod tests {
        use super::*;
        use crate::oauth::jwt::Jws;

        fn event(name: &str) -> ChangeEvent {
            ChangeEvent {
                event: name.into(),
                tenant: "t1".into(),
                resource_type: "User".into(),
                id: "u1".into(),
                external_id: Some("ext-1".into()),
                changed_attributes: vec!["active".into()],
                members_added: vec![],
                members_removed: vec![],
                request_id: "req-1".into(),
                actor: "abcd".into(),
                at: "2026-12-06T10:00:00Z".into(),
            }
        }

        #[test]
        fn each_change_event_has_its_rfc_9967_event_uris() {
            let uris = |name: &str| events(&event(name)).keys().cloned().collect::<Vec<_>>();
            assert_eq!(uris("user.created"), vec![CREATE_NOTICE]);
            assert_eq!(uris("user.deleted"), vec![DELETE]);
            assert_eq!(uris("user.deactivated"), vec![DEACTIVATE, PATCH_NOTICE]);
            assert_eq!(uris("user.expired"), vec![DEACTIVATE, PATCH_NOTICE]);
            assert_eq!(uris("user.reactivated"), vec![ACTIVATE, PATCH_NOTICE]);
            assert_eq!(uris("user.updated"), vec![PATCH_NOTICE]);
            let mut g = event("group.members.added");
            g.resource_type = "Group".into();
            g.changed_attributes = vec![];
            g.members_added = vec!["u9".into()];
            assert_eq!(events(&g)[PATCH_NOTICE], json!({"attributes": ["members"]}));
            assert_eq!(claims(&g, "i", "a")["sub_id"]["uri"], "/Groups/u1");
            for name in super::super::EVENT_NAMES {
                let uris = uris(name);
                assert!(
                    !uris.is_empty() && uris.iter().all(|u| EVENT_URIS.contains(&u.as_str())),
                    "{name}"
                );
            }
        }

        #[test]
        fn a_set_is_signed_and_its_ids_are_stable_per_change() {
            let key = SigningKey::new(&"k".repeat(64)).unwrap();
            let e = event("user.deactivated");
            let token = sign(&e, "https://x/scim/v2", "urn:aud", &key);
            let jws = Jws::parse(&token).unwrap();
            jws.verify_hs256("k".repeat(64).as_bytes()).unwrap();
            assert!(jws.verify_hs256("x".repeat(64).as_bytes()).is_err());
            assert_eq!(jws.claim_str("iss"), Some("https://x/scim/v2"));
            assert_eq!(jws.claim_str("aud"), Some("urn:aud"));
            assert_eq!(jws.claim_time("iat"), Some(1_796_551_200));
            assert_eq!(jws.claim_str("jti"), Some(jti(&e).as_str()));
            assert_eq!(sign(&e, "https://x/scim/v2", "urn:aud", &key), token);
            let mut other = e.clone();
            other.request_id = "req-2".into();
            assert_ne!(jti(&other), jti(&e));
            assert_ne!(txn(&e), jti(&e));
            assert_eq!(
                claims(&e, "i", "a")["sub_id"],
                json!({"format": "scim", "uri": "/Users/u1", "id": "u1", "externalId": "ext-1"})
            );
        }
    }
}
