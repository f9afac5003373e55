//! Change events, published from the audit records (feature `events`).
//!
//! Every write puts one audit record (`rec = "audit"`) in its own transaction (see
//! `AuditItem` in `dynamo/items.rs`). The table's DynamoDB stream carries each new record to the
//! `publish-events` function (or, locally, to the server's stream follower), which turns it
//! into a [`ChangeEvent`] and hands it to an [`EventSink`]:
//!
//! - [`EventBridgeSink`]: `PutEvents` on the tenant's bus, at most 10 entries per call,
//!   entries the response reports as failed retried with backoff;
//! - [`LocalSink`]: one JSON line per event, to the log (target `scim::events`) or
//!   appended to a file.
//!
//! A record whose event cannot be published is reported back as a batch item failure, so
//! Lambda retries it and finally sends it to the dead-letter queue: never lost silently.
//! Delivery is at least once and in stream order per item; a retried batch can repeat
//! events already published (consumers deduplicate on `requestId` + `id` + `event`).

use crate::config::init_tracing;
use crate::retry::Backoff;
use aws_sdk_eventbridge::primitives::{DateTime, DateTimeFormat};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use scim_service::events::{set, ChangeEvent, EVENT_SOURCE};
use serde::Deserialize;
use serde_json::{json, Value};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use aws_sdk_eventbridge::Client as EventBridgeClient;

/// The value of `rec` that marks an audit record (the stream filter matches it).
pub use crate::dynamo::AUDIT_RECORD;
/// `PutEvents` takes at most this many entries per call.
pub const MAX_ENTRIES_PER_PUT: usize = 10;
/// The tracing target of the local sink's lines.
pub const LOG_TARGET: &str = "scim::events";

// ------------------------------------------------------------------ audit record -> event

/// The attributes of an audit record that make its event (see `AuditItem` in
/// `dynamo/items.rs`).
#[derive(Debug, Deserialize)]
struct AuditRecord {
    tenant: String,
    event: String,
    #[serde(rename = "resourceType")]
    resource_type: String,
    rid: String,
    #[serde(rename = "externalId", default)]
    external_id: Option<String>,
    #[serde(default)]
    changed: Vec<String>,
    #[serde(rename = "membersAdded", default)]
    members_added: Vec<String>,
    #[serde(rename = "membersRemoved", default)]
    members_removed: Vec<String>,
    token: String,
    req: String,
    at: String,
}

/// The change event of an item image: `Ok(None)` when the item is not an audit record.
pub fn change_event(image: &serde_dynamo::Item) -> Result<Option<ChangeEvent>, String> {
    match image.inner().get("rec") {
        Some(serde_dynamo::AttributeValue::S(rec)) if rec == AUDIT_RECORD => {}
        _ => return Ok(None),
    }
    let r: AuditRecord =
        serde_dynamo::from_item(image.clone()).map_err(|e| format!("audit record: {e}"))?;
    Ok(Some(ChangeEvent {
        event: r.event,
        tenant: r.tenant,
        resource_type: r.resource_type,
        id: r.rid,
        external_id: r.external_id,
        changed_attributes: r.changed,
        members_added: r.members_added,
        members_removed: r.members_removed,
        request_id: r.req,
        actor: r.token,
        at: r.at,
    }))
}

/// The event as EventBridge delivers it to a rule target (and as the local sink writes it).
pub fn envelope(e: &ChangeEvent) -> Value {
    json!({
        "source": EVENT_SOURCE,
        "detail-type": e.event,
        "time": e.at,
        "detail": e.detail(),
    })
}

// ------------------------------------------------------------------ stream batches

/// A DynamoDB stream event as Lambda delivers it, its records, and the partial batch
/// response (`ReportBatchItemFailures`): `aws_lambda_events`' types. The images arrive as
/// `serde_dynamo` items; each record's audit record is read on its own, so one bad record
/// fails alone.
pub use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord as StreamRecord};
pub use aws_lambda_events::event::streams::{
    DynamoDbBatchItemFailure as BatchItemFailure, DynamoDbEventResponse as BatchResponse,
};

