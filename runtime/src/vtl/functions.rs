//! The methods Velocity's Java objects answer, `$util`, and the
//! operators, as API Gateway's templates see them.

use std::collections::HashMap;

use base64::Engine;
use serde_json::Value as Json;

use super::RenderError;
use super::ast::Op;
use super::value::Val;

/// Regular expressions compiled during one render.
#[derive(Default)]
pub struct Regexes(HashMap<String, regex::Regex>);

impl Regexes {
    /// `pattern`, compiled once per render.
    pub fn get(&mut self, pattern: &str) -> Result<&regex::Regex, RenderError> {
        if !self.0.contains_key(pattern) {
            let compiled = regex::Regex::new(pattern).map_err(|e| {
                RenderError::Template(format!("`{pattern}` is not a regular expression: {e}"))
            })?;
            self.0.insert(pattern.to_owned(), compiled);
        }
        Ok(&self.0[pattern])
    }
}

/// Java's methods on strings, lists, maps and numbers.
pub fn method(
    regexes: &mut Regexes,
    target: &Val,
    name: &str,
    args: &[Val],
) -> Result<Val, RenderError> {
    let unknown = || {
        RenderError::Template(format!(
            "no method `{name}` with {} arguments on {}",
            args.len(),
            kind(target)
        ))
    };
    Ok(match (target, name, args) {
        (_, "toString", []) => Val::Str(target.to_text()),
        (_, "equals", [x]) => Val::Bool(binary(Op::Eq, target, x) == Val::Bool(true)),
        (Val::Str(s), "length", []) => Val::Int(s.chars().count() as i64),
        (Val::Str(s), "isEmpty", []) => Val::Bool(s.is_empty()),
        (Val::Str(s), "isBlank", []) => Val::Bool(s.trim().is_empty()),
        (Val::Str(s), "contains", [x]) => Val::Bool(s.contains(&x.to_text())),
        (Val::Str(s), "startsWith", [x]) => Val::Bool(s.starts_with(&x.to_text())),
        (Val::Str(s), "endsWith", [x]) => Val::Bool(s.ends_with(&x.to_text())),
        (Val::Str(s), "indexOf", [x]) => Val::Int(char_index(s, s.find(&x.to_text()))),
        (Val::Str(s), "lastIndexOf", [x]) => Val::Int(char_index(s, s.rfind(&x.to_text()))),
        (Val::Str(s), "toLowerCase", []) => Val::Str(s.to_lowercase()),
        (Val::Str(s), "toUpperCase", []) => Val::Str(s.to_uppercase()),
        (Val::Str(s), "trim", []) => Val::Str(s.trim().to_owned()),
        (Val::Str(s), "concat", [x]) => Val::Str(format!("{s}{}", x.to_text())),
        (Val::Str(s), "equalsIgnoreCase", [x]) => Val::Bool(s.eq_ignore_ascii_case(&x.to_text())),
        (Val::Str(s), "charAt", [Val::Int(i)]) => s
            .chars()
            .nth(*i as usize)
            .map_or(Val::Null, |c| Val::Str(c.to_string())),
        (Val::Str(s), "substring", [Val::Int(from)]) => {
            Val::Str(s.chars().skip(*from as usize).collect())
        }
        (Val::Str(s), "substring", [Val::Int(from), Val::Int(to)]) => Val::Str(
            s.chars()
                .skip(*from as usize)
                .take((*to - *from).max(0) as usize)
                .collect(),
        ),
        (Val::Str(s), "replace", [a, b]) => Val::Str(s.replace(&a.to_text(), &b.to_text())),
        (Val::Str(s), "replaceAll" | "replaceFirst", [pattern, with]) => {
            let with = java_replacement(&with.to_text());
            let re = regexes.get(&pattern.to_text())?;
            Val::Str(if name == "replaceAll" {
                re.replace_all(s, with.as_str()).into_owned()
            } else {
                re.replace(s, with.as_str()).into_owned()
            })
        }
        (Val::Str(s), "matches", [pattern]) => {
            let pattern = format!("^(?:{})$", pattern.to_text());
            Val::Bool(regexes.get(&pattern)?.is_match(s))
        }
        (Val::Str(s), "split", [pattern]) => {
            let mut parts: Vec<Val> = regexes
                .get(&pattern.to_text())?
                .split(s)
                .map(|p| Val::Str(p.to_owned()))
                .collect();
            // Java drops trailing empty strings.
            while parts.last().is_some_and(|p| *p == Val::Str(String::new())) {
                parts.pop();
            }
            Val::List(parts)
        }
        (Val::List(items), "size", []) => Val::Int(items.len() as i64),
        (Val::List(items), "isEmpty", []) => Val::Bool(items.is_empty()),
        (Val::List(items), "get", [Val::Int(i)]) => {
            items.get(*i as usize).cloned().unwrap_or(Val::Null)
        }
        (Val::List(items), "contains", [x]) => Val::Bool(
            items
                .iter()
                .any(|i| binary(Op::Eq, i, x) == Val::Bool(true)),
        ),
        (Val::List(items), "indexOf", [x]) => Val::Int(
            items
                .iter()
                .position(|i| binary(Op::Eq, i, x) == Val::Bool(true))
                .map_or(-1, |p| p as i64),
        ),
        (Val::List(items), "subList", [Val::Int(a), Val::Int(b)]) => {
            let (a, b) = ((*a).max(0) as usize, (*b).max(0) as usize);
            Val::List(
                items
                    .get(a..b.min(items.len()))
                    .unwrap_or_default()
                    .to_vec(),
            )
        }
        (Val::Map(entries), "size", []) => Val::Int(entries.len() as i64),
        (Val::Map(entries), "isEmpty", []) => Val::Bool(entries.is_empty()),
        (Val::Map(_), "get", [k]) => target.get(&k.to_text()).cloned().unwrap_or(Val::Null),
        (Val::Map(_), "containsKey", [k]) => Val::Bool(target.get(&k.to_text()).is_some()),
        (Val::Map(entries), "keySet", []) => {
            Val::List(entries.iter().map(|(k, _)| Val::Str(k.clone())).collect())
        }
        (Val::Map(entries), "values", []) => {
            Val::List(entries.iter().map(|(_, v)| v.clone()).collect())
        }
        (Val::Map(entries), "entrySet", []) => Val::List(
            entries
                .iter()
                .map(|(k, v)| {
                    Val::Map(vec![
                        ("key".into(), Val::Str(k.clone())),
                        ("value".into(), v.clone()),
                    ])
                })
                .collect(),
        ),
        (Val::Int(i), "intValue" | "longValue", []) => Val::Int(*i),
        (Val::Float(f), "intValue" | "longValue", []) => Val::Int(*f as i64),
        (Val::Int(i), "doubleValue", []) => Val::Float(*i as f64),
        (Val::Float(f), "doubleValue", []) => Val::Float(*f),
        _ => return Err(unknown()),
    })
}

