//! Diagnostics through `tracing`, printed to stderr without tearing the progress bar.

use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

use indicatif::ProgressBar;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

static ACTIVE_BAR: OnceLock<ProgressBar> = OnceLock::new();

/// Registers the progress bar that log lines are printed above.
pub fn set_progress_bar(bar: &ProgressBar) {
    ACTIVE_BAR.get_or_init(|| bar.clone());
}

struct StderrAboveBar;

impl Write for StderrAboveBar {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match ACTIVE_BAR.get() {
            Some(bar) => bar.suspend(|| io::stderr().write_all(buf))?,
            None => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

struct MakeStderrAboveBar;

impl<'a> MakeWriter<'a> for MakeStderrAboveBar {
    type Writer = StderrAboveBar;

    fn make_writer(&'a self) -> Self::Writer {
        StderrAboveBar
    }
}

/// Starts logging at `default_level` (`info`, `warn`, ...) unless `RUST_LOG` sets another filter.
pub fn init(default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(MakeStderrAboveBar)
        .with_target(false)
        .with_ansi(io::stderr().is_terminal())
        .init();
}