/// Where a stream record's event comes from: `Ok(None)` for a record that carries no event
/// (not an insert, e.g. a TTL deletion, or not an audit record). An absent `NewImage`
/// arrives as an empty item.
pub fn record_event(
    event_name: &str,
    image: &serde_dynamo::Item,
) -> Result<Option<ChangeEvent>, String> {
    if event_name != "INSERT" {
        return Ok(None);
    }
    if image.inner().is_empty() {
        return Err("INSERT without NewImage (the stream must be NEW_IMAGE)".into());
    }
    change_event(image)
}

/// Publishes the events of one batch of stream records through `sink`. Returns the
/// sequence numbers of the records whose events were not published (in stream order), or
/// an error (the whole batch is retried) when such a record has no sequence number.
pub async fn handle_stream_batch<S: EventSink>(
    sink: &S,
    batch: &StreamEvent,
) -> Result<BatchResponse, String> {
    // (position in batch, event)
    let mut events: Vec<(usize, ChangeEvent)> = Vec::new();
    let mut failed: Vec<usize> = Vec::new();
    for (i, r) in batch.records.iter().enumerate() {
        match record_event(&r.event_name, &r.change.new_image) {
            Ok(Some(e)) => events.push((i, e)),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(event_id = %r.event_id, error = %e, "stream record cannot be read");
                failed.push(i);
            }
        }
    }
    if !events.is_empty() {
        let list: Vec<ChangeEvent> = events.iter().map(|(_, e)| e.clone()).collect();
        for k in sink.publish(&list).await {
            if let Some((i, e)) = events.get(k) {
                tracing::error!(event = %e.event, id = %e.id, request_id = %e.request_id, "change event not published");
                failed.push(*i);
            }
        }
    }
    failed.sort_unstable();
    failed.dedup();
    let mut out = BatchResponse::default();
    for i in failed {
        out.batch_item_failures
            .push(item_failure(&batch.records[i])?);
    }
    Ok(out)
}

/// A failed record, named by its `SequenceNumber` for the event source mapping to retry
/// from; an error (the whole batch is retried) when it has none.
pub fn item_failure(r: &StreamRecord) -> Result<BatchItemFailure, String> {
    let seq = r.change.sequence_number.clone().ok_or_else(|| {
        format!(
            "stream record {} failed and has no SequenceNumber",
            r.event_id
        )
    })?;
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = Some(seq);
    Ok(failure)
}

// ------------------------------------------------------------------ sinks

/// Where change events go.
pub trait EventSink: Send + Sync {
    /// Publishes `events` in order; returns the positions of those that could not be
    /// published (empty when all were).
    fn publish(&self, events: &[ChangeEvent]) -> impl Future<Output = Vec<usize>> + Send;
}

/// How often and how patiently entries EventBridge reports as failed are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Calls per entry, the first included.
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further one (with jitter).
    pub base_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            base_delay: Duration::from_millis(100),
        }
    }
}

/// Runs `attempt` over the positions `0..n` until each succeeded or `retry.attempts` calls
/// were made; `attempt` gets the positions still to publish and returns those that failed.
/// Returns the positions that never succeeded.
pub async fn with_retries<F, Fut>(n: usize, retry: Retry, mut attempt: F) -> Vec<usize>
where
    F: FnMut(Vec<usize>) -> Fut,
    Fut: Future<Output = Vec<usize>>,
{
    let backoff = Backoff {
        first: retry.base_delay,
        cap: Duration::MAX,
        spread: (1.0, 1.5),
    };
    let mut pending: Vec<usize> = (0..n).collect();
    for round in 0..retry.attempts.max(1) {
        if pending.is_empty() {
            break;
        }
        if round > 0 {
            backoff.wait(round - 1).await;
        }
        pending = attempt(pending).await;
    }
    pending
}

/// What signs the RFC 9967 SETs published beside the change events
/// (`scim_service::events::set`): the issuer (the Tenant URL), the audience, and the
/// stack's SET signing key (its own secret, cached like the OAuth keys).
pub struct SetPublishing {
    pub issuer: String,
    pub audience: String,
    pub keys: SetKeys,
}

