//! Lambda authorizers' answers, read as API Gateway reads them: an IAM
//! policy (`principalId`, `policyDocument`, `context`,
//! `usageIdentifierKey`), or in payload 2.0 a simple response
//! (`isAuthorized`, `context`). A policy is kept with the decision and
//! evaluated against each request's method ARN, so that a cached policy
//! decides the next route by what it says about that route.

use std::sync::Arc;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerResponse, ApiGatewayV2CustomAuthorizerSimpleResponse,
};
use aws_lambda_events::iam::IamPolicyEffect;
use serde_json::{Map, Value};

use super::{Authorized, Via};
use crate::config::PayloadFormat;

/// What a Lambda authorizer answered.
#[derive(Debug, Clone)]
pub enum LambdaAnswer {
    /// An IAM policy, evaluated per request.
    Policy(Arc<PolicyGrant>),
    /// A simple response: allowed (with what to pass on) or not.
    Simple(Option<Arc<Authorized>>),
}

/// An IAM policy and what comes with it.
#[derive(Debug)]
pub struct PolicyGrant {
    statements: Vec<Statement>,
    /// What reaches the integration when the policy allows.
    pub authorized: Arc<Authorized>,
}

#[derive(Debug)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
    /// It has a `Condition`, which the gateway does not evaluate: such an
    /// `Allow` grants nothing and such a `Deny` always applies (failing
    /// closed rather than granting what the condition would have limited).
    conditional: bool,
}

/// A policy's verdict on one method ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyVerdict {
    /// An `Allow` statement covers it and no `Deny` does.
    Allow,
    /// A `Deny` statement covers it.
    ExplicitDeny,
    /// No statement allows it.
    NotAllowed,
}

