//! Templates in integration URLs, headers and mock bodies.
//!
//! `${stageVariables.NAME}` is replaced by the stage's variable when a
//! deployment is built; `${request.path.NAME}` (and, in URLs, the shorter
//! `{NAME}`) by the request's path parameter on each request;
//! `${context.authorizer.KEY}` (in headers and bodies) by what the route's
//! authorizer said: `principalId`, or a key of its context;
//! `${request.header.NAME}` (in headers and bodies) by the client's header;
//! `${request.querystring.NAME}` by the client's query-string parameter.

use std::collections::BTreeMap;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// `${stageVariables.NAME}`.
    StageVariable(String),
    /// `${request.path.NAME}` or `{NAME}`.
    PathParam(String),
    /// `${context.authorizer.KEY}`.
    Authorizer(String),
    /// `${request.header.NAME}`.
    Header(String),
    /// `${request.querystring.NAME}`.
    Query(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// A template with its stage variables filled in; only path parameters remain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Literal text.
    Text(String),
    /// Index into the matched route's path parameter values.
    Param(usize),
    /// `principalId` or a context key of the route's authorizer.
    Authorizer(String),
    /// A header of the client's request (the first value, empty if absent).
    Header(http::HeaderName),
    /// A query-string parameter of the client's request (the first value,
    /// empty if absent; percent-encoded in URLs).
    Query(String),
}

/// Whether `{NAME}` is a path parameter (integration URLs) or plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BraceParams {
    /// `{NAME}` names a path parameter.
    Allowed,
    /// Braces are literal text (headers, bodies).
    Literal,
}

impl Template {
    /// Parses template text, reporting the first malformed placeholder.
    pub fn parse(text: &str, braces: BraceParams) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("${") {
                let Some(end) = after.find('}') else {
                    return Err(format!("`${{` without a closing `}}` in `{text}`"));
                };
                let name = &after[..end];
                let piece = if let Some(v) = name.strip_prefix("stageVariables.") {
                    check_name(v, name)?;
                    Piece::StageVariable(v.to_owned())
                } else if let Some(p) = name.strip_prefix("request.path.") {
                    check_name(p, name)?;
                    Piece::PathParam(p.to_owned())
                } else if let Some(k) = name.strip_prefix("context.authorizer.") {
                    check_name(k, name)?;
                    Piece::Authorizer(k.to_owned())
                } else if let Some(q) = name.strip_prefix("request.querystring.") {
                    check_name(q, name)?;
                    Piece::Query(q.to_owned())
                } else if let Some(h) = name.strip_prefix("request.header.") {
                    if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                        return Err(format!("`{name}` does not name a valid header"));
                    }
                    Piece::Header(h.to_ascii_lowercase())
                } else {
                    return Err(format!(
                        "unknown variable `${{{name}}}`; use `${{stageVariables.NAME}}`, `${{request.path.NAME}}`, `${{request.header.NAME}}`, `${{request.querystring.NAME}}` or `${{context.authorizer.KEY}}`"
                    ));
                };
                flush(&mut literal, &mut pieces);
                pieces.push(piece);
                rest = &after[end + 1..];
            } else if braces == BraceParams::Allowed
                && let Some(after) = rest.strip_prefix('{')
            {
                let Some(end) = after.find('}') else {
                    return Err(format!("`{{` without a closing `}}` in `{text}`"));
                };
                let name = &after[..end];
                check_name(name, name)?;
                flush(&mut literal, &mut pieces);
                pieces.push(Piece::PathParam(name.to_owned()));
                rest = &after[end + 1..];
            } else {
                let mut chars = rest.chars();
                if let Some(c) = chars.next() {
                    literal.push(c);
                }
                rest = chars.as_str();
            }
        }
        flush(&mut literal, &mut pieces);
        Ok(Template { pieces })
    }

    /// A template that is only literal text.
    pub fn literal(text: &str) -> Template {
        Template {
            pieces: vec![Piece::Text(text.to_owned())],
        }
    }

    /// The pieces in order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// Fills in stage variables and turns path parameter names into indexes.
    /// Fails naming the first variable or parameter that does not exist.
    pub fn resolve<'a>(
        &self,
        variables: &BTreeMap<String, String>,
        param_names: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<Vec<Resolved>, String> {
        let mut out: Vec<Resolved> = Vec::new();
        let push_text = |out: &mut Vec<Resolved>, text: &str| match out.last_mut() {
            Some(Resolved::Text(t)) => t.push_str(text),
            _ => out.push(Resolved::Text(text.to_owned())),
        };
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => push_text(&mut out, t),
                Piece::StageVariable(name) => match variables.get(name) {
                    Some(value) => push_text(&mut out, value),
                    None => return Err(format!("stage variable `{name}` is not defined")),
                },
                Piece::Authorizer(key) => out.push(Resolved::Authorizer(key.clone())),
                Piece::Query(name) => out.push(Resolved::Query(name.clone())),
                Piece::Header(name) => match http::HeaderName::from_bytes(name.as_bytes()) {
                    Ok(header) => out.push(Resolved::Header(header)),
                    Err(_) => return Err(format!("`{name}` is not a valid header name")),
                },
                Piece::PathParam(name) => match param_names.clone().position(|p| p == name) {
                    Some(at) => out.push(Resolved::Param(at)),
                    None => {
                        return Err(format!("path parameter `{name}` is not in the route key"));
                    }
                },
            }
        }
        Ok(out)
    }
}