/// The SET signing keys: the stack's secret (`SET_SIGNING_SECRET_ARN`) or fixed keys (tests).
pub enum SetKeys {
    Secret(crate::oauth::SecretsKeySource),
    Fixed(Arc<scim_service::oauth::keys::KeySet>),
}

impl SetPublishing {
    async fn keys(&self) -> Option<Arc<scim_service::oauth::keys::KeySet>> {
        use scim_service::oauth::keys::KeySource;
        match &self.keys {
            SetKeys::Fixed(k) => Some(Arc::clone(k)),
            SetKeys::Secret(s) => s.keys(None).await.ok(),
        }
    }
}

impl std::fmt::Debug for SetPublishing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetPublishing")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// `PutEvents` on the tenant's bus.
#[derive(Debug, Clone)]
pub struct EventBridgeSink {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    retry: Retry,
    /// When set, each change event goes with its signed SET (two entries per event).
    sets: Option<Arc<SetPublishing>>,
}

impl EventBridgeSink {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        EventBridgeSink {
            client,
            bus: bus.into(),
            retry: Retry::default(),
            sets: None,
        }
    }

    /// Publishes each change event's RFC 9967 SET beside it.
    pub fn with_sets(mut self, sets: SetPublishing) -> Self {
        self.sets = Some(Arc::new(sets));
        self
    }

    /// Events per `PutEvents` call: 10 entries, two per event when SETs go with them.
    fn events_per_call(&self) -> usize {
        if self.sets.is_some() {
            MAX_ENTRIES_PER_PUT / 2
        } else {
            MAX_ENTRIES_PER_PUT
        }
    }

    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    pub fn bus(&self) -> &str {
        &self.bus
    }

    fn entry(&self, e: &ChangeEvent) -> PutEventsRequestEntry {
        let mut entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(EVENT_SOURCE)
            .detail_type(&e.event)
            .detail(e.detail().to_string());
        if let Ok(t) = DateTime::from_str(&e.at, DateTimeFormat::DateTime) {
            entry = entry.time(t);
        }
        entry.build()
    }

    /// The SET entry of a change event.
    fn set_entry(&self, e: &ChangeEvent, token: &str) -> PutEventsRequestEntry {
        let mut entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(EVENT_SOURCE)
            .detail_type(set::DETAIL_TYPE)
            .detail(set::detail(e, token).to_string());
        if let Ok(t) = DateTime::from_str(&e.at, DateTimeFormat::DateTime) {
            entry = entry.time(t);
        }
        entry.build()
    }

    /// One `PutEvents` call for `chunk[positions]` (each event's entries side by side);
    /// returns the positions that failed (an event fails when any of its entries does).
    async fn put(&self, chunk: &[ChangeEvent], positions: Vec<usize>) -> Vec<usize> {
        let signing = match &self.sets {
            Some(sets) => match sets.keys().await {
                Some(keys) => Some((sets, keys)),
                None => {
                    tracing::warn!("the SET signing key cannot be read: events not published");
                    return positions;
                }
            },
            None => None,
        };
        let per_event = if signing.is_some() { 2 } else { 1 };
        let mut entries: Vec<PutEventsRequestEntry> = Vec::with_capacity(positions.len() * 2);
        for &p in &positions {
            entries.push(self.entry(&chunk[p]));
            if let Some((sets, keys)) = &signing {
                let token = set::sign(&chunk[p], &sets.issuer, &sets.audience, keys.current());
                entries.push(self.set_entry(&chunk[p], &token));
            }
        }
        match self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) if out.failed_entry_count() == 0 => Vec::new(),
            Ok(out) => {
                let results = out.entries();
                positions
                    .iter()
                    .enumerate()
                    .filter(|(k, &p)| {
                        let mut failed = false;
                        for j in k * per_event..(k + 1) * per_event {
                            // A missing result entry counts as failed.
                            match results.get(j) {
                                Some(r) if r.error_code().is_none() => {}
                                Some(r) => {
                                    tracing::warn!(
                                        error_code = r.error_code().unwrap_or("-"),
                                        error = r.error_message().unwrap_or("-"),
                                        event = %chunk[p].event,
                                        "PutEvents entry failed"
                                    );
                                    failed = true;
                                }
                                None => failed = true,
                            }
                        }
                        failed
                    })
                    .map(|(_, &p)| p)
                    .collect()
            }
            Err(e) => {
                tracing::warn!(error = %aws_sdk_eventbridge::error::DisplayErrorContext(&e), "PutEvents failed");
                positions
            }
        }
    }
}

