//! Microsoft's Entra app-gallery SCIM validation, the "SCIM Validation Logic App" of
//! `AzureAD/SCIMReferenceCode` (`Microsoft.SCIM.LogicAppValidationTemplate/StandardLogicApp`),
//! reproduced request by request:
//!
//! - `SCIMTests_Workflow.json`, the direct SCIM tests: the same methods, paths, query strings
//!   and bodies (names and ids templated with fresh values, as the workflow's `guid()` does),
//!   and the same checks on the answers. The bodies come from `Initialization_Workflow.json`
//!   (`scimUserBody`, `scimGroupBody`), built from Entra's target attributes for the app.
//! - `UserTests_Workflow.json` / `GroupTests_Workflow.json`, driven through Entra's
//!   provisioning engine: the workflows change Entra through Graph and only *read* this
//!   service (`GET /Users?filter=userName%20eq%20%22…%22`, `GET /Groups?filter=displayName…`).
//!   The engine's own requests are the documented ones (capitalised ops, string booleans,
//!   path-less `Replace` with dotted keys, manager as a bare id). `entra.rs` already covers
//!   most of them request by request (create flow, update, disable with `"False"`/`"True"`,
//!   hard delete, manager set/clear, group lifecycle); the scenarios here cover only what the
//!   gallery adds: its `%20`-encoded, unescaped filters, the whole default mapping in one
//!   create and one update, the identity link across unassign/reassign, a manager changed
//!   from one user to another as seen in a list response, `Remove` of
//!   `members[value eq "…"]`, on-demand provisioning of a group with five members, and a
//!   group deleted and provisioned again.
//!
//! `Validate_Credentials_Test` and `Federated_Identity_Test` (the OAuth 2.0 token endpoint)
//! are in `oauth.rs` (`gallery_validate_credentials_test_passes`, `gallery_federated_identity_test_passes`).

use crate::harness::{ids, Resp, Server};
use futures::stream::{self, StreamExt};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use scim_core::schema::{
    ENTERPRISE_USER_URN as ENTERPRISE, GROUP_SCHEMA_URN as GROUP, USER_SCHEMA_URN as USER,
};
use scim_test_support::fixtures::{patch_op, AD_GROUP_URN as AD_GROUP};
const EMPLOYEE_NUMBER: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber";
const DEPARTMENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
const MANAGER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";

/// The workflows' `scimContentType` parameter, sent as `Accept` (and `Content-Type`).
const SCIM_JSON: &str = "application/scim+json";

/// The user targets of Entra's default attribute mapping for a SCIM app
/// (`sourceToTargetLookup` in `Initialization_Workflow.json`).
const MAPPED_USER_TARGETS: &[&str] = &[
    "userName",
    "active",
    "displayName",
    "title",
    "emails[type eq \"work\"].value",
    "preferredLanguage",
    "name.givenName",
    "name.familyName",
    "name.formatted",
    "addresses[type eq \"work\"].formatted",
    "addresses[type eq \"work\"].streetAddress",
    "addresses[type eq \"work\"].locality",
    "addresses[type eq \"work\"].region",
    "addresses[type eq \"work\"].postalCode",
    "addresses[type eq \"work\"].country",
    "phoneNumbers[type eq \"work\"].value",
    "phoneNumbers[type eq \"mobile\"].value",
    "phoneNumbers[type eq \"fax\"].value",
    "externalId",
    EMPLOYEE_NUMBER,
    DEPARTMENT,
    MANAGER,
];

/// Target attributes of the app that the tutorial's default-mapping table also lists,
/// spelled as it spells them (so the workflows' case-insensitive matching is exercised).
const MORE_TARGET_USER_ATTRS: &[&str] = &[
    "emails[type eq \"other\"].Value",
    "addresses[type eq \"other\"].Formatted",
];

/// `targetDirectoryUserAttributes`: every user attribute of the app's target directory.
fn target_user_attrs() -> impl Iterator<Item = &'static str> {
    MAPPED_USER_TARGETS
        .iter()
        .chain(MORE_TARGET_USER_ATTRS)
        .copied()
}

/// `targetDirectoryGroupAttributes` (displayName ← displayName, externalId ← objectId,
/// members ← members).
const TARGET_GROUP_ATTRS: &[&str] = &["displayName", "externalId", "members"];

// ----------------------------------------------------------------------------------------
// Values the workflows generate.

static SEQ: AtomicU64 = AtomicU64::new(0);

