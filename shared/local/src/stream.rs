//! The local change-event publisher: a background task that follows the table's DynamoDB
//! stream (on the embedded engine, DynamoDB Local, or AWS) and publishes the event of every
//! new audit record, as the `publish-events` function does in a stack.
//!
//! `DescribeTable` → `LatestStreamArn`, `DescribeStream` → shards, `GetShardIterator`
//! (`LATEST` for the shards open at start, `TRIM_HORIZON` for shards that appear later),
//! then a `GetRecords` loop per shard with a short sleep when nothing came.
//!
//! Events go to the local sink (one JSON line per event to the log, or appended to
//! `SCIM_EVENTS_FILE`), or to EventBridge when `EVENT_BUS_NAME` and
//! `AWS_ENDPOINT_URL_EVENTBRIDGE` are set (moto, for instance).

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodbstreams::types::{OperationType, Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client as StreamsClient;
use scim_aws::events::{
    self, EventBridgeClient, EventBridgeSink, EventSink, LocalSink, Retry, Sink,
};
use scim_service::events::ChangeEvent;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// Pause between polls when no shard returned records.
const IDLE_SLEEP: Duration = Duration::from_millis(100);
/// How often the stream is described again to find new shards.
const REDESCRIBE_EVERY: Duration = Duration::from_secs(10);
/// Local publishing retries before an event is logged as not published.
const PUBLISH_RETRY: Retry = Retry {
    attempts: 5,
    base_delay: Duration::from_millis(200),
};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A DynamoDB Streams client for a local endpoint (any credentials are accepted locally).
pub fn local_client(endpoint: &str) -> StreamsClient {
    use aws_sdk_dynamodbstreams::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_dynamodbstreams::Config::builder()
        .http_client(scim_aws::sdk::http_client())
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "local"))
        .endpoint_url(endpoint)
        .build();
    StreamsClient::from_conf(conf)
}

/// A DynamoDB Streams client from the SDK's environment; its endpoint is
/// `AWS_ENDPOINT_URL_DYNAMODB_STREAMS`, else `AWS_ENDPOINT_URL_DYNAMODB` (a local engine
/// serves both APIs on one port), else AWS.
pub async fn env_client() -> StreamsClient {
    let sdk = scim_aws::sdk::load().await;
    let mut conf = aws_sdk_dynamodbstreams::config::Builder::from(&sdk);
    if let Some(url) =
        env("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").or_else(|| env("AWS_ENDPOINT_URL_DYNAMODB"))
    {
        conf = conf.endpoint_url(url);
    }
    StreamsClient::from_conf(conf.build())
}

/// The sink the local server publishes to: EventBridge when `EVENT_BUS_NAME` and
/// `AWS_ENDPOINT_URL_EVENTBRIDGE` are set, else the local sink (`SCIM_EVENTS_FILE` or the
/// log).
pub async fn sink_from_env() -> Sink {
    match (env("EVENT_BUS_NAME"), env("AWS_ENDPOINT_URL_EVENTBRIDGE")) {
        (Some(bus), Some(_)) => {
            let sdk = scim_aws::sdk::load().await;
            Sink::EventBridge(EventBridgeSink::new(EventBridgeClient::new(&sdk), bus))
        }
        _ => Sink::Local(LocalSink::from_env()),
    }
}

/// The running follower; stops when dropped.
pub struct Follower {
    pub stream_arn: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Turns the table's stream off (if it is on), for tests and benchmarks that measure a
/// request's own work: a local engine writes each stream record inside the write (DynamoDB
/// does not charge the request for its stream), and keeps every record it wrote.
/// `ensure_table` turns the stream on again.
pub async fn disable(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), String> {
    use aws_sdk_dynamodb::types::StreamSpecification;
    let described = ddb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| format!("describe table {table}: {}", DisplayErrorContext(&e)))?;
    let on = described
        .table()
        .and_then(|t| t.stream_specification())
        .is_some_and(|s| s.stream_enabled());
    if !on {
        return Ok(());
    }
    let off = StreamSpecification::builder()
        .stream_enabled(false)
        .build()
        .map_err(|e| e.to_string())?;
    ddb.update_table()
        .table_name(table)
        .stream_specification(off)
        .send()
        .await
        .map_err(|e| {
            format!(
                "turn off the stream of {table}: {}",
                DisplayErrorContext(&e)
            )
        })?;
    Ok(())
}

/// Starts following the stream of `table`. Returns once every open shard has an iterator,
/// so every write after this returns is published.
pub async fn follow<S: EventSink + 'static>(
    ddb: &aws_sdk_dynamodb::Client,
    streams: StreamsClient,
    table: &str,
    sink: S,
) -> Result<Follower, String> {
    let described = ddb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| {
            format!(
                "describe table {table}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            )
        })?;
    let stream_arn = described
        .table()
        .and_then(|t| t.latest_stream_arn())
        .ok_or_else(|| format!("table {table} has no stream"))?
        .to_string();
    let mut f = Following {
        streams,
        stream_arn: stream_arn.clone(),
        shards: BTreeMap::new(),
        known: HashSet::new(),
    };
    f.discover(ShardIteratorType::Latest).await?;
    let task = tokio::spawn(async move { f.run(sink).await });
    Ok(Follower { stream_arn, task })
}

struct Shard {
    iterator: String,
    /// The last record read, to resume after an expired iterator.
    last_seq: Option<String>,
}

struct Following {
    streams: StreamsClient,
    stream_arn: String,
    /// Shards being read.
    shards: BTreeMap<String, Shard>,
    /// Every shard seen (a closed, finished shard is not read again).
    known: HashSet<String>,
}