impl PolicyGrant {
    /// The verdict for `method_arn`, with IAM's rule that an explicit deny
    /// wins over any allow.
    pub fn evaluate(&self, method_arn: &str) -> PolicyVerdict {
        let mut allowed = false;
        for statement in &self.statements {
            let applies = statement
                .actions
                .iter()
                .any(|a| wildcard_match(&a.to_ascii_lowercase(), "execute-api:invoke"))
                && statement
                    .resources
                    .iter()
                    .any(|r| wildcard_match(r, method_arn));
            if !applies || (statement.allow && statement.conditional) {
                continue;
            }
            if !statement.allow {
                return PolicyVerdict::ExplicitDeny;
            }
            allowed = true;
        }
        if allowed {
            PolicyVerdict::Allow
        } else {
            PolicyVerdict::NotAllowed
        }
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of
/// characters (`/` included, as in IAM resource ARNs) and `?` for one.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it has consumed up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_p, star_t)) = star {
            pi = star_p + 1;
            ti = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// An authorizer's context: as strings (for headers and 1.0 events), and
/// with its JSON types (for 2.0 events).
type Context = (Vec<(String, String)>, Map<String, Value>);

/// Reads an answer's `context`. IAM policy answers follow API Gateway's
/// rule that values are strings, numbers or booleans (`nested` false); a
/// 2.0 simple response may carry any JSON, passed on as its text.
fn read_context(context: &Value, nested: bool) -> Result<Context, String> {
    let map = match context {
        Value::Null => return Ok((Vec::new(), Map::new())),
        Value::Object(map) => map,
        _ => return Err("`context` is not an object".into()),
    };
    let mut entries = Vec::with_capacity(map.len());
    for (key, value) in map {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null if !nested => continue,
            Value::Object(_) | Value::Array(_) if !nested => {
                return Err(format!(
                    "context value `{key}` is an object or array; API Gateway takes strings, numbers and booleans"
                ));
            }
            other => other.to_string(),
        };
        entries.push((key.clone(), text));
    }
    Ok((entries, map.clone()))
}

/// Reads a Lambda authorizer's answer. An `Err` is API Gateway's
/// authorizer configuration error (500), with why.
pub fn read_answer(format: PayloadFormat, text: &str) -> Result<LambdaAnswer, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the answer is not JSON: {e}"))?;
    if value.get("isAuthorized").is_some() {
        if format == PayloadFormat::V1 {
            return Err("a simple response (`isAuthorized`) needs payload_format = \"2.0\"".into());
        }
        let simple: ApiGatewayV2CustomAuthorizerSimpleResponse = serde_json::from_value(value)
            .map_err(|e| format!("the answer is not a simple response: {e}"))?;
        if !simple.is_authorized {
            return Ok(LambdaAnswer::Simple(None));
        }
        let (context, typed) = read_context(&simple.context, true)?;
        return Ok(LambdaAnswer::Simple(Some(Arc::new(Authorized {
            principal_id: String::new(),
            context,
            usage_identifier: None,
            scopes: Vec::new(),
            via: Via::Lambda,
            typed_context: Some(Arc::new(typed)),
        }))));
    }
    let policy: ApiGatewayCustomAuthorizerResponse = serde_json::from_value(value)
        .map_err(|e| format!("the answer is not a policy response: {e}"))?;
    let principal_id = match (policy.principal_id, format) {
        (Some(p), _) => p,
        (None, PayloadFormat::V2) => String::new(),
        (None, PayloadFormat::V1) => return Err("the policy response has no `principalId`".into()),
    };
    let (context, typed) = read_context(&policy.context, false)?;
    let statements = policy
        .policy_document
        .statement
        .into_iter()
        .map(|s| Statement {
            allow: s.effect == IamPolicyEffect::Allow,
            conditional: s.condition.as_ref().is_some_and(|c| !c.is_empty()),
            actions: s.action,
            resources: s.resource,
        })
        .collect();
    Ok(LambdaAnswer::Policy(Arc::new(PolicyGrant {
        statements,
        authorized: Arc::new(Authorized {
            principal_id,
            context,
            usage_identifier: policy.usage_identifier_key,
            scopes: Vec::new(),
            via: Via::Lambda,
            typed_context: Some(Arc::new(typed)),
        }),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/pets/7";

    fn policy(statements: &str) -> Arc<PolicyGrant> {
        let text = format!(
            r#"{{"principalId": "u1", "policyDocument": {{"Version": "2012-10-17", "Statement": {statements}}},
                "context": {{"s": "v", "n": 1, "b": true}}, "usageIdentifierKey": "key-1"}}"#
        );
        match read_answer(PayloadFormat::V1, &text) {
            Ok(LambdaAnswer::Policy(grant)) => grant,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn policies_follow_iam_rules() {
        let allow_all = policy(
            r#"[{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:us-east-1:123456789012:api/prod/*"}]"#,
        );
        assert_eq!(allow_all.evaluate(ARN), PolicyVerdict::Allow);
        assert_eq!(
            allow_all.evaluate("arn:aws:execute-api:us-east-1:123456789012:api/test/GET/pets"),
            PolicyVerdict::NotAllowed
        );
        assert_eq!(
            allow_all.authorized.context,
            vec![
                ("b".to_owned(), "true".to_owned()),
                ("n".to_owned(), "1".to_owned()),
                ("s".to_owned(), "v".to_owned())
            ]
        );
        assert_eq!(
            allow_all.authorized.usage_identifier.as_deref(),
            Some("key-1")
        );
        let deny_wins = policy(
            r#"[{"Action": ["execute-api:*"], "Effect": "Allow", "Resource": ["*"]},
                {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "arn:aws:execute-api:*:*:api/prod/GET/pets/?"}]"#,
        );
        assert_eq!(deny_wins.evaluate(ARN), PolicyVerdict::ExplicitDeny);
        assert_eq!(
            deny_wins.evaluate("arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/pets/77"),
            PolicyVerdict::Allow
        );
        let other_action = policy(
            r#"[{"Action": "execute-api:ManageConnections", "Effect": "Allow", "Resource": "*"}]"#,
        );
        assert_eq!(other_action.evaluate(ARN), PolicyVerdict::NotAllowed);
        // Conditions are not evaluated: a conditional Allow grants nothing, a
        // conditional Deny always denies.
        let conditional_allow = policy(
            r#"[{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*",
                 "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]"#,
        );
        assert_eq!(conditional_allow.evaluate(ARN), PolicyVerdict::NotAllowed);
        let conditional_deny = policy(
            r#"[{"Action": "*", "Effect": "Allow", "Resource": "*"},
                {"Action": "*", "Effect": "Deny", "Resource": "*",
                 "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}}]"#,
        );
        assert_eq!(conditional_deny.evaluate(ARN), PolicyVerdict::ExplicitDeny);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("a*c", "abbbc"));
        assert!(wildcard_match("a*", "a"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("*/GET/*", "x/prod/GET/pets/1"));
        assert!(!wildcard_match("*/POST/*", "x/prod/GET/pets/1"));
    }

    #[test]
    fn malformed_answers_are_configuration_errors() {
        for bad in [
            "nope",
            r#"{"policyDocument": {"Statement": []}}"#,
            r#"{"principalId": "u", "policyDocument": {"Statement": []}, "context": {"o": {"nested": 1}}}"#,
            r#"{"principalId": "u"}"#,
            r#"{"isAuthorized": true}"#,
        ] {
            assert!(read_answer(PayloadFormat::V1, bad).is_err(), "{bad}");
        }
        assert!(matches!(
            read_answer(PayloadFormat::V2, r#"{"isAuthorized": false}"#),
            Ok(LambdaAnswer::Simple(None))
        ));
    }
}
