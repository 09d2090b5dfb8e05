//! Captures every log line of the test process (JSON, at `debug`), so tests can assert that no
//! credential is ever logged.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static INIT: OnceLock<()> = OnceLock::new();

struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        BUFFER
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber for this test binary (idempotent). A process that
/// installed its own subscriber first (a bench) keeps it.
pub fn capture() {
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,hyper=info,h2=info",
            ))
            .with_writer(|| Sink)
            .try_init();
    });
}

/// Everything logged so far, by every test of this binary.
pub fn contents() -> String {
    String::from_utf8_lossy(&BUFFER.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}
