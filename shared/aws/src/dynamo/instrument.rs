//! Instrumentation: counts of DynamoDB calls and, for the cost model, the capacity they
//! consume. Both are SDK interceptors on the store's client, so they see every operation
//! made through it — the store's own and any made with [`DynamoStore::client`] — and no
//! call site can forget them.
//!
//! **What a count is.** The counting interceptor counts in `read_before_serialization`,
//! which the SDK's orchestrator runs once per operation invocation, before its retry loop:
//! a call the SDK itself retries (a throttled or transiently failed attempt) counts once,
//! as the one logical call the store made. The store's own retries (a conflicting
//! transaction, a batch's unprocessed items) are new invocations and count again. The
//! operation is the one the SDK names in the call's [`Metadata`]; a `Query` with an
//! `IndexName` also counts in `query_index`; operations the store never makes
//! (`DescribeTable`, …) count in `other`.
//!
//! The same interceptor also feeds the process's request metrics ([`crate::metrics`]): one
//! store call and its wall time (from before the first attempt to after the last) per
//! operation, whatever the store.

use super::DynamoStore;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// When an operation started (in the operation's own config bag layer).
#[derive(Debug, Clone, Copy)]
struct StartedAt(Instant);

impl Storable for StartedAt {
    type Storer = StoreReplace<Self>;
}

/// Counts of DynamoDB calls, by operation. Deterministic, unlike timings: tests assert them.
#[derive(Debug, Default)]
pub struct CallCounts {
    get_item: AtomicU64,
    batch_get_item: AtomicU64,
    query: AtomicU64,
    scan: AtomicU64,
    put_item: AtomicU64,
    update_item: AtomicU64,
    delete_item: AtomicU64,
    transact_write_items: AtomicU64,
    batch_write_item: AtomicU64,
    other: AtomicU64,
    query_index: AtomicU64,
}

/// A snapshot of [`CallCounts`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Calls {
    pub get_item: u64,
    pub batch_get_item: u64,
    pub query: u64,
    pub scan: u64,
    pub put_item: u64,
    pub update_item: u64,
    pub delete_item: u64,
    pub transact_write_items: u64,
    pub batch_write_item: u64,
    /// Every other operation (`DescribeTable`, `CreateTable`, …): the store makes none.
    pub other: u64,
    /// Of `query`, those that read a global secondary index (`expiring-contacts`,
    /// `memberships-by-user`); `query - query_index` queried the table itself. Not counted
    /// again in [`Calls::total`].
    pub query_index: u64,
}

impl Calls {
    pub fn total(&self) -> u64 {
        self.get_item
            + self.batch_get_item
            + self.query
            + self.scan
            + self.put_item
            + self.update_item
            + self.delete_item
            + self.transact_write_items
            + self.batch_write_item
            + self.other
    }

    /// The calls made between `earlier` and `self`.
    pub fn since(&self, earlier: &Calls) -> Calls {
        Calls {
            get_item: self.get_item - earlier.get_item,
            batch_get_item: self.batch_get_item - earlier.batch_get_item,
            query: self.query - earlier.query,
            scan: self.scan - earlier.scan,
            put_item: self.put_item - earlier.put_item,
            update_item: self.update_item - earlier.update_item,
            delete_item: self.delete_item - earlier.delete_item,
            transact_write_items: self.transact_write_items - earlier.transact_write_items,
            batch_write_item: self.batch_write_item - earlier.batch_write_item,
            other: self.other - earlier.other,
            query_index: self.query_index - earlier.query_index,
        }
    }
}

impl CallCounts {
    pub fn snapshot(&self) -> Calls {
        let l = |a: &AtomicU64| a.load(Ordering::SeqCst);
        Calls {
            get_item: l(&self.get_item),
            batch_get_item: l(&self.batch_get_item),
            query: l(&self.query),
            scan: l(&self.scan),
            put_item: l(&self.put_item),
            update_item: l(&self.update_item),
            delete_item: l(&self.delete_item),
            transact_write_items: l(&self.transact_write_items),
            batch_write_item: l(&self.batch_write_item),
            other: l(&self.other),
            query_index: l(&self.query_index),
        }
    }