fn hex(len: usize) -> String {
    let mut out = String::new();
    while out.len() < len {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(len);
    out
}

/// `substring(guid(), 0, 8)`.
fn guid8() -> String {
    hex(8)
}

/// `guid()`.
fn guid() -> String {
    let h = hex(32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

// ----------------------------------------------------------------------------------------
// Requests as the workflows' HTTP actions send them.

async fn get(s: &Server, path: &str) -> Resp {
    s.send(Method::GET, path, None, &[("Accept", SCIM_JSON)])
        .await
}

async fn post(s: &Server, path: &str, body: &Value) -> Resp {
    s.send(Method::POST, path, Some(body), &[("Accept", SCIM_JSON)])
        .await
}

async fn patch(s: &Server, path: &str, body: &Value) -> Resp {
    s.send(Method::PATCH, path, Some(body), &[("Accept", SCIM_JSON)])
        .await
}

async fn delete(s: &Server, path: &str) -> Resp {
    s.send(Method::DELETE, path, None, &[("Accept", SCIM_JSON)])
        .await
}

/// `filter=<attr>%20eq%20%22<value>%22`: the workflows concatenate the value in unescaped.
fn eq_filter(attr: &str, value: &str) -> String {
    format!("filter={attr}%20eq%20%22{value}%22")
}

/// The workflows' user check: `GET /Users?filter=userName%20eq%20%22<name>%22`.
async fn gallery_users(s: &Server, user_name: &str) -> Resp {
    let r = get(s, &format!("/Users?{}", eq_filter("userName", user_name))).await;
    r.expect(200);
    r
}

/// The workflows' group check: `GET /Groups?filter=displayName%20eq%20%22<name>%22`.
async fn gallery_groups(s: &Server, display_name: &str) -> Resp {
    let r = get(
        s,
        &format!("/Groups?{}", eq_filter("displayName", display_name)),
    )
    .await;
    r.expect(200);
    r
}

fn resources(r: &Resp) -> Vec<Value> {
    r.body["Resources"].as_array().cloned().unwrap_or_default()
}

fn is_200_or_204(r: &Resp) -> bool {
    matches!(r.status.as_u16(), 200 | 204)
}

// ----------------------------------------------------------------------------------------
// Bodies and attribute reads, as the workflows build and read them.

/// Sets one target attribute the way the workflows' body builders do: `urn:…:attr` under
/// its schema URN, `parent[type eq "t"].sub` in the element of that type (the parent's
/// first element is `primary`), `a.b` as a sub-attribute, anything else at the top. Keys are
/// kept as the target spells them (`Value`, `Formatted`).
fn set_target(body: &mut Map<String, Value>, target: &str, value: Value) {
    if target.starts_with("urn:") {
        let (urn, attr) = target.rsplit_once(':').unwrap();
        let ext = body.entry(urn).or_insert_with(|| json!({}));
        ext.as_object_mut().unwrap().insert(attr.into(), value);
    } else if let Some((parent, rest)) = target.split_once('[') {
        let ty = rest.split('"').nth(1).unwrap();
        let sub = target.rsplit('.').next().unwrap();
        let list = body.entry(parent).or_insert_with(|| json!([]));
        let list = list.as_array_mut().unwrap();
        let i = match list.iter().position(|e| e["type"] == ty) {
            Some(i) => i,
            None => {
                let primary = list.is_empty();
                list.push(json!({"type": ty, "primary": primary}));
                list.len() - 1
            }
        };
        list[i].as_object_mut().unwrap().insert(sub.into(), value);
    } else if let Some((a, b)) = target.split_once('.') {
        let complex = body.entry(a).or_insert_with(|| json!({}));
        complex.as_object_mut().unwrap().insert(b.into(), value);
    } else {
        body.insert(target.into(), value);
    }
}

/// A property, by name, case-insensitively (as Logic Apps expressions read them).
fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Reads a target attribute from a resource the way the workflows' checks do
/// (`Compose_NullVerify_ActualValue`, the `actualValue` of `ForEach_SourceToTargetLookup`).
fn read_target<'a>(res: &'a Value, target: &str) -> Option<&'a Value> {
    if let Some((parent, rest)) = target.split_once("[type eq ") {
        let ty = rest.split(']').next()?.trim_matches(['"', '\'']);
        let element = get_ci(res, parent)?.as_array()?.iter().find(|e| {
            e["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(ty))
        })?;
        let sub = if target.contains("].") {
            target.rsplit('.').next()?
        } else {
            "value"
        };
        get_ci(element, sub)
    } else if target.starts_with("urn:") {
        let (urn, attr) = target.rsplit_once(':')?;
        get_ci(get_ci(res, urn)?, attr)
    } else if let Some((a, b)) = target.split_once('.') {
        get_ci(get_ci(res, a)?, b)
    } else {
        get_ci(res, target)
    }
}

/// Logic Apps' `string()` of a value; a missing one as `''` (the workflows' `coalesce`).
fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn is_null_or_empty(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null)) || v == Some(&json!(""))
}

/// `scimUserBody` (`Initialization_Workflow.json`, `Build_SCIM_User_Body`): one value per
/// target attribute (`Compose_SCIM_Source_Value`), skipping `id`, references, `externalId`,
/// `userName`, `active` and `roles`. It is built once per validation run, so every user the
/// direct tests create from it carries the same emails.
fn scim_user_body() -> Value {
    let mut body = Map::new();
    body.insert("schemas".into(), json!([USER, ENTERPRISE]));
    body.insert("userName".into(), json!("placeholder@test.com"));
    body.insert("active".into(), json!(true));
    for target in target_user_attrs() {
        if ["userName", "active", "externalId", MANAGER].contains(&target) {
            continue;
        }
        let lower = target.to_lowercase();
        let value = if target == "displayName" {
            "SCIM Test User".to_string()
        } else if lower.contains("emails[") {
            format!("lasctest{}@test.com", guid8())
        } else if lower.contains("phonenumbers[") {
            format!("+1-555-{}", &hex(4))
        } else if lower.ends_with(".country") {
            "US".into()
        } else if lower.ends_with(".postalcode") {
            hex(5)
        } else if lower.ends_with(".region") {
            "WA".into()
        } else if lower.ends_with(".locality") {
            "Redmond".into()
        } else if lower.ends_with(".streetaddress") {
            "1 Microsoft Way".into()
        } else if lower.ends_with(".formatted") {
            "Test Test".into()
        } else if lower.ends_with(".givenname") {
            "Test".into()
        } else if lower.ends_with(".familyname") {
            "User".into()
        } else if lower.ends_with("preferredlanguage") {
            "en-US".into()
        } else if lower.ends_with("title") {
            "Test Engineer".into()
        } else if lower.ends_with(":employeenumber") {
            hex(6)
        } else {
            let tail = target.rsplit(':').next().unwrap_or(target);
            let tail = tail.rsplit('.').next().unwrap_or(tail);
            format!("Test-{tail}-{}", hex(6))
        };
        set_target(&mut body, target, json!(value));
    }
    Value::Object(body)
}

/// `setProperty(setProperty(scimUserBody, 'externalId', guid()), 'userName', <name>)`.
fn scim_user(base: &Value, user_name: &str) -> Value {
    let mut body = base.clone();
    body["externalId"] = json!(guid());
    body["userName"] = json!(user_name);
    body
}

/// `scimGroupBody` with its placeholders replaced.
fn scim_group(display_name: &str) -> Value {
    json!({"schemas": [GROUP], "displayName": display_name, "externalId": guid()})
}

// ----------------------------------------------------------------------------------------
// SCIMTests_Workflow.json: the direct SCIM tests.

/// Flattens a schema's attributes as `Flatten_User_Attrs_Loop` / `Flatten_Group_Attrs_Loop`
/// do: `manager` and `members` as they are; a multi-valued complex attribute as
/// `name[type eq "<canonical>"].sub` (or `name[primary eq "True"].sub` without canonical
/// types); a single-valued complex one as `name.sub`; references left out.
fn flatten(attrs: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for a in attrs.as_array().into_iter().flatten() {
        let name = a["name"].as_str().unwrap_or_default();
        let subs = a["subAttributes"].as_array().cloned().unwrap_or_default();
        let sub_name = |s: &Value| s["name"].as_str().unwrap_or_default().to_string();
        if name == "manager" || name == "members" {
            out.push(name.to_string());
        } else if a["type"] == "complex" && a["multiValued"].as_bool().unwrap_or(false) {
            let canonical = subs
                .iter()
                .find(|s| s["name"] == "type")
                .and_then(|t| t["canonicalValues"].as_array().cloned())
                .unwrap_or_default();
            if canonical.is_empty() {
                for sub in subs.iter().filter(|s| s["name"] != "primary") {
                    out.push(format!("{name}[primary eq \"True\"].{}", sub_name(sub)));
                }
            } else {
                for cv in &canonical {
                    let cv = cv.as_str().unwrap_or_default();
                    for sub in subs
                        .iter()
                        .filter(|s| s["name"] != "type" && s["name"] != "primary")
                    {
                        out.push(format!("{name}[type eq \"{cv}\"].{}", sub_name(sub)));
                    }
                }
            }
        } else if a["type"] == "complex" {
            for sub in subs
                .iter()
                .filter(|s| s["type"] != "complex" && s["type"] != "reference")
            {
                out.push(format!("{name}.{}", sub_name(sub)));
            }
        } else if a["type"] != "reference" {
            out.push(name.to_string());
        }
    }
    out
}

