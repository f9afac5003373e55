//! Filter tests: table-driven parse/print, evaluation and planning cases, then property and
//! hostile-input tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod eval;
mod parse;
mod plan;
mod props;

use super::{parse, CompValue, CompareOp, Filter, KNOWN_URNS};
use crate::path::AttrPath;
use serde_json::{json, Map, Value};

pub(super) const ENT: &str = crate::schema::ENTERPRISE_USER_URN;

pub(super) fn p(text: &str) -> Filter {
    parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

pub(super) fn path(text: &str) -> AttrPath {
    AttrPath::parse(text, KNOWN_URNS).unwrap()
}

pub(super) fn cmp(attr: &str, op: CompareOp, value: CompValue) -> Filter {
    Filter::Compare {
        path: path(attr),
        op,
        value,
    }
}

pub(super) fn eq(attr: &str, value: &str) -> Filter {
    cmp(attr, CompareOp::Eq, s(value))
}

pub(super) fn s(value: &str) -> CompValue {
    CompValue::String(value.to_string())
}

pub(super) fn n(value: i64) -> CompValue {
    CompValue::Number(value.into())
}

pub(super) fn pr(attr: &str) -> Filter {
    Filter::Present(path(attr))
}

pub(super) fn and(l: Filter, r: Filter) -> Filter {
    Filter::And(Box::new(l), Box::new(r))
}

pub(super) fn or(l: Filter, r: Filter) -> Filter {
    Filter::Or(Box::new(l), Box::new(r))
}

pub(super) fn not(f: Filter) -> Filter {
    Filter::Not(Box::new(f))
}

pub(super) fn vp(attr: &str, f: Filter) -> Filter {
    Filter::ValuePath {
        path: path(attr),
        filter: Box::new(f),
    }
}

pub(super) fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

/// RFC 7643 §8.2's full user, with the enterprise extension, in canonical form.
pub(super) fn full_user() -> Map<String, Value> {
    object(json!({
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III"
        },
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "profileUrl": "https://login.example.com/bjensen",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "addresses": [{
            "type": "work",
            "streetAddress": "100 Universal City Plaza",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "USA",
            "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
            "primary": true
        }],
        "phoneNumbers": [
            {"value": "555-555-5555", "type": "work"},
            {"value": "555-555-4444", "type": "mobile"}
        ],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "photos": [{"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}],
        "userType": "Employee",
        "title": "Tour Guide",
        "preferredLanguage": "",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": true,
        "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
        "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
        ENT: {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
            "manager": {
                "value": "26118915-6090-4610-87e4-49d8ca9f808d",
                "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d",
                "displayName": "John Smith"
            }
        },
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"a330bc54f0671c9\"",
            "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
        }
    }))
}

pub(super) fn group() -> Map<String, Value> {
    object(json!({
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "externalId": "Group1-ext",
        "displayName": "Group1",
        "meta": {"resourceType": "Group", "created": "2024-01-01T00:00:00Z"}
    }))
}
