//! The operator's side of the developer portal, on the admin API:
//!
//! - `GET /portal/consumers`: every account with the keys it holds;
//!   `POST /portal/consumers/ID/approve|disable`; `DELETE
//!   /portal/consumers/ID` (its keys are revoked with it).
//! - `DELETE /portal/keys/NAME`: revokes a key a consumer holds.
//! - `GET /portal/apis`; `PUT|DELETE /portal/apis/API/STAGE`: the
//!   catalogue (body `{"description"}`).
//! - `GET /portal/plans`; `PUT /portal/plans/PLAN`: body `{"selfService",
//!   "description"}`.
//! - `POST /portal/invites`: body `{"email"}`; the code, shown once.
//!
//! Keys are removed through [`crate::control::state::Control::change`],
//! like every key change.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::api::ErrorBody;
use super::{Admin, Answer, blocking, internal_error, respond};
use crate::control::gateway::ReloadError;
use crate::control::state::remove_key;
use crate::store::portal::{ConsumerStatus, Invite, PlanListing, PortalStore, Published};
use crate::store::{ApiKeyStore, StoredKey};
use crate::util::time::rfc3339_now;

/// An account as the operator sees it (never its password hash).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerView {
    /// Its id.
    pub id: String,
    /// Its email.
    pub email: String,
    /// `pending`, `active` or `disabled`.
    pub status: ConsumerStatus,
    /// When it signed up.
    pub created_at: String,
    /// The keys it holds (never their values).
    pub keys: Vec<HeldKey>,
}

/// A key a consumer holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldKey {
    /// The key's name.
    pub name: String,
    /// Its usage plans.
    pub usage_plans: Vec<String>,
    /// When it was made (or last rotated).
    pub created_at: String,
}

/// `GET /portal/consumers`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConsumerList {
    /// Whether the gateway runs a portal (`[portal]`).
    #[serde(default)]
    pub portal: bool,
    /// Every account, oldest first.
    pub consumers: Vec<ConsumerView>,
}

/// `PUT /portal/apis/API/STAGE`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishRequest {
    /// What consumers read about the stage.
    #[serde(default)]
    pub description: String,
}

/// `GET /portal/apis`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PublishedList {
    /// Every published stage.
    pub apis: Vec<PublishedView>,
}

/// A published stage.
#[derive(Debug, Serialize, Deserialize)]
pub struct PublishedView {
    /// The API.
    pub api: String,
    /// The stage.
    pub stage: String,
    /// Its description.
    pub description: String,
}

/// `PUT /portal/plans/PLAN`, and one entry of `GET /portal/plans`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanView {
    /// The plan (ignored in a request; the path names it).
    #[serde(default)]
    pub plan: String,
    /// Consumers may subscribe themselves.
    pub self_service: bool,
    /// What consumers read about it.
    #[serde(default)]
    pub description: String,
}

/// `GET /portal/plans`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlanList {
    /// Every plan of the configuration, listed or not.
    pub plans: Vec<PlanView>,
}

/// `POST /portal/invites`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// The address that may sign up with it.
    pub email: String,
}

/// The answer to `POST /portal/invites`: the code, shown only here.
#[derive(Debug, Serialize, Deserialize)]
pub struct InviteCreated {
    /// The address.
    pub email: String,
    /// The code to give the consumer.
    pub code: String,
    /// The sign-up path with the code, on the portal.
    pub path: String,
}

struct Refusal(StatusCode, String);

impl From<ReloadError> for Refusal {
    fn from(error: ReloadError) -> Refusal {
        let status = match error {
            ReloadError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::CONFLICT,
        };
        Refusal(status, error.to_string())
    }
}

fn not_found(what: &str) -> Refusal {
    Refusal(StatusCode::NOT_FOUND, what.to_owned())
}

