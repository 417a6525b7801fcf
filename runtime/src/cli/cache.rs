//! `turnpike cache`: a stage's response cache on a running gateway — how
//! full it is, and flushing it.

use clap::Subcommand;
use http::Method;

use super::admin::{Body, pretty, segment};
use super::manage::{AdminArgs, with};
use crate::control::admin::api::CacheView;

#[derive(Subcommand)]
pub(super) enum CacheCommand {
    /// Entries and bytes a stage's cache holds.
    Show {
        /// The API.
        api: String,
        /// The stage (`$default` for the default stage).
        stage: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Remove every entry of a stage's cache (API Gateway's "flush").
    Flush {
        /// The API.
        api: String,
        /// The stage.
        stage: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

fn path(api: &str, stage: &str) -> String {
    format!("/apis/{}/stages/{}/cache", segment(api), segment(stage))
}

pub(super) fn run(command: CacheCommand) -> Result<String, String> {
    match command {
        CacheCommand::Show { api, stage, admin } => {
            let view: CacheView = with(&admin, Method::GET, &path(&api, &stage), Body::None)?;
            Ok(pretty(&view))
        }
        CacheCommand::Flush { api, stage, admin } => {
            let view: CacheView = with(&admin, Method::DELETE, &path(&api, &stage), Body::None)?;
            Ok(format!(
                "flushed {} entries from the cache of {api}/{stage}",
                view.flushed.unwrap_or(0)
            ))
        }
    }
}
