//! `turnpike cluster status`: the fleet as a node's admin API reports it —
//! every live node, the change it applied, lagging and failing ones
//! marked, and what each serves per stage and plugin.

use std::fmt::Write;

use clap::Subcommand;
use http::Method;

use super::admin::{Body, pretty};
use super::manage::{AdminArgs, with};
use crate::control::admin::api::ClusterView;

#[derive(Subcommand)]
pub(super) enum ClusterCommand {
    /// Every live node, the change it applied and what it serves.
    Status {
        /// Print the admin API's JSON as it is.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

pub(super) fn run(command: ClusterCommand) -> Result<String, String> {
    match command {
        ClusterCommand::Status { json, admin } => {
            let view: ClusterView = with(&admin, Method::GET, "/cluster", Body::None)?;
            Ok(if json { pretty(&view) } else { table(&view) })
        }
    }
}

/// The view as a table, then what each node serves.
fn table(view: &ClusterView) -> String {
    let mut out = String::new();
    let head = view
        .head
        .map_or_else(|| "unknown".to_owned(), |h| h.to_string());
    let _ = writeln!(out, "cluster {}: last change {head}", view.cluster);
    if let Some(error) = &view.redis.error {
        let _ = writeln!(out, "redis: UNREACHABLE ({error}); only this node is shown");
    }
    let _ = writeln!(
        out,
        "{:<24} {:>8}  {:<8} {:<22} HEARTBEAT",
        "NODE", "APPLIED", "STATE", "ADMIN"
    );
    for node in &view.nodes {
        let status = &node.status;
        let state = if node.failing {
            "FAILING"
        } else if node.lagging {
            "LAGGING"
        } else {
            "ok"
        };
        let marker = if status.node == view.node { " *" } else { "" };
        let _ = writeln!(
            out,
            "{:<24} {:>8}  {:<8} {:<22} {}",
            format!("{}{marker}", status.node),
            status.applied,
            state,
            status.admin.as_deref().unwrap_or("-"),
            status.heartbeat_at
        );
        if let Some(failure) = &status.failure {
            let _ = writeln!(out, "    failure: {failure}");
        }
    }
    for node in &view.nodes {
        let serving = &node.status.serving;
        let _ = writeln!(out, "\n{} serves:", node.status.node);
        for (stage, s) in &serving.stages {
            let deployment = s.deployment.as_deref().unwrap_or("(configuration file)");
            let canary = s
                .canary
                .as_ref()
                .map(|(d, p)| format!(", canary {d} at {p}%"))
                .unwrap_or_default();
            let _ = writeln!(out, "  stage  {stage}: {deployment}{canary}");
        }
        for (plugin, version) in &serving.plugins {
            let _ = writeln!(out, "  plugin {plugin}: {version}");
        }
    }
    out.trim_end().to_owned()
}