/// `Schema_Discoverability_Test`: `SCIM_Get_Schemas` answers 200 with `Resources`; the
/// flattened User schema plus every extension schema (`<urn>:<name>`), and the flattened
/// Group schema, name every target attribute of the app (`Filter_Missing_User_Attrs`,
/// `Filter_Missing_Group_Attrs`: case-insensitive, `id` excepted) — `externalId` included.
#[tokio::test]
async fn schema_discoverability_lists_every_attribute_entra_targets() {
    let s = Server::start().await;
    let r = get(&s, "/Schemas").await;
    r.expect(200);
    let all = resources(&r);
    assert!(!all.is_empty(), "/Schemas returned no schemas: {}", r.text);
    let schema = |id: &str| all.iter().find(|x| x["id"] == id).cloned();
    let user = schema(USER).expect("the User schema");
    let group = schema(GROUP).expect("the Group schema (group provisioning is mandatory)");

    let mut user_names = flatten(&user["attributes"]);
    for ext in all.iter().filter(|x| x["id"] != USER && x["id"] != GROUP) {
        let urn = ext["id"].as_str().unwrap_or_default();
        for a in ext["attributes"].as_array().into_iter().flatten() {
            user_names.push(format!("{urn}:{}", a["name"].as_str().unwrap_or_default()));
        }
    }
    let group_names = flatten(&group["attributes"]);
    let missing = |names: &[String], targets: &[&str]| -> Vec<String> {
        let lookup = format!("|{}|", names.join("|")).to_lowercase();
        targets
            .iter()
            .filter(|t| **t != "id" && !lookup.contains(&format!("|{}|", t.to_lowercase())))
            .map(|t| t.to_string())
            .collect()
    };
    let missing_user = missing(&user_names, &target_user_attrs().collect::<Vec<_>>());
    let missing_group = missing(&group_names, TARGET_GROUP_ATTRS);
    assert!(
        missing_user.is_empty() && missing_group.is_empty(),
        "Missing user attrs: {missing_user:?} | Missing group attrs: {missing_group:?}"
    );
}

/// How the workflow's `isVerbosePatchSupported` shapes a PATCH: one operation per attribute,
/// or the value-filtered ones alone plus a single path-less `replace` of all the others.
#[derive(Debug, Clone, Copy)]
enum PatchFormat {
    Verbose,
    Batched,
}

fn replace_ops(format: PatchFormat, changes: &[(String, Value)]) -> Value {
    let op =
        |(path, value): &(String, Value)| json!({"op": "replace", "path": path, "value": value});
    match format {
        PatchFormat::Verbose => Value::Array(changes.iter().map(op).collect()),
        PatchFormat::Batched => {
            let mut ops: Vec<Value> = changes
                .iter()
                .filter(|(p, _)| p.contains('['))
                .map(op)
                .collect();
            let batch: Map<String, Value> = changes
                .iter()
                .filter(|(p, _)| !p.contains('['))
                .map(|(p, v)| (p.clone(), v.clone()))
                .collect();
            if !batch.is_empty() {
                ops.push(json!({"op": "replace", "value": batch}));
            }
            Value::Array(ops)
        }
    }
}

