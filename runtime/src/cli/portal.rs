//! `turnpike portal`: the operator's side of the developer portal on a
//! running gateway — accounts (approve, disable, remove), who holds which
//! keys, revoking a key, the catalogue, self-service plans and invitations.

use std::fmt::Write;

use clap::Subcommand;
use http::Method;
use serde_json::{Value, json};

use super::admin::{Body, segment};
use super::manage::{AdminArgs, with};
use crate::control::admin::portal::{ConsumerList, InviteCreated, PlanList, PublishedList};

#[derive(Subcommand)]
pub(super) enum PortalCommand {
    /// Every consumer account, its status and the keys it holds.
    Consumers {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Let a consumer who signed up sign in (`signup = "approval"`).
    Approve {
        /// The consumer's id (from `turnpike portal consumers`).
        id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Stop a consumer: its keys are revoked, it can no longer sign in.
    Disable {
        /// The consumer's id.
        id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Remove a consumer's account and revoke its keys.
    Remove {
        /// The consumer's id.
        id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Revoke a key a consumer holds.
    Revoke {
        /// The key's name.
        key: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Put a stage in the catalogue (or change its description).
    Publish {
        /// The API.
        api: String,
        /// The stage (`$default` for the default stage).
        stage: String,
        /// What consumers read about it.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Take a stage out of the catalogue.
    Unpublish {
        /// The API.
        api: String,
        /// The stage.
        stage: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Every usage plan and whether consumers may subscribe themselves.
    Plans {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Offer a usage plan to consumers (or stop offering it), with the
    /// description they read.
    Plan {
        /// The usage plan.
        plan: String,
        /// Consumers may subscribe themselves.
        #[arg(long)]
        self_service: bool,
        /// What consumers read about it.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Invite an address to sign up (`signup = "invite"`); prints the code
    /// once.
    Invite {
        /// The address.
        email: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

pub(super) fn run(command: PortalCommand) -> Result<String, String> {
    match command {
        PortalCommand::Consumers { admin } => {
            let list: ConsumerList = with(&admin, Method::GET, "/portal/consumers", Body::None)?;
            let mut out = format!("{:<14} {:<9} {:<32} KEYS\n", "ID", "STATUS", "EMAIL");
            for c in list.consumers {
                let status = serde_json::to_value(c.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let keys: Vec<String> = c
                    .keys
                    .iter()
                    .map(|k| format!("{} ({})", k.name, k.usage_plans.join(", ")))
                    .collect();
                let _ = writeln!(
                    out,
                    "{:<14} {:<9} {:<32} {}",
                    c.id,
                    status,
                    c.email,
                    if keys.is_empty() {
                        "-".into()
                    } else {
                        keys.join("; ")
                    }
                );
            }
            Ok(out.trim_end().to_owned())
        }
        PortalCommand::Approve { id, admin } => {
            let _: Value = with(
                &admin,
                Method::POST,
                &format!("/portal/consumers/{}/approve", segment(&id)),
                Body::None,
            )?;
            Ok(format!("approved consumer {id}: they can sign in now"))
        }
        PortalCommand::Disable { id, admin } => {
            let _: Value = with(
                &admin,
                Method::POST,
                &format!("/portal/consumers/{}/disable", segment(&id)),
                Body::None,
            )?;
            Ok(format!("disabled consumer {id}; their keys are revoked"))
        }
        PortalCommand::Remove { id, admin } => {
            let _: Value = with(
                &admin,
                Method::DELETE,
                &format!("/portal/consumers/{}", segment(&id)),
                Body::None,
            )?;
            Ok(format!("removed consumer {id} and revoked their keys"))
        }
        PortalCommand::Revoke { key, admin } => {
            let _: Value = with(
                &admin,
                Method::DELETE,
                &format!("/portal/keys/{}", segment(&key)),
                Body::None,
            )?;
            Ok(format!("revoked key {key}"))
        }
        PortalCommand::Publish {
            api,
            stage,
            description,
            admin,
        } => {
            let body = json!({ "description": description })
                .to_string()
                .into_bytes();
            let _: Value = with(
                &admin,
                Method::PUT,
                &format!("/portal/apis/{}/{}", segment(&api), segment(&stage)),
                Body::Json(body),
            )?;
            Ok(format!("published {api} {stage}"))
        }
        PortalCommand::Unpublish { api, stage, admin } => {
            let _: Value = with(
                &admin,
                Method::DELETE,
                &format!("/portal/apis/{}/{}", segment(&api), segment(&stage)),
                Body::None,
            )?;
            Ok(format!("unpublished {api} {stage}"))
        }
        PortalCommand::Plans { admin } => {
            let list: PlanList = with(&admin, Method::GET, "/portal/plans", Body::None)?;
            let published: PublishedList = with(&admin, Method::GET, "/portal/apis", Body::None)?;
            let mut out = String::from("PLAN                 SELF-SERVICE  DESCRIPTION\n");
            for p in list.plans {
                let _ = writeln!(
                    out,
                    "{:<20} {:<13} {}",
                    p.plan,
                    if p.self_service { "yes" } else { "no" },
                    p.description
                );
            }
            out.push_str("\nPUBLISHED\n");
            for a in published.apis {
                let _ = writeln!(out, "{} {}: {}", a.api, a.stage, a.description);
            }
            Ok(out.trim_end().to_owned())
        }
        PortalCommand::Plan {
            plan,
            self_service,
            description,
            admin,
        } => {
            let body = json!({ "selfService": self_service, "description": description })
                .to_string()
                .into_bytes();
            let _: Value = with(
                &admin,
                Method::PUT,
                &format!("/portal/plans/{}", segment(&plan)),
                Body::Json(body),
            )?;
            Ok(if self_service {
                format!("plan {plan} is open to self-service subscription")
            } else {
                format!("plan {plan} is not offered to consumers")
            })
        }
        PortalCommand::Invite { email, admin } => {
            let body = json!({ "email": email }).to_string().into_bytes();
            let created: InviteCreated =
                with(&admin, Method::POST, "/portal/invites", Body::Json(body))?;
            Ok(format!(
                "invitation for {} (shown only now): {}\nthey enter it on the portal's {} page",
                created.email, created.code, created.path
            ))
        }
    }
}
