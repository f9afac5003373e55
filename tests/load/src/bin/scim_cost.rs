//! `scim-cost`: the DynamoDB request units, DynamoDB calls and modelled Lambda duration of
//! each request type of a provisioning cycle, and from them the cost per million SCIM
//! requests and per initial sync.
//!
//! Runs the shared handler in-process over `DynamoStore::with_capacity_accounting` (every
//! call asks for `ReturnConsumedCapacity: TOTAL`), against `--endpoint` (Amazon's DynamoDB
//! Local, which reports consumed capacity like DynamoDB) or, without it, the embedded
//! engine. Requests run one at a time, so each one's units are its own.
//!
//! ```text
//! scim-cost --endpoint http://127.0.0.1:8000 --mix load-report.json
//! ```
//!
//! `--mix` takes the JSON that `scim-load --json` wrote: its per-operation counts are the
//! measured mix. Prices and latency assumptions are printed with the result.

use http::Method;
use scim_aws::dynamo::{Capacity, CapacityUnits};
use scim_aws::{Calls, DynamoStore};
use scim_load::{entra_update, entra_user, number, parse_args, prices};
use scim_service::auth::TokenSet;
use scim_service::http::{handle, App, HttpConfig, ScimRequest};
use scim_test_support::engine::{Engine, Stream};
use scim_test_support::query::q;
use scim_test_support::request::scim_request;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TENANT: &str = "cost";
const TOKEN: &str = "cost-token-0123456789abcdef0123456789abcdef";

/// The DynamoDB request units, calls and modelled Lambda duration of each request type of
/// a provisioning cycle, and the cost per million requests and per initial sync.
#[derive(argh::FromArgs)]
struct Args {
    /// a DynamoDB endpoint that reports consumed capacity (DynamoDB Local); default: the
    /// embedded engine
    #[argh(option)]
    endpoint: Option<String>,
    /// users to create (300)
    #[argh(option, default = "300", from_str_fn(number))]
    users: usize,
    /// groups to create (20)
    #[argh(option, default = "20", from_str_fn(number))]
    groups: usize,
    /// the JSON report of `scim-load --json`: its per-operation counts are the mix
    #[argh(option)]
    mix: Option<String>,
    /// assumed latency of one DynamoDB read in ms (4)
    #[argh(option, default = "4.0", from_str_fn(number))]
    read_ms: f64,
    /// assumed latency of one DynamoDB write in ms (6)
    #[argh(option, default = "6.0", from_str_fn(number))]
    write_ms: f64,
    /// assumed latency of one DynamoDB transaction in ms (12)
    #[argh(option, default = "12.0", from_str_fn(number))]
    tx_ms: f64,
    /// assumed CPU time of one request in ms (2)
    #[argh(option, default = "2.0", from_str_fn(number))]
    cpu_ms: f64,
    /// the function's memory in MB (128)
    #[argh(option, default = "128.0", from_str_fn(number))]
    memory_mb: f64,
    /// write the result as JSON to this file
    #[argh(option)]
    json: Option<String>,
}

/// Totals of one request type.
#[derive(Debug, Default, Clone)]
struct Row {
    n: u64,
    errors: u64,
    rru: f64,
    wru: f64,
    calls: Calls,
    local: Duration,
}

impl Row {
    fn per(&self, v: f64) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            v / self.n as f64
        }
    }
}

struct Bench {
    app: App<DynamoStore, TokenSet>,
    capacity: Arc<Capacity>,
    rows: BTreeMap<&'static str, Row>,
}

fn add_calls(a: &Calls, b: &Calls) -> Calls {
    Calls {
        get_item: a.get_item + b.get_item,
        batch_get_item: a.batch_get_item + b.batch_get_item,
        query: a.query + b.query,
        query_index: a.query_index + b.query_index,
        scan: a.scan + b.scan,
        put_item: a.put_item + b.put_item,
        update_item: a.update_item + b.update_item,
        delete_item: a.delete_item + b.delete_item,
        transact_write_items: a.transact_write_items + b.transact_write_items,
        batch_write_item: a.batch_write_item + b.batch_write_item,
        other: a.other + b.other,
    }
}

