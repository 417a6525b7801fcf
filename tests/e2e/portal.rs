//! The developer portal on its own listener: consumers sign up (open,
//! approval or invitation), are approved through the CLI, sign in, get a
//! key on a self-service plan, call the API with it (and through the
//! portal's "try it"), see their calls counted, hit the quota, rotate and
//! revoke; and the security checks: CSRF tokens, cookie flags, the sign-in
//! throttle, another consumer's keys out of reach, CSP without inline
//! script, and the admin token kept away from the portal. The browser
//! test drives the same journey in Debian's chromium.

use std::collections::HashMap;
use std::process::Command;

use reqwest::header::{HeaderMap, SET_COOKIE};

use crate::harness::{Gateway, binary, run, token_file, workspace};

const TOKEN: &str = "portal-admin-token-0123456789";

fn config(data_dir: &str, signup: &str, quota: u32) -> String {
    format!(
        r#"
[server]
data_dir = "{data_dir}"

[admin]
address = "127.0.0.1:0"
token_file = "{token}"

[portal]
address = "127.0.0.1:0"
title = "Example APIs"
signup = "{signup}"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[usage_plans.starter]
stages = [{{ api = "shop", stage = "$default" }}]
throttle = {{ rate = 50, burst = 50 }}
quota = {{ limit = {quota}, period = "day" }}

[usage_plans.internal]
stages = [{{ api = "shop", stage = "$default" }}]

[[apis]]
name = "shop"

[[apis.routes]]
key = "GET /pets"
api_key_required = true
integration = {{ type = "mock", body = "[{{\"name\":\"rex\"}}]" }}
"#,
        token = token_file("portal", TOKEN),
    )
}

/// A gateway with the portal, `shop` published and `starter` offered.
async fn portal(signup: &str, quota: u32) -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(&config(
        &dir.path().join("data").display().to_string(),
        signup,
        quota,
    ));
    let admin = reqwest::Client::new();
    for (path, body) in [
        (
            "/portal/apis/shop/%24default",
            r#"{"description":"Pets, as a service"}"#,
        ),
        (
            "/portal/plans/starter",
            r#"{"selfService":true,"description":"Five calls a day to try things"}"#,
        ),
    ] {
        let response = admin
            .put(gw.url(turnpike::ADMIN_LISTENER, path))
            .bearer_auth(TOKEN)
            .body(body)
            .send()
            .await
            .expect("admin call");
        assert_eq!(response.status(), 200, "{path}");
    }
    (gw, dir)
}

