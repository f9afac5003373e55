//! Contact lifecycle: removed or deactivated people coming back get their record back;
//! deleted users are hidden tombstones; end dates deactivate; passwords are only hashes;
//! every write leaves an audit record.

use crate::harness::{q, Server, TENANT};
use aws_sdk_dynamodb::types::AttributeValue;
use scim_core::schema::CONTACT_USER_URN as CONTACT;
use scim_service::port::Store;
use serde_json::json;

async fn find(s: &Server, filter: &str) -> serde_json::Value {
    let r = s.get(&format!("/Users?filter={}", q(filter))).await;
    r.expect(200);
    r.body
}

#[tokio::test]
async fn re_adding_a_deactivated_user_restores_the_same_record() {
    let s = Server::start().await;
    let r = s
        .post(
            "/Users",
            &json!({"userName": "guest@fabrikam.com", "displayName": "Old Name",
        "title": "Consultant"}),
        )
        .await;
    let id = r.id();
    s.patch(
        &format!("/Users/{id}"),
        &json!({"Operations": [{"op": "replace", "value": {"active": false}}]}),
    )
    .await
    .expect(200);
    let again = s
        .post(
            "/Users",
            &json!({"userName": "Guest@Fabrikam.com", "displayName": "New Name"}),
        )
        .await;
    again.expect(201);
    assert_eq!(again.id(), id, "same record, not a stranger");
    assert_eq!(again.body["active"], true);
    assert_eq!(again.body["displayName"], "New Name");
    assert!(
        again.body.get("title").is_none(),
        "attributes are replaced by the POST body"
    );
    assert_eq!(again.body["meta"]["version"], "W/\"3\"");
}

#[tokio::test]
async fn re_adding_an_active_user_name_is_still_409_uniqueness() {
    let s = Server::start().await;
    s.user("active@contoso.com").await;
    let r = s
        .post("/Users", &json!({"userName": "ACTIVE@contoso.com"}))
        .await;
    r.expect(409);
    assert_eq!(r.scim_type(), "uniqueness");
}

#[tokio::test]
async fn a_deleted_user_is_hidden_everywhere_and_restored_by_external_id_with_its_groups() {
    let s = Server::start().await;
    let oid = "7f3a2b1c-0000-4000-8000-000000000001";
    let r = s.post("/Users", &json!({"userName": "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com",
        "externalId": oid, "emails": [{"value": "ann@fabrikam.com", "type": "work", "primary": true}]})).await;
    r.expect(201);
    let id = r.id();
    let g = s.group("Guests").await;
    s.patch(
        &format!("/Groups/{g}"),
        &json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}),
    )
    .await;
    s.delete(&format!("/Users/{id}")).await.expect(204);
    // Hidden: GET 404, not in lists or filters, not a member.
    s.get(&format!("/Users/{id}")).await.expect(404);
    assert_eq!(
        find(&s, &format!("externalId eq \"{oid}\"")).await["totalResults"],
        0
    );
    assert_eq!(s.get("/Users").await.body["totalResults"], 0);
    assert!(s.member_ids(&g).await.is_empty());
    // Entra re-adds the guest (same object id, a new UPN): the old record comes back.
    let back = s
        .post(
            "/Users",
            &json!({"userName": "ann@fabrikam.com", "externalId": oid}),
        )
        .await;
    back.expect(201);
    assert_eq!(back.id(), id);
    assert_eq!(back.body["active"], true);
    assert_eq!(
        s.member_ids(&g).await,
        vec![id.clone()],
        "memberships of groups that still exist come back"
    );
    assert_eq!(
        find(&s, "userName eq \"ann@fabrikam.com\"").await["totalResults"],
        1
    );
    assert_eq!(
        find(
            &s,
            "userName eq \"ann_fabrikam.com#EXT#@contoso.onmicrosoft.com\""
        )
        .await["totalResults"],
        0
    );
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
}

#[tokio::test]
async fn a_removed_guest_who_comes_back_is_recognised_by_primary_email() {
    let s = Server::start().await;
    let r = s
        .post(
            "/Users",
            &json!({"userName": "bob_partner.com#EXT#@contoso.onmicrosoft.com",
        "externalId": "11111111-1111-4111-8111-111111111111",
        "emails": [{"value": "Bob@Partner.com", "primary": true}]}),
        )
        .await;
    let id = r.id();
    s.delete(&format!("/Users/{id}")).await.expect(204);
    // Invited again: a new object id and UPN, the same email.
    let back = s
        .post(
            "/Users",
            &json!({"userName": "bob_partner.com#EXT#1@contoso.onmicrosoft.com",
        "externalId": "22222222-2222-4222-8222-222222222222",
        "emails": [{"value": "bob@partner.com", "primary": true}]}),
        )
        .await;
    back.expect(201);
    assert_eq!(back.id(), id);
    assert_eq!(
        back.body["externalId"],
        "22222222-2222-4222-8222-222222222222"
    );
    assert_eq!(
        find(&s, "externalId eq \"11111111-1111-4111-8111-111111111111\"").await["totalResults"],
        0
    );
}