impl EventSink for EventBridgeSink {
    /// Chunks of at most 10 entries, in order. When a chunk still has failed entries after
    /// the retries, the later chunks are not attempted (and reported failed): a retry of
    /// the batch then publishes them after the earlier ones, keeping the order.
    async fn publish(&self, events: &[ChangeEvent]) -> Vec<usize> {
        let mut failed = Vec::new();
        let size = self.events_per_call();
        for (c, chunk) in events.chunks(size).enumerate() {
            let offset = c * size;
            if !failed.is_empty() {
                failed.extend(offset..offset + chunk.len());
                continue;
            }
            let lost = with_retries(chunk.len(), self.retry, |positions| {
                self.put(chunk, positions)
            })
            .await;
            failed.extend(lost.into_iter().map(|p| offset + p));
        }
        failed
    }
}

/// Puts already signed SETs (an asynchronous request's completions) on the bus as
/// `scim.security-event` entries, `Detail` `{"set", "jti", "txn"}` like a change event's
/// SET, at most 10 per call; a call with failed entries is retried whole (`retry`), and
/// what still failed is an error (the caller's job runs again and puts the same `jti`s).
pub async fn put_sets(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    sets: &[String],
    retry: Retry,
) -> Result<(), String> {
    for chunk in sets.chunks(MAX_ENTRIES_PER_PUT) {
        let entries: Vec<PutEventsRequestEntry> = chunk
            .iter()
            .map(|token| {
                let jws = scim_service::oauth::jwt::Jws::parse(token).ok();
                let claim = |name: &str| {
                    jws.as_ref()
                        .and_then(|j| j.claim_str(name))
                        .unwrap_or_default()
                };
                PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(EVENT_SOURCE)
                    .detail_type(set::DETAIL_TYPE)
                    .detail(
                        json!({"set": token, "jti": claim("jti"), "txn": claim("txn")}).to_string(),
                    )
                    .build()
            })
            .collect();
        let lost = with_retries(1, retry, |_| {
            let entries = entries.clone();
            async move {
                match client.put_events().set_entries(Some(entries)).send().await {
                    Ok(out) if out.failed_entry_count() == 0 => Vec::new(),
                    Ok(out) => {
                        tracing::warn!(failed = out.failed_entry_count(), "PutEvents: SET entries failed");
                        vec![0]
                    }
                    Err(e) => {
                        tracing::warn!(error = %aws_sdk_eventbridge::error::DisplayErrorContext(&e), "PutEvents failed");
                        vec![0]
                    }
                }
            }
        })
        .await;
        if !lost.is_empty() {
            return Err("completion SETs not published".into());
        }
    }
    Ok(())
}

/// One JSON line per event ([`envelope`]): to the log (target `scim::events`), or
/// appended to a file.
#[derive(Debug, Clone)]
pub enum LocalSink {
    Log,
    File(PathBuf),
}

impl LocalSink {
    /// `SCIM_EVENTS_FILE` when set, else the log.
    pub fn from_env() -> Self {
        match std::env::var("SCIM_EVENTS_FILE")
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            Some(path) => LocalSink::File(PathBuf::from(path)),
            None => LocalSink::Log,
        }
    }

    fn append(path: &std::path::Path, text: &str) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        f.write_all(text.as_bytes())?;
        f.flush()
    }
}

