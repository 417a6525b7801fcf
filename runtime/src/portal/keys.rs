//! A consumer's keys: subscribing to a self-service usage plan (a new API
//! key, shown once), rotating a key (a new value, the same name, plans and
//! usage), revoking it, and the calls per day against the plan's quota.
//!
//! Keys made here are ordinary API keys: recorded in `DATA_DIR/api_keys`
//! with their owner and served after a [`Control::change`] like the admin
//! API's (so cluster mode shares them). A consumer acts only on keys whose
//! owner is their own account.

use http::{Request, StatusCode, request::Parts};
use hyper::body::Incoming;
use serde::Serialize;

use super::accounts::{Session, csrf_ok};
use super::catalogue::published;
use super::pages::{escape, html, page, problem};
use super::{Answer, Form, Portal, field, secured};
use crate::config::{QuotaPeriod, UsagePlanConfig};
use crate::control::gateway::ReloadError;
use crate::control::state::{add_key, remove_key};
use crate::store::portal::ConsumerStatus;
use crate::store::{ApiKeyStore, StoredKey};
use crate::util::time::{civil_from_days, rfc3339_now};

/// How many days the usage chart shows.
const CHART_DAYS: usize = 14;

/// The signed-in, active consumer of a request, or the answer to give.
fn signed_in(portal: &Portal, headers: &http::HeaderMap) -> Result<Session, Box<Answer>> {
    let Some(session) = portal.accounts.session(headers) else {
        return Err(Box::new(super::see_other("/signin")));
    };
    match portal.store.consumer(&session.consumer) {
        Ok(Some(c)) if c.status == ConsumerStatus::Active => Ok(session),
        _ => {
            portal.accounts.close_all(&session.consumer);
            Err(Box::new(super::see_other("/signin")))
        }
    }
}

/// The signed-in, active consumer who posted `form` with their session's
/// CSRF token, or the answer to give.
fn posted_by(portal: &Portal, parts: &Parts, form: &Form) -> Result<Session, Box<Answer>> {
    let session = signed_in(portal, &parts.headers)?;
    if !csrf_ok(portal, &parts.headers, form) {
        return Err(Box::new(problem(
            portal,
            Some(&session),
            StatusCode::FORBIDDEN,
            "This form has expired. Reload the page and try again.",
        )));
    }
    Ok(session)
}

fn key_store(portal: &Portal) -> Option<ApiKeyStore> {
    portal
        .control
        .read(|d| d.config.server.data_dir.clone())
        .map(|d| ApiKeyStore::new(&d))
}

/// The keys `consumer` holds.
fn keys_of(portal: &Portal, consumer: &str) -> Vec<StoredKey> {
    key_store(portal)
        .and_then(|s| s.list().ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|k| k.owner.as_deref() == Some(consumer))
        .collect()
}

/// The self-service plans covering a published stage, with their listing.
fn offered(portal: &Portal) -> Vec<(UsagePlanConfig, String)> {
    let listings = portal.store.plans().unwrap_or_default();
    let stages: Vec<(String, String)> = published(portal).into_iter().map(|(k, _)| k).collect();
    portal.control.read(|d| {
        d.config
            .usage_plans
            .iter()
            .filter_map(|plan| {
                let (_, listing) = listings
                    .iter()
                    .find(|(name, l)| *name == plan.name && l.self_service)?;
                plan.stages
                    .iter()
                    .any(|s| stages.contains(s))
                    .then(|| (plan.clone(), listing.description.clone()))
            })
            .collect()
    })
}

fn limits_text(plan: &UsagePlanConfig) -> String {
    let mut parts = Vec::new();
    if let Some(t) = plan.throttle {
        parts.push(format!("{} requests/s, bursts of {}", t.rate, t.burst));
    }
    if let Some(q) = plan.quota {
        let period = match q.period {
            QuotaPeriod::Day => "day",
            QuotaPeriod::Week => "week",
            QuotaPeriod::Month => "month",
        };
        parts.push(format!("{} requests per {period}", q.limit));
    }
    if parts.is_empty() {
        "no limits".into()
    } else {
        parts.join("; ")
    }
}

