//! A plugin's standard output and error, logged line by line into the
//! gateway's `tracing` output under the plugin's name.
//!
//! Language runtimes report their failures there: a Python traceback, a
//! JavaScript exception, a Rust panic message. Without it a plugin author
//! would see only "trapped" and a Wasm backtrace.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes of output logged per store (instance): a plugin printing in a loop
/// must not flood the gateway's log. Output beyond it is dropped, with one
/// line saying so.
pub const OUTPUT_BUDGET: usize = 16 << 10;

/// Longest line logged as one event; longer ones are split.
const MAX_LINE: usize = 2 << 10;

/// Which of the plugin's streams.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// `wasi:cli/stdout`: logged at `info`.
    Stdout,
    /// `wasi:cli/stderr`: logged at `warn`.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// The id of the request a store is serving, for its output's log lines,
/// and the last thing the guest said on stderr while serving it. A `reuse`
/// instance serves many requests, so the store updates it at each
/// invocation; the streams read it when they log.
#[derive(Default)]
pub struct CurrentRequest(Mutex<Current>);

#[derive(Default)]
struct Current {
    request_id: String,
    guest_message: Option<String>,
}

impl CurrentRequest {
    /// Records the request now being served.
    pub fn set(&self, request_id: &str) {
        let mut current = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        current.request_id.clear();
        current.request_id.push_str(request_id);
        current.guest_message = None;
    }

    /// The last line the guest wrote to stderr for the current request,
    /// leaving out what language runtimes add around it (see
    /// [`is_runtime_boilerplate`]): a Python exception's last line, a Rust
    /// panic's message.
    pub fn guest_message(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .guest_message
            .clone()
    }

    fn with<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(&self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .request_id)
    }

    fn note_stderr(&self, line: &str) {
        if !is_runtime_boilerplate(line) {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .guest_message = Some(line.trim().to_owned());
        }
    }
}

/// Lines a guest's language runtime writes around the guest's own message
/// when it fails: Rust's panic header and backtrace hint (every runtime
/// built in Rust, componentize-py's included), and componentize-py's
/// wrapper for an uncaught exception.
fn is_runtime_boilerplate(line: &str) -> bool {
    let line = line.trim();
    line.is_empty()
        || (line.starts_with("thread '") && line.contains(" panicked at "))
        || line.starts_with("note: run with `RUST_BACKTRACE=")
        || line == "Python function threw an unexpected exception"
}

/// One of a plugin store's output streams, as WASI hands it out.
#[derive(Clone)]
pub struct PluginOutput {
    plugin: Arc<str>,
    stream: Stream,
    /// Shared by both streams of one store.
    remaining: Arc<AtomicUsize>,
    request: Arc<CurrentRequest>,
}

impl PluginOutput {
    /// The stdout and stderr of one store, sharing [`OUTPUT_BUDGET`] and
    /// the store's current request.
    pub fn pair(plugin: &Arc<str>, request: &Arc<CurrentRequest>) -> (PluginOutput, PluginOutput) {
        let remaining = Arc::new(AtomicUsize::new(OUTPUT_BUDGET));
        let make = |stream| PluginOutput {
            plugin: plugin.clone(),
            stream,
            remaining: remaining.clone(),
            request: request.clone(),
        };
        (make(Stream::Stdout), make(Stream::Stderr))
    }

    fn writer(&self) -> LineWriter {
        LineWriter {
            output: self.clone(),
            line: Vec::new(),
        }
    }
}

impl IsTerminal for PluginOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PluginOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.writer())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.writer())
    }
}

/// Collects bytes into lines and logs each complete one; the last,
/// unterminated line is logged when the stream is dropped.
struct LineWriter {
    output: PluginOutput,
    line: Vec<u8>,
}

