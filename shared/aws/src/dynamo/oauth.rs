//! The tenant's OAuth clients and assertion-replay markers
//! ([`scim_service::oauth::clients::ClientStore`]).
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | secret client | `{t}#O` | `c#{client id}` | `kind = secret`, `hash` (SHA-256 of the secret, binary), `created`, `expires`, `name` |
//! | federated client | `{t}#O` | `c#{client id}` | `kind = federated`, `etid`, `sub`, `aud`, `created`, `name` |
//! | replay marker | `{t}#O` | `j#{digest of Entra tenant + jti}` | `expiresAt` (TTL: the assertion's `exp`) |
//!
//! Revoking deletes the client and sets `r_{client id}` on the settings item in one
//! transaction, so the SCIM path's gate refuses its access tokens from its next reading.

use super::errors::{build, sdk_error};
use super::items::{epoch_secs, n, s, Item};
use super::keys::{
    item_key, oauth_pk, revoked_client_attr, settings_key, OAUTH_CLIENT_PREFIX, OAUTH_REPLAY_PREFIX,
};
use super::DynamoStore;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use scim_service::oauth::clients::{ClientAuth, ClientStore, FederationTrust, OAuthClient};
use scim_service::port::{StoreError, StoreResult};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn time_str(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn client_item(t: &str, c: &OAuthClient) -> Item {
    let mut item = item_key(oauth_pk(t), format!("{OAUTH_CLIENT_PREFIX}{}", c.id));
    item.insert("created".into(), s(time_str(c.created)));
    if let Some(e) = c.expires {
        item.insert("expires".into(), s(time_str(e)));
    }
    if let Some(name) = &c.name {
        item.insert("name".into(), s(name.as_str()));
    }
    match &c.auth {
        ClientAuth::Secret(hash) => {
            item.insert("kind".into(), s("secret"));
            item.insert("hash".into(), AttributeValue::B(Blob::new(hash.to_vec())));
        }
        ClientAuth::Federated(trust) => {
            item.insert("kind".into(), s("federated"));
            item.insert("etid".into(), s(trust.entra_tenant.as_str()));
            item.insert("sub".into(), s(trust.subject.as_str()));
            item.insert("aud".into(), s(trust.audience.as_str()));
        }
    }
    item
}

fn client_of(item: &Item) -> Option<OAuthClient> {
    let str_of = |n: &str| item.get(n).and_then(|v| v.as_s().ok()).cloned();
    let time_of = |n: &str| str_of(n).and_then(|v| OffsetDateTime::parse(&v, &Rfc3339).ok());
    let id = item
        .get("sk")?
        .as_s()
        .ok()?
        .strip_prefix(OAUTH_CLIENT_PREFIX)?
        .to_string();
    let auth = match str_of("kind")?.as_str() {
        "secret" => {
            let hash: [u8; 32] = item.get("hash")?.as_b().ok()?.as_ref().try_into().ok()?;
            ClientAuth::Secret(hash)
        }
        "federated" => ClientAuth::Federated(FederationTrust {
            entra_tenant: str_of("etid")?,
            subject: str_of("sub")?,
            audience: str_of("aud")?,
        }),
        _ => return None,
    };
    Some(OAuthClient {
        id,
        name: str_of("name"),
        auth,
        created: time_of("created")?,
        expires: time_of("expires"),
    })
}

impl ClientStore for DynamoStore {
    async fn put_client(&self, tenant: &str, client: &OAuthClient) -> StoreResult<()> {
        self.client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(client_item(tenant, client)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => StoreError::Uniqueness {
                    attribute: "clientId",
                    holder: None,
                },
                _ => sdk_error("PutItem", e),
            })?;
        Ok(())
    }

    async fn client(&self, tenant: &str, id: &str) -> StoreResult<Option<OAuthClient>> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(
                oauth_pk(tenant),
                format!("{OAUTH_CLIENT_PREFIX}{id}"),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item.as_ref().and_then(client_of))
    }

    async fn clients(&self, tenant: &str) -> StoreResult<Vec<OAuthClient>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :c)")
                .expression_attribute_values(":pk", s(oauth_pk(tenant)))
                .expression_attribute_values(":c", s(OAUTH_CLIENT_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            out.extend(page.items().iter().filter_map(client_of));
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn revoke_client(&self, tenant: &str, id: &str, at: OffsetDateTime) -> StoreResult<bool> {
        let attr = revoked_client_attr(id).ok_or(StoreError::NotFound)?;
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(
                oauth_pk(tenant),
                format!("{OAUTH_CLIENT_PREFIX}{id}"),
            )))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build)?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(settings_key(tenant)))
            .update_expression("SET #r = :at")
            .expression_attribute_names("#r", attr)
            .expression_attribute_values(":at", s(time_str(at)))
            .build()
            .map_err(build)?;
        let out = self
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .client_request_token(super::transact::request_token())
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) => {
                let missing = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => Some(c),
                        _ => None,
                    })
                    .is_some_and(|c| {
                        c.cancellation_reasons()
                            .first()
                            .and_then(|r| r.code())
                            == Some("ConditionalCheckFailed")
                    });
                if missing {
                    Ok(false)
                } else {
                    Err(sdk_error("TransactWriteItems", e))
                }
            }
        }
    }

    async fn claim_assertion(
        &self,
        tenant: &str,
        key: &str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut item = item_key(oauth_pk(tenant), format!("{OAUTH_REPLAY_PREFIX}{key}"));
        // Kept a minute beyond the assertion's expiry (the verifier's clock skew).
        item.insert("expiresAt".into(), n(epoch_secs(until) + 60));
        let out = self
            .client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // TTL deletion is lazy: an expired marker no longer counts.
            .condition_expression("attribute_not_exists(pk) OR expiresAt < :now")
            .expression_attribute_values(":now", n(epoch_secs(now)))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error("PutItem", e)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clients_round_trip_through_their_items() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let secret = scim_service::oauth::clients::new_secret_client(Some("Entra"), 30, now)
            .unwrap()
            .client;
        assert_eq!(client_of(&client_item("t", &secret)), Some(secret.clone()));
        let fed = scim_service::oauth::clients::new_federated_client(
            None,
            "ce5f061f-abe6-4e40-9615-301f87bcb7f0",
            "sub",
            "api://a",
            now,
        )
        .unwrap();
        let item = client_item("t", &fed);
        assert_eq!(item["pk"].as_s().unwrap(), "t#O");
        assert_eq!(client_of(&item), Some(fed));
    }
}