/// `SCIM_Null_Update_Test`: creates a user with every mapped attribute
/// (`SCIM_Create_Null_Test_User`), then PATCHes the optional ones (not `userName`,
/// `active`, `externalId`, `roles`, references or attributes `/Schemas` marks required) to
/// `""` (`SCIM_Patch_Null_Update`) and to `null` (`SCIM_Patch_Null_Update_Phase2`), each
/// answered 200/204; after the first every target reads `""` or nothing, after the second
/// every target without a value filter reads nothing. Both PATCH shapes.
#[tokio::test]
async fn scim_null_update_clears_optional_attributes_with_empty_string_then_null() {
    let s = Server::start().await;
    let schemas = get(&s, "/Schemas").await;
    schemas.expect(200);
    let required = |id: &str| -> Vec<String> {
        resources(&schemas)
            .iter()
            .filter(|x| x["id"] == id)
            .flat_map(|x| x["attributes"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["required"] == true)
            .filter_map(|a| a["name"].as_str().map(String::from))
            .collect()
    };
    let (core_required, enterprise_required) = (required(USER), required(ENTERPRISE));
    let targets: Vec<&str> = MAPPED_USER_TARGETS
        .iter()
        .copied()
        .filter(|t| !["userName", "active", "externalId", "roles", MANAGER].contains(t))
        .filter(|t| match t.strip_prefix("urn:") {
            Some(_) => !enterprise_required
                .iter()
                .any(|r| t.ends_with(&format!(":{r}"))),
            None => {
                let top = t.split(['[', '.']).next().unwrap_or(t);
                !core_required.iter().any(|r| r == top)
            }
        })
        .collect();
    assert!(targets.len() > 10, "{targets:?}");

    for format in [PatchFormat::Verbose, PatchFormat::Batched] {
        let mut body = Map::new();
        body.insert("schemas".into(), json!([USER, ENTERPRISE]));
        body.insert(
            "userName".into(),
            json!(format!("scnull{}@test.com", guid8())),
        );
        body.insert("active".into(), json!(true));
        body.insert("externalId".into(), json!(guid()));
        for t in &targets {
            set_target(&mut body, t, json!(format!("Test{}", hex(6))));
        }
        let created = post(&s, "/Users", &Value::Object(body)).await;
        created.expect(201);
        let id = created.id();
        assert!(!id.is_empty());
        let path = format!("/Users/{id}");
        get(&s, &path).await.expect(200);

        let cleared = |value: Value| -> Vec<(String, Value)> {
            targets
                .iter()
                .map(|t| (t.to_string(), value.clone()))
                .collect()
        };
        let r = patch(
            &s,
            &path,
            &patch_op(replace_ops(format, &cleared(json!("")))),
        )
        .await;
        assert!(
            is_200_or_204(&r),
            "{format:?} phase 1: {} {}",
            r.status,
            r.text
        );
        let after = get(&s, &path).await;
        after.expect(200);
        for t in &targets {
            let v = read_target(&after.body, t);
            assert!(is_null_or_empty(v), "{format:?} phase 1: {t} = {v:?}");
        }

        let r = patch(
            &s,
            &path,
            &patch_op(replace_ops(format, &cleared(Value::Null))),
        )
        .await;
        assert!(
            is_200_or_204(&r),
            "{format:?} phase 2: {} {}",
            r.status,
            r.text
        );
        let after = get(&s, &path).await;
        after.expect(200);
        for t in targets.iter().filter(|t| !t.contains('[')) {
            let v = read_target(&after.body, t);
            assert!(
                matches!(v, None | Some(Value::Null)),
                "{format:?} phase 2: {t} = {v:?}"
            );
        }
        delete(&s, &path).await;
    }
}

/// `SCIM_User_Create_Test`: `SCIM_Direct_Create_User` POSTs `scimUserBody` with a fresh
/// `userName` and `externalId`; 200 or 201, a non-empty `id`, and the `userName` returned
/// exactly as sent (`userNameRoundTripped`). The workflow then deletes it.
#[tokio::test]
async fn scim_user_create_round_trips_the_user_name() {
    let s = Server::start().await;
    let user_name = format!("lascuser{}@test.com", guid8());
    let r = post(&s, "/Users", &scim_user(&scim_user_body(), &user_name)).await;
    assert!(
        matches!(r.status.as_u16(), 200 | 201),
        "{} {}",
        r.status,
        r.text
    );
    assert!(!r.id().is_empty(), "{}", r.text);
    assert_eq!(r.body["userName"], user_name.as_str());
    delete(&s, &format!("/Users/{}", r.id())).await;
}

/// `SCIM_Group_Create_Test`: `SCIM_Direct_Create_Group` POSTs `scimGroupBody` with a fresh
/// `displayName` and `externalId`; 200 or 201, a non-empty `id`, and the `displayName`
/// returned exactly as sent. The workflow then deletes it.
#[tokio::test]
async fn scim_group_create_round_trips_the_display_name() {
    let s = Server::start().await;
    let name = format!("LASCDirectGroup-{}", guid8());
    let r = post(&s, "/Groups", &scim_group(&name)).await;
    assert!(
        matches!(r.status.as_u16(), 200 | 201),
        "{} {}",
        r.status,
        r.text
    );
    assert!(!r.id().is_empty(), "{}", r.text);
    assert_eq!(r.body["displayName"], name.as_str());
    delete(&s, &format!("/Groups/{}", r.id())).await;
}

/// `SCIM_User_Update_Test`: creates a user from `scimUserBody`, then
/// `SCIM_Update_Patch_User` replaces every single-valued, writable, non-reference target
/// attribute (all but `id`, `schemas`, `meta`, `active`, `groups`, `roles`) with
/// `upd-<guid>`; the PATCH and `SCIM_Update_Get_User` answer 200/204 and every value reads
/// back (`Compose_Update_Verification`: within the parent's JSON for value-filtered paths,
/// exactly otherwise). Both PATCH shapes.
#[tokio::test]
async fn scim_user_update_replaces_every_eligible_attribute() {
    let s = Server::start().await;
    let base = scim_user_body();
    let eligible: Vec<&str> = target_user_attrs()
        .filter(|t| *t != "active" && *t != MANAGER)
        .collect();
    for format in [PatchFormat::Verbose, PatchFormat::Batched] {
        let user_name = format!("lasupduser{}@test.com", guid8());
        let created = post(&s, "/Users", &scim_user(&base, &user_name)).await;
        created.expect(201);
        let path = format!("/Users/{}", created.id());
        let changes: Vec<(String, Value)> = eligible
            .iter()
            .map(|t| (t.to_string(), json!(format!("upd-{}", guid8()))))
            .collect();
        let r = patch(&s, &path, &patch_op(replace_ops(format, &changes))).await;
        assert!(is_200_or_204(&r), "{format:?}: {} {}", r.status, r.text);
        let got = get(&s, &path).await;
        assert!(is_200_or_204(&got), "{format:?}: {}", got.text);
        for (p, sent) in &changes {
            let sent = sent.as_str().unwrap_or_default();
            let matched = if let Some((parent, _)) = p.split_once('[') {
                text(get_ci(&got.body, parent)).contains(sent)
            } else {
                text(read_target(&got.body, p)) == sent
            };
            assert!(matched, "{format:?}: {p} sent {sent}, got {}", got.text);
        }
        delete(&s, &path).await;
    }
}

/// `SCIM_Group_Update_Test`: creates a group from `scimGroupBody`, then
/// `SCIM_GroupUpdate_Patch_Group` replaces its single-valued writable attributes
/// (`displayName`, `externalId`; not `members`) with `upd-<guid>`; the PATCH and
/// `SCIM_GroupUpdate_Get_Group` answer 200/204 and each attribute reads back as sent.
#[tokio::test]
async fn scim_group_update_replaces_display_name_and_external_id() {
    let s = Server::start().await;
    let created = post(
        &s,
        "/Groups",
        &scim_group(&format!("LASUpdGroup-{}", guid8())),
    )
    .await;
    created.expect(201);
    let path = format!("/Groups/{}", created.id());
    let changes: Vec<(String, Value)> = TARGET_GROUP_ATTRS
        .iter()
        .filter(|a| **a != "members")
        .map(|a| (a.to_string(), json!(format!("upd-{}", guid8()))))
        .collect();
    let r = patch(
        &s,
        &path,
        &patch_op(replace_ops(PatchFormat::Verbose, &changes)),
    )
    .await;
    assert!(is_200_or_204(&r), "{} {}", r.status, r.text);
    let got = get(&s, &path).await;
    assert!(is_200_or_204(&got), "{}", got.text);
    for (p, sent) in &changes {
        assert_eq!(get_ci(&got.body, p), Some(sent), "{p}: {}", got.text);
    }
    delete(&s, &path).await;
}

/// One page as `Append_User_Page_Result` records it.
#[derive(Debug)]
struct Page {
    status: u16,
    start_index: Value,
    expected_start_index: u64,
    ids: Vec<String>,
}

/// `Until_User_Pagination_Complete` (and its group twin): from `startIndex=1&count=5`, the
/// next page starts at `startIndex + len(Resources)` while that is within `totalResults`;
/// at most ten pages.
async fn walk_pages(s: &Server, endpoint: &str) -> Vec<Page> {
    let mut next = format!("/{endpoint}?startIndex=1&count=5");
    let mut pages: Vec<Page> = Vec::new();
    for _ in 0..20 {
        let r = get(s, &next).await;
        let found = r.body["Resources"].as_array().map_or(0, |a| a.len()) as u64;
        let total = r.body["totalResults"].as_u64().unwrap_or(0);
        let start = r.body["startIndex"].as_u64().unwrap_or(1);
        pages.push(Page {
            status: r.status.as_u16(),
            start_index: r.body.get("startIndex").cloned().unwrap_or(json!(0)),
            expected_start_index: pages.len() as u64 * 5 + 1,
            ids: ids(&r),
        });
        next = if found > 0 && start + found <= total {
            format!("/{endpoint}?startIndex={}&count=5", start + found)
        } else {
            String::new()
        };
        if pages.len() >= 10 || next.is_empty() {
            break;
        }
    }
    pages
}

/// The pagination test, for users or groups: `…_Check_Count`, then enough creates to reach
/// eleven resources, five at a time (`"concurrency": {"repetitions": 5}`); every create must
/// succeed (the `Foreach` fails otherwise); then at least two pages, each 200 with the
/// expected `startIndex`. Every created resource is listed once. Cleanup deletes them, five
/// at a time.
async fn pagination(s: &Server, endpoint: &str, body: impl Fn() -> Value) {
    let check = get(s, &format!("/{endpoint}?startIndex=1&count=5")).await;
    let to_create = 11u64.saturating_sub(check.body["totalResults"].as_u64().unwrap_or(0));
    let bodies: Vec<Value> = (0..to_create).map(|_| body()).collect();
    let path = format!("/{endpoint}");
    let created: Vec<Resp> = stream::iter(bodies.iter().map(|b| post(s, &path, b)))
        .buffer_unordered(5)
        .collect()
        .await;
    for r in &created {
        assert!(
            matches!(r.status.as_u16(), 200 | 201),
            "create: {} {}",
            r.status,
            r.text
        );
        assert!(!r.id().is_empty(), "{}", r.text);
    }
    let created_ids: BTreeSet<String> = created.iter().map(|r| r.id()).collect();
    assert_eq!(created_ids.len(), created.len(), "distinct resources");

    let pages = walk_pages(s, endpoint).await;
    assert!(pages.len() >= 2, "pages: {pages:?}");
    for p in &pages {
        assert_eq!(p.status, 200, "{p:?}");
        assert_eq!(p.start_index, json!(p.expected_start_index), "{p:?}");
    }
    let listed: Vec<String> = pages.iter().flat_map(|p| p.ids.clone()).collect();
    let listed_set: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(listed.len(), listed_set.len(), "listed twice: {pages:?}");
    assert_eq!(listed_set, created_ids, "{pages:?}");

    let _: Vec<Resp> = stream::iter(created_ids.iter().map(|id| {
        let path = format!("/{endpoint}/{id}");
        async move { delete(s, &path).await }
    }))
    .buffer_unordered(5)
    .collect()
    .await;
}

fn pagination_user(base: &Value) -> Value {
    let mut b = scim_user(base, &format!("paguser{}@test.com", guid8()));
    b["displayName"] = json!(format!("PagUser {}", guid8()));
    b
}

/// `SCIM_User_Pagination_Test`: eleven users from `scimUserBody`, created five at a time,
/// all sharing its one work email; pages of five.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scim_user_pagination_creates_users_in_parallel_sharing_one_email_and_pages_them() {
    let s = Server::start().await;
    let base = scim_user_body();
    pagination(&s, "Users", || pagination_user(&base)).await;
}

