//! The tenant's settings item: the provisioning switch and the identity provider's latest
//! use of each token ([`scim_service::settings`]).
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | settings | `{t}#S` | `settings` | `enabled` (absent = on), `lastAt`, `lastClient`, `u_{token id}` = `{at, client}`, `r_{client id}` = when an OAuth client was revoked |
//! | notice sent | `{t}#S` | `notice#{kind}#{token id}` | `at`, `expiresAt` (two years on): a token notice went out (`tokens::watch`), so it goes out once |

use super::errors::sdk_error;
use super::items::{s, Item};
use super::keys::{item_key, settings_key};
use super::DynamoStore;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use scim_service::port::StoreResult;
use scim_service::settings::{ClientKind, SettingsStore, TenantSettings, Usage};
use std::collections::HashMap;

/// Token ids are hex digests; anything else never reaches an attribute name.
fn usage_attr(token_id: &str) -> Option<String> {
    (!token_id.is_empty()
        && token_id.len() <= 64
        && token_id.bytes().all(|b| b.is_ascii_alphanumeric()))
    .then(|| format!("u_{token_id}"))
}

fn str_of(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn usage_of(m: &Item) -> Option<Usage> {
    Some(Usage {
        at: str_of(m, "at")?,
        client: ClientKind::parse(str_of(m, "client").as_deref().unwrap_or("other")),
    })
}

fn settings_of(item: Option<&Item>) -> TenantSettings {
    let Some(item) = item else {
        return TenantSettings::default();
    };
    let mut out = TenantSettings {
        provisioning_enabled: item
            .get("enabled")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(true),
        last_call: match (str_of(item, "lastAt"), str_of(item, "lastClient")) {
            (Some(at), Some(c)) => Some(Usage {
                at,
                client: ClientKind::parse(&c),
            }),
            _ => None,
        },
        token_usage: Default::default(),
        revoked_clients: Default::default(),
    };
    for (name, v) in item {
        if let Some(id) = name.strip_prefix("r_") {
            out.revoked_clients.insert(id.to_string());
            continue;
        }
        if let (Some(id), Ok(m)) = (name.strip_prefix("u_"), v.as_m()) {
            if let Some(u) = usage_of(m) {
                out.token_usage.insert(id.to_string(), u);
            }
        }
    }
    out
}

impl SettingsStore for DynamoStore {
    async fn settings(&self, tenant: &str) -> StoreResult<TenantSettings> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.table)
            .set_key(Some(settings_key(tenant)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(settings_of(out.item.as_ref()))
    }

    async fn set_provisioning_enabled(
        &self,
        tenant: &str,
        enabled: bool,
        at: &str,
    ) -> StoreResult<TenantSettings> {
        let out = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(settings_key(tenant)))
            .update_expression("SET enabled = :e, enabledAt = :at")
            .expression_attribute_values(":e", AttributeValue::Bool(enabled))
            .expression_attribute_values(":at", s(at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateItem", e))?;
        Ok(settings_of(out.attributes.as_ref()))
    }

    async fn record_usage(
        &self,
        tenant: &str,
        token_id: &str,
        client: ClientKind,
        at: &str,
    ) -> StoreResult<TenantSettings> {
        let mut req = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(settings_key(tenant)))
            .expression_attribute_values(":at", s(at))
            .expression_attribute_values(":c", s(client.as_str()))
            .return_values(ReturnValue::AllNew);
        req = match usage_attr(token_id) {
            Some(attr) => req
                .update_expression("SET lastAt = :at, lastClient = :c, #u = :u")
                .expression_attribute_names("#u", attr)
                .expression_attribute_values(
                    ":u",
                    AttributeValue::M(HashMap::from([
                        ("at".to_string(), s(at)),
                        ("client".to_string(), s(client.as_str())),
                    ])),
                ),
            None => req.update_expression("SET lastAt = :at, lastClient = :c"),
        };
        let out = req.send().await.map_err(|e| sdk_error("UpdateItem", e))?;
        Ok(settings_of(out.attributes.as_ref()))
    }
}

/// How long a sent notice is remembered (a token that old has long been rotated).
const NOTICE_KEPT_SECONDS: i64 = 2 * 366 * 24 * 3600;

fn notice_key(tenant: &str, key: &str) -> HashMap<String, AttributeValue> {
    item_key(format!("{tenant}#S"), format!("notice#{key}"))
}

/// One-time token notices (`tokens::watch`): whether one was sent, and recording that it was.
impl DynamoStore {
    /// Whether the notice `key` (`{kind}#{token id}`) was recorded for `tenant`.
    pub async fn notice_sent(&self, tenant: &str, key: &str) -> StoreResult<bool> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.table)
            .set_key(Some(notice_key(tenant, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item.is_some())
    }

    /// Records that the notice `key` was sent at `at` (RFC 3339; `unix` its epoch seconds).
    pub async fn record_notice(
        &self,
        tenant: &str,
        key: &str,
        at: &str,
        unix: i64,
    ) -> StoreResult<()> {
        self.client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(notice_key(tenant, key)))
            .item("at", s(at))
            .item(
                "expiresAt",
                AttributeValue::N((unix + NOTICE_KEPT_SECONDS).to_string()),
            )
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hex_token_ids_become_attribute_names() {
        assert_eq!(usage_attr("ab12cd34").as_deref(), Some("u_ab12cd34"));
        assert_eq!(usage_attr("a b"), None);
        assert_eq!(usage_attr(""), None);
    }
}
