//! Log capture: what a test's tracing subscriber writes, to assert that no token, secret or
//! password is ever logged.

use std::sync::{Arc, Mutex};

/// Everything a test's subscriber writes (a `MakeWriter` into one shared buffer).
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// Everything logged at `level` and above on this thread until the guard drops (with a
/// `current_thread` runtime, that is the server and the SDK too).
pub fn capture(level: tracing::Level) -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_max_level(level)
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    fresh_interest();
    (capture, guard)
}

/// Recomputes every call site's cached interest. Under `cargo test` other tests' threads
/// register call sites concurrently; one registered while this thread's subscriber was
/// being installed can stay cached as "never" and go missing from the capture (nextest,
/// one process per test, has no such race).
pub fn fresh_interest() {
    tracing::callsite::rebuild_interest_cache();
}
