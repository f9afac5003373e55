//! The application API's reads ([`DirectoryStore`]), each O(page): a user with their
//! groups (reverse index, then one batched read of the user and the groups), a page of a
//! group's members, the activity log (one resource's audit partition, or the tenant's
//! through the sparse `activity` index, newest first), the counts.

use super::errors::sdk_error;
use super::items::{s, Item};
use super::keys::{self, activity_pk, audit_pk, count_prefix, counter_pk, membership_pk};
use super::{reads, DynamoStore};
use crate::table::ACTIVITY;
use base64::Engine;
use scim_core::filter::IndexKey;
use scim_core::patch::Member;
use scim_core::schema::ResourceKind;
use scim_service::port::{
    ActivityPage, ActivityRecord, DirectoryStore, GroupRef, MemberPage, StoreError, StoreResult,
    Stored,
};
use std::collections::HashMap;

fn str_of(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// An opaque page cursor: the query's last key, bound to what was queried.
fn encode_cursor(scope: &str, key: &Item) -> String {
    let mut pairs: Vec<(&String, &String)> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k, v)))
        .collect();
    pairs.sort();
    let body = serde_json::json!({
        "scope": scope,
        "key": pairs.into_iter().collect::<HashMap<_, _>>(),
    });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body.to_string())
}

fn decode_cursor(scope: &str, cursor: &str) -> StoreResult<Item> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    if v["scope"] != scope {
        return Err(StoreError::InvalidCursor);
    }
    let key = v["key"].as_object().ok_or(StoreError::InvalidCursor)?;
    key.iter()
        .map(|(k, v)| {
            v.as_str()
                .filter(|v| v.len() <= 2048)
                .map(|v| (k.clone(), s(v)))
                .ok_or(StoreError::InvalidCursor)
        })
        .collect()
}

fn activity_of(item: &Item) -> ActivityRecord {
    let get = |n: &str| str_of(item, n).unwrap_or_default();
    ActivityRecord {
        at: get("at"),
        event: get("event"),
        resource_type: get("resourceType"),
        resource_id: get("rid"),
        changed: item
            .get("changed")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        actor: get("token"),
        request_id: get("req"),
    }
}

impl DirectoryStore for DynamoStore {
    async fn user_ids(&self, tenant: &str, key: &IndexKey) -> StoreResult<Vec<String>> {
        match keys::indexed(ResourceKind::User, key) {
            Some((row, value)) => self.lookup(tenant, row, value).await,
            None => Ok(Vec::new()),
        }
    }

    async fn users(&self, tenant: &str, ids: &[String]) -> StoreResult<Vec<Stored>> {
        self.get_many(tenant, ResourceKind::User, ids).await
    }

    async fn user_with_groups(
        &self,
        tenant: &str,
        id: &str,
    ) -> StoreResult<Option<(Stored, Vec<GroupRef>)>> {
        let group_ids = reads::groups_of(self, tenant, id).await?;
        let mut keys = vec![(ResourceKind::User, id.to_string())];
        keys.extend(group_ids.into_iter().map(|g| (ResourceKind::Group, g)));
        let mut user = None;
        let mut groups = Vec::new();
        for (kind, stored) in self.get_mixed(tenant, &keys).await? {
            match kind {
                ResourceKind::User => user = Some(stored),
                ResourceKind::Group => groups.push(GroupRef {
                    display_name: scim_core::resource::str_attr(&stored.doc, "displayName")
                        .map(str::to_string),
                    id: stored.id,
                }),
            }
        }
        groups.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.id.cmp(&b.id)));
        Ok(user.map(|u| (u, groups)))
    }

    async fn member_page(
        &self,
        tenant: &str,
        group_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<MemberPage> {
        let pk = membership_pk(tenant, group_id);
        let start = after
            .map(|a| HashMap::from([("pk".to_string(), s(pk.clone())), ("sk".to_string(), s(a))]));
        let resp = self
            .client()
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk.clone()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let members: Vec<Member> = resp
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| {
                Some(Member {
                    value: str_of(i, "sk")?,
                    type_: str_of(i, "type"),
                    display: str_of(i, "display"),
                })
            })
            .collect();
        let next_after = resp
            .last_evaluated_key
            .and_then(|k| str_of(&k, "sk"))
            .filter(|_| members.len() >= limit);
        Ok(MemberPage {
            members,
            next_after,
        })
    }

    async fn activity(
        &self,
        tenant: &str,
        resource_id: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<ActivityPage> {
        let scope = match resource_id {
            Some(rid) => audit_pk(tenant, rid),
            None => activity_pk(tenant),
        };
        let start = cursor.map(|c| decode_cursor(&scope, c)).transpose()?;
        let mut req = self
            .client()
            .query()
            .table_name(&self.table)
            .scan_index_forward(false)
            .set_exclusive_start_key(start)
            .limit(limit.clamp(1, 1000) as i32);
        req = match resource_id {
            Some(_) => req
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s(scope.clone())),
            None => req
                .index_name(ACTIVITY)
                .key_condition_expression("apk = :p")
                .expression_attribute_values(":p", s(scope.clone())),
        };
        let resp = req.send().await.map_err(|e| sdk_error("Query", e))?;
        let records: Vec<ActivityRecord> = resp
            .items
            .unwrap_or_default()
            .iter()
            .filter(|i| {
                matches!(
                    str_of(i, "rec").as_deref(),
                    Some("audit") | Some("audit-ext")
                )
            })
            .map(activity_of)
            .collect();
        let next_cursor = resp
            .last_evaluated_key
            .filter(|_| records.len() >= limit)
            .map(|k| encode_cursor(&scope, &k));
        Ok(ActivityPage {
            records,
            next_cursor,
        })
    }

    async fn counts(&self, tenant: &str) -> StoreResult<(u64, u64)> {
        let shards = self.query_keys(&counter_pk(tenant), 1000).await?;
        let sum = |kind| reads::sum_shards(&shards, &count_prefix(kind)).max(0) as u64;
        Ok((sum(ResourceKind::User), sum(ResourceKind::Group)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_bound_to_their_scope() {
        let key: Item = HashMap::from([
            ("pk".to_string(), s("t#A#u1")),
            ("sk".to_string(), s("2026#r")),
        ]);
        let c = encode_cursor("t#A#u1", &key);
        assert_eq!(decode_cursor("t#A#u1", &c).ok(), Some(key));
        assert_eq!(decode_cursor("t#A#u2", &c), Err(StoreError::InvalidCursor));
        assert_eq!(
            decode_cursor("t#A#u1", "!!"),
            Err(StoreError::InvalidCursor)
        );
    }
}
