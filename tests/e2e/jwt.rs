//! The built-in JWT authorizer against tokens signed by PyJWT (an
//! independent, widely used library): RS256, ES256, EdDSA and HS256 keys
//! from a JWKS URL and a file, issuer and audience checks, `exp`/`nbf`,
//! forged signatures, route scopes, claims passed on, and key rotation
//! followed by `kid`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Gateway, client, python_tool};
use crate::upstream::Upstream;

const ISSUER: &str = "https://issuer.example.test/";

/// Keys, the key sets to publish, and the tokens, made by PyJWT.
fn tokens() -> Value {
    let claims = |extra: Value| {
        let mut base = json!({
            "iss": ISSUER, "aud": "shop", "sub": "alice",
            "scope": "orders:read profile", "exp": "$now+600", "iat": "$now",
        });
        for (k, v) in extra.as_object().expect("object") {
            if v.is_null() {
                base.as_object_mut().expect("object").remove(k);
            } else {
                base[k] = v.clone();
            }
        }
        base
    };
    let spec = json!({
        "keys": [
            {"kid": "rsa-1", "alg": "RS256"}, {"kid": "ec-1", "alg": "ES256"},
            {"kid": "ed-1", "alg": "EdDSA"}, {"kid": "hs-1", "alg": "HS256"},
            {"kid": "rsa-2", "alg": "RS256"},
        ],
        "publish": [["rsa-1", "ec-1", "ed-1", "hs-1"], ["rsa-1", "rsa-2"]],
        "tokens": {
            "rs256": {"kid": "rsa-1", "claims": claims(json!({}))},
            "es256": {"kid": "ec-1", "claims": claims(json!({"sub": "bob"}))},
            "eddsa": {"kid": "ed-1", "claims": claims(json!({"sub": "carol"}))},
            "hs256": {"kid": "hs-1", "claims": claims(json!({"sub": "dave"}))},
            "expired": {"kid": "rsa-1", "claims": claims(json!({"exp": "$now-3600"}))},
            "within_leeway": {"kid": "rsa-1", "claims": claims(json!({"exp": "$now-20"}))},
            "not_yet": {"kid": "rsa-1", "claims": claims(json!({"nbf": "$now+3600"}))},
            "no_exp": {"kid": "rsa-1", "claims": claims(json!({"exp": null}))},
            "wrong_issuer": {"kid": "rsa-1", "claims": claims(json!({"iss": "https://evil.test/"}))},
            "wrong_audience": {"kid": "rsa-1", "claims": claims(json!({"aud": "other"}))},
            "audience_list": {"kid": "rsa-1", "claims": claims(json!({"aud": ["other", "shop"]}))},
            "client_id": {"kid": "rsa-1", "claims": claims(json!({"aud": null, "client_id": "shop"}))},
            "forged": {"kid": "rsa-1", "forge": true, "claims": claims(json!({}))},
            "profile_only": {"kid": "rsa-1", "claims": claims(json!({"scope": "profile"}))},
            "scp_list": {"kid": "ec-1", "claims": claims(json!({"scope": null, "scp": ["orders:read"]}))},
            "rotated": {"kid": "rsa-2", "claims": claims(json!({"sub": "erin"}))},
        },
    });
    python_tool("jwt_tokens.py", &spec)
}

fn config(origin: &Upstream, jwks_file: &str) -> String {
    format!(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "shop"

[apis.authorizers.issuer]
type = "jwt"
issuer = "{ISSUER}"
audiences = ["shop"]
jwks_uri = "{origin}/doc/jwks.json"

[apis.authorizers.pinned]
type = "jwt"
issuer = "{ISSUER}"
audiences = ["shop"]
jwks_file = "{jwks_file}"
algorithms = ["RS256"]
cache_ttl = "0s"

[[apis.routes]]
key = "GET /orders"
authorizer = "issuer"
authorization_scopes = ["orders:read", "orders:admin"]
integration = {{ type = "http_proxy", url = "{origin}/orders" }}

[[apis.routes]]
key = "GET /profile"
authorizer = "issuer"
integration = {{ type = "mock", body = "profile" }}

[[apis.routes]]
key = "GET /pinned"
authorizer = "pinned"
integration = {{ type = "mock", body = "pinned" }}
"#,
        origin = origin.base()
    )
}

