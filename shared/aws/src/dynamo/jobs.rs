//! Asynchronous requests' job items ([`scim_service::jobs`]).
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | job | `{t}#Q` | the `txn` | `rec` = `job`; `job` (the request, JSON) until it has run; `sets` (its completion SETs) after; `expiresAt` (TTL, 7 days after acceptance) |
//!
//! A new job item reaches the `async-worker` function through the table's stream (its
//! event source mapping's filter: `INSERT` with `rec` = `job`); completing it is a
//! `MODIFY`, which that filter drops.

use super::errors::sdk_error;
use super::items::{epoch_secs, n, s, Item};
use super::keys::item_key;
use super::DynamoStore;
use aws_sdk_dynamodb::types::AttributeValue;
use scim_service::jobs::{Job, JobRecord, RETENTION};
use scim_service::port::{StoreError, StoreResult};

/// The job partition of a tenant.
pub fn jobs_pk(t: &str) -> String {
    format!("{t}#Q")
}

/// Stores the job (a new `txn`: a put that must not find one).
pub(super) async fn accept(
    store: &DynamoStore,
    job: &Job,
    at: time::OffsetDateTime,
) -> StoreResult<()> {
    let text = serde_json::to_string(job).map_err(|e| StoreError::Internal(e.to_string()))?;
    let mut item = item_key(jobs_pk(&job.tenant), job.txn.clone());
    item.insert("rec".into(), s("job"));
    item.insert("job".into(), s(text));
    item.insert(
        "expiresAt".into(),
        n(epoch_secs(at) + RETENTION.as_secs() as i64),
    );
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .map_err(|e| sdk_error("PutItem", e))?;
    Ok(())
}

/// The job item, read consistently.
pub(super) async fn job(store: &DynamoStore, t: &str, txn: &str) -> StoreResult<Option<JobRecord>> {
    let out = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(item_key(jobs_pk(t), txn.to_string())))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| sdk_error("GetItem", e))?;
    out.item.as_ref().map(record_of).transpose()
}

fn record_of(item: &Item) -> StoreResult<JobRecord> {
    let job = match item.get("job").and_then(|v| v.as_s().ok()) {
        Some(text) => Some(
            serde_json::from_str(text)
                .map_err(|e| StoreError::Internal(format!("job item: {e}")))?,
        ),
        None => None,
    };
    let sets = item.get("sets").and_then(|v| v.as_l().ok()).map(|l| {
        l.iter()
            .filter_map(|v| v.as_s().ok().cloned())
            .collect::<Vec<_>>()
    });
    Ok(JobRecord { job, sets })
}

/// Records the completion and drops the request the item held (it may hold personal
/// data; the completion events hold none). `NotFound` when the item is gone (past its
/// retention).
pub(super) async fn finish(
    store: &DynamoStore,
    t: &str,
    txn: &str,
    sets: &[String],
) -> StoreResult<()> {
    let list = AttributeValue::L(sets.iter().map(|v| s(v.as_str())).collect());
    store
        .client()
        .update_item()
        .table_name(store.table())
        .set_key(Some(item_key(jobs_pk(t), txn.to_string())))
        .update_expression("SET #s = :s REMOVE #j")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_names("#s", "sets")
        .expression_attribute_names("#j", "job")
        .expression_attribute_values(":s", list)
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_dynamodb::error::ProvideErrorMetadata;
            if e.code() == Some("ConditionalCheckFailedException") {
                StoreError::NotFound
            } else {
                sdk_error("UpdateItem", e)
            }
        })?;
    Ok(())
}