fn kind(v: &Val) -> &'static str {
    match v {
        Val::Null => "null",
        Val::Bool(_) => "a boolean",
        Val::Int(_) | Val::Float(_) => "a number",
        Val::Str(_) => "a string",
        Val::List(_) => "a list",
        Val::Map(_) => "a map",
    }
}

fn char_index(s: &str, byte: Option<usize>) -> i64 {
    byte.map_or(-1, |b| s[..b].chars().count() as i64)
}

/// Java's `$1` group references in replacements are Rust's `${1}`.
fn java_replacement(with: &str) -> String {
    let mut out = String::with_capacity(with.len());
    let mut chars = with.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    if next == '$' {
                        out.push_str("$$");
                    } else {
                        out.push(next);
                    }
                }
            }
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str("$$");
                } else {
                    out.push_str(&format!("${{{digits}}}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

pub fn binary(op: Op, a: &Val, b: &Val) -> Val {
    let numbers = a.as_number().zip(b.as_number());
    match op {
        Op::Eq | Op::Ne => {
            let equal = match (a, b) {
                (Val::Null, Val::Null) => true,
                (Val::Null, _) | (_, Val::Null) => false,
                _ => match numbers {
                    Some((x, y)) => x == y,
                    // Different kinds compare as text, as Velocity does.
                    None => a == b || a.to_text() == b.to_text(),
                },
            };
            Val::Bool(equal == (op == Op::Eq))
        }
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ordering = match (numbers, a, b) {
                (Some((x, y)), _, _) => x.partial_cmp(&y),
                (None, Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
                _ => None,
            };
            let Some(ordering) = ordering else {
                return Val::Null;
            };
            Val::Bool(match op {
                Op::Lt => ordering.is_lt(),
                Op::Le => ordering.is_le(),
                Op::Gt => ordering.is_gt(),
                _ => ordering.is_ge(),
            })
        }
        Op::Add if matches!(a, Val::Str(_)) || matches!(b, Val::Str(_)) => {
            Val::Str(format!("{}{}", a.to_text(), b.to_text()))
        }
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Rem => match (a, b) {
            (Val::Int(x), Val::Int(y)) => {
                let r = match op {
                    Op::Add => x.checked_add(*y),
                    Op::Sub => x.checked_sub(*y),
                    Op::Mul => x.checked_mul(*y),
                    Op::Div => x.checked_div(*y),
                    _ => x.checked_rem(*y),
                };
                r.map_or(Val::Null, Val::Int)
            }
            _ => match numbers {
                Some((x, y)) => Val::Float(match op {
                    Op::Add => x + y,
                    Op::Sub => x - y,
                    Op::Mul => x * y,
                    Op::Div => x / y,
                    _ => x % y,
                }),
                None => Val::Null,
            },
        },
        Op::And | Op::Or => Val::Null,
    }
}

/// `$util.*`.
pub fn util(name: &str, args: &[Val]) -> Result<Val, RenderError> {
    let text = |i: usize| args.get(i).map(Val::to_text).unwrap_or_default();
    Ok(match (name, args.len()) {
        ("escapeJavaScript", 1) => Val::Str(escape_javascript(&text(0))),
        ("parseJson", 1) => {
            let json: Json = serde_json::from_str(&text(0))
                .map_err(|e| RenderError::Input(format!("$util.parseJson: not JSON: {e}")))?;
            Val::from_json(&json)
        }
        ("urlEncode", 1) => Val::Str(form_urlencoded::byte_serialize(text(0).as_bytes()).collect()),
        ("urlDecode", 1) => Val::Str(
            form_urlencoded::parse(format!("x={}", text(0)).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default(),
        ),
        ("base64Encode", 1) => Val::Str(base64::engine::general_purpose::STANDARD.encode(text(0))),
        ("base64Decode", 1) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text(0).trim())
                .map_err(|e| RenderError::Input(format!("$util.base64Decode: {e}")))?;
            Val::Str(String::from_utf8_lossy(&bytes).into_owned())
        }
        _ => {
            return Err(RenderError::Template(format!(
                "`$util.{name}` with {} arguments does not exist",
                args.len()
            )));
        }
    })
}

/// Apache Commons Lang's `StringEscapeUtils.escapeJavaScript`, which API
/// Gateway's `$util.escapeJavaScript` is.
pub fn escape_javascript(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) > 0x7f => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}