/// A browser stand-in: keeps the portal's cookies (checking their flags),
/// sends `Origin` with forms, follows no redirect.
struct Visitor {
    base: String,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Visitor {
    fn new(gw: &Gateway) -> Visitor {
        Visitor {
            base: format!("http://{}", gw.addr(turnpike::PORTAL_LISTENER)),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn absorb(&mut self, headers: &HeaderMap) {
        for set in headers.get_all(SET_COOKIE) {
            let set = set.to_str().expect("ascii");
            for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
                assert!(set.contains(flag), "{set} lacks {flag}");
            }
            let (pair, _) = set.split_once(';').expect("attributes");
            let (name, value) = pair.split_once('=').expect("name=value");
            if set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    async fn get(&mut self, path: &str) -> (u16, HeaderMap, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("get");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        self.absorb(&headers);
        (status, headers, response.text().await.expect("body"))
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, HeaderMap, String) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("origin", &self.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(form))
            .send()
            .await
            .expect("post");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        self.absorb(&headers);
        (status, headers, response.text().await.expect("body"))
    }

    /// The CSRF token in the page at `path`.
    async fn csrf(&mut self, path: &str) -> String {
        let (status, _, html) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {html}");
        csrf_in(&html)
    }

    async fn sign_up(&mut self, email: &str, password: &str, invite: &str) -> (u16, String) {
        let csrf = self.csrf("/signup").await;
        let (status, _, html) = self
            .post(
                "/signup",
                &[
                    ("csrf", &csrf),
                    ("email", email),
                    ("password", password),
                    ("invite", invite),
                ],
            )
            .await;
        (status, html)
    }

    async fn sign_in(&mut self, email: &str, password: &str) -> (u16, HeaderMap, String) {
        let csrf = self.csrf("/signin").await;
        self.post(
            "/signin",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }
}

fn encode(form: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..at + 64].to_owned()
}

/// The key value shown once on the page.
fn new_key(html: &str) -> String {
    let at = html
        .find("<output id=\"new-key\" class=\"key\">")
        .expect("a new key")
        + 33;
    html[at..].split('<').next().expect("value").to_owned()
}

fn cli(gw: &Gateway, args: &[&str]) -> (i32, String, String) {
    run(Command::new(binary())
        .args(args)
        .env("TURNPIKE_ADMIN", gw.url(turnpike::ADMIN_LISTENER, ""))
        .env("TURNPIKE_ADMIN_TOKEN", TOKEN))
}

/// The id the CLI lists for `email`.
fn consumer_id(gw: &Gateway, email: &str) -> String {
    let (code, out, err) = cli(gw, &["portal", "consumers"]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .find(|l| l.contains(email))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{email} in:\n{out}"))
        .to_owned()
}

async fn call(gw: &Gateway, key: &str) -> u16 {
    reqwest::Client::new()
        .get(gw.url("main", "/pets"))
        .header("x-api-key", key)
        .send()
        .await
        .expect("call")
        .status()
        .as_u16()
}

/// Pages hold no inline script, no inline style and no event handler
/// attribute, and come with the portal's CSP.
fn assert_clean_page(headers: &HeaderMap, html: &str) {
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    for script in html.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap_or_default();
        assert!(tag.contains("src="), "an inline script: <script{tag}>");
    }
    assert!(!html.contains(" style="), "an inline style");
    assert!(
        !html.contains(" onclick=") && !html.contains(" onload="),
        "an event handler"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_signs_up_subscribes_calls_rotates_and_signs_out() {
    let (gw, _dir) = portal("approval", 5).await;
    let mut ada = Visitor::new(&gw);

    // The catalogue shows the published stage; its docs page and document.
    let (status, headers, html) = ada.get("/").await;
    assert_eq!(status, 200);
    assert!(html.contains("Pets, as a service"), "{html}");
    assert_clean_page(&headers, &html);
    let (status, headers, html) = ada.get("/docs/shop/%24default").await;
    assert_eq!(status, 200);
    assert!(html.contains("data-spec=\"/docs/shop/%24default/openapi.json\""));
    assert_clean_page(&headers, &html);
    let (status, _, document) = ada.get("/docs/shop/%24default/openapi.json").await;
    assert_eq!(status, 200);
    let document: serde_json::Value = serde_json::from_str(&document).expect("json");
    assert_eq!(document["servers"][0]["url"], "/try/shop/%24default");
    assert!(document["paths"]["/pets"]["get"].is_object(), "{document}");
    assert_eq!(ada.get("/docs/shop/prod").await.0, 404, "not published");

    // Sign-up waits for approval; signing in before it is refused.
    let (status, html) = ada
        .sign_up("ada@example.com", "correct horse battery", "")
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("approval"), "{html}");
    let (status, _, html) = ada
        .sign_in("ada@example.com", "correct horse battery")
        .await;
    assert_eq!(status, 403, "{html}");

    // An operator approves through the CLI.
    let id = consumer_id(&gw, "ada@example.com");
    let (code, out, err) = cli(&gw, &["portal", "approve", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("approved"), "{out}");

    // Signed in: a session cookie with every flag, then the account page.
    let (status, headers, _) = ada
        .sign_in("ada@example.com", "correct horse battery")
        .await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/account");
    assert!(ada.cookies.contains_key("tp_session"));
    let (status, headers, html) = ada.get("/account").await;
    assert_eq!(status, 200);
    assert_clean_page(&headers, &html);
    assert!(
        html.contains("Five calls a day to try things") && html.contains("Subscribe"),
        "{html}"
    );
    assert!(
        !html.contains("internal"),
        "only self-service plans are offered"
    );

    // Subscribing shows the key once; it works on the gateway.
    let csrf = csrf_in(&html);
    let (status, _, html) = ada
        .post("/account/keys", &[("csrf", &csrf), ("plan", "starter")])
        .await;
    assert_eq!(status, 201, "{html}");
    let key = new_key(&html);
    assert_eq!(key.len(), 40);
    assert!(
        !ada.get("/account").await.2.contains(&key),
        "shown only once"
    );
    assert_eq!(call(&gw, &key).await, 200);
    // "Try it" through the portal goes through the gateway like any client.
    let tried = reqwest::Client::new()
        .get(format!("{}/try/shop/%24default/pets", ada.base))
        .header("x-api-key", &key)
        .header("cookie", ada.cookie_header())
        .send()
        .await
        .expect("try it");
    assert_eq!(tried.status(), 200);
    assert_eq!(tried.text().await.expect("body"), r#"[{"name":"rex"}]"#);
    // The stage written unencoded reaches the same route.
    let literal = reqwest::Client::new()
        .get(format!("{}/try/shop/$default/pets", ada.base))
        .header("x-api-key", &key)
        .header("cookie", ada.cookie_header())
        .send()
        .await
        .expect("try it");
    assert_eq!(literal.status(), 200);
    // Not for anyone: "try it" needs a signed-in consumer.
    let anonymous = reqwest::Client::new()
        .get(format!("{}/try/shop/%24default/pets", ada.base))
        .header("x-api-key", &key)
        .send()
        .await
        .expect("try it");
    assert_eq!(anonymous.status(), 401);

    // Rotation: the old value is refused, the new one accepted.
    let csrf = ada.csrf("/account").await;
    let name = format!("portal-{id}-starter");
    let (status, _, html) = ada
        .post(&format!("/account/keys/{name}/rotate"), &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 200, "{html}");
    let rotated = new_key(&html);
    assert_ne!(rotated, key);
    assert_eq!(call(&gw, &key).await, 403);
    assert_eq!(call(&gw, &rotated).await, 200);
    assert_eq!(call(&gw, &rotated).await, 200);
    // Five calls: the quota; the sixth is refused.
    assert_eq!(call(&gw, &rotated).await, 429);

    // The calls are counted: today 5 admitted, 1 refused, 0 left.
    let (status, _, usage) = ada.get("/account/usage.json").await;
    assert_eq!(status, 200);
    let usage: serde_json::Value = serde_json::from_str(&usage).expect("json");
    let mine = &usage["keys"][0];
    assert_eq!(mine["name"], name.as_str());
    let today = mine["days"]
        .as_array()
        .expect("days")
        .last()
        .expect("today")
        .clone();
    assert_eq!(
        (today["admitted"].as_u64(), today["refused"].as_u64()),
        (Some(5), Some(1)),
        "{usage}"
    );
    assert_eq!(mine["quota"]["remaining"], 0, "{usage}");

    // The operator sees who holds the key.
    let (code, out, _) = cli(&gw, &["portal", "consumers"]);
    assert_eq!(code, 0);
    assert!(out.contains(&name), "{out}");

    // Revoked by the consumer: refused; then signed out.
    let csrf = ada.csrf("/account").await;
    let (status, _, _) = ada
        .post(&format!("/account/keys/{name}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 303);
    assert_eq!(call(&gw, &rotated).await, 403);
    let csrf = ada.csrf("/account").await;
    let (status, _, _) = ada.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(status, 303);
    assert!(!ada.cookies.contains_key("tp_session"));
    let (status, headers, _) = ada.get("/account").await;
    assert_eq!(
        (status, headers["location"].to_str().ok()),
        (303, Some("/signin"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_refuses_forgery_guessing_and_other_consumers_keys() {
    let (gw, _dir) = portal("open", 100).await;
    let mut ada = Visitor::new(&gw);
    let mut eve = Visitor::new(&gw);
    for (visitor, email) in [(&mut ada, "ada@example.com"), (&mut eve, "eve@example.com")] {
        let (status, _) = visitor.sign_up(email, "correct horse battery", "").await;
        assert_eq!(status, 303, "open sign-up lands on sign-in");
        assert_eq!(visitor.sign_in(email, "correct horse battery").await.0, 303);
    }
    let csrf = ada.csrf("/account").await;
    let (status, _, html) = ada
        .post("/account/keys", &[("csrf", &csrf), ("plan", "starter")])
        .await;
    assert_eq!(status, 201);
    let key = new_key(&html);
    let ada_id = consumer_id(&gw, "ada@example.com");
    let name = format!("portal-{ada_id}-starter");

    // CSRF: a form without its token, with another's token, from another site.
    let (status, _, _) = ada.post("/account/keys", &[("plan", "starter")]).await;
    assert_eq!(status, 403);
    let eve_csrf = eve.csrf("/account").await;
    let (status, _, _) = ada
        .post(
            &format!("/account/keys/{name}/revoke"),
            &[("csrf", &eve_csrf)],
        )
        .await;
    assert_eq!(status, 403);
    let forged = ada
        .client
        .post(format!("{}/account/keys/{name}/revoke", ada.base))
        .header("cookie", ada.cookie_header())
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&[("csrf", csrf.as_str())]))
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
    assert_eq!(call(&gw, &key).await, 200, "the key survived");

    // Another consumer's key: not found, untouched, not in their usage.
    let eve_csrf = eve.csrf("/account").await;
    for action in ["revoke", "rotate"] {
        let (status, _, _) = eve
            .post(
                &format!("/account/keys/{name}/{action}"),
                &[("csrf", &eve_csrf)],
            )
            .await;
        assert_eq!(status, 404, "{action}");
    }
    assert_eq!(call(&gw, &key).await, 200);
    let (_, _, usage) = eve.get("/account/usage.json").await;
    assert_eq!(usage, r#"{"keys":[]}"#);
    assert!(!eve.get("/account").await.2.contains(&name));

    // The admin API is not on the portal, and the token is nowhere in it.
    for path in ["/portal/consumers", "/api-keys", "/metrics"] {
        let (status, _, body) = ada.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(!body.contains(TOKEN));
    }
    for path in [
        "/",
        "/account",
        "/docs/shop/%24default",
        "/assets/account.js",
        "/assets/docs.js",
    ] {
        let (_, _, body) = ada.get(path).await;
        assert!(!body.contains(TOKEN), "{path}");
    }

    // A disabled consumer's keys are revoked and their session ends.
    let (code, _, err) = cli(&gw, &["portal", "disable", &ada_id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(call(&gw, &key).await, 403);
    assert_eq!(ada.get("/account").await.0, 303);
    assert_eq!(
        ada.sign_in("ada@example.com", "correct horse battery")
            .await
            .0,
        403
    );
    // Guessing a password: throttled after five failures, even when the
    // sixth guess is right.
    let mut mallory = Visitor::new(&gw);
    for _ in 0..5 {
        assert_eq!(
            mallory
                .sign_in("eve@example.com", "wrong password!")
                .await
                .0,
            401
        );
    }
    let (status, headers, _) = mallory
        .sign_in("eve@example.com", "correct horse battery")
        .await;
    assert_eq!(status, 429);
    assert!(
        headers["retry-after"]
            .to_str()
            .expect("secs")
            .parse::<u64>()
            .expect("n")
            > 0
    );
    assert!(!mallory.cookies.contains_key("tp_session"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_only_sign_up() {
    let (gw, _dir) = portal("invite", 10).await;
    let mut bob = Visitor::new(&gw);
    let (status, html) = bob
        .sign_up("bob@example.com", "correct horse battery", "")
        .await;
    assert_eq!(status, 400);
    assert!(html.contains("invitation"), "{html}");
    let (code, out, err) = cli(&gw, &["portal", "invite", "bob@example.com"]);
    assert_eq!(code, 0, "{err}");
    let invite = out
        .split("(shown only now): ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a code")
        .to_owned();
    // The code is for Bob's address only, and works once.
    let mut carol = Visitor::new(&gw);
    let (status, _) = carol
        .sign_up("carol@example.com", "correct horse battery", &invite)
        .await;
    assert_eq!(status, 400);
    let (status, _) = bob
        .sign_up("bob@example.com", "correct horse battery", &invite)
        .await;
    assert_eq!(status, 303);
    assert_eq!(
        bob.sign_in("bob@example.com", "correct horse battery")
            .await
            .0,
        303
    );
    let mut again = Visitor::new(&gw);
    let (status, _) = again
        .sign_up("bob@example.com", "another password!", &invite)
        .await;
    assert_eq!(status, 400);
}

/// The whole journey in Debian's chromium (`tests/browser/portal.mjs`,
/// playwright-core): sign up, approval through the CLI, keyboard-only
/// sign-in, catalogue, docs with "try it", subscribe and copy the key, a
/// call from outside, usage counted, the quota's 429, rotation, sign-out;
/// no console error or CSP violation on any page. Screenshots are saved in
/// `target/screenshots/portal-*.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_journey_in_a_browser() {
    let (gw, _dir) = portal("approval", 5).await;
    let screenshots = workspace().join("target/screenshots/portal");
    let _ = std::fs::remove_dir_all(&screenshots);
    std::fs::create_dir_all(&screenshots).expect("screenshot folder");
    let output = tokio::process::Command::new("node")
        .arg(workspace().join("tests/browser/portal.mjs"))
        .env(
            "PORTAL_URL",
            format!("http://{}", gw.addr(turnpike::PORTAL_LISTENER)),
        )
        .env("GATEWAY_URL", format!("http://{}", gw.addr("main")))
        .env(
            "ADMIN_URL",
            format!("http://{}", gw.addr(turnpike::ADMIN_LISTENER)),
        )
        .env("ADMIN_TOKEN", TOKEN)
        .env("TURNPIKE_BIN", binary())
        .env("SCREENSHOT_DIR", &screenshots)
        .output()
        .await
        .expect("run node");
    assert!(
        output.status.success(),
        "the browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for page in ["catalogue", "docs", "account", "signin"] {
        let png = std::fs::read(screenshots.join(format!("{page}.png"))).expect("saved");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 5_000,
            "{page}.png"
        );
    }
}
