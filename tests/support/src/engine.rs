//! A DynamoDB engine and a fresh table on it, the way every test, benchmark and tool gets
//! its store: the embedded engine (dynoxide, started in this process), or the endpoint in
//! `SCIM_TEST_DYNAMODB_ENDPOINT` (Amazon's DynamoDB Local, set by `with-dynamodb-local`).
//! Tables are made by `scim_aws::table::ensure_table`, the table definition a stack
//! deploys.

use scim_aws::DynamoStore;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// The variable `with-dynamodb-local` sets to DynamoDB Local's endpoint.
pub const ENDPOINT_VAR: &str = "SCIM_TEST_DYNAMODB_ENDPOINT";

/// `"dynamodb-local"` when the tests run on DynamoDB Local, else `"embedded"`.
pub fn backend_name() -> &'static str {
    if std::env::var(ENDPOINT_VAR).is_ok() {
        "dynamodb-local"
    } else {
        "embedded"
    }
}

/// Whether a new table keeps the stream the table definition gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    On,
    /// For bulk writes that measure request budgets, time or memory: a local engine writes
    /// each stream record inside the write (DynamoDB does not charge the request for its
    /// stream) and keeps it (dynoxide never trims its records, which would stay in an
    /// in-memory engine's heap; DynamoDB Local degrades after ~40,000). dynoxide's writes no
    /// longer slow down as records accumulate (`scim_local::STREAM_INDEX`).
    Off,
}

/// Where tables are made.
pub struct Engine {
    pub endpoint: String,
    embedded: Option<Arc<scim_local::Embedded>>,
}

impl Engine {
    /// DynamoDB Local when `SCIM_TEST_DYNAMODB_ENDPOINT` is set, else a new embedded engine
    /// in memory.
    pub async fn from_env() -> Result<Engine, String> {
        Engine::at(std::env::var(ENDPOINT_VAR).ok().as_deref(), None).await
    }

    /// `endpoint`, or without one a new embedded engine: in memory, or in the SQLite file
    /// `db_file` (on /dev/shm, say, to keep the engine's data out of this process's heap).
    pub async fn at(endpoint: Option<&str>, db_file: Option<&Path>) -> Result<Engine, String> {
        Ok(match endpoint {
            Some(e) => Engine {
                endpoint: e.to_string(),
                embedded: None,
            },
            None => {
                let e = scim_local::start_embedded(db_file).await?;
                Engine {
                    endpoint: e.endpoint.clone(),
                    embedded: Some(Arc::new(e)),
                }
            }
        })
    }

    /// Whether this is the embedded engine (not an endpoint).
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// The table `name` on this engine (created if missing).
    pub async fn table(&self, name: &str, stream: Stream) -> Result<Table, String> {
        // The embedded engine in process, as the local server uses it (over its loopback
        // port with `SCIM_LOCAL_LOOPBACK=1`, as the local server then does, to compare); an
        // endpoint over HTTP.
        let loopback = std::env::var("SCIM_LOCAL_LOOPBACK").is_ok_and(|v| v == "1");
        let client = match &self.embedded {
            Some(e) if !loopback => e.client(),
            _ => scim_local::local_client(&self.endpoint).await,
        };
        scim_aws::table::ensure_table(&client, name).await?;
        if stream == Stream::Off {
            scim_local::stream::disable(&client, name).await?;
        }
        Ok(Table {
            client,
            name: name.to_string(),
            endpoint: self.endpoint.clone(),
            engine: self.embedded.clone(),
        })
    }
}

/// A table, with a client for it.
pub struct Table {
    pub client: aws_sdk_dynamodb::Client,
    pub name: String,
    /// The engine's endpoint.
    pub endpoint: String,
    /// Keeps the embedded engine running while anything holds it (`None` on an endpoint).
    pub engine: Option<Arc<scim_local::Embedded>>,
}

impl Table {
    /// A table of its own for one test, named `{prefix}-{process}-{n}`, on the engine
    /// [`Engine::from_env`] chooses. Panics (failing the test) if it cannot be made.
    pub async fn new(prefix: &str) -> Table {
        let engine = Engine::from_env()
            .await
            .unwrap_or_else(|e| panic!("DynamoDB engine: {e}"));
        engine
            .table(&unique_name(prefix), Stream::On)
            .await
            .unwrap_or_else(|e| panic!("table: {e}"))
    }

    /// The service's store over this table.
    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.client.clone(), &self.name)
    }
}

/// `{prefix}-{process id}-{n}`: unique within this process, and across processes sharing
/// one DynamoDB Local.
pub fn unique_name(prefix: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}
