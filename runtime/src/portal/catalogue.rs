//! The catalogue of published stages, each stage's documentation (its
//! OpenAPI document as `turnpike export openapi` makes it, rendered by the
//! vendored Swagger UI), and "try it": requests from the documentation page
//! go to `/try/API/STAGE/...` on the portal, which sends them to the
//! gateway's listener as any client would — through the routes,
//! authorizers, API keys and usage plans — and passes the answer back.

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use super::pages::{escape, html, page, problem};
use super::{Answer, MAX_BODY, Portal, secured};
use crate::openapi::export::{Extensions, export};
use crate::store::portal::{Published, PublishedStage};
use crate::util::headers::is_hop_by_hop;

/// Largest answer a "try it" request passes back.
const MAX_ANSWER: usize = 10 * 1024 * 1024;

/// The client "try it" requests go out with.
pub struct Forwarder {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Forwarder {
    /// A client to the gateway's own listener.
    pub fn new() -> Forwarder {
        Forwarder {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl Default for Forwarder {
    fn default() -> Forwarder {
        Forwarder::new()
    }
}

/// The published stages that the gateway serves now, with their listing.
pub fn published(portal: &Portal) -> Vec<PublishedStage> {
    let listed = portal.store.published().unwrap_or_else(|error| {
        tracing::error!(%error, "portal: cannot read the catalogue");
        Vec::new()
    });
    portal.control.read(|d| {
        listed
            .into_iter()
            .filter(|((api, stage), _)| {
                d.config
                    .apis
                    .iter()
                    .any(|a| a.name == *api && a.stages.iter().any(|s| s.name.as_str() == stage))
            })
            .collect()
    })
}

fn listing(portal: &Portal, api: &str, stage: &str) -> Option<Published> {
    published(portal)
        .into_iter()
        .find(|((a, s), _)| a == api && s == stage)
        .map(|(_, p)| p)
}

/// `GET /`: the catalogue.
pub fn index(portal: &Portal, request: &Request<Incoming>) -> Answer {
    let session = portal.accounts.session(request.headers());
    let stages = published(portal);
    let mut main = String::from("<h1>APIs</h1>\n");
    if stages.is_empty() {
        main.push_str("<p>No API is published yet.</p>");
    } else {
        main.push_str("<ul class=\"catalogue\">\n");
        for ((api, stage), listing) in &stages {
            main.push_str(&format!(
                "<li class=\"card\"><h2><a href=\"/docs/{href_api}/{href_stage}\">{api} <span class=\"stage\">{stage}</span></a></h2><p>{description}</p></li>\n",
                href_api = segment(api),
                href_stage = segment(stage),
                api = escape(api),
                stage = escape(stage),
                description = escape(&listing.description),
            ));
        }
        main.push_str("</ul>");
    }
    html(
        StatusCode::OK,
        page(portal, session.as_ref(), "APIs", &main, &[], &[]),
    )
}

/// `s` as one URL path segment.
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `GET /docs/API/STAGE`: the documentation page.
pub fn docs(portal: &Portal, request: &Request<Incoming>, api: &str, stage: &str) -> Answer {
    let session = portal.accounts.session(request.headers());
    let Some(listing) = listing(portal, api, stage) else {
        return problem(
            portal,
            session.as_ref(),
            StatusCode::NOT_FOUND,
            "This API is not published.",
        );
    };
    let main = format!(
        r#"<h1>{api} <span class="stage">{stage}</span></h1>
<p>{description}</p>
<section class="card try" aria-labelledby="try-title">
  <h2 id="try-title">Try it</h2>
  <p>Requests you send from this page go through the gateway like any other client's, with the key below as <code>x-api-key</code>. Get a key on <a href="/account">your keys</a> page.</p>
  <label for="try-key">Your API key</label>
  <input id="try-key" name="try-key" autocomplete="off" spellcheck="false">
</section>
<div id="swagger-ui" data-spec="/docs/{href_api}/{href_stage}/openapi.json"></div>"#,
        api = escape(api),
        stage = escape(stage),
        description = escape(&listing.description),
        href_api = segment(api),
        href_stage = segment(stage),
    );
    html(
        StatusCode::OK,
        page(
            portal,
            session.as_ref(),
            &format!("{api} {stage}"),
            &main,
            &["/assets/vendor/swagger-ui.css"],
            &["/assets/vendor/swagger-ui-bundle.js", "/assets/docs.js"],
        ),
    )
}

/// `GET /docs/API/STAGE/openapi.json`: the stage's OpenAPI document, its
/// server the portal's "try it" path.
pub fn openapi(portal: &Portal, api: &str, stage: &str) -> Answer {
    let json_problem = |status: StatusCode, message: &str| {
        secured(
            status,
            "application/json",
            Bytes::from(json!({ "message": message }).to_string()),
        )
    };
    if listing(portal, api, stage).is_none() {
        return json_problem(StatusCode::NOT_FOUND, "This API is not published.");
    }
    let Some((text, path)) = portal.control.definition_of(api, stage) else {
        return json_problem(
            StatusCode::NOT_FOUND,
            "This API has no definition to export.",
        );
    };
    let document = text
        .parse::<toml::Table>()
        .map_err(|e| e.to_string())
        .and_then(|table| {
            export(&table, &path, api, Some(stage), Extensions::None).map_err(|e| e.to_string())
        });
    match document {
        Ok(mut document) => {
            document["servers"] = json!([{
                "url": format!("/try/{}/{}", segment(api), segment(stage)),
                "description": "through the gateway, from this portal"
            }]);
            let bytes = serde_json::to_vec(&document).unwrap_or_default();
            secured(StatusCode::OK, "application/json", Bytes::from(bytes))
        }
        Err(error) => {
            tracing::warn!(%api, %stage, %error, "portal: cannot export the API");
            json_problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The API's documentation cannot be made.",
            )
        }
    }
}

/// `/try/API/STAGE/PATH`: the request, sent to the gateway's listener.
pub async fn try_it(portal: &Portal, request: Request<Incoming>, api: &str, stage: &str) -> Answer {
    let refused = |status: StatusCode, message: &str| {
        sandboxed(secured(
            status,
            "application/json",
            Bytes::from(json!({ "message": message }).to_string()),
        ))
    };
    // Only a signed-in consumer's: the portal is no open relay (calls
    // through it reach the gateway from the portal's address).
    if portal.accounts.session(request.headers()).is_none() {
        return refused(
            StatusCode::UNAUTHORIZED,
            "Sign in to the portal to try the API.",
        );
    }
    if listing(portal, api, stage).is_none() {
        return refused(StatusCode::NOT_FOUND, "This API is not published.");
    }
    let Some(address) = portal.control.gateway().bound(portal.settings.listener) else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "The gateway is not listening.",
        );
    };
    let host = portal.control.read(|d| {
        d.config
            .apis
            .iter()
            .find(|a| a.name == api)
            .and_then(|a| a.hosts.first().cloned())
    });
    let (parts, body) = request.into_parts();
    // What follows /try/API/STAGE, as the client sent it (still encoded,
    // however the client encoded the API and stage).
    let rest = match parts.uri.path().splitn(5, '/').nth(4) {
        Some(rest) => format!("/{rest}"),
        None => "/".to_owned(),
    };
    let stage_prefix = if stage == "$default" {
        String::new()
    } else {
        format!("/{}", segment(stage))
    };
    let query = parts
        .uri
        .query()
        .map_or_else(String::new, |q| format!("?{q}"));
    let Ok(uri) = format!("http://{address}{stage_prefix}{rest}{query}").parse::<http::Uri>()
    else {
        return refused(StatusCode::BAD_REQUEST, "The request's path is not valid.");
    };
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is too large.",
            );
        }
    };
    let mut outgoing = Request::new(Full::new(body));
    *outgoing.method_mut() = parts.method.clone();
    *outgoing.uri_mut() = uri;
    for (name, value) in &parts.headers {
        // The portal's own cookies and origin stay with the portal.
        let private = [
            header::COOKIE,
            header::HOST,
            header::ORIGIN,
            header::REFERER,
            header::CONTENT_LENGTH,
        ]
        .contains(name);
        if !private && !is_hop_by_hop(name) {
            outgoing.headers_mut().append(name.clone(), value.clone());
        }
    }
    let host = host.unwrap_or_else(|| address.to_string());
    if let Ok(value) = HeaderValue::from_str(&host) {
        outgoing.headers_mut().insert(header::HOST, value);
    }
    let answer = match portal.forwarder.client.request(outgoing).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(%error, "portal: a \"try it\" request failed");
            return refused(StatusCode::BAD_GATEWAY, "The gateway did not answer.");
        }
    };
    let (parts, body) = answer.into_parts();
    let bytes = match Limited::new(body, MAX_ANSWER).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return refused(StatusCode::BAD_GATEWAY, "The answer is too large to show."),
    };
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name) && name != header::SET_COOKIE && name != header::CONTENT_LENGTH {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    sandboxed(response)
}

/// The answer of an API, shown in the portal's origin: a sandbox, so that
/// an HTML answer opened as a page cannot run script as the portal.
fn sandboxed(mut response: Answer) -> Answer {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