/// `SCIM_User_Pagination_Test` as it runs beside `SCIM_User_Create_Test`, whose cleanup has
/// already deleted a user carrying the same `scimUserBody` email: the parallel creates all
/// meet that deleted user's email.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scim_user_pagination_after_a_user_with_the_shared_email_was_deleted() {
    let s = Server::start().await;
    let base = scim_user_body();
    let first = post(
        &s,
        "/Users",
        &scim_user(&base, &format!("lascuser{}@test.com", guid8())),
    )
    .await;
    first.expect(201);
    delete(&s, &format!("/Users/{}", first.id()))
        .await
        .expect(204);
    pagination(&s, "Users", || pagination_user(&base)).await;
}

/// `SCIM_Group_Pagination_Test`: eleven groups from `scimGroupBody`
/// (`PagGroup <guid>`), created five at a time; pages of five.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scim_group_pagination_creates_groups_in_parallel_and_pages_them() {
    let s = Server::start().await;
    pagination(&s, "Groups", || {
        scim_group(&format!("PagGroup {}", guid8()))
    })
    .await;
}

/// The manager's id as `Compose_SCIM_Manager_Test_Summary` reads it.
fn manager_value(user: &Value) -> Option<&Value> {
    user[ENTERPRISE]
        .get("manager")
        .and_then(|m| m.get("value"))
        .or_else(|| user.get("manager").and_then(|m| m.get("value")))
}

/// `SCIM_Update_Manager_Test`: a user and a manager from `scimUserBody`;
/// `SCIM_Manager_Patch_Set_Manager` (`Add`, the manager's id as a bare string),
/// `SCIM_Manager_Patch_Change_Manager` (`replace` with a second manager's id) and
/// `SCIM_Manager_Patch_Remove_Manager` (`replace` with `""`) each answer 200/204, and the GET
/// after each shows the manager set, changed, then gone.
#[tokio::test]
async fn scim_update_manager_sets_changes_and_removes_the_manager() {
    let s = Server::start().await;
    let base = scim_user_body();
    let user = post(
        &s,
        "/Users",
        &scim_user(&base, &format!("scmgr-user-{}@test.com", guid8())),
    )
    .await;
    user.expect(201);
    let boss = post(
        &s,
        "/Users",
        &scim_user(&base, &format!("scmgr-mgr-{}@test.com", guid8())),
    )
    .await;
    boss.expect(201);
    let path = format!("/Users/{}", user.id());

    let r = patch(
        &s,
        &path,
        &patch_op(json!([{"op": "Add", "path": MANAGER, "value": boss.id()}])),
    )
    .await;
    assert!(is_200_or_204(&r), "set: {} {}", r.status, r.text);
    let got = get(&s, &path).await;
    assert_eq!(text(manager_value(&got.body)), boss.id(), "{}", got.text);

    let second = post(
        &s,
        "/Users",
        &scim_user(&base, &format!("scmgr-mgr2-{}@test.com", guid8())),
    )
    .await;
    second.expect(201);
    let r = patch(
        &s,
        &path,
        &patch_op(json!([{"op": "replace", "path": MANAGER, "value": second.id()}])),
    )
    .await;
    assert!(is_200_or_204(&r), "change: {} {}", r.status, r.text);
    let got = get(&s, &path).await;
    assert_eq!(text(manager_value(&got.body)), second.id(), "{}", got.text);

    let r = patch(
        &s,
        &path,
        &patch_op(json!([{"op": "replace", "path": MANAGER, "value": ""}])),
    )
    .await;
    assert!(is_200_or_204(&r), "remove: {} {}", r.status, r.text);
    let got = get(&s, &path).await;
    assert!(is_null_or_empty(manager_value(&got.body)), "{}", got.text);

    for id in [user.id(), boss.id(), second.id()] {
        delete(&s, &format!("/Users/{id}")).await;
    }
}