impl Following {
    /// Finds shards not seen yet: the open ones at start (`from` = `LATEST`), any new one
    /// afterwards (`TRIM_HORIZON`: all its records are new).
    async fn discover(&mut self, from: ShardIteratorType) -> Result<(), String> {
        let mut start: Option<String> = None;
        loop {
            let out = self
                .streams
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "describe stream: {}",
                        aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e)
                    )
                })?;
            let Some(desc) = out.stream_description() else {
                break;
            };
            for shard in desc.shards() {
                let Some(id) = shard.shard_id() else { continue };
                if !self.known.insert(id.to_string()) {
                    continue;
                }
                let closed = shard
                    .sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .is_some();
                if closed && from == ShardIteratorType::Latest {
                    continue; // history from before the start
                }
                let iterator = self.iterator(id, from.clone(), None).await?;
                self.shards.insert(
                    id.to_string(),
                    Shard {
                        iterator,
                        last_seq: None,
                    },
                );
            }
            match desc.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_string()),
                None => break,
            }
        }
        Ok(())
    }

    async fn iterator(
        &self,
        shard: &str,
        kind: ShardIteratorType,
        after: Option<&str>,
    ) -> Result<String, String> {
        self.streams
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(after.map(str::to_string))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "get shard iterator: {}",
                    aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e)
                )
            })?
            .shard_iterator()
            .map(str::to_string)
            .ok_or_else(|| format!("no iterator for shard {shard}"))
    }

    async fn run<S: EventSink>(mut self, sink: S) {
        let mut described = Instant::now();
        let mut failures = 0u32;
        loop {
            let mut got = false;
            let mut closed = false;
            let ids: Vec<String> = self.shards.keys().cloned().collect();
            for id in ids {
                match self.poll(&id, &sink).await {
                    Ok((n, open)) => {
                        got |= n > 0;
                        closed |= !open;
                        failures = 0;
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        tracing::warn!(shard = %id, error = %e, "reading the table's stream failed");
                    }
                }
            }
            if closed || described.elapsed() >= REDESCRIBE_EVERY {
                if let Err(e) = self.discover(ShardIteratorType::TrimHorizon).await {
                    tracing::warn!(error = %e, "describing the table's stream failed");
                }
                described = Instant::now();
            }
            if !got {
                let backoff = IDLE_SLEEP * 2u32.saturating_pow(failures.min(5));
                tokio::time::sleep(backoff).await;
            }
        }
    }

    /// One `GetRecords` on a shard: publishes its events. Returns how many records came
    /// and whether the shard is still open.
    async fn poll<S: EventSink>(&mut self, id: &str, sink: &S) -> Result<(usize, bool), String> {
        let Some(shard) = self.shards.get(id) else {
            return Ok((0, false));
        };
        let out = match self
            .streams
            .get_records()
            .shard_iterator(&shard.iterator)
            .limit(1000)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let expired = e
                    .as_service_error()
                    .is_some_and(|s| s.is_expired_iterator_exception());
                let text = format!(
                    "get records: {}",
                    aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e)
                );
                if expired {
                    // Resume after the last record read (or from now on).
                    let last = shard.last_seq.clone();
                    let iterator = match &last {
                        Some(seq) => {
                            self.iterator(id, ShardIteratorType::AfterSequenceNumber, Some(seq))
                                .await?
                        }
                        None => self.iterator(id, ShardIteratorType::Latest, None).await?,
                    };
                    if let Some(s) = self.shards.get_mut(id) {
                        s.iterator = iterator;
                    }
                }
                return Err(text);
            }
        };
        let records = out.records();
        let mut events = Vec::new();
        for r in records {
            match record_event(r) {
                Ok(Some(e)) => events.push(e),
                Ok(None) => {}
                Err(e) => tracing::error!(
                    event_id = r.event_id().unwrap_or("-"),
                    error = %e,
                    "stream record cannot be read; no change event"
                ),
            }
        }
        publish(sink, &events).await;
        let last = records
            .iter()
            .rev()
            .find_map(|r| r.dynamodb().and_then(|d| d.sequence_number()))
            .map(str::to_string);
        match out.next_shard_iterator() {
            Some(next) => {
                if let Some(s) = self.shards.get_mut(id) {
                    s.iterator = next.to_string();
                    if last.is_some() {
                        s.last_seq = last;
                    }
                }
                Ok((records.len(), true))
            }
            None => {
                self.shards.remove(id);
                Ok((records.len(), false))
            }
        }
    }
}

/// Publishes with retries; an event still not published is logged with its content, so it
/// is never lost silently.
async fn publish<S: EventSink>(sink: &S, events: &[ChangeEvent]) {
    if events.is_empty() {
        return;
    }
    let lost = events::with_retries(events.len(), PUBLISH_RETRY, |positions| async move {
        let some: Vec<ChangeEvent> = positions.iter().map(|&p| events[p].clone()).collect();
        sink.publish(&some)
            .await
            .into_iter()
            .filter_map(|k| positions.get(k).copied())
            .collect()
    })
    .await;
    for p in lost {
        tracing::error!(event = %events::envelope(&events[p]), "change event not published");
    }
}

/// The change event of a stream record: `Ok(None)` unless it inserted an audit record.
pub fn record_event(r: &Record) -> Result<Option<ChangeEvent>, String> {
    if r.event_name() != Some(&OperationType::Insert) {
        return Ok(None);
    }
    let image = r
        .dynamodb()
        .and_then(|d| d.new_image())
        .ok_or("INSERT without NewImage (the stream must be NEW_IMAGE)")?;
    // serde_dynamo's conversion from the streams SDK's attribute values.
    events::change_event(&serde_dynamo::Item::from(image.clone()))
}
