//! `scim-load`: plays an identity provider's provisioning cycle against any SCIM base URL
//! and reports requests/s and p50/p95/p99 latency per operation, and the error count.
//! Exits non-zero if any request failed.
//!
//! ```text
//! scim-load --base-url http://127.0.0.1:8080/scim/v2 --token T \
//!           --users 10000 --groups 1000 --memberships 100000 --concurrency 16
//! ```
//!
//! The cycle, phase by phase (each phase waits for the previous one):
//! 1. users: Entra-style `GET /Users?filter=userName eq "..."` (expects none), then `POST`;
//! 2. groups: `GET /Groups?filter=displayName eq "..."&excludedAttributes=members`, `POST`;
//! 3. memberships: K user-group pairs, added by `PATCH /Groups/{id}` with `--batch`
//!    members per request. Group g gets users g·S, g·S+1, ... (mod N) where S is
//!    `--member-stride`, by default K/M: groups in flight together then share no user. A
//!    smaller stride makes concurrent PATCHes add the same users to different groups, whose
//!    transactions conflict (each checks its members exist) and are retried;
//! 4. updates: Entra's five-operation `PATCH /Users/{id}` on `--updates` users;
//! 5. deactivations: `PATCH active False` on `--deactivations` other users;
//! 6. import: Okta-style `GET /Users?startIndex=..&count=100` through all users, then
//!    `GET /Groups?startIndex=..&count=100&excludedAttributes=members` through all groups
//!    (sequential, as Okta pages).
//!
//! `--window N` also reports the users phase's rate per N users (lookup + create each), first
//! to last, so a run to 50,000 users shows whether writes slow down as the data grows;
//! `--flat-within P` then fails the run (exit 1) when the last window is more than P% slower
//! than the first (BENCHMARKS.md, "Writes as data grows").
//!
//! Names carry `--prefix` (default: a timestamp), so runs against the same server do not
//! collide. Every request has a timeout (`--timeout-secs`, 60) and the whole run a deadline
//! (`--max-secs`, 3600): a bounded run either way.

use futures::stream::{self, StreamExt};
use scim_load::{
    entra_update, entra_user, ms, number, parse_args, summary, Histogram, Stats, Windows,
};
use scim_test_support::query::q;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Plays an identity provider's provisioning cycle against a SCIM base URL and reports
/// requests/s and latency per operation; exits 1 if any request failed.
#[derive(argh::FromArgs)]
struct Args {
    /// the SCIM base URL (e.g. http://127.0.0.1:8080/scim/v2)
    #[argh(option)]
    base_url: String,
    /// the bearer token (default: SCIM_TOKEN)
    #[argh(option)]
    token: Option<String>,
    /// users to create (1000)
    #[argh(option, default = "1000", from_str_fn(number))]
    users: usize,
    /// groups to create (100)
    #[argh(option, default = "100", from_str_fn(number))]
    groups: usize,
    /// user-group pairs to add (default: 10 per user)
    #[argh(option, from_str_fn(number))]
    memberships: Option<usize>,
    /// requests in flight (8)
    #[argh(option, default = "8", from_str_fn(number))]
    concurrency: usize,
    /// members per PATCH (100)
    #[argh(option, default = "100", from_str_fn(number))]
    batch: usize,
    /// users updated (default: a tenth of them)
    #[argh(option, from_str_fn(number))]
    updates: Option<usize>,
    /// other users deactivated (default: a twentieth of them)
    #[argh(option, from_str_fn(number))]
    deactivations: Option<usize>,
    /// prefix of every name (default: load<unix time>)
    #[argh(option)]
    prefix: Option<String>,
    /// write the report as JSON to this file
    #[argh(option)]
    json: Option<String>,
    /// each request's timeout in seconds (60)
    #[argh(option, default = "60", from_str_fn(number))]
    timeout_secs: u64,
    /// the whole run's deadline in seconds (3600)
    #[argh(option, default = "3600", from_str_fn(number))]
    max_secs: u64,
    /// page through all users and groups at the end (true; false or 0 skips it)
    #[argh(option, default = "true", from_str_fn(yes_no))]
    import: bool,
    /// the first member of group g is user g times this (default: memberships / groups)
    #[argh(option, from_str_fn(number))]
    member_stride: Option<usize>,
    /// report the users phase's rate per this many users (0: not)
    #[argh(option, default = "0", from_str_fn(number))]
    window: usize,
    /// with --window: fail when the last window's rate is more than this many percent below
    /// the first's
    #[argh(option, from_str_fn(number))]
    flat_within: Option<f64>,
}