impl EventSink for LocalSink {
    async fn publish(&self, events: &[ChangeEvent]) -> Vec<usize> {
        match self {
            LocalSink::Log => {
                for e in events {
                    tracing::info!(target: LOG_TARGET, "{}", envelope(e));
                }
                Vec::new()
            }
            LocalSink::File(path) => {
                let mut text = String::new();
                for e in events {
                    text.push_str(&envelope(e).to_string());
                    text.push('\n');
                }
                let file = path.clone();
                let written = tokio::task::spawn_blocking(move || Self::append(&file, &text))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                match written {
                    Ok(()) => Vec::new(),
                    Err(e) => {
                        tracing::error!(file = %path.display(), error = %e, "cannot write change events");
                        (0..events.len()).collect()
                    }
                }
            }
        }
    }
}

/// Either sink, chosen at start-up (the local server).
#[derive(Debug, Clone)]
pub enum Sink {
    EventBridge(EventBridgeSink),
    Local(LocalSink),
}

impl Sink {
    /// Where the events go, for a start-up message.
    pub fn describe(&self) -> String {
        match self {
            Sink::EventBridge(s) => format!("EventBridge bus {}", s.bus),
            Sink::Local(LocalSink::Log) => format!("the log (target {LOG_TARGET})"),
            Sink::Local(LocalSink::File(p)) => format!("file {}", p.display()),
        }
    }
}

impl EventSink for Sink {
    async fn publish(&self, events: &[ChangeEvent]) -> Vec<usize> {
        match self {
            Sink::EventBridge(s) => s.publish(events).await,
            Sink::Local(s) => s.publish(events).await,
        }
    }
}

impl<S: EventSink> EventSink for Arc<S> {
    fn publish(&self, events: &[ChangeEvent]) -> impl Future<Output = Vec<usize>> + Send {
        (**self).publish(events)
    }
}

// ------------------------------------------------------------------ the function