async fn call(gw: &Gateway, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = client().get(gw.url("main", path));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("request");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_authorizer_checks_tokens_signed_by_pyjwt() {
    let made = tokens();
    let token = |name: &str| made["tokens"][name].as_str().expect(name).to_owned();
    let origin = Upstream::start();
    origin.publish("jwks.json", &made["jwks"][0].to_string());
    let dir = tempfile::tempdir().expect("tempdir");
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, made["jwks"][1].to_string()).expect("jwks file");
    let gw = Gateway::start(&config(&origin, &jwks_file.display().to_string()));
    let unauthorized = (401, r#"{"message":"Unauthorized"}"#.to_owned());
    let forbidden = (403, r#"{"message":"Forbidden"}"#.to_owned());

    // Each key type verifies; the claims reach the integration.
    let (status, body) = call(&gw, "/orders", Some(&token("rs256"))).await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).expect("echo");
    assert_eq!(seen["headers"]["x-turnpike-principal-id"][0], "alice");
    assert_eq!(seen["headers"]["x-turnpike-context-claims.iss"][0], ISSUER);
    assert_eq!(
        seen["headers"]["x-turnpike-context-claims.scope"][0],
        "orders:read profile"
    );
    for name in [
        "es256",
        "eddsa",
        "hs256",
        "within_leeway",
        "audience_list",
        "client_id",
    ] {
        assert_eq!(
            call(&gw, "/profile", Some(&token(name))).await,
            (200, "profile".to_owned()),
            "{name}"
        );
    }

    // Refusals: no token, garbage, and every way a token can be wrong.
    assert_eq!(call(&gw, "/profile", None).await, unauthorized, "no token");
    assert_eq!(call(&gw, "/profile", Some("not.a.jwt")).await, unauthorized);
    for name in [
        "expired",
        "not_yet",
        "no_exp",
        "wrong_issuer",
        "wrong_audience",
        "forged",
    ] {
        assert_eq!(
            call(&gw, "/profile", Some(&token(name))).await,
            unauthorized,
            "{name}"
        );
    }

    // Scopes: one of the route's must be granted (`scope` or `scp`).
    assert_eq!(
        call(&gw, "/orders", Some(&token("profile_only"))).await,
        forbidden
    );
    assert_eq!(call(&gw, "/orders", Some(&token("scp_list"))).await.0, 200);
    assert_eq!(
        call(&gw, "/profile", Some(&token("profile_only"))).await.0,
        200
    );

    // The file's set has only RSA keys, and the authorizer accepts RS256 only.
    assert_eq!(call(&gw, "/pinned", Some(&token("rotated"))).await.0, 200);
    assert_eq!(
        call(&gw, "/pinned", Some(&token("es256"))).await,
        unauthorized
    );

    // Rotation: a token signed by a key the issuer has not published yet is
    // refused; once the set lists it, the gateway fetches the set again
    // for the unknown key id (at most once per second) and accepts it.
    assert_eq!(
        call(&gw, "/profile", Some(&token("rotated"))).await,
        unauthorized
    );
    origin.publish("jwks.json", &made["jwks"][1].to_string());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _) = call(&gw, "/profile", Some(&token("rotated"))).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated key was never fetched"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fetches = origin
        .stats
        .document_fetches
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (2..=8).contains(&fetches),
        "the key set was fetched {fetches} times"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_key_set_is_a_gateway_error_not_a_pass() {
    let made = tokens();
    let origin = Upstream::start();
    // Nothing published: the issuer answers 404.
    let dir = tempfile::tempdir().expect("tempdir");
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, made["jwks"][1].to_string()).expect("jwks file");
    let gw = Gateway::start(&config(&origin, &jwks_file.display().to_string()));
    let token = made["tokens"]["rs256"].as_str().expect("token");
    assert_eq!(
        call(&gw, "/profile", Some(token)).await,
        (500, r#"{"message":"Internal server error"}"#.to_owned())
    );
}