/// A request under `/scim/v2` with the tool's token.
fn request(method: Method, path_and_query: &str, body: Option<&Value>) -> ScimRequest {
    scim_request(method, &format!("/scim/v2{path_and_query}"), TOKEN, body)
}

impl Bench {
    /// Runs one request, attributes its calls and units to `op`; returns the body.
    async fn run(&mut self, op: &'static str, req: ScimRequest, want: u16) -> Value {
        let calls = self.app.store.calls();
        let units = self.capacity.snapshot();
        let t = Instant::now();
        let r = handle(&self.app, req).await;
        let took = t.elapsed();
        let c = self.app.store.calls().since(&calls);
        let u: CapacityUnits = self.capacity.snapshot().since(&units);
        let row = self.rows.entry(op).or_default();
        row.n += 1;
        row.rru += u.read;
        row.wru += u.write;
        row.calls = add_calls(&row.calls, &c);
        row.local += took;
        if r.status.as_u16() != want {
            row.errors += 1;
            eprintln!(
                "{op}: {} (wanted {want}): {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
        serde_json::from_slice(&r.body).unwrap_or(Value::Null)
    }
}

struct Model {
    read_ms: f64,
    write_ms: f64,
    tx_ms: f64,
    cpu_ms: f64,
    memory_gb: f64,
}

impl Model {
    /// Modelled Lambda duration of one request: DynamoDB round trips at the assumed
    /// in-region latencies plus the handler's CPU time at 128 MB, billed per whole ms.
    fn duration_ms(&self, row: &Row) -> f64 {
        let c = &row.calls;
        let reads = (c.get_item + c.batch_get_item + c.query + c.scan) as f64;
        let writes = (c.put_item + c.update_item + c.delete_item + c.batch_write_item) as f64;
        let tx = c.transact_write_items as f64;
        let ms = row.per(reads) * self.read_ms
            + row.per(writes) * self.write_ms
            + row.per(tx) * self.tx_ms
            + self.cpu_ms;
        ms.ceil()
    }

    /// Dollars per request of this type: (DynamoDB, Lambda, API Gateway).
    fn cost(&self, row: &Row) -> (f64, f64, f64) {
        let ddb = row.per(row.rru) * prices::DDB_RRU + row.per(row.wru) * prices::DDB_WRU;
        let lambda = self.duration_ms(row) / 1000.0 * self.memory_gb * prices::LAMBDA_GB_S
            + prices::LAMBDA_REQUEST;
        (ddb, lambda, prices::HTTP_API_REQUEST)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args::<Args>() {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    match main_inner(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("scim-cost: {e}");
            ExitCode::from(2)
        }
    }
}

async fn main_inner(args: Args) -> Result<bool, String> {
    let (users, groups) = (args.users, args.groups);
    let model = Model {
        read_ms: args.read_ms,
        write_ms: args.write_ms,
        tx_ms: args.tx_ms,
        cpu_ms: args.cpu_ms,
        memory_gb: args.memory_mb / 1024.0,
    };
    let db = Engine::at(args.endpoint.as_deref(), None).await?;
    let engine = match &args.endpoint {
        Some(e) => format!("DynamoDB at {e}"),
        None => "embedded engine".to_string(),
    };
    let table = format!("scim-cost-{}", std::process::id());
    let client = db.table(&table, Stream::On).await?.client;
    let capacity = Arc::new(Capacity::default());
    let store = DynamoStore::new(client, &table).with_capacity_accounting(Arc::clone(&capacity));
    let mut b = Bench {
        app: App {
            gate: Default::default(),
            store,
            auth: TokenSet::new().with(TOKEN, TENANT),
            config: HttpConfig {
                base_url: Some("https://scim.example.com/scim/v2".into()),
                realm: "scim-cost".into(),
                tenant: Some(TENANT.into()),
                async_requests: Default::default(),
            },
        },
        capacity: Arc::clone(&capacity),
        rows: BTreeMap::new(),
    };
    eprintln!("scim-cost: {engine}, table {table}: {users} users, {groups} groups");

    // Users: Entra's lookup (a miss) then create.
    let mut user_ids = Vec::new();
    for i in 0..users {
        let name = format!("cost.user{i}@contoso.com");
        let filter = q(&format!("userName eq \"{name}\""));
        b.run(
            "users.lookup",
            request(Method::GET, &format!("/Users?filter={filter}"), None),
            200,
        )
        .await;
        let body = b
            .run(
                "users.create",
                request(Method::POST, "/Users", Some(&entra_user(&name, i))),
                201,
            )
            .await;
        user_ids.push(body["id"].as_str().unwrap_or_default().to_string());
    }
    // A steady-state Entra cycle: the lookup finds the user.
    for (i, id) in user_ids.iter().enumerate().take(100) {
        let filter = q(&format!("userName eq \"cost.user{i}@contoso.com\""));
        b.run(
            "users.lookup_hit",
            request(Method::GET, &format!("/Users?filter={filter}"), None),
            200,
        )
        .await;
        b.run(
            "users.get",
            request(Method::GET, &format!("/Users/{id}"), None),
            200,
        )
        .await;
    }
    // Groups: lookup, create, then 100 members each in one PATCH.
    let mut group_ids = Vec::new();
    for g in 0..groups {
        let name = format!("cost group {g}");
        let filter = q(&format!("displayName eq \"{name}\""));
        b.run(
            "groups.lookup",
            request(
                Method::GET,
                &format!("/Groups?filter={filter}&excludedAttributes=members"),
                None,
            ),
            200,
        )
        .await;
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                          "displayName": name, "externalId": format!("cost-g{g}")});
        let body = b
            .run(
                "groups.create",
                request(Method::POST, "/Groups", Some(&body)),
                201,
            )
            .await;
        group_ids.push(body["id"].as_str().unwrap_or_default().to_string());
    }
    for (g, gid) in group_ids.iter().enumerate() {
        let value: Vec<Value> = (0..100)
            .map(|s| json!({"value": user_ids[(g * 10 + s) % users]}))
            .collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": [{"op": "Add", "path": "members", "value": value}]});
        b.run(
            "groups.add_members",
            request(Method::PATCH, &format!("/Groups/{gid}"), Some(&body)),
            204,
        )
        .await;
    }
    for (g, gid) in group_ids.iter().enumerate() {
        b.run(
            "groups.get_excluded_members",
            request(
                Method::GET,
                &format!("/Groups/{gid}?excludedAttributes=members"),
                None,
            ),
            200,
        )
        .await;
        let member = &user_ids[(g * 10) % users];
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Remove", "path": format!("members[value eq \"{member}\"]")}]});
        b.run(
            "groups.remove_member",
            request(Method::PATCH, &format!("/Groups/{gid}"), Some(&body)),
            204,
        )
        .await;
    }
    // Updates and deactivations on distinct users.
    let third = users / 3;
    for (i, id) in user_ids.iter().enumerate().take(third) {
        b.run(
            "users.update",
            request(
                Method::PATCH,
                &format!("/Users/{id}"),
                Some(&entra_update(i)),
            ),
            200,
        )
        .await;
    }
    for id in user_ids.iter().skip(third).take(third) {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
        b.run(
            "users.deactivate",
            request(Method::PATCH, &format!("/Users/{id}"), Some(&body)),
            200,
        )
        .await;
    }
    // Okta import: every page of users, then of groups, three times over.
    for _ in 0..3 {
        let mut start = 1;
        while start <= users {
            b.run(
                "users.import_page",
                request(
                    Method::GET,
                    &format!("/Users?startIndex={start}&count=100"),
                    None,
                ),
                200,
            )
            .await;
            start += 100;
        }
        b.run(
            "groups.import_page",
            request(
                Method::GET,
                "/Groups?startIndex=1&count=100&excludedAttributes=members",
                None,
            ),
            200,
        )
        .await;
    }
    for id in user_ids.iter().rev().take(10) {
        b.run(
            "users.delete",
            request(Method::DELETE, &format!("/Users/{id}"), None),
            204,
        )
        .await;
    }

    // The table.
    println!(
        "{:<28} {:>5} {:>7} {:>7} {:>6} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "operation",
        "n",
        "RRU",
        "WRU",
        "calls",
        "local ms",
        "model ms",
        "DDB $/M",
        "Lambda$/M",
        "APIGW$/M",
        "total $/M"
    );
    let mut per_op = serde_json::Map::new();
    for (op, row) in &b.rows {
        let (ddb, lambda, apigw) = model.cost(row);
        let local_ms = row.local.as_secs_f64() * 1000.0 / row.n.max(1) as f64;
        println!(
            "{:<28} {:>5} {:>7.2} {:>7.2} {:>6.2} {:>8.2} {:>8.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            op,
            row.n,
            row.per(row.rru),
            row.per(row.wru),
            row.per(row.calls.total() as f64),
            local_ms,
            model.duration_ms(row),
            ddb * 1e6,
            lambda * 1e6,
            apigw * 1e6,
            (ddb + lambda + apigw) * 1e6
        );
        per_op.insert(
            op.to_string(),
            json!({"n": row.n, "errors": row.errors, "rru": row.per(row.rru), "wru": row.per(row.wru),
                   "calls": row.per(row.calls.total() as f64), "local_ms": local_ms,
                   "model_ms": model.duration_ms(row), "ddb_usd": ddb, "lambda_usd": lambda,
                   "apigw_usd": apigw, "total_usd": ddb + lambda + apigw}),
        );
    }
    println!(
        "assumptions: DynamoDB on-demand ${}/M WRU, ${}/M RRU; Lambda arm64 {} MB at ${}/GB-s + ${}/M requests; HTTP API ${}/M; \
         duration = reads x {} ms + single writes x {} ms + transactions x {} ms + {} ms CPU, rounded up to 1 ms",
        prices::DDB_WRU * 1e6,
        prices::DDB_RRU * 1e6,
        model.memory_gb * 1024.0,
        prices::LAMBDA_GB_S,
        prices::LAMBDA_REQUEST * 1e6,
        prices::HTTP_API_REQUEST * 1e6,
        model.read_ms,
        model.write_ms,
        model.tx_ms,
        model.cpu_ms
    );

    let mut mixes = Vec::new();
    if let Some(path) = &args.mix {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let report: Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        let counts: Vec<(String, f64)> = report["ops"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| Some((o["op"].as_str()?.to_string(), o["count"].as_f64()?)))
            .collect();
        let n_users = report["users"].as_f64().unwrap_or(0.0);
        mixes.push((
            format!("measured initial sync ({path}, {n_users} users)"),
            counts,
            n_users,
        ));
    }
    // An Entra steady-state cycle: every user and group looked up, 1% of users changed.
    mixes.push((
        "assumed steady Entra cycle (10,000 users looked up, 100 updated, 1,000 groups looked up)"
            .into(),
        vec![
            ("users.lookup_hit".into(), 10_000.0),
            ("users.update".into(), 100.0),
            ("groups.lookup".into(), 1_000.0),
        ],
        0.0,
    ));
    let mut mixes_json = Vec::new();
    let mut ok = b.rows.values().all(|r| r.errors == 0);
    for (name, counts, n_users) in &mixes {
        let mut requests = 0.0;
        let (mut ddb, mut lambda, mut apigw) = (0.0, 0.0, 0.0);
        for (op, count) in counts {
            let Some(row) = b.rows.get(op.as_str()) else {
                eprintln!("mix: no measurement for '{op}'");
                ok = false;
                continue;
            };
            let (d, l, a) = model.cost(row);
            requests += count;
            ddb += d * count;
            lambda += l * count;
            apigw += a * count;
        }
        let total = ddb + lambda + apigw;
        let per_million = if requests > 0.0 {
            total / requests * 1e6
        } else {
            0.0
        };
        println!(
            "mix: {name}: {requests:.0} requests, ${total:.4} (DynamoDB ${ddb:.4}, Lambda ${lambda:.4}, API Gateway ${apigw:.4}) = ${per_million:.2} per million requests"
        );
        if *n_users > 0.0 {
            println!(
                "     per 10,000-user initial sync: ${:.2}",
                total * 10_000.0 / n_users
            );
        }
        mixes_json.push(
            json!({"mix": name, "requests": requests, "usd": total, "ddb_usd": ddb,
            "lambda_usd": lambda, "apigw_usd": apigw, "usd_per_million": per_million}),
        );
    }
    if let Some(path) = &args.json {
        let out = json!({"engine": engine, "ops": per_op, "mixes": mixes_json});
        std::fs::write(
            path,
            serde_json::to_vec_pretty(&out).map_err(|e| e.to_string())?,
        )
        .map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(ok)
}