fn yes_no(value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("'{value}' is not true or false")),
    }
}

struct Ctx {
    client: reqwest::Client,
    base: String,
    token: String,
    deadline: Instant,
    /// The first few failures, for the report.
    failures: std::sync::Mutex<Vec<String>>,
}

/// One timed request: `(op, latency, ok)` plus the parsed body when it succeeded.
struct Outcome {
    op: &'static str,
    took: Duration,
    ok: bool,
    body: Value,
}

impl Ctx {
    async fn call(
        &self,
        op: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        want: u16,
    ) -> Outcome {
        if Instant::now() > self.deadline {
            self.fail(format!("{op}: the run's deadline (--max-secs) passed"));
            return Outcome {
                op,
                took: Duration::ZERO,
                ok: false,
                body: Value::Null,
            };
        }
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .header("Authorization", format!("Bearer {}", self.token));
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/scim+json")
                .body(serde_json::to_vec(b).unwrap_or_default());
        }
        let started = Instant::now();
        let result = async {
            let resp = req.send().await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let text = resp.text().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((status, text))
        }
        .await;
        let took = started.elapsed();
        match result {
            Ok((status, text)) if status == want => Outcome {
                op,
                took,
                ok: true,
                body: serde_json::from_str(&text).unwrap_or(Value::Null),
            },
            Ok((status, text)) => {
                self.fail(format!(
                    "{op} {path}: {status} (wanted {want}): {}",
                    text.chars().take(300).collect::<String>()
                ));
                Outcome {
                    op,
                    took,
                    ok: false,
                    body: Value::Null,
                }
            }
            Err(e) => {
                self.fail(format!("{op} {path}: {e}"));
                Outcome {
                    op,
                    took,
                    ok: false,
                    body: Value::Null,
                }
            }
        }
    }

    fn fail(&self, message: String) {
        if let Ok(mut f) = self.failures.lock() {
            if f.len() < 20 {
                f.push(message);
            }
        }
    }
}

/// Runs `jobs` with at most `c` in flight and collects their outcomes into `stats`.
async fn run<F, Fut>(stats: &mut Stats, c: usize, jobs: Vec<F>) -> Vec<Vec<Outcome>>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Vec<Outcome>>,
{
    let results: Vec<Vec<Outcome>> = stream::iter(jobs.into_iter().map(|j| j()))
        .buffered(c.max(1))
        .collect()
        .await;
    for outcomes in &results {
        for o in outcomes {
            stats
                .entry(o.op.to_string())
                .or_default()
                .record(o.took, o.ok);
        }
    }
    results
}

struct Phase {
    name: &'static str,
    secs: f64,
    ops: Vec<String>,
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
            eprintln!("scim-load: {e}");
            ExitCode::from(2)
        }
    }
}