impl LineWriter {
    /// Always accepts all of `bytes`: output past the budget is dropped,
    /// not refused, so that a chatty plugin is not stalled or failed by it.
    fn accept(&mut self, bytes: &[u8]) {
        let granted = take_budget(&self.output.remaining, bytes.len());
        let mut kept = &bytes[..granted];
        while let Some(end) = kept.iter().position(|b| *b == b'\n') {
            self.push(&kept[..end]);
            self.emit();
            kept = &kept[end + 1..];
        }
        self.push(kept);
        if granted < bytes.len() {
            self.emit();
            // The first write past the budget says so, once per store.
            if self.output.remaining.swap(usize::MAX, Ordering::Relaxed) != usize::MAX {
                self.log(&format!(
                    "further output dropped: more than {OUTPUT_BUDGET} bytes"
                ));
            }
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        while self.line.len() + bytes.len() > MAX_LINE {
            let room = MAX_LINE - self.line.len();
            self.line.extend_from_slice(&bytes[..room]);
            self.emit();
            bytes = &bytes[room..];
        }
        self.line.extend_from_slice(bytes);
    }

    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end_matches('\r');
        if !text.is_empty() {
            self.log(text);
            if matches!(self.output.stream, Stream::Stderr) {
                self.output.request.note_stderr(text);
            }
        }
        self.line.clear();
    }

    fn log(&self, text: &str) {
        let output = &self.output;
        let plugin = &*output.plugin;
        let stream = output.stream.name();
        output.request.with(|request_id| match output.stream {
            Stream::Stdout => {
                tracing::info!(target: "plugin", plugin, request_id, stream, "{text}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "plugin", plugin, request_id, stream, "{text}")
            }
        })
    }
}

/// Takes up to `wanted` bytes from the store's budget; `usize::MAX` marks a
/// budget already reported as spent.
fn take_budget(remaining: &AtomicUsize, wanted: usize) -> usize {
    let mut granted = 0;
    let _ = remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
        if left == usize::MAX {
            granted = 0;
            return None;
        }
        granted = wanted.min(left);
        Some(left - granted)
    });
    granted
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.emit();
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.accept(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().accept(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_reported_spent_once() {
        let remaining = AtomicUsize::new(10);
        assert_eq!(take_budget(&remaining, 4), 4);
        assert_eq!(take_budget(&remaining, 10), 6);
        assert_eq!(take_budget(&remaining, 1), 0);
        remaining.store(usize::MAX, Ordering::Relaxed);
        assert_eq!(take_budget(&remaining, 1), 0);
    }

    #[test]
    fn the_guest_message_is_the_last_line_that_is_not_the_runtimes() {
        let plugin: Arc<str> = "p".into();
        let request = Arc::new(CurrentRequest::default());
        request.set("r1");
        let (_, err) = PluginOutput::pair(&plugin, &request);
        let mut writer = err.writer();
        writer.accept(
            b"Traceback (most recent call last):\n  File \"/0/app.py\", line 38, in decide\n\
RuntimeError: asked to fail\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1293:29:\n\
Python function threw an unexpected exception\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
        );
        assert_eq!(
            request.guest_message().as_deref(),
            Some("RuntimeError: asked to fail")
        );
        // A Rust panic: the message follows the header.
        request.set("r2");
        assert_eq!(request.guest_message(), None);
        writer.accept(b"thread '<unnamed>' panicked at src/lib.rs:9:5:\nout of tokens\n");
        assert_eq!(request.guest_message().as_deref(), Some("out of tokens"));
    }

    #[test]
    fn long_lines_are_split_and_partial_lines_kept() {
        let plugin: Arc<str> = "p".into();
        let (out, _) = PluginOutput::pair(&plugin, &Arc::default());
        let mut writer = out.writer();
        writer.accept(b"abc");
        assert_eq!(writer.line, b"abc");
        writer.accept(b"def\nxy");
        assert_eq!(writer.line, b"xy");
        writer.accept(&vec![b'z'; MAX_LINE + 5]);
        assert_eq!(writer.line.len(), 7);
    }
}
