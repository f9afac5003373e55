//! PATCH tests: every example of RFC 7644 §3.5.2, every PATCH body of Microsoft's and
//! Okta's SCIM documentation, the PATCH items of `clients.md`'s recurring failures, the
//! semantics this module chooses, hostile input, and a normalisation round-trip property.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod entra;
mod hostile;
mod okta;
mod props;
mod recurring;
mod rfc;
mod semantics;

use super::*;
use crate::error::{ScimResult, ScimType};
use crate::resource::{normalize_resource, Doc};
use crate::schema::{ResourceKind, ENTERPRISE_USER_URN, PATCH_OP_URN};
use serde_json::{json, Value};

/// A `PatchOp` body around `ops`.
fn body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP_URN], "Operations": ops})
}

/// A canonical stored document, made the way the service makes one (POST normalisation).
fn stored(kind: ResourceKind, resource: Value) -> Doc {
    let mut doc = normalize_resource(kind, &resource).expect("fixture is valid");
    doc.remove("members");
    doc
}

fn run(kind: ResourceKind, resource: Value, ops: Value) -> ScimResult<PatchOutcome> {
    patch(kind, &stored(kind, resource), &body(ops))
}

fn user(resource: Value, ops: Value) -> PatchOutcome {
    run(ResourceKind::User, resource, ops).unwrap_or_else(|e| panic!("PATCH failed: {e}"))
}

fn group(resource: Value, ops: Value) -> PatchOutcome {
    run(ResourceKind::Group, resource, ops).unwrap_or_else(|e| panic!("PATCH failed: {e}"))
}

fn user_err(resource: Value, ops: Value) -> ScimType {
    match run(ResourceKind::User, resource, ops) {
        Ok(out) => panic!("expected an error, got {:?}", out.doc),
        Err(e) => e.scim_type.unwrap_or_else(|| panic!("no scimType in {e}")),
    }
}

fn group_err(resource: Value, ops: Value) -> ScimType {
    match run(ResourceKind::Group, resource, ops) {
        Ok(out) => panic!("expected an error, got {:?}", out.members),
        Err(e) => e.scim_type.unwrap_or_else(|| panic!("no scimType in {e}")),
    }
}

fn doc_json(out: &PatchOutcome) -> Value {
    Value::Object(out.doc.clone())
}

fn changed(out: &PatchOutcome) -> Vec<&str> {
    out.changed.iter().map(String::as_str).collect()
}

fn member(id: &str) -> Member {
    Member {
        value: id.to_string(),
        type_: None,
        display: None,
    }
}

fn ent(attr: &str) -> String {
    format!("{ENTERPRISE_USER_URN}:{attr}")
}

/// Barbara Jensen, from RFC 7643 §8.2, with the enterprise extension.
fn bjensen() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_URN],
        "userName": "bjensen@example.com",
        "externalId": "bjensen",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara"
        },
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "title": "Tour Guide",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "addresses": [
            {
                "type": "work",
                "streetAddress": "100 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
                "primary": true
            },
            {
                "type": "home",
                "streetAddress": "456 Hollywood Blvd",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "formatted": "456 Hollywood Blvd\nHollywood, CA 91608 USA"
            }
        ],
        "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
        ENTERPRISE_USER_URN: {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        }
    })
}

/// A user as Entra creates one (Microsoft tutorial, "Create User").
fn entra_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_URN],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": true,
        "emails": [{
            "primary": true,
            "type": "work",
            "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"
        }],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    })
}

/// A user with nothing but a userName.
fn bare_user() -> Value {
    json!({"userName": "ann"})
}

/// A group as stored: never with members.
fn a_group() -> Value {
    json!({"displayName": "Tour Guides", "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"})
}