fn storage(e: impl std::fmt::Display) -> Refusal {
    Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Answers `/portal/...`.
pub(super) async fn handle(admin: Arc<Admin>, method: Method, path: String, body: Bytes) -> Answer {
    let outcome = blocking(move || route(&admin, &method, &path, &body)).await;
    match outcome {
        Some(Ok(answer)) => answer,
        Some(Err(Refusal(status, message))) => respond(status, &ErrorBody::message(message)),
        None => internal_error(),
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("the request body is not valid: {e}"),
        )
    })
}

fn route(admin: &Admin, method: &Method, path: &str, body: &[u8]) -> Result<Answer, Refusal> {
    let portal = admin.control.read(|d| d.config.portal.is_some());
    if !portal && *method == Method::GET && path == "/portal/consumers" {
        // The operator view asks every gateway; one without a portal has none.
        return Ok(respond(
            StatusCode::OK,
            &ConsumerList {
                portal: false,
                consumers: Vec::new(),
            },
        ));
    }
    let data_dir = admin
        .control
        .read(|d| d.config.server.data_dir.clone())
        .ok_or_else(|| {
            Refusal(
                StatusCode::CONFLICT,
                "the portal needs server.data_dir".into(),
            )
        })?;
    let store = PortalStore::new(&data_dir);
    let keys = ApiKeyStore::new(&data_dir);
    let segments: Vec<String> = path.split('/').skip(2).map(decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (method.clone(), segments.as_slice()) {
        (Method::GET, ["consumers"]) => {
            let held = keys.list().map_err(storage)?;
            let consumers = store
                .consumers()
                .map_err(storage)?
                .into_iter()
                .map(|c| ConsumerView {
                    keys: held
                        .iter()
                        .filter(|k| k.owner.as_deref() == Some(c.id.as_str()))
                        .map(|k| HeldKey {
                            name: k.name.clone(),
                            usage_plans: k.usage_plans.clone(),
                            created_at: k.created_at.clone(),
                        })
                        .collect(),
                    id: c.id,
                    email: c.email,
                    status: c.status,
                    created_at: c.created_at,
                })
                .collect();
            Ok(respond(StatusCode::OK, &ConsumerList { portal, consumers }))
        }
        (Method::POST, ["consumers", id, action @ ("approve" | "disable")]) => {
            let mut consumer = store
                .consumer(id)
                .map_err(storage)?
                .ok_or_else(|| not_found("no such consumer"))?;
            if *action == "disable" {
                revoke_keys(admin, &keys, id)?;
                consumer.status = ConsumerStatus::Disabled;
            } else {
                consumer.status = ConsumerStatus::Active;
            }
            store.put_consumer(&consumer).map_err(storage)?;
            tracing::info!(consumer = %consumer.id, status = ?consumer.status, "portal: account changed (admin API)");
            Ok(respond(
                StatusCode::OK,
                &serde_json::json!({"id": consumer.id, "status": consumer.status}),
            ))
        }
        (Method::DELETE, ["consumers", id]) => {
            if store.consumer(id).map_err(storage)?.is_none() {
                return Err(not_found("no such consumer"));
            }
            revoke_keys(admin, &keys, id)?;
            store.remove_consumer(id).map_err(storage)?;
            Ok(respond(StatusCode::OK, &serde_json::json!({"removed": id})))
        }
        (Method::DELETE, ["keys", name]) => {
            let key = keys
                .list()
                .map_err(storage)?
                .into_iter()
                .find(|k| k.name == *name && k.owner.is_some())
                .ok_or_else(|| not_found("no key of a portal consumer by that name"))?;
            revoke(admin, &keys, &key)?;
            Ok(respond(
                StatusCode::OK,
                &serde_json::json!({"revoked": key.name}),
            ))
        }
        (Method::GET, ["apis"]) => {
            let apis = store
                .published()
                .map_err(storage)?
                .into_iter()
                .map(|((api, stage), p)| PublishedView {
                    api,
                    stage,
                    description: p.description,
                })
                .collect();
            Ok(respond(StatusCode::OK, &PublishedList { apis }))
        }
        (Method::PUT, ["apis", api, stage]) => {
            let request: PublishRequest = if body.is_empty() {
                PublishRequest::default()
            } else {
                parse(body)?
            };
            let exists = admin.control.read(|d| {
                d.config
                    .apis
                    .iter()
                    .any(|a| a.name == *api && a.stages.iter().any(|s| s.name.as_str() == *stage))
            });
            if !exists {
                return Err(not_found(&format!("API `{api}` has no stage `{stage}`")));
            }
            store
                .publish(
                    api,
                    stage,
                    &Published {
                        description: request.description.clone(),
                    },
                )
                .map_err(storage)?;
            Ok(respond(
                StatusCode::OK,
                &PublishedView {
                    api: (*api).to_owned(),
                    stage: (*stage).to_owned(),
                    description: request.description,
                },
            ))
        }
        (Method::DELETE, ["apis", api, stage]) => {
            if !store.unpublish(api, stage).map_err(storage)? {
                return Err(not_found("that stage is not published"));
            }
            Ok(respond(
                StatusCode::OK,
                &serde_json::json!({"unpublished": format!("{api}/{stage}")}),
            ))
        }
        (Method::GET, ["plans"]) => {
            let listed = store.plans().map_err(storage)?;
            let plans = admin.control.read(|d| {
                d.config
                    .usage_plans
                    .iter()
                    .map(|p| {
                        let listing = listed
                            .iter()
                            .find(|(name, _)| *name == p.name)
                            .map(|(_, l)| l.clone())
                            .unwrap_or_default();
                        PlanView {
                            plan: p.name.clone(),
                            self_service: listing.self_service,
                            description: listing.description,
                        }
                    })
                    .collect()
            });
            Ok(respond(StatusCode::OK, &PlanList { plans }))
        }
        (Method::PUT, ["plans", plan]) => {
            let request: PlanView = parse(body)?;
            let exists = admin
                .control
                .read(|d| d.config.usage_plans.iter().any(|p| p.name == *plan));
            if !exists {
                return Err(not_found(&format!("no usage plan `{plan}` is configured")));
            }
            let listing = PlanListing {
                self_service: request.self_service,
                description: request.description,
            };
            store.put_plan(plan, &listing).map_err(storage)?;
            Ok(respond(
                StatusCode::OK,
                &PlanView {
                    plan: (*plan).to_owned(),
                    self_service: listing.self_service,
                    description: listing.description,
                },
            ))
        }
        (Method::POST, ["invites"]) => {
            let request: InviteRequest = parse(body)?;
            let email = request.email.trim().to_ascii_lowercase();
            if !email.contains('@') || email.len() > 254 {
                return Err(Refusal(
                    StatusCode::BAD_REQUEST,
                    "`email` is not an address".into(),
                ));
            }
            let mut code = [0u8; 24];
            getrandom::fill(&mut code).map_err(storage)?;
            let code = hex::encode(code);
            let digest = hex::encode(Sha256::digest(code.as_bytes()));
            store
                .put_invite(
                    &digest,
                    &Invite {
                        email: email.clone(),
                        created_at: rfc3339_now(),
                    },
                )
                .map_err(storage)?;
            Ok(respond(
                StatusCode::CREATED,
                &InviteCreated {
                    path: "/signup".into(),
                    email,
                    code,
                },
            ))
        }
        _ => Err(not_found("Not Found")),
    }
}

fn revoke_keys(admin: &Admin, keys: &ApiKeyStore, consumer: &str) -> Result<(), Refusal> {
    for key in keys.list().map_err(storage)? {
        if key.owner.as_deref() == Some(consumer) {
            revoke(admin, keys, &key)?;
        }
    }
    Ok(())
}

fn revoke(admin: &Admin, keys: &ApiKeyStore, key: &StoredKey) -> Result<(), Refusal> {
    admin.control.change(
        |current| {
            let mut next = current.clone();
            remove_key(&mut next.config, &key.name);
            Ok::<_, Refusal>((next, ()))
        },
        |_, _| keys.remove(&key.name).map_err(storage),
    )?;
    tracing::info!(key = %key.name, "portal: key revoked (admin API)");
    Ok(())
}