// ----------------------------------------------------------------------------------------
// UserTests_Workflow.json / GroupTests_Workflow.json: Entra's engine writes, the gallery reads.

/// A user as Entra's default mapping sends it: every mapped target with a value (`v`
/// distinguishes the values of an update from those of the create).
fn entra_user(upn: &str, nickname: &str, v: &str) -> Vec<(&'static str, Value)> {
    MAPPED_USER_TARGETS
        .iter()
        .filter(|t| **t != MANAGER)
        .map(|t| {
            let value = match *t {
                "userName" => json!(upn),
                "active" => json!(true),
                "externalId" => json!(nickname),
                "emails[type eq \"work\"].value" => json!(format!("{v}.{upn}")),
                "name.formatted" => json!(format!("{v}Given {v}Family")),
                "name.givenName" => json!(format!("{v}Given")),
                "name.familyName" => json!(format!("{v}Family")),
                other => {
                    let tail = other.rsplit([':', '.']).next().unwrap_or(other);
                    json!(format!("{v} {tail}"))
                }
            };
            (*t, value)
        })
        .collect()
}

/// Entra's create: `GET /Users?filter=userName eq "…"` (no match), then `POST /Users` with
/// the mapped attributes. Returns the new id.
async fn entra_provision_user(s: &Server, attrs: &[(&str, Value)]) -> String {
    let upn = attrs
        .iter()
        .find(|(t, _)| *t == "userName")
        .and_then(|(_, v)| v.as_str())
        .unwrap_or_default()
        .to_string();
    let lookup = s.users_where(&format!("userName eq \"{upn}\"")).await;
    assert_eq!(lookup.body["totalResults"], 0, "{}", lookup.text);
    let mut body = Map::new();
    body.insert("schemas".into(), json!([USER, ENTERPRISE]));
    body.insert("meta".into(), json!({"resourceType": "User"}));
    for (t, v) in attrs {
        set_target(&mut body, t, v.clone());
    }
    s.user_from(&Value::Object(body)).await
}

/// Entra's group create: `GET /Groups?filter=displayName eq "…"&excludedAttributes=members`
/// (no match), then `POST /Groups`. Returns the new id.
async fn entra_provision_group(s: &Server, display_name: &str, object_id: &str) -> String {
    let lookup = s
        .groups_where(&format!("displayName eq \"{display_name}\""))
        .await;
    assert_eq!(lookup.body["totalResults"], 0, "{}", lookup.text);
    let r = s
        .post(
            "/Groups",
            &json!({
                "schemas": [GROUP, AD_GROUP],
                "externalId": object_id,
                "displayName": display_name,
                "meta": {"resourceType": "Group"}
            }),
        )
        .await;
    r.expect(201);
    r.id()
}

/// `Create_User_Test` and `POD_User_Test` (on demand, the engine sends the same requests):
/// the gallery's pre-check finds nobody (`Create_User_Initial_Verify_User_Exists`), Entra
/// creates the user with the whole default mapping, and `SCIM_Query_Created_User` /
/// `POD_SCIM_Get_User` — an unescaped `userName%20eq%20%22…@…%22` filter — finds it with
/// every mapped value. `POD_User_Cleanup_SCIM_Delete` then deletes it.
#[tokio::test]
async fn create_and_on_demand_user_are_found_by_the_gallery_filter_with_every_mapped_value() {
    let s = Server::start().await;
    let upn = format!("lacreate{}@contoso.com", guid8());
    let before = gallery_users(&s, &upn).await;
    assert!(resources(&before).is_empty(), "{}", before.text);

    let attrs = entra_user(&upn, &format!("lacreate{}", guid8()), "Test");
    let id = entra_provision_user(&s, &attrs).await;

    let found = gallery_users(&s, &upn).await;
    let list = resources(&found);
    assert_eq!(ids(&found), vec![id.clone()], "{}", found.text);
    for (t, expected) in &attrs {
        assert_eq!(
            text(read_target(&list[0], t)).to_lowercase(),
            text(Some(expected)).to_lowercase(),
            "{t}: {}",
            found.text
        );
    }

    delete(&s, &format!("/Users/{id}")).await.expect(204);
    assert!(resources(&gallery_users(&s, &upn).await).is_empty());
}

/// `Update_User_Test`: after Graph changes every mapped attribute of a provisioned user
/// (its UPN to `updated-…` too), Entra PATCHes them — the value-filtered ones one `Replace`
/// each, the rest in one path-less `Replace` with dotted and schema-qualified keys — and
/// `Update_User_-_Query_User_By_Id_After_Attributes_Update` (`GET /Users/{id}`, the id the
/// old userName's filter found) shows the new userName and, for every mapping
/// (`ForEach_SourceToTargetLookup`), the new value (compared case-insensitively).
#[tokio::test]
async fn update_user_applies_the_whole_default_mapping_in_one_patch() {
    let s = Server::start().await;
    let upn = format!("laupdate{}@contoso.com", guid8());
    let nickname = format!("laupdate{}", guid8());
    let created = entra_user(&upn, &nickname, "Test");
    entra_provision_user(&s, &created).await;
    let found = gallery_users(&s, &upn).await;
    let id = ids(&found).first().cloned().expect("provisioned user");

    let new_upn = format!("updated-{upn}");
    let updated: Vec<(&str, Value)> =
        entra_user(&new_upn, &format!("updated{nickname}"), "Updated")
            .into_iter()
            .filter(|(t, _)| *t != "active")
            .collect();
    let mut ops: Vec<Value> = updated
        .iter()
        .filter(|(t, _)| t.contains('['))
        .map(|(t, v)| json!({"op": "Replace", "path": t, "value": v}))
        .collect();
    let pathless: Map<String, Value> = updated
        .iter()
        .filter(|(t, _)| !t.contains('['))
        .map(|(t, v)| (t.to_string(), v.clone()))
        .collect();
    ops.push(json!({"op": "Replace", "value": pathless}));
    s.patch(&format!("/Users/{id}"), &patch_op(Value::Array(ops)))
        .await
        .expect(200);

    let got = get(&s, &format!("/Users/{id}")).await;
    got.expect(200);
    assert_eq!(got.body["userName"], new_upn.as_str());
    let mismatched: Vec<String> = updated
        .iter()
        .filter(|(t, expected)| {
            text(read_target(&got.body, t)).to_lowercase() != text(Some(expected)).to_lowercase()
        })
        .map(|(t, _)| t.to_string())
        .collect();
    assert!(mismatched.is_empty(), "{mismatched:?}: {}", got.text);
}