    /// Counts one call of `operation` (the SDK's name: `GetItem`), on an index or not.
    fn count(&self, operation: &str, on_index: bool) {
        let counter = match operation {
            "GetItem" => &self.get_item,
            "BatchGetItem" => &self.batch_get_item,
            "Query" => &self.query,
            "Scan" => &self.scan,
            "PutItem" => &self.put_item,
            "UpdateItem" => &self.update_item,
            "DeleteItem" => &self.delete_item,
            "TransactWriteItems" => &self.transact_write_items,
            "BatchWriteItem" => &self.batch_write_item,
            _ => &self.other,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        if on_index && operation == "Query" {
            self.query_index.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Counts every operation made through a client into its [`CallCounts`] (see the module
/// documentation for what one count is).
#[derive(Debug)]
struct CallCounter(Arc<CallCounts>);

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounting"
    }

    fn read_before_serialization(
        &self,
        ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("", Metadata::name);
        let on_index = ctx
            .input()
            .downcast_ref::<QueryInput>()
            .is_some_and(|q| q.index_name().is_some());
        self.0.count(operation, on_index);
        Ok(())
    }

    fn read_before_execution(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(StartedAt(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let took = cfg
            .load::<StartedAt>()
            .map(|s| s.0.elapsed())
            .unwrap_or_default();
        crate::metrics::count_store_call(took);
        Ok(())
    }
}

/// The same client, counting its calls into `calls`.
pub(super) fn counting(client: &Client, calls: Arc<CallCounts>) -> Client {
    Client::from_conf(
        client
            .config()
            .to_builder()
            .interceptor(CallCounter(calls))
            .build(),
    )
}

/// Read and write request units consumed, summed over every call of a store built with
/// [`DynamoStore::with_capacity_accounting`]. For the cost model (`BENCHMARKS.md`); off
/// by default, so deployed functions never ask for `ReturnConsumedCapacity`.
#[derive(Debug, Default)]
pub struct Capacity {
    /// Thousandths of a unit (reads can be half units).
    read_milli: AtomicU64,
    write_milli: AtomicU64,
}

/// A snapshot of [`Capacity`], in request units.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct CapacityUnits {
    pub read: f64,
    pub write: f64,
}

impl Capacity {
    pub fn snapshot(&self) -> CapacityUnits {
        CapacityUnits {
            read: self.read_milli.load(Ordering::SeqCst) as f64 / 1000.0,
            write: self.write_milli.load(Ordering::SeqCst) as f64 / 1000.0,
        }
    }

    fn add(&self, c: &aws_sdk_dynamodb::types::ConsumedCapacity, write: bool) {
        let milli = |u: f64| (u * 1000.0).round() as u64;
        let (r, w) = match (c.read_capacity_units(), c.write_capacity_units()) {
            (None, None) => {
                let u = c.capacity_units().unwrap_or(0.0);
                if write {
                    (0.0, u)
                } else {
                    (u, 0.0)
                }
            }
            (r, w) => (r.unwrap_or(0.0), w.unwrap_or(0.0)),
        };
        self.read_milli.fetch_add(milli(r), Ordering::SeqCst);
        self.write_milli.fetch_add(milli(w), Ordering::SeqCst);
    }
}

impl CapacityUnits {
    /// The units consumed between `earlier` and `self`.
    pub fn since(&self, earlier: &CapacityUnits) -> CapacityUnits {
        CapacityUnits {
            read: self.read - earlier.read,
            write: self.write - earlier.write,
        }
    }
}

/// Sets `ReturnConsumedCapacity: TOTAL` on every data call and adds what comes back;
/// except for `TransactWriteItems`, whose units are computed from the request by
/// DynamoDB's published rule ([`transaction_write_units`]): DynamoDB Local reports 2.0
/// for a whole transaction however many items it writes (measured: five 100-byte Puts →
/// `CapacityUnits: 2.0`; DynamoDB charges 10).
#[derive(Debug)]
struct CapacityInterceptor(Arc<Capacity>);

/// The write units of the transaction being sent, carried from serialisation to the
/// response in the call's config bag.
#[derive(Debug, Clone, Copy)]
struct TransactionUnits(f64);

impl aws_smithy_types::config_bag::Storable for TransactionUnits {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// DynamoDB's size of an item: attribute names plus values (numbers counted by their
/// digits, a close upper bound of DynamoDB's packed form), plus 3 bytes per list/map.
fn item_bytes(item: &HashMap<String, AttributeValue>) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::Ss(v) | AttributeValue::Ns(v) => v.iter().map(String::len).sum(),
            AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value(v)).sum::<usize>(),
            AttributeValue::M(m) => 3 + item_bytes(m),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

/// Write request units of a `TransactWriteItems` call by DynamoDB's rule: two units
/// (prepare and commit) per item per started KB. A Put is sized from its item; an
/// Update from its key and new values, at least 1 KB (the stored item it rewrites is not
/// in the request; ours are under 1 KB except users, which are written by Put); a Delete
/// and a ConditionCheck as 1 KB (conservative: their item sizes are not in the request).
pub fn transaction_write_units(items: &[aws_sdk_dynamodb::types::TransactWriteItem]) -> f64 {
    let kb = |bytes: usize| bytes.div_ceil(1024).max(1) as f64;
    items
        .iter()
        .map(|t| {
            let size = if let Some(p) = t.put() {
                kb(item_bytes(p.item()))
            } else if let Some(u) = t.update() {
                let values = u.expression_attribute_values().map_or(0, item_bytes);
                kb(item_bytes(u.key()) + values)
            } else {
                1.0
            };
            2.0 * size
        })
        .sum()
}

impl Intercept for CapacityInterceptor {
    fn name(&self) -> &'static str {
        "CapacityAccounting"
    }

    fn modify_before_serialization(
        &self,
        ctx: &mut aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut<
            '_,
        >,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation as op;
        use aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total;
        let input = ctx.input_mut();
        if let Some(i) = input.downcast_mut::<op::transact_write_items::TransactWriteItemsInput>() {
            let units = transaction_write_units(i.transact_items());
            cfg.interceptor_state().store_put(TransactionUnits(units));
        }
        macro_rules! total {
            ($($t:ty),*) => {$(
                if let Some(i) = input.downcast_mut::<$t>() {
                    i.return_consumed_capacity = Some(Total);
                    return Ok(());
                }
            )*};
        }
        total!(
            op::get_item::GetItemInput,
            op::batch_get_item::BatchGetItemInput,
            op::query::QueryInput,
            op::scan::ScanInput,
            op::put_item::PutItemInput,
            op::update_item::UpdateItemInput,
            op::delete_item::DeleteItemInput,
            op::transact_write_items::TransactWriteItemsInput,
            op::batch_write_item::BatchWriteItemInput
        );
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        ctx: &aws_sdk_dynamodb::config::interceptors::AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation as op;
        let Ok(out) = ctx.output_or_error() else {
            return Ok(());
        };
        macro_rules! one {
            ($write:expr; $($t:ty),*) => {$(
                if let Some(o) = out.downcast_ref::<$t>() {
                    if let Some(c) = o.consumed_capacity() {
                        self.0.add(c, $write);
                    }
                    return Ok(());
                }
            )*};
        }
        macro_rules! many {
            ($write:expr; $($t:ty),*) => {$(
                if let Some(o) = out.downcast_ref::<$t>() {
                    for c in o.consumed_capacity() {
                        self.0.add(c, $write);
                    }
                    return Ok(());
                }
            )*};
        }
        one!(false; op::get_item::GetItemOutput, op::query::QueryOutput, op::scan::ScanOutput);
        one!(true; op::put_item::PutItemOutput, op::update_item::UpdateItemOutput, op::delete_item::DeleteItemOutput);
        many!(false; op::batch_get_item::BatchGetItemOutput);
        if out
            .downcast_ref::<op::transact_write_items::TransactWriteItemsOutput>()
            .is_some()
        {
            if let Some(TransactionUnits(u)) = cfg.load::<TransactionUnits>() {
                self.0
                    .write_milli
                    .fetch_add((u * 1000.0).round() as u64, Ordering::SeqCst);
            }
            return Ok(());
        }
        many!(true; op::batch_write_item::BatchWriteItemOutput);
        Ok(())
    }
}

impl DynamoStore {
    /// The same store, asking DynamoDB for the capacity every call consumes and adding it
    /// to `capacity`. Benchmarks and the cost model only. The client keeps counting calls.
    pub fn with_capacity_accounting(mut self, capacity: Arc<Capacity>) -> Self {
        let conf = self
            .client
            .config()
            .to_builder()
            .interceptor(CapacityInterceptor(capacity))
            .build();
        self.client = Client::from_conf(conf);
        self
    }
}
