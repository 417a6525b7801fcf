//! `turnpike ws`: the `@connections` API from the command line — what a
//! backend does to push to a WebSocket client, for an operator.

use std::path::PathBuf;

use clap::Subcommand;
use http::Method;

use super::admin::{Body, pretty, segment};
use super::manage::{AdminArgs, with};
use crate::control::admin::api::ConnectionInfo;

#[derive(Subcommand)]
pub(super) enum WsCommand {
    /// Send a message to a connection (`POST @connections/ID`).
    Send {
        /// The connection id.
        id: String,
        /// The message (a text message).
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        data: Option<String>,
        /// A file whose bytes are the message (text if UTF-8, else binary).
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Show when a connection opened, was last active, and who it is.
    Info {
        /// The connection id.
        id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Close a connection (its `$disconnect` route runs).
    Close {
        /// The connection id.
        id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

fn path(id: &str) -> String {
    format!("/@connections/{}", segment(id))
}

pub(super) fn run(command: WsCommand) -> Result<String, String> {
    match command {
        WsCommand::Send {
            id,
            data,
            file,
            admin,
        } => {
            let bytes = match (data, file) {
                (Some(data), _) => data.into_bytes(),
                (None, Some(file)) => std::fs::read(&file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?,
                (None, None) => return Err("give --data or --file".into()),
            };
            let size = bytes.len();
            let _: serde_json::Value = with(&admin, Method::POST, &path(&id), Body::Raw(bytes))?;
            Ok(format!("sent {size} bytes to {id}"))
        }
        WsCommand::Info { id, admin } => {
            let info: ConnectionInfo = with(&admin, Method::GET, &path(&id), Body::None)?;
            Ok(pretty(&info))
        }
        WsCommand::Close { id, admin } => {
            let _: Option<serde_json::Value> =
                with(&admin, Method::DELETE, &path(&id), Body::None)?;
            Ok(format!("closed {id}"))
        }
    }
}
