//! moto's standalone server (local Secrets Manager + EventBridge) for tests.
//!
//! `moto_server` comes from `tests/tools/.venv`, created by
//! `tests/tools/install.sh` from `tests/tools/requirements.txt`.
//!
//! ```ignore
//! let moto = MotoServer::start()?;          // ~0.4-0.6 s
//! // AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL_EVENTBRIDGE = moto.endpoint,
//! // any credentials, any region
//! moto.reset()?;                            // forget every resource (POST /moto-api/reset)
//! drop(moto);                               // kills and reaps the server
//! ```
//!
//! Known moto faults (`tests/tools/README.md`): after
//! `UpdateSecretVersionStage`, `GetSecretValue` without `VersionStage` can
//! return a stale value, so always pass `VersionStage`; `PutEvents` answers
//! 500 when a rule on the bus has a Lambda target; schedules never fire.
//!
//! Environment override: `SCIM_TEST_TOOLS_DIR` (the `tests/tools` folder).
//! [`start`] is what a test calls: it fails the test with the install hint. The SDK clients
//! for it are in [`crate::aws`].

use crate::launch::{free_port, log_tail, make_temp_dir, tools_dir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(30);
const PORT_ATTEMPTS: u32 = 3;

/// A moto server for one test; panics (failing the test) with how to install moto when it
/// cannot start.
pub fn start() -> MotoServer {
    MotoServer::start().unwrap_or_else(|e| {
        panic!(
            "moto (the Secrets Manager, EventBridge and SQS emulator) could not start: {e}\n\
             Install the test tools with tests/tools/install.sh (tests/run.sh runs it)."
        )
    })
}

/// A running `moto_server`, killed when dropped.
pub struct MotoServer {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    /// The loopback port it listens on.
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl MotoServer {
    /// Start `moto_server` on a free loopback port and wait until
    /// `GET /moto-api/` answers 200.
    pub fn start() -> Result<MotoServer, String> {
        let tools = tools_dir();
        let bin = tools.join(".venv/bin/moto_server");
        if !bin.is_file() {
            return Err(format!(
                "moto is not installed ({} missing); run tests/tools/install.sh",
                bin.display()
            ));
        }
        let dir = make_temp_dir("moto")?;

        let mut last_err = String::new();
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port()?;
            let log_path = dir.join(format!("moto-{attempt}.log"));
            let log = std::fs::File::create(&log_path)
                .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
            let log2 = log
                .try_clone()
                .map_err(|e| format!("cannot clone log file handle: {e}"))?;

            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p"])
                .arg(port.to_string())
                .current_dir(&dir)
                // Keep the server from picking up real credentials or a proxy.
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env_remove("AWS_PROFILE")
                .env_remove("HTTP_PROXY")
                .env_remove("HTTPS_PROXY")
                .stdin(Stdio::null())
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(log2))
                .spawn()
                .map_err(|e| {
                    let _ = std::fs::remove_dir_all(&dir);
                    format!("cannot run {}: {e}", bin.display())
                })?;

            let mut moto = MotoServer {
                endpoint: format!("http://127.0.0.1:{port}"),
                port,
                child,
                dir: dir.clone(),
            };
            match moto.wait_ready(&log_path) {
                Ok(()) => return Ok(moto),
                Err((retry, msg)) => {
                    last_err = msg;
                    moto.dir = PathBuf::new(); // keep the dir (logs) when dropping
                    drop(moto);
                    if !retry {
                        break;
                    }
                }
            }
        }
        // The log stays in `dir` for inspection; its tail is in the message.
        Err(last_err)
    }

    /// Forget every resource moto holds (`POST /moto-api/reset`).
    pub fn reset(&self) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let resp = http(addr, "POST", "/moto-api/reset").map_err(|e| format!("moto reset: {e}"))?;
        if resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200") {
            Ok(())
        } else {
            Err(format!(
                "moto reset answered: {}",
                resp.lines().next().unwrap_or("")
            ))
        }
    }

    /// Err((retry_with_another_port, message))
    fn wait_ready(&mut self, log_path: &Path) -> Result<(), (bool, String)> {
        let started = Instant::now();
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let tail = log_tail(log_path);
                let port_clash = tail.contains("Address already in use");
                return Err((
                    port_clash,
                    format!(
                        "moto_server exited during start-up ({status}) on port {}; log {}:\n{tail}",
                        self.port,
                        log_path.display()
                    ),
                ));
            }
            if let Ok(resp) = http(addr, "GET", "/moto-api/") {
                if resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200") {
                    return Ok(());
                }
            }
            if started.elapsed() > START_TIMEOUT {
                return Err((
                    false,
                    format!(
                        "moto_server did not answer on {} within {:?}; log {}:\n{}",
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

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn http(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