/// `GET /account`.
pub fn account(portal: &Portal, request: &Request<Incoming>) -> Answer {
    match signed_in(portal, request.headers()) {
        Ok(session) => account_page(portal, &session, None, StatusCode::OK),
        Err(answer) => *answer,
    }
}

/// The account page; `fresh` is a key value to show once.
fn account_page(
    portal: &Portal,
    session: &Session,
    fresh: Option<(&str, &str, &str)>,
    status: StatusCode,
) -> Answer {
    let keys = keys_of(portal, &session.consumer);
    let plans = offered(portal);
    let csrf = escape(&session.csrf);
    let mut main = String::from("<h1>Your keys</h1>\n");
    if let Some((name, value, what)) = fresh {
        main.push_str(&format!(
            r#"<section class="card fresh" aria-labelledby="fresh-title">
  <h2 id="fresh-title">{what}</h2>
  <p>This is the only time the value of <strong>{name}</strong> is shown. Copy it now; send it as the <code>x-api-key</code> header.</p>
  <p><output id="new-key" class="key">{value}</output>
  <button type="button" class="copy" data-copy="new-key" aria-live="polite">Copy</button></p>
</section>
"#,
            what = escape(what),
            name = escape(name),
            value = escape(value),
        ));
    }
    if keys.is_empty() {
        main.push_str("<p>You hold no key yet. Subscribe to a plan below.</p>\n");
    } else {
        main.push_str(
            "<table class=\"keys\">\n<caption>Your API keys</caption>\n<thead><tr><th scope=\"col\">Key</th><th scope=\"col\">Plan</th><th scope=\"col\">Created</th><th scope=\"col\">Today</th><th scope=\"col\">Quota left</th><th scope=\"col\">Actions</th></tr></thead>\n<tbody>\n",
        );
        for key in &keys {
            let usage = usage_of(portal, key);
            let left = usage.quota.as_ref().map_or_else(
                || "no quota".to_owned(),
                |q| format!("{} of {}", q.remaining, q.limit),
            );
            let today = usage.days.last().map_or(0, |d| d.admitted);
            let name = escape(&key.name);
            main.push_str(&format!(
                r#"<tr><td><code>{name}</code></td><td>{plan}</td><td>{created}</td><td>{today}</td><td>{left}</td><td>
<form method="post" action="/account/keys/{name}/rotate" class="inline"><input type="hidden" name="csrf" value="{csrf}"><button type="submit">Rotate</button></form>
<form method="post" action="/account/keys/{name}/revoke" class="inline"><input type="hidden" name="csrf" value="{csrf}"><button type="submit" class="danger">Revoke</button></form>
</td></tr>
"#,
                plan = escape(&key.usage_plans.join(", ")),
                created = escape(&key.created_at),
            ));
        }
        main.push_str("</tbody>\n</table>\n");
        main.push_str(
            r#"<section class="card" aria-labelledby="usage-title">
  <h2 id="usage-title">Usage, last 14 days</h2>
  <div id="usage-chart" data-source="/account/usage.json" role="img" aria-label="Calls per day and calls refused with 429, per key"></div>
  <div id="usage-table"></div>
</section>
"#,
        );
    }
    main.push_str("<h2>Plans</h2>\n");
    if plans.is_empty() {
        main.push_str("<p>No plan is open for subscription.</p>\n");
    }
    for (plan, description) in &plans {
        let held = keys.iter().any(|k| k.usage_plans.contains(&plan.name));
        let action = if held {
            "<p>You hold a key in this plan.</p>".to_owned()
        } else {
            format!(
                r#"<form method="post" action="/account/keys"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="plan" value="{plan}"><button type="submit">Subscribe</button></form>"#,
                plan = escape(&plan.name)
            )
        };
        let stages: Vec<String> = plan
            .stages
            .iter()
            .map(|(a, s)| format!("{a} {s}"))
            .collect();
        main.push_str(&format!(
            "<section class=\"card plan\"><h3>{name}</h3><p>{description}</p><p class=\"limits\">{limits} · for {stages}</p>{action}</section>\n",
            name = escape(&plan.name),
            description = escape(description),
            limits = escape(&limits_text(plan)),
            stages = escape(&stages.join(", ")),
        ));
    }
    html(
        status,
        page(
            portal,
            Some(session),
            "Your keys",
            &main,
            &["/assets/vendor/uPlot.min.css"],
            &["/assets/vendor/uPlot.iife.min.js", "/assets/account.js"],
        ),
    )
}