fn check_name(name: &str, whole: &str) -> Result<(), String> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        Ok(())
    } else {
        Err(format!("`{whole}` is not a valid variable name"))
    }
}

fn flush(literal: &mut String, pieces: &mut Vec<Piece>) {
    if !literal.is_empty() {
        pieces.push(Piece::Text(std::mem::take(literal)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_placeholder_form() {
        let t = Template::parse(
            "${stageVariables.host}/pets/{id}?x=${request.path.id}",
            BraceParams::Allowed,
        )
        .expect("valid");
        assert_eq!(
            t.pieces(),
            &[
                Piece::StageVariable("host".into()),
                Piece::Text("/pets/".into()),
                Piece::PathParam("id".into()),
                Piece::Text("?x=".into()),
                Piece::PathParam("id".into()),
            ]
        );
        let context = Template::parse(
            "user ${context.authorizer.principalId}",
            BraceParams::Literal,
        )
        .expect("valid");
        assert_eq!(
            context.pieces(),
            &[
                Piece::Text("user ".into()),
                Piece::Authorizer("principalId".into())
            ]
        );
        let literal = Template::parse("{\"a\": 1}", BraceParams::Literal).expect("valid");
        assert_eq!(literal.pieces(), &[Piece::Text("{\"a\": 1}".into())]);
    }

    #[test]
    fn rejects_malformed_placeholders() {
        for (text, want) in [
            ("${stageVariables.a", "without a closing"),
            ("${env.HOME}", "unknown variable `${env.HOME}`"),
            ("${stageVariables.}", "not a valid variable name"),
            ("/pets/{id", "without a closing"),
            ("/pets/{a b}", "not a valid variable name"),
        ] {
            let err = Template::parse(text, BraceParams::Allowed).expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn resolves_stage_variables_and_params() {
        let t = Template::parse(
            "http://${stageVariables.host}/x/{proxy}",
            BraceParams::Allowed,
        )
        .expect("valid");
        let vars = BTreeMap::from([("host".to_owned(), "up:80".to_owned())]);
        assert_eq!(
            t.resolve(&vars, ["id", "proxy"].into_iter()),
            Ok(vec![
                Resolved::Text("http://up:80/x/".into()),
                Resolved::Param(1)
            ])
        );
        assert!(
            t.resolve(&BTreeMap::new(), ["proxy"].into_iter())
                .unwrap_err()
                .contains("`host` is not defined")
        );
        assert!(
            t.resolve(&vars, ["id"].into_iter())
                .unwrap_err()
                .contains("`proxy` is not in the route key")
        );
    }
}