async fn main_inner(args: Args) -> Result<bool, String> {
    let base = args.base_url.trim_end_matches('/').to_string();
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var("SCIM_TOKEN").ok())
        .ok_or("--token (or SCIM_TOKEN) is required")?;
    let n = args.users;
    let m = args.groups;
    let k = args.memberships.unwrap_or(n * 10);
    let c = args.concurrency;
    let batch = args.batch;
    let updates = args.updates.unwrap_or(n / 10);
    let deactivations = args.deactivations.unwrap_or(n / 20);
    let import = args.import;
    let timeout = args.timeout_secs;
    let max_secs = args.max_secs;
    let prefix = args.prefix.clone().unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!("load{t}")
    });
    if m > 0 && k.div_ceil(m) > n {
        return Err(format!(
            "--memberships {k} over {m} groups needs at least {} users",
            k.div_ceil(m)
        ));
    }
    if m == 0 && k > 0 {
        return Err("--memberships needs --groups".into());
    }
    if updates + deactivations > n {
        return Err("--updates + --deactivations must not exceed --users".into());
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout))
        .pool_max_idle_per_host(c.max(1))
        .build()
        .map_err(|e| e.to_string())?;
    let ctx = Arc::new(Ctx {
        client,
        base: base.clone(),
        token,
        deadline: Instant::now() + Duration::from_secs(max_secs),
        failures: std::sync::Mutex::new(Vec::new()),
    });
    eprintln!(
        "scim-load: {base}: users {n}, groups {m}, memberships {k} (batch {batch}), updates {updates}, deactivations {deactivations}, concurrency {c}, prefix {prefix}"
    );
    let started = Instant::now();
    let mut stats = Stats::new();
    let mut phases = Vec::new();

    // 1. Users: lookup, then create.
    let t = Instant::now();
    let windows = Arc::new(Windows::new(args.window, t));
    let jobs: Vec<_> = (0..n)
        .map(|i| {
            let ctx = Arc::clone(&ctx);
            let windows = Arc::clone(&windows);
            let name = format!("{prefix}.user{i}@contoso.com");
            move || async move {
                let filter = q(&format!("userName eq \"{name}\""));
                let look = ctx
                    .call(
                        "users.lookup",
                        reqwest::Method::GET,
                        &format!("/Users?filter={filter}"),
                        None,
                        200,
                    )
                    .await;
                if look.ok && look.body["totalResults"] != 0 {
                    ctx.fail(format!("users.lookup {name}: found before it was created"));
                }
                let create = ctx
                    .call(
                        "users.create",
                        reqwest::Method::POST,
                        "/Users",
                        Some(&entra_user(&name, i)),
                        201,
                    )
                    .await;
                windows.tick();
                vec![look, create]
            }
        })
        .collect();
    let results = run(&mut stats, c, jobs).await;
    let user_ids: Vec<Option<String>> = results
        .iter()
        .map(|o| {
            o.get(1)
                .and_then(|c| c.body["id"].as_str().map(String::from))
        })
        .collect();
    phases.push(Phase {
        name: "users",
        secs: t.elapsed().as_secs_f64(),
        ops: vec!["users.lookup".into(), "users.create".into()],
    });
    report_progress("users", &stats, t);
    let window_rates = windows.rates();
    let flat = report_windows(&windows, &window_rates, args.flat_within);

    // 2. Groups: lookup, then create.
    let t = Instant::now();
    let jobs: Vec<_> = (0..m)
        .map(|g| {
            let ctx = Arc::clone(&ctx);
            let name = format!("{prefix} group {g}");
            let external_id = format!("{prefix}-g{g}");
            move || async move {
                let filter = q(&format!("displayName eq \"{name}\""));
                let look = ctx
                    .call(
                        "groups.lookup",
                        reqwest::Method::GET,
                        &format!("/Groups?filter={filter}&excludedAttributes=members"),
                        None,
                        200,
                    )
                    .await;
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": name,
                    "externalId": external_id,
                });
                let create = ctx
                    .call(
                        "groups.create",
                        reqwest::Method::POST,
                        "/Groups",
                        Some(&body),
                        201,
                    )
                    .await;
                vec![look, create]
            }
        })
        .collect();
    let results = run(&mut stats, c, jobs).await;
    let group_ids: Vec<Option<String>> = results
        .iter()
        .map(|o| {
            o.get(1)
                .and_then(|c| c.body["id"].as_str().map(String::from))
        })
        .collect();
    phases.push(Phase {
        name: "groups",
        secs: t.elapsed().as_secs_f64(),
        ops: vec!["groups.lookup".into(), "groups.create".into()],
    });
    report_progress("groups", &stats, t);

    // 3. Memberships: K pairs in PATCH batches.
    let t = Instant::now();
    let mut jobs = Vec::new();
    if m > 0 && k > 0 {
        let stride = args.member_stride.unwrap_or(k.div_ceil(m));
        for g in 0..m {
            let per_group = k / m + usize::from(g < k % m);
            let members: Vec<String> = (0..per_group)
                .filter_map(|s| user_ids[(g * stride + s) % n].clone())
                .collect();
            let Some(gid) = group_ids[g].clone() else {
                continue;
            };
            for chunk in members.chunks(batch.max(1)) {
                let ctx = Arc::clone(&ctx);
                let gid = gid.clone();
                let value: Vec<Value> = chunk.iter().map(|id| json!({"value": id})).collect();
                jobs.push(move || async move {
                    let body = json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "Add", "path": "members", "value": value}]
                    });
                    vec![
                        ctx.call(
                            "groups.add_members",
                            reqwest::Method::PATCH,
                            &format!("/Groups/{gid}"),
                            Some(&body),
                            204,
                        )
                        .await,
                    ]
                });
            }
        }
    }
    run(&mut stats, c, jobs).await;
    phases.push(Phase {
        name: "memberships",
        secs: t.elapsed().as_secs_f64(),
        ops: vec!["groups.add_members".into()],
    });
    report_progress("memberships", &stats, t);

    // 4. Updates and 5. deactivations.
    for (phase, op, range) in [
        ("updates", "users.update", 0..updates),
        (
            "deactivations",
            "users.deactivate",
            updates..updates + deactivations,
        ),
    ] {
        let t = Instant::now();
        let jobs: Vec<_> = range
            .filter_map(|i| user_ids[i].clone().map(|id| (i, id)))
            .map(|(i, id)| {
                let ctx = Arc::clone(&ctx);
                move || async move {
                    let body = if op == "users.update" {
                        entra_update(i)
                    } else {
                        json!({
                            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                            "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
                        })
                    };
                    vec![
                        ctx.call(
                            op,
                            reqwest::Method::PATCH,
                            &format!("/Users/{id}"),
                            Some(&body),
                            200,
                        )
                        .await,
                    ]
                }
            })
            .collect();
        run(&mut stats, c, jobs).await;
        phases.push(Phase {
            name: phase,
            secs: t.elapsed().as_secs_f64(),
            ops: vec![op.into()],
        });
        report_progress(phase, &stats, t);
    }

    // 6. Okta import: page through every user, then every group (sequentially).
    if import {
        for (phase, op, endpoint, extra) in [
            ("import users", "users.import_page", "Users", ""),
            (
                "import groups",
                "groups.import_page",
                "Groups",
                "&excludedAttributes=members",
            ),
        ] {
            let t = Instant::now();
            let mut start = 1u64;
            let mut seen = HashSet::new();
            let mut h = Histogram::default();
            loop {
                let o = ctx
                    .call(
                        op,
                        reqwest::Method::GET,
                        &format!("/{endpoint}?startIndex={start}&count=100{extra}"),
                        None,
                        200,
                    )
                    .await;
                h.record(o.took, o.ok);
                if !o.ok {
                    break;
                }
                let items = o.body["Resources"].as_array().cloned().unwrap_or_default();
                for r in &items {
                    if let Some(id) = r["id"].as_str() {
                        if !seen.insert(id.to_string()) {
                            ctx.fail(format!("{op}: {id} returned twice"));
                        }
                    }
                }
                let total = o.body["totalResults"].as_u64().unwrap_or(0);
                start += items.len() as u64;
                if items.is_empty() || start > total {
                    if (seen.len() as u64) != total {
                        ctx.fail(format!(
                            "{op}: saw {} resources, totalResults says {total}",
                            seen.len()
                        ));
                        h.errors += 1;
                    }
                    break;
                }
            }
            stats.entry(op.to_string()).or_default().merge(h);
            phases.push(Phase {
                name: phase,
                secs: t.elapsed().as_secs_f64(),
                ops: vec![op.into()],
            });
            report_progress(phase, &stats, t);
        }
    }

    let total_secs = started.elapsed().as_secs_f64();
    let total_requests: usize = stats.values().map(Histogram::count).sum();
    let total_errors: u64 = stats.values().map(|h| h.errors).sum();
    println!();
    println!(
        "{:<20} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "operation", "count", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    let mut ops_json = Vec::new();
    for p in &phases {
        for op in &p.ops {
            let Some(h) = stats.get(op) else { continue };
            let s = summary(op, h, p.secs);
            println!(
                "{:<20} {:>8} {:>7} {:>9.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                op,
                h.count(),
                h.errors,
                s["rps"].as_f64().unwrap_or(0.0),
                ms(h.quantile(0.5)),
                ms(h.quantile(0.95)),
                ms(h.quantile(0.99)),
                ms(h.max())
            );
            ops_json.push(s);
        }
    }
    println!(
        "total: {total_requests} requests in {total_secs:.1} s = {:.0} req/s; errors {total_errors}",
        total_requests as f64 / total_secs
    );
    for p in &phases {
        println!("  phase {:<14} {:>8.1} s", p.name, p.secs);
    }
    let failures = ctx.failures.lock().map(|f| f.clone()).unwrap_or_default();
    for f in &failures {
        eprintln!("failure: {f}");
    }
    if let Some(path) = &args.json {
        let report = json!({
            "base_url": base,
            "users": n, "groups": m, "memberships": k, "batch": batch,
            "updates": updates, "deactivations": deactivations, "concurrency": c,
            "total_requests": total_requests,
            "total_errors": total_errors,
            "total_secs": total_secs,
            "requests_per_sec": total_requests as f64 / total_secs,
            "phases": phases.iter().map(|p| json!({"phase": p.name, "secs": p.secs})).collect::<Vec<_>>(),
            "ops": ops_json,
            "failures": failures,
            "user_windows": {"size": windows.size(), "users_per_sec": window_rates},
        });
        std::fs::write(
            path,
            serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?,
        )
        .map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(total_errors == 0 && failures.is_empty() && flat)
}

/// Prints the users phase's rate per window; false when `--flat-within` is given and the
/// last full window is slower than the first by more than that percentage.
fn report_windows(windows: &Windows, rates: &[f64], flat_within: Option<f64>) -> bool {
    let size = windows.size();
    if size == 0 {
        return true;
    }
    println!("users per second, per {size} users (a lookup and a create each):");
    for (k, r) in rates.iter().enumerate() {
        println!(
            "  users {:>7}-{:<7} {r:>8.0}/s",
            k * size + 1,
            (k + 1) * size
        );
    }
    let (Some(first), Some(last)) = (rates.first(), rates.last()) else {
        println!("  (no full window)");
        return flat_within.is_none();
    };
    let ratio = if *first > 0.0 { last / first } else { 0.0 };
    println!(
        "first window {first:.0}/s, last window {last:.0}/s: last/first = {:.1}%",
        ratio * 100.0
    );
    match flat_within {
        Some(p) if ratio < 1.0 - p / 100.0 => {
            eprintln!("scim-load: the last window is more than {p}% slower than the first");
            false
        }
        _ => true,
    }
}

fn report_progress(phase: &str, stats: &Stats, t: Instant) {
    let errors: u64 = stats.values().map(|h| h.errors).sum();
    eprintln!(
        "  {phase} done in {:.1} s (errors so far: {errors})",
        t.elapsed().as_secs_f64()
    );
}