/// Runs a key change through the control plane; the answer on failure.
fn apply(
    portal: &Portal,
    session: &Session,
    change: impl FnOnce(&mut crate::config::Config) -> Result<(), String>,
    record: impl FnOnce(&ApiKeyStore) -> std::io::Result<()>,
) -> Result<(), Box<Answer>> {
    let Some(store) = key_store(portal) else {
        return Err(Box::new(problem(
            portal,
            Some(session),
            StatusCode::CONFLICT,
            "Keys cannot be made here.",
        )));
    };
    let outcome = portal.control.change(
        |current| {
            let mut next = current.clone();
            change(&mut next.config).map_err(ReloadError::Invalid)?;
            Ok((next, ()))
        },
        |_, _| {
            record(&store).map_err(|e| ReloadError::Invalid(format!("cannot record the key: {e}")))
        },
    );
    outcome.map(|_| ()).map_err(|error| {
        tracing::warn!(%error, consumer = %session.consumer, "portal: key change refused");
        let status = match error {
            ReloadError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::CONFLICT,
        };
        Box::new(problem(
            portal,
            Some(session),
            status,
            "The key could not be changed. Try again later.",
        ))
    })
}

/// `POST /account/keys`: subscribes to a plan.
pub async fn subscribe(portal: &Portal, parts: &Parts, form: &Form) -> Answer {
    let session = match posted_by(portal, parts, form) {
        Ok(s) => s,
        Err(answer) => return *answer,
    };
    let plan = field(form, "plan").to_owned();
    if !offered(portal).iter().any(|(p, _)| p.name == plan) {
        return problem(
            portal,
            Some(&session),
            StatusCode::BAD_REQUEST,
            "There is no such plan to subscribe to.",
        );
    }
    if keys_of(portal, &session.consumer)
        .iter()
        .any(|k| k.usage_plans.contains(&plan))
    {
        return problem(
            portal,
            Some(&session),
            StatusCode::CONFLICT,
            "You hold a key in this plan already.",
        );
    }
    let Ok(value) = crate::store::keys::new_value() else {
        return problem(
            portal,
            Some(&session),
            StatusCode::INTERNAL_SERVER_ERROR,
            "Try again later.",
        );
    };
    let key = StoredKey {
        name: format!("portal-{}-{plan}", session.consumer),
        value,
        enabled: true,
        usage_plans: vec![plan.clone()],
        created_at: rfc3339_now(),
        owner: Some(session.consumer.clone()),
    };
    let made = key.clone();
    if let Err(answer) = apply(
        portal,
        &session,
        |config| add_key(config, &made),
        |store| store.put(&made),
    ) {
        return *answer;
    }
    tracing::info!(consumer = %session.consumer, key = %key.name, %plan, "portal: key created");
    account_page(
        portal,
        &session,
        Some((&key.name, &key.value, "Your new key")),
        StatusCode::CREATED,
    )
}