/// The `publish-events` function: stream batches from the event source mapping (filtered
/// to inserted audit records) to the bus named by `EVENT_BUS_NAME`.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let bus = crate::config::var("EVENT_BUS_NAME").ok_or("EVENT_BUS_NAME is not set")?;
    let sdk = crate::sdk::load().await;
    let mut sink = EventBridgeSink::new(aws_sdk_eventbridge::Client::new(&sdk), bus);
    // RFC 9967 SETs beside the change events when the stack gives a SET signing key.
    if let Some(secret) = crate::config::var("SET_SIGNING_SECRET_ARN") {
        let issuer = crate::config::var("TENANT_URL").ok_or("TENANT_URL is not set")?;
        let audience = crate::config::var("SET_AUDIENCE").ok_or("SET_AUDIENCE is not set")?;
        let keys =
            crate::oauth::SecretsKeySource::new(aws_sdk_secretsmanager::Client::new(&sdk), secret);
        if let Err(e) = keys.refresh().await {
            // Not fatal: each batch tries again, and fails (to be retried) until it reads.
            tracing::error!(error = %e, "cannot read the SET signing key");
        }
        sink = sink.with_sets(SetPublishing {
            issuer,
            audience,
            keys: SetKeys::Secret(keys),
        });
    }
    let sink = Arc::new(sink);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<StreamEvent>| {
            let sink = Arc::clone(&sink);
            async move {
                let batch = event.payload;
                let r = handle_stream_batch(&sink, &batch).await?;
                tracing::info!(
                    records = batch.records.len(),
                    failed = r.batch_item_failures.len(),
                    "stream batch"
                );
                Ok::<_, lambda_runtime::Error>(r)
            }
        },
    ))
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    fn audit_image(event: &str) -> Value {
        json!({
            "pk": {"S": "t1#A#u1"},
            "sk": {"S": "2025-01-01T00:00:00Z#req-1"},
            "rec": {"S": "audit"},
            "tenant": {"S": "t1"},
            "event": {"S": event},
            "resourceType": {"S": "User"},
            "rid": {"S": "u1"},
            "externalId": {"S": "ext-1"},
            "changed": {"L": [{"S": "active"}]},
            "token": {"S": "tok-id"},
            "req": {"S": "req-1"},
            "at": {"S": "2025-01-01T00:00:00Z"},
            "expiresAt": {"N": "1767225600"}
        })
    }

    #[test]
    fn an_audit_image_becomes_its_event() {
        let item: serde_dynamo::Item =
            serde_json::from_value(audit_image("user.deactivated")).unwrap();
        let e = change_event(&item).unwrap().unwrap();
        assert_eq!(e.event, "user.deactivated");
        assert_eq!(e.id, "u1");
        assert_eq!(e.external_id.as_deref(), Some("ext-1"));
        assert_eq!(e.changed_attributes, vec!["active"]);
        assert_eq!(e.actor, "tok-id");
        assert_eq!(e.request_id, "req-1");
        assert!(e.members_added.is_empty());
    }

    fn item(image: Value) -> serde_dynamo::Item {
        serde_json::from_value(image).unwrap()
    }

    #[test]
    fn other_items_and_other_stream_events_carry_no_event() {
        let user = json!({"pk": {"S": "t1#U"}, "sk": {"S": "u1"}, "v": {"N": "1"}});
        let none = serde_dynamo::Item::default();
        assert_eq!(record_event("INSERT", &item(user)).unwrap(), None);
        assert_eq!(record_event("REMOVE", &none).unwrap(), None);
        assert_eq!(
            record_event("MODIFY", &item(audit_image("user.created"))).unwrap(),
            None
        );
        assert!(record_event("INSERT", &none).is_err());
        let broken = json!({"rec": {"S": "audit"}, "tenant": {"S": "t1"}});
        assert!(record_event("INSERT", &item(broken)).is_err());
    }

    struct Flaky {
        calls: AtomicUsize,
        fail_first: usize,
        fail_always: Vec<usize>,
        seen: Mutex<Vec<String>>,
    }

    impl EventSink for Flaky {
        async fn publish(&self, events: &[ChangeEvent]) -> Vec<usize> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let mut seen = self.seen.lock().unwrap();
            seen.extend(events.iter().map(|e| e.event.clone()));
            if n < self.fail_first {
                return (0..events.len()).collect();
            }
            self.fail_always.clone()
        }
    }

    fn record(seq: &str, name: &str, image: Option<Value>) -> StreamRecord {
        let mut r = StreamRecord::default();
        r.event_id = format!("ev-{seq}");
        r.event_name = name.into();
        r.change.new_image = image.map(item).unwrap_or_default();
        r.change.sequence_number = Some(seq.into());
        r
    }

    #[tokio::test]
    async fn failed_events_are_reported_by_sequence_number() {
        let sink = Flaky {
            calls: AtomicUsize::new(0),
            fail_first: 0,
            fail_always: vec![1],
            seen: Mutex::new(Vec::new()),
        };
        let mut batch = StreamEvent::default();
        batch.records = vec![
            record("100", "INSERT", Some(audit_image("user.created"))),
            record("200", "REMOVE", None),
            record("300", "INSERT", Some(audit_image("user.updated"))),
            record("400", "INSERT", Some(json!({"rec": {"S": "audit"}}))),
        ];
        let r = handle_stream_batch(&sink, &batch).await.unwrap();
        let ids: Vec<&str> = r
            .batch_item_failures
            .iter()
            .filter_map(|f| f.item_identifier.as_deref())
            .collect();
        assert_eq!(ids, ["300", "400"]);
        assert_eq!(*sink.seen.lock().unwrap(), ["user.created", "user.updated"]);
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "300"}, {"itemIdentifier": "400"}]})
        );
    }

    #[tokio::test]
    async fn retries_stop_when_everything_went_through() {
        let calls = AtomicUsize::new(0);
        let retry = Retry {
            attempts: 4,
            base_delay: Duration::from_millis(1),
        };
        // Position 2 fails twice, then succeeds.
        let lost = with_retries(3, retry, |p| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    p.into_iter().filter(|&i| i == 2).collect()
                } else {
                    Vec::new()
                }
            }
        })
        .await;
        assert!(lost.is_empty());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // Always failing: given up after the attempts, and reported.
        let calls = AtomicUsize::new(0);
        let lost = with_retries(3, retry, |p| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { p.into_iter().filter(|&i| i != 0).collect() }
        })
        .await;
        assert_eq!(lost, [1, 2]);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