/// `Restore_User_Test` (unassign, then assign again), which also passes through
/// `Disable_User_Test`'s check: after the create `RestoreUserTest_SCIM_Get_Create` finds
/// exactly one user; on unassign Entra sends `Replace active "False"` and
/// `RestoreUserTest_SCIM_Get_Deprovision` still finds the user, `active: false`; on reassign
/// Entra finds it by userName and sends `Replace active "True"`, and
/// `RestoreUserTest_SCIM_Get_Restore` finds it `active: true` under the same id
/// (`restoreIdentityLinkPreserved`).
#[tokio::test]
async fn restore_user_unassign_then_reassign_keeps_the_scim_id() {
    let s = Server::start().await;
    let upn = format!("larestore{}@contoso.com", guid8());
    assert!(resources(&gallery_users(&s, &upn).await).is_empty());
    entra_provision_user(
        &s,
        &entra_user(&upn, &format!("larestore{}", guid8()), "Test"),
    )
    .await;
    let created = gallery_users(&s, &upn).await;
    assert_eq!(created.body["totalResults"], 1, "{}", created.text);
    let original = ids(&created).first().cloned().unwrap_or_default();
    let path = format!("/Users/{original}");

    s.patch(
        &path,
        &patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
    )
    .await
    .expect(200);
    let disabled = gallery_users(&s, &upn).await;
    let list = resources(&disabled);
    assert!(!list.is_empty(), "{}", disabled.text);
    assert_eq!(list[0]["active"], json!(false), "{}", disabled.text);

    let again = s.users_where(&format!("userName eq \"{upn}\"")).await;
    assert_eq!(ids(&again), vec![original.clone()]);
    s.patch(
        &path,
        &patch_op(json!([{"op": "Replace", "path": "active", "value": "True"}])),
    )
    .await
    .expect(200);
    let restored = gallery_users(&s, &upn).await;
    assert!(
        restored.body["totalResults"].as_u64().unwrap_or(0) >= 1,
        "{}",
        restored.text
    );
    let list = resources(&restored);
    assert_eq!(list[0]["active"], json!(true), "{}", restored.text);
    assert_eq!(list[0]["id"], original.as_str(), "identity link");
}

/// `User_Update_Manager_Test`: a user and two managers provisioned; Entra sends
/// `Add` (the first manager's id, bare), `Replace` (the second's) and `Remove` of the
/// enterprise `manager`; after each, the gallery's `userName` filter
/// (`SCIM_Verify_Manager_Set` / `_Change` / `_Remove`) shows the first manager, then the
/// second, then no manager at all.
#[tokio::test]
async fn user_update_manager_set_change_and_remove_show_in_the_filtered_list() {
    let s = Server::start().await;
    let upn = format!("lamgr{}@contoso.com", guid8());
    let id =
        entra_provision_user(&s, &entra_user(&upn, &format!("lamgr{}", guid8()), "Test")).await;
    let first_upn = format!("lamgrinit{}@contoso.com", guid8());
    let first = entra_provision_user(&s, &entra_user(&first_upn, &guid8(), "Initial")).await;
    let second_upn = format!("lamgrnew{}@contoso.com", guid8());
    let second = entra_provision_user(&s, &entra_user(&second_upn, &guid8(), "New")).await;
    let path = format!("/Users/{id}");

    s.patch(
        &path,
        &patch_op(json!([{"op": "Add", "path": MANAGER, "value": first}])),
    )
    .await
    .expect(200);
    let set = gallery_users(&s, &upn).await;
    assert!(
        !resources(&set).is_empty() && set.text.contains(&first),
        "{}",
        set.text
    );

    s.patch(
        &path,
        &patch_op(json!([{"op": "Replace", "path": MANAGER, "value": second}])),
    )
    .await
    .expect(200);
    let changed = gallery_users(&s, &upn).await;
    assert!(changed.text.contains(&second), "{}", changed.text);
    assert_eq!(
        text(manager_value(&resources(&changed)[0])),
        second,
        "{}",
        changed.text
    );

    s.patch(&path, &patch_op(json!([{"op": "Remove", "path": MANAGER}])))
        .await
        .expect(200);
    let removed = gallery_users(&s, &upn).await;
    let list = resources(&removed);
    assert!(!list.is_empty(), "{}", removed.text);
    assert!(
        !removed.text.contains("manager") || is_null_or_empty(manager_value(&list[0])),
        "{}",
        removed.text
    );
}

/// `Create_Group_Test`: the gallery's pre-check (`Create_Group_Initial_Verify_Group_Exists`)
/// and `Create_Group_Query_Create_Group` filter on a display name with parentheses,
/// `LACreateGroup-(<guid>)`, sent unescaped; none before Entra creates the group, one after.
#[tokio::test]
async fn create_group_is_found_by_a_display_name_with_parentheses() {
    let s = Server::start().await;
    let name = format!("LACreateGroup-({})", guid8());
    assert!(resources(&gallery_groups(&s, &name).await).is_empty());
    let id = entra_provision_group(&s, &name, &guid()).await;
    let found = gallery_groups(&s, &name).await;
    assert_eq!(ids(&found), vec![id], "{}", found.text);
    assert_eq!(resources(&found)[0]["displayName"], name.as_str());
}