/// `POST /account/keys/NAME/rotate|revoke`.
pub async fn change(
    portal: &Portal,
    parts: &Parts,
    form: &Form,
    name: &str,
    action: &str,
) -> Answer {
    let session = match posted_by(portal, parts, form) {
        Ok(s) => s,
        Err(answer) => return *answer,
    };
    // Only the consumer's own keys: another's is "not found" alike.
    let Some(old) = keys_of(portal, &session.consumer)
        .into_iter()
        .find(|k| k.name == name)
    else {
        return problem(
            portal,
            Some(&session),
            StatusCode::NOT_FOUND,
            "You hold no such key.",
        );
    };
    if action == "revoke" {
        let key_name = old.name.clone();
        if let Err(answer) = apply(
            portal,
            &session,
            |config| {
                remove_key(config, &key_name);
                Ok(())
            },
            |store| store.remove(&key_name),
        ) {
            return *answer;
        }
        tracing::info!(consumer = %session.consumer, key = %old.name, "portal: key revoked");
        return super::see_other("/account");
    }
    let Ok(value) = crate::store::keys::new_value() else {
        return problem(
            portal,
            Some(&session),
            StatusCode::INTERNAL_SERVER_ERROR,
            "Try again later.",
        );
    };
    let rotated = StoredKey {
        value,
        created_at: rfc3339_now(),
        ..old.clone()
    };
    let made = rotated.clone();
    if let Err(answer) = apply(
        portal,
        &session,
        |config| {
            remove_key(config, &made.name);
            add_key(config, &made)
        },
        |store| store.put(&made),
    ) {
        return *answer;
    }
    tracing::info!(consumer = %session.consumer, key = %rotated.name, "portal: key rotated");
    account_page(
        portal,
        &session,
        Some((&rotated.name, &rotated.value, "Your key's new value")),
        StatusCode::OK,
    )
}

/// One key's calls, as `/account/usage.json` shows them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyUsage {
    name: String,
    plan: String,
    days: Vec<Day>,
    quota: Option<QuotaLeft>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Day {
    date: String,
    admitted: u64,
    refused: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct QuotaLeft {
    limit: u64,
    period: &'static str,
    used: u64,
    remaining: u64,
}

fn usage_of(portal: &Portal, key: &StoredKey) -> KeyUsage {
    let limits = portal.control.gateway().limits();
    let plan_name = key.usage_plans.first().cloned().unwrap_or_default();
    let plan = portal.control.read(|d| {
        d.config
            .usage_plans
            .iter()
            .find(|p| p.name == plan_name)
            .cloned()
    });
    let quota = plan.and_then(|p| p.quota).and_then(|q| {
        let used = limits.quota(&plan_name, &key.name, q).ok()?.used();
        Some(QuotaLeft {
            limit: q.limit,
            period: match q.period {
                QuotaPeriod::Day => "day",
                QuotaPeriod::Week => "week",
                QuotaPeriod::Month => "month",
            },
            used,
            remaining: q.limit.saturating_sub(used),
        })
    });
    let days = limits
        .daily(&key.name)
        .recent(CHART_DAYS)
        .into_iter()
        .map(|d| {
            let (y, m, day) = civil_from_days(d.day);
            Day {
                date: format!("{y:04}-{m:02}-{day:02}"),
                admitted: d.admitted,
                refused: d.refused,
            }
        })
        .collect();
    KeyUsage {
        name: key.name.clone(),
        plan: plan_name,
        days,
        quota,
    }
}

/// `GET /account/usage.json`: the consumer's keys' calls per day.
pub fn usage(portal: &Portal, request: &Request<Incoming>) -> Answer {
    let session = match signed_in(portal, request.headers()) {
        Ok(s) => s,
        Err(_) => {
            return secured(
                StatusCode::UNAUTHORIZED,
                "application/json",
                bytes::Bytes::from_static(br#"{"message":"Sign in first."}"#),
            );
        }
    };
    let keys: Vec<KeyUsage> = keys_of(portal, &session.consumer)
        .iter()
        .map(|k| usage_of(portal, k))
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({ "keys": keys })).unwrap_or_default();
    secured(StatusCode::OK, "application/json", bytes::Bytes::from(body))
}
