//! Values a template computes with, as Velocity's Java objects behave:
//! strings, integers, decimals, booleans, lists, ordered maps, null.

use std::fmt::Write;

use serde_json::Value as Json;

/// A template value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Val {
    /// Java's `null`.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A decimal.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<Val>),
    /// A map, in insertion order.
    Map(Vec<(String, Val)>),
}

impl Val {
    /// The value JSON stands for.
    pub fn from_json(json: &Json) -> Val {
        match json {
            Json::Null => Val::Null,
            Json::Bool(b) => Val::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => Val::Float(n.as_f64().unwrap_or(0.0)),
            },
            Json::String(s) => Val::Str(s.clone()),
            Json::Array(items) => Val::List(items.iter().map(Val::from_json).collect()),
            Json::Object(map) => Val::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Val::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Velocity's truth: `null` and `false` are false, all else true.
    pub fn truthy(&self) -> bool {
        !matches!(self, Val::Null | Val::Bool(false))
    }

    /// A map's entry.
    pub fn get(&self, key: &str) -> Option<&Val> {
        match self {
            Val::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A map's entry, created empty (a map) when missing; `None` if this
    /// is not a map.
    pub fn entry_mut(&mut self, key: &str) -> Option<&mut Val> {
        let Val::Map(entries) = self else { return None };
        let at = match entries.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                entries.push((key.to_owned(), Val::Map(Vec::new())));
                entries.len() - 1
            }
        };
        Some(&mut entries[at].1)
    }

    /// Sets a map's entry.
    pub fn put(&mut self, key: &str, value: Val) -> Val {
        let Val::Map(entries) = self else {
            return Val::Null;
        };
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, old)) => std::mem::replace(old, value),
            None => {
                entries.push((key.to_owned(), value));
                Val::Null
            }
        }
    }

    /// The text Velocity writes for the value (Java's `toString`).
    pub fn render(&self, out: &mut String) {
        match self {
            Val::Null => {}
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Val::Float(f) => render_float(*f, out),
            Val::Str(s) => out.push_str(s),
            Val::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.render(out);
                }
                out.push(']');
            }
            Val::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push('=');
                    v.render(out);
                }
                out.push('}');
            }
        }
    }

    /// The value as text (what `render` writes).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.render(&mut out);
        out
    }

    /// The value as JSON.
    pub fn to_json(&self) -> Json {
        match self {
            Val::Null => Json::Null,
            Val::Bool(b) => Json::Bool(*b),
            Val::Int(i) => Json::from(*i),
            Val::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Val::Str(s) => Json::String(s.clone()),
            Val::List(items) => Json::Array(items.iter().map(Val::to_json).collect()),
            Val::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The value as a number, if it is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// Java's `Double.toString`: `1.0`, `0.5`, `1.0E10`.
fn render_float(f: f64, out: &mut String) {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e7 {
        let _ = write!(out, "{f:.1}");
    } else if f.is_finite() && (f.abs() >= 1e7 || (f != 0.0 && f.abs() < 1e-3)) {
        let text = format!("{f:E}");
        let (mantissa, exponent) = text.split_once('E').unwrap_or((&text, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_owned()
        } else {
            format!("{mantissa}.0")
        };
        let _ = write!(out, "{mantissa}E{exponent}");
    } else {
        let _ = write!(out, "{f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_as_java_does() {
        let v =
            Val::from_json(&serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {"c": 1.0}}));
        assert_eq!(v.to_text(), "{a=[1, 2.5, x, , true], b={c=1.0}}");
        assert_eq!(Val::Float(1e10).to_text(), "1.0E10");
        assert_eq!(Val::Float(0.0001).to_text(), "1.0E-4");
        assert!(!Val::Null.truthy());
        assert!(Val::Str(String::new()).truthy());
    }
}