/// `Update_Group_Test` and `Delete_Group_Test`: Entra renames the group
/// (`Replace displayName` → `<name>-Modified`), and
/// `Update_Group_Query_Group_By_Id_After_Attributes_Update` finds it by the new name with
/// `-Modified` in the answer; Entra deletes it, and `Delete_Step6_Check_Group_Exists_Final`
/// finds no group by that name.
#[tokio::test]
async fn update_then_delete_group_as_the_gallery_checks_by_display_name() {
    let s = Server::start().await;
    let name = format!("LAUpdateGroup-{}", guid8());
    let id = entra_provision_group(&s, &name, &guid()).await;
    assert_eq!(ids(&gallery_groups(&s, &name).await), vec![id.clone()]);

    let modified = format!("{name}-Modified");
    s.patch(
        &format!("/Groups/{id}"),
        &patch_op(json!([{"op": "Replace", "path": "displayName", "value": modified}])),
    )
    .await
    .expect(204);
    let renamed = gallery_groups(&s, &modified).await;
    assert!(!resources(&renamed).is_empty(), "{}", renamed.text);
    assert!(renamed.text.contains("-Modified"));

    s.delete(&format!("/Groups/{id}")).await.expect(204);
    let gone = gallery_groups(&s, &modified).await;
    assert!(resources(&gone).is_empty(), "{}", gone.text);
}

/// `Group_Update_Add_Member_Test`: Entra adds a provisioned user to a provisioned group
/// (`Add members` with one value), and `Add_Step6_Query_Group_With_Members` — the gallery's
/// displayName filter, members not excluded — lists the group with that member.
#[tokio::test]
async fn add_member_shows_in_the_group_found_by_display_name() {
    let s = Server::start().await;
    let upn = format!("lamem1{}@contoso.com", guid8());
    let user = entra_provision_user(&s, &entra_user(&upn, &guid8(), "Test")).await;
    let name = format!("LAMemberGroup-{}", guid8());
    let group = entra_provision_group(&s, &name, &guid()).await;
    assert!(!resources(&gallery_users(&s, &upn).await).is_empty());

    s.patch(
        &format!("/Groups/{group}"),
        &patch_op(json!([{"op": "Add", "path": "members", "value": [{"value": user}]}])),
    )
    .await
    .expect(204);
    let found = gallery_groups(&s, &name).await;
    let list = resources(&found);
    assert!(!list.is_empty(), "{}", found.text);
    let members = list[0]["members"].as_array().cloned().unwrap_or_default();
    assert!(!members.is_empty(), "{}", found.text);
    assert!(
        Value::Array(members).to_string().contains(&user),
        "{}",
        found.text
    );
}

/// `Group_Update_Remove_Member_Test`: a member of `<group>-Remove` is seen by the gallery
/// (`Remove_Step4a_Check_Group_With_Member`), Entra removes it with a capitalised `Remove`
/// of `members[value eq "<id>"]`, and `Remove_Step6_Query_Group_After_Remove` still finds
/// the group, without the member.
#[tokio::test]
async fn remove_member_by_value_filter_leaves_the_group_without_it() {
    let s = Server::start().await;
    let upn = format!("lamem2{}@contoso.com", guid8());
    let user = entra_provision_user(&s, &entra_user(&upn, &guid8(), "Test")).await;
    let stays = entra_provision_user(
        &s,
        &entra_user(&format!("lamem3{}@contoso.com", guid8()), &guid8(), "Test"),
    )
    .await;
    let name = format!("LAMemberGroup-{}-Remove", guid8());
    let group = entra_provision_group(&s, &name, &guid()).await;
    let path = format!("/Groups/{group}");
    s.patch(
        &path,
        &patch_op(
            json!([{"op": "Add", "path": "members", "value": [{"value": user}, {"value": stays}]}]),
        ),
    )
    .await
    .expect(204);
    let with = gallery_groups(&s, &name).await;
    assert!(with.text.contains(&user), "{}", with.text);

    s.patch(
        &path,
        &patch_op(json!([{"op": "Remove", "path": format!("members[value eq \"{user}\"]")}])),
    )
    .await
    .expect(204);
    let after = gallery_groups(&s, &name).await;
    let list = resources(&after);
    assert_eq!(ids(&after), vec![group], "{}", after.text);
    let members: Vec<&str> = list[0]["members"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["value"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(members, vec![stays.as_str()], "{}", after.text);
}

/// `POD_Group_Test`: on-demand provisioning of a group with five members (the most on-demand
/// provisioning takes): Entra provisions the five users, looks the group up (members
/// excluded), creates it and adds all five in one `Add`; `POD_SCIM_Get_Group` finds the group
/// by displayName with its five members. `POD_Group_Cleanup_SCIM_Delete` deletes it.
#[tokio::test]
async fn provision_on_demand_of_a_group_with_five_members() {
    let s = Server::start().await;
    let mut members = Vec::new();
    for _ in 0..5 {
        let upn = format!("lapod{}@contoso.com", guid8());
        members.push(entra_provision_user(&s, &entra_user(&upn, &guid8(), "Test")).await);
    }
    let name = format!("PODTestGroup_{}", guid8());
    let group = entra_provision_group(&s, &name, &guid()).await;
    let values: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    s.patch(
        &format!("/Groups/{group}"),
        &patch_op(json!([{"op": "Add", "path": "members", "value": values}])),
    )
    .await
    .expect(204);

    let found = gallery_groups(&s, &name).await;
    assert_eq!(ids(&found), vec![group.clone()], "{}", found.text);
    let mut listed: Vec<String> = resources(&found)[0]["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["value"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    listed.sort();
    members.sort();
    assert_eq!(listed, members, "{}", found.text);

    delete(&s, &format!("/Groups/{group}")).await.expect(204);
    assert!(resources(&gallery_groups(&s, &name).await).is_empty());
}

/// `Restore_Group_Test`: Entra provisions a group (`RestoreGroupTest_SCIM_Check_Created`
/// finds it), deletes it on unassign (`RestoreGroupTest_SCIM_Check_Gone` finds none), and
/// creates it again, same displayName and externalId, on reassign
/// (`RestoreGroupTest_SCIM_Check_Restored` finds it).
#[tokio::test]
async fn restore_group_deleted_on_unassign_is_provisioned_again_on_reassign() {
    let s = Server::start().await;
    let name = format!("RestoreGrp-{}", guid8());
    let object_id = guid();
    let first = entra_provision_group(&s, &name, &object_id).await;
    assert_eq!(ids(&gallery_groups(&s, &name).await), vec![first.clone()]);

    s.delete(&format!("/Groups/{first}")).await.expect(204);
    assert!(resources(&gallery_groups(&s, &name).await).is_empty());

    let again = entra_provision_group(&s, &name, &object_id).await;
    let found = gallery_groups(&s, &name).await;
    assert_eq!(ids(&found), vec![again], "{}", found.text);
    assert_eq!(resources(&found)[0]["externalId"], object_id.as_str());
}
