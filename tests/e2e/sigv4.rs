//! The built-in SigV4 authorizer against requests signed by botocore (the
//! signer of the AWS CLI and boto3): header and presigned-URL signatures,
//! signed bodies, encoded paths and queries, the five-minute clock rule, and
//! API Gateway's 403 messages for each refusal.

use serde_json::{Value, json};

use crate::harness::{Gateway, client, python_tool};
use crate::upstream::{Upstream, body_hash};

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// Signs each spec with botocore; returns the URL and headers to send.
fn sign(specs: &[Value]) -> Vec<(String, Vec<(String, String)>)> {
    let signed = python_tool("sigv4_sign.py", &Value::Array(specs.to_vec()));
    let signed = signed.as_array().expect("list").clone();
    signed
        .into_iter()
        .map(|s| {
            let headers = s["headers"]
                .as_object()
                .expect("headers")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            (s["url"].as_str().expect("url").to_owned(), headers)
        })
        .collect()
}

fn spec(method: &str, url: &str, body: &str) -> Value {
    json!({
        "method": method, "url": url, "body": body,
        "headers": {"content-type": "application/json"},
        "access_key": KEY_ID, "secret": SECRET,
        "region": "eu-west-1", "service": "execute-api",
    })
}

async fn send(method: &str, url: &str, headers: &[(String, String)], body: &str) -> (u16, String) {
    let mut request = client().request(method.parse().expect("method"), url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.body(body.to_owned()).send().await.expect("request");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_authorizer_checks_botocore_signatures() {
    let origin = Upstream::start();
    let config = format!(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "inventory"

[apis.authorizers.iam]
type = "sigv4"
region = "eu-west-1"
credentials = [{{ access_key_id = "{KEY_ID}", secret_access_key = "{SECRET}", principal = "arn:aws:iam::123456789012:user/ci" }}]

[[apis.routes]]
key = "ANY /items/{{proxy+}}"
authorizer = "iam"
integration = {{ type = "http_proxy", url = "{origin}/items/{{proxy}}" }}
"#,
        origin = origin.base()
    );
    let gw = Gateway::start(&config);
    let base = gw.url("main", "");
    let body = r#"{"sku":"A-1","count":3}"#;
    let mut specs = vec![
        spec("GET", &format!("{base}/items/list?b=2&a=x%20y&a=1"), ""),
        spec("POST", &format!("{base}/items/new"), body),
        spec("GET", &format!("{base}/items/a%20b/c"), ""),
        spec("GET", &format!("{base}/items/skewed"), ""),
        spec("GET", &format!("{base}/items/stale"), ""),
        spec("GET", &format!("{base}/items/presigned?x=1"), ""),
        spec("GET", &format!("{base}/items/list"), ""),
        spec("GET", &format!("{base}/items/list"), ""),
        spec("GET", &format!("{base}/items/list"), ""),
    ];
    specs[3]["skew"] = json!(-240); // four minutes ago: inside the rule
    specs[4]["skew"] = json!(-360); // six minutes ago: outside
    specs[5]["presign"] = json!(true);
    specs[5]["headers"] = json!({}); // a link to follow: nothing but the URL
    specs[6]["secret"] = json!("not-the-secret-not-the-secret-not-the-se");
    specs[7]["access_key"] = json!("AKIAUNKNOWNKEY000000");
    specs[8]["region"] = json!("us-east-1");
    let signed = sign(&specs);

    // Signed requests pass, with the principal and the body intact.
    let (status, echo) = send("GET", &signed[0].0, &signed[0].1, "").await;
    assert_eq!(status, 200, "{echo}");
    let echo: Value = serde_json::from_str(&echo).expect("echo");
    assert_eq!(
        echo["headers"]["x-turnpike-principal-id"][0],
        "arn:aws:iam::123456789012:user/ci"
    );
    assert_eq!(echo["headers"]["x-turnpike-context-accesskeyid"][0], KEY_ID);
    let (status, echo) = send("POST", &signed[1].0, &signed[1].1, body).await;
    assert_eq!(status, 200, "{echo}");
    let echo: Value = serde_json::from_str(&echo).expect("echo");
    assert_eq!(echo["body_hash"], body_hash(body.as_bytes()));
    assert_eq!(
        send("GET", &signed[2].0, &signed[2].1, "").await.0,
        200,
        "encoded path"
    );
    assert_eq!(
        send("GET", &signed[3].0, &signed[3].1, "").await.0,
        200,
        "4 min skew"
    );
    let (status, answer) = send("GET", &signed[5].0, &[], "").await;
    assert_eq!(status, 200, "presigned URL: {answer}");

    // Refusals, each with API Gateway's message.
    let mismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
    let message = |(status, body): (u16, String)| -> (u16, String) {
        let json: Value = serde_json::from_str(&body).expect("json error");
        (
            status,
            json["message"].as_str().unwrap_or_default().to_owned(),
        )
    };
    assert_eq!(
        message(
            send(
                "POST",
                &signed[1].0,
                &signed[1].1,
                r#"{"sku":"A-1","count":300}"#
            )
            .await
        ),
        (403, mismatch.to_owned()),
        "a changed body"
    );
    assert_eq!(
        message(send("GET", &signed[6].0, &signed[6].1, "").await),
        (403, mismatch.to_owned()),
        "a wrong secret"
    );
    assert_eq!(
        message(send("GET", &signed[7].0, &signed[7].1, "").await),
        (
            403,
            "The security token included in the request is invalid.".to_owned()
        )
    );
    let (status, expired) = message(send("GET", &signed[4].0, &signed[4].1, "").await);
    assert_eq!(status, 403);
    assert!(expired.starts_with("Signature expired: "), "{expired}");
    let (status, region) = message(send("GET", &signed[8].0, &signed[8].1, "").await);
    assert_eq!(status, 403);
    assert!(region.contains("region"), "{region}");
    assert_eq!(
        message(send("GET", &format!("{base}/items/list"), &[], "").await),
        (403, "Missing Authentication Token".to_owned())
    );
    // A signature for one path does not open another.
    let other = signed[0].0.replace("/items/list", "/items/other");
    assert_eq!(
        message(send("GET", &other, &signed[0].1, "").await),
        (403, mismatch.to_owned())
    );
}
