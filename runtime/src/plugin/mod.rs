//! WebAssembly plugins: one engine, components compiled once (and cached on
//! disk by content hash), linked and pre-instantiated once per snapshot, and
//! a fresh, limited store for every invocation (or a bounded pool of reused
//! instances when a plugin asks for it).
//!
//! A plugin that traps, loops past its deadline, allocates past its memory
//! limit or returns garbage ends its own invocation with a [`PluginError`];
//! the gateway keeps serving.

mod authorizer;
mod compile;
mod engine;
mod function;
mod host;
mod instances;
mod lambda;
mod mapper;
mod output;

pub use authorizer::{Allow, AuthorizeInput, AuthorizerPlugin, Decision, RequestInfo};
pub use engine::{Allocator, EngineOptions, PluginEngine, SlotReset};
pub use function::FunctionPlugin;
pub use host::PluginSettings;
pub use instances::{InstanceMode, Plugin, idle_instances_here, release_retired_instances};
pub use lambda::{HandlerError, LambdaPlugin};
pub use mapper::{HttpRequest, HttpResponse, MapperPlugin, RequestOutcome};

use std::fmt;

/// Why a plugin invocation produced no usable result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginErrorKind {
    /// The invocation ran past its time budget.
    Timeout,
    /// The guest trapped (panic, `unreachable`, out of memory, ...).
    Trap,
    /// The guest used up its fuel.
    OutOfFuel,
    /// The guest returned an error of its own.
    Failed,
    /// No instance could be created (e.g. the instance pool is exhausted).
    Unavailable,
}

/// A failed plugin invocation.
#[derive(Debug, Clone)]
pub struct PluginError {
    /// The plugin's name.
    pub plugin: String,
    /// What happened.
    pub kind: PluginErrorKind,
    /// Details for the log.
    pub detail: String,
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            PluginErrorKind::Timeout => "ran past its time budget",
            PluginErrorKind::Trap => "trapped",
            PluginErrorKind::OutOfFuel => "ran out of fuel",
            PluginErrorKind::Failed => "returned an error",
            PluginErrorKind::Unavailable => "could not be instantiated",
        };
        write!(f, "plugin `{}` {what}: {}", self.plugin, self.detail)
    }
}

impl std::error::Error for PluginError {}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("plugin `{plugin}`: {}", one_line(.message))]
pub struct PluginLoadError {
    /// The plugin's name.
    pub plugin: String,
    /// What went wrong.
    pub message: String,
}

/// wasmtime's messages may span lines (e.g. byte dumps); config errors are one line each.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Headers as WIT entries: lower-case names, values decoded lossily.
pub fn header_entries(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