#[tokio::test]
async fn a_shared_email_of_an_active_user_is_not_a_match() {
    let s = Server::start().await;
    let a = s.post("/Users", &json!({"userName": "a@contoso.com", "emails": [{"value": "team@contoso.com", "primary": true}]})).await;
    let a = a.id();
    // Deactivate then reactivate: the marker outlives its reason and must not bite.
    let path = format!("/Users/{a}");
    s.patch(
        &path,
        &json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
    )
    .await
    .expect(200);
    s.patch(
        &path,
        &json!({"Operations": [{"op": "replace", "path": "active", "value": true}]}),
    )
    .await
    .expect(200);
    let b = s.post("/Users", &json!({"userName": "b@contoso.com", "emails": [{"value": "team@contoso.com", "primary": true}]})).await;
    b.expect(201);
    assert_ne!(b.id(), a);
    assert_eq!(s.get("/Users").await.body["totalResults"], 2);
}

#[tokio::test]
async fn a_passed_end_date_reads_as_inactive_before_any_sweep() {
    let s = Server::start().await;
    let past = s
        .post(
            "/Users",
            &json!({"userName": "ended@contoso.com", "active": true,
        CONTACT: {"endDate": "2020-01-01T00:00:00Z"}}),
        )
        .await;
    past.expect(201);
    assert_eq!(past.body["active"], false);
    let future = s
        .post(
            "/Users",
            &json!({"userName": "later@contoso.com", "active": true,
        CONTACT: {"endDate": "2999-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(future.body["active"], true);
    let r = s.get(&format!("/Users/{}", past.id())).await;
    assert_eq!(r.body["active"], false);
    let active = find(&s, "active eq true").await;
    assert_eq!(active["totalResults"], 1);
    assert_eq!(active["Resources"][0]["userName"], "later@contoso.com");
    // Clearing the end date cancels the expiry.
    let cleared = s
        .patch(
            &format!("/Users/{}", past.id()),
            &json!({"Operations": [
        {"op": "remove", "path": format!("{CONTACT}:endDate")}]}),
        )
        .await;
    cleared.expect(200);
    assert_eq!(cleared.body["active"], true);
}

#[tokio::test]
async fn a_password_is_stored_only_as_an_argon2id_hash_and_never_returned() {
    let s = Server::start().await;
    let r = s
        .post(
            "/Users",
            &json!({"userName": "okta@contoso.com", "password": "Tr0ub4dor&3"}),
        )
        .await;
    r.expect(201);
    assert!(!r.text.contains("Tr0ub4dor"));
    assert!(r.body.get("password").is_none());
    let id = r.id();
    let stored = s
        .store
        .get(TENANT, scim_core::schema::ResourceKind::User, &id)
        .await
        .unwrap()
        .unwrap();
    let hash = stored.password_hash.expect("hash kept");
    assert!(hash.starts_with("$argon2id$"));
    assert!(scim_service::password::verify(&hash, "Tr0ub4dor&3"));
    assert!(!stored.doc.contains_key("password"));
    // Okta's Sync Password: a PATCH replaces the hash.
    let p = s.patch(&format!("/Users/{id}"), &json!({"Operations": [{"op": "replace", "path": "password", "value": "correct horse"}]})).await;
    p.expect(200);
    assert!(p.body.get("password").is_none());
    let stored = s
        .store
        .get(TENANT, scim_core::schema::ResourceKind::User, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(scim_service::password::verify(
        stored.password_hash.as_deref().unwrap(),
        "correct horse"
    ));
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["changePassword"]["supported"], true);
}

#[tokio::test]
async fn renaming_a_user_moves_uniqueness_with_the_name() {
    let s = Server::start().await;
    let a = s.user("first@contoso.com").await;
    s.user("taken@contoso.com").await;
    let path = format!("/Users/{a}");
    let r = s.patch(&path, &json!({"Operations": [{"op": "replace", "path": "userName", "value": "TAKEN@contoso.com"}]})).await;
    r.expect(409);
    assert_eq!(r.scim_type(), "uniqueness");
    s.patch(&path, &json!({"Operations": [{"op": "replace", "path": "userName", "value": "renamed@contoso.com"}]})).await.expect(200);
    assert_eq!(
        find(&s, "userName eq \"first@contoso.com\"").await["totalResults"],
        0
    );
    assert_eq!(
        find(&s, "userName eq \"renamed@contoso.com\"").await["totalResults"],
        1
    );
    // The old name is free again.
    s.user("first@contoso.com").await;
}

#[tokio::test]
async fn every_write_leaves_an_audit_record_with_the_token_id_and_no_secret() {
    let s = Server::start().await;
    let r = s
        .post(
            "/Users",
            &json!({"userName": "audited@contoso.com", "password": "s3cret-pass"}),
        )
        .await;
    let id = r.id();
    let path = format!("/Users/{id}");
    s.patch(
        &path,
        &json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
    )
    .await;
    s.delete(&path).await.expect(204);
    let out = s
        .store
        .client()
        .query()
        .table_name(s.store.table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("{TENANT}#A#{id}")))
        .send()
        .await
        .unwrap();
    let items = out.items.unwrap_or_default();
    let events: Vec<String> = items
        .iter()
        .map(|i| i["event"].as_s().unwrap().clone())
        .collect();
    assert_eq!(events, ["user.created", "user.deactivated", "user.deleted"]);
    let token_id = scim_service::auth::token_id(&s.token);
    for i in &items {
        assert_eq!(i["token"].as_s().unwrap(), &token_id);
        let text = format!("{i:?}");
        assert!(
            !text.contains(&s.token) && !text.contains("s3cret-pass"),
            "{text}"
        );
    }
}

mod sign_in {
    use super::*;
    use scim_service::signin::{lookup, SignInClaims, SignInStatus};

    const NOW: time::OffsetDateTime = time::macros::datetime!(2026-11-22 08:00 UTC);

    fn claims(oid: Option<&str>, upn: Option<&str>, email: Option<&str>) -> SignInClaims {
        SignInClaims {
            oid: oid.map(String::from),
            upn: upn.map(String::from),
            email: email.map(String::from),
        }
    }

    #[tokio::test]
    async fn a_guest_is_found_by_object_id_first_then_upn_then_email() {
        let s = Server::start().await;
        let oid = "0a1b2c3d-0000-4000-8000-00000000abcd";
        let guest = s
            .post(
                "/Users",
                &json!({"userName": "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "externalId": oid, "emails": [{"value": "ann@fabrikam.com", "primary": true}]}),
            )
            .await
            .id();
        let member = s
            .post(
                "/Users",
                &json!({"userName": "bob@contoso.com",
            "emails": [{"value": "robert@contoso.com"}]}),
            )
            .await
            .id();
        let by_oid = lookup(
            &s.store,
            TENANT,
            &claims(Some(oid), Some("other@x"), None),
            NOW,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            (by_oid.user.id.as_str(), by_oid.matched_by, by_oid.status),
            (guest.as_str(), "oid", SignInStatus::Active)
        );
        let by_upn = lookup(
            &s.store,
            TENANT,
            &claims(
                None,
                Some("ANN_fabrikam.com#EXT#@contoso.onmicrosoft.com"),
                None,
            ),
            NOW,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            (by_upn.user.id.as_str(), by_upn.matched_by),
            (guest.as_str(), "upn")
        );
        let by_email = lookup(
            &s.store,
            TENANT,
            &claims(Some("unknown-oid"), None, Some("Robert@contoso.com")),
            NOW,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            (by_email.user.id.as_str(), by_email.matched_by),
            (member.as_str(), "email")
        );
        assert!(lookup(
            &s.store,
            TENANT,
            &claims(Some("nope"), Some("nope@x"), Some("nope@x")),
            NOW
        )
        .await
        .unwrap()
        .is_none());
    }

    #[tokio::test]
    async fn deactivated_and_expired_users_are_returned_as_such_and_deleted_ones_not_at_all() {
        let s = Server::start().await;
        let off = s.user("off@contoso.com").await;
        s.patch(
            &format!("/Users/{off}"),
            &json!({"Operations": [{"op": "replace", "value": {"active": false}}]}),
        )
        .await
        .expect(200);
        s.post(
            "/Users",
            &json!({"userName": "ended@contoso.com", CONTACT: {"endDate": "2026-11-01T00:00:00Z"}}),
        )
        .await
        .expect(201);
        let gone = s.user("gone@contoso.com").await;
        s.delete(&format!("/Users/{gone}")).await.expect(204);
        let r = lookup(
            &s.store,
            TENANT,
            &claims(None, Some("off@contoso.com"), None),
            NOW,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(r.status, SignInStatus::Deactivated);
        let r = lookup(
            &s.store,
            TENANT,
            &claims(None, Some("ended@contoso.com"), None),
            NOW,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(r.status, SignInStatus::Expired);
        assert!(lookup(
            &s.store,
            TENANT,
            &claims(None, Some("gone@contoso.com"), None),
            NOW
        )
        .await
        .unwrap()
        .is_none());
    }
}

/// The store takes time from the request, never from a clock of its own: a tombstone read
/// at a time past the retention is gone, read at the request's time it is kept.
#[tokio::test]
async fn tombstone_retention_is_judged_at_the_time_given_not_the_stores_clock() {
    let s = Server::start().await;
    let id = s.user("leaving@contoso.com").await;
    s.delete(&format!("/Users/{id}")).await.expect(204);
    let now = time::OffsetDateTime::now_utc();
    assert!(s.store.tombstone(TENANT, &id, now).await.unwrap().is_some());
    let after_retention = now + time::Duration::days(91);
    assert!(
        s.store
            .tombstone(TENANT, &id, after_retention)
            .await
            .unwrap()
            .is_none(),
        "past the 90-day retention the tombstone no longer counts"
    );
}
