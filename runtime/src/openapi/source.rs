//! An OpenAPI document as read from its file: the JSON value, where each
//! node stood (line numbers by JSON pointer), and the CloudFormation
//! short-form tags (`!Ref`, `!Sub`, `!GetAtt`) turned into their long forms.
//!
//! JSON and YAML are both read with a YAML 1.2 parser for positions; JSON
//! text is also read by `serde_json`, whose value and error messages are
//! the reference for JSON.

use std::collections::HashMap;
use std::fmt;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Value};

/// A parsed definition file.
#[derive(Debug)]
pub struct Source {
    /// The whole document.
    pub value: Value,
    /// The file's name as the user gave it, for messages.
    pub file: String,
    /// 1-based line of each node, by JSON pointer.
    lines: HashMap<String, usize>,
}

/// A file that could not be read as JSON or YAML.
#[derive(Debug)]
pub struct SyntaxError {
    /// The file's name.
    pub file: String,
    /// 1-based line and column, when known.
    pub at: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for SyntaxError {}

impl Source {
    /// Reads `text` (JSON or YAML) from the file named `file`.
    pub fn parse(text: &str, file: &str) -> Result<Source, SyntaxError> {
        let error = |at: Option<(usize, usize)>, message: String| SyntaxError {
            file: file.to_owned(),
            at,
            message,
        };
        let looks_like_json = text.trim_start().starts_with(['{', '[']);
        let json = if looks_like_json {
            match serde_json::from_str::<Value>(text) {
                Ok(value) => Some(value),
                Err(e) => {
                    return Err(error(
                        Some((e.line(), e.column())),
                        format!("invalid JSON: {}", strip_position(&e.to_string())),
                    ));
                }
            }
        } else {
            None
        };
        let mut lines = HashMap::new();
        let yaml = match MarkedYaml::load_from_str(text) {
            Ok(mut docs) if !docs.is_empty() => Some(docs.swap_remove(0)),
            Ok(_) => None,
            Err(e) if json.is_none() => {
                let marker = e.marker();
                return Err(error(
                    Some((marker.line(), marker.col() + 1)),
                    format!("invalid YAML: {}", e.info()),
                ));
            }
            // Valid JSON a YAML parser stumbles on (tabs, odd escapes):
            // the value stands, only line numbers are lost.
            Err(_) => None,
        };
        let value = match (json, yaml) {
            (Some(value), yaml) => {
                if let Some(node) = &yaml {
                    let mut pointer = String::new();
                    convert(node, &mut pointer, 0, &mut lines);
                }
                value
            }
            (None, Some(node)) => {
                let mut pointer = String::new();
                convert(&node, &mut pointer, 0, &mut lines)
            }
            (None, None) => return Err(error(None, "the file is empty".to_owned())),
        };
        if !value.is_object() {
            return Err(error(
                Some((1, 1)),
                "an OpenAPI definition is a JSON object (a YAML mapping) at the top".to_owned(),
            ));
        }
        Ok(Source {
            value,
            file: file.to_owned(),
            lines,
        })
    }

    /// `FILE:LINE` of the node at `pointer` (or of its nearest ancestor
    /// whose line is known), else `FILE`.
    pub fn locate(&self, pointer: &str) -> String {
        let mut at = pointer;
        loop {
            if let Some(line) = self.lines.get(at) {
                return format!("{}:{line}", self.file);
            }
            match at.rfind('/') {
                Some(i) => at = &at[..i],
                None => return self.file.clone(),
            }
        }
    }
}

/// `serde_json` ends its messages with " at line L column C"; the position
/// is given separately.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// Escapes one JSON pointer segment (RFC 6901).
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Turns a YAML node into JSON, recording each node's line under its
/// pointer. A tagged node's own position is not kept by the parser, so
/// its line is its key's.
fn convert(
    node: &MarkedYaml<'_>,
    pointer: &mut String,
    key_line: usize,
    lines: &mut HashMap<String, usize>,
) -> Value {
    let line = if node.span.start.line() > 0 {
        node.span.start.line()
    } else {
        key_line
    };
    if line > 0 {
        lines.entry(pointer.clone()).or_insert(line);
    }
    match &node.data {
        YamlData::Value(scalar) => scalar_value(scalar),
        YamlData::Representation(text, _, _) => Value::String(text.to_string()),
        YamlData::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                out.push(convert(item, pointer, line, lines));
                pointer.truncate(len);
            }
            Value::Array(out)
        }
        YamlData::Mapping(entries) => {
            let mut out = Map::new();
            for (key, item) in entries {
                let name = match &key.data {
                    YamlData::Value(scalar) => match scalar_value(scalar) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    },
                    YamlData::Representation(text, _, _) => text.to_string(),
                    _ => continue,
                };
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape(&name));
                let key_line = key.span.start.line().max(line);
                lines.entry(pointer.clone()).or_insert(key_line);
                let converted = convert(item, pointer, key_line, lines);
                pointer.truncate(len);
                out.insert(name, converted);
            }
            Value::Object(out)
        }
        YamlData::Tagged(tag, inner) => {
            let inner = convert(inner, pointer, line, lines);
            if tag.is_yaml_core_schema() {
                return inner;
            }
            // CloudFormation's short forms: `!Ref X` is `{"Ref": "X"}`,
            // `!GetAtt A.B` is `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` is
            // `{"Fn::Sub": s}`, and so on for every `!Name`.
            let name = tag.suffix.as_str();
            let mut out = Map::new();
            match name {
                "Ref" | "Condition" => {
                    out.insert(name.to_owned(), inner);
                }
                "GetAtt" => {
                    let parts = match inner {
                        Value::String(s) => match s.split_once('.') {
                            Some((a, b)) => Value::Array(vec![a.into(), b.into()]),
                            None => Value::String(s),
                        },
                        other => other,
                    };
                    out.insert("Fn::GetAtt".to_owned(), parts);
                }
                _ => {
                    out.insert(format!("Fn::{name}"), inner);
                }
            }
            Value::Object(out)
        }
        YamlData::Alias(_) | YamlData::BadValue => Value::Null,
    }
}

fn scalar_value(scalar: &Scalar<'_>) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::from(*i),
        Scalar::FloatingPoint(f) => serde_json::Number::from_f64(f.into_inner())
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(f.to_string())),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_with_lines_and_short_tags() {
        let text = "openapi: 3.0.1\npaths:\n  /pets:\n    get:\n      x-amazon-apigateway-integration:\n        uri: !Sub 'arn:${AWS::Region}'\n        arn: !GetAtt Fn.Arn\n";
        let source = Source::parse(text, "api.yaml").unwrap();
        let uri = &source.value["paths"]["/pets"]["get"]["x-amazon-apigateway-integration"]["uri"];
        assert_eq!(uri, &serde_json::json!({"Fn::Sub": "arn:${AWS::Region}"}));
        let arn = &source.value["paths"]["/pets"]["get"]["x-amazon-apigateway-integration"]["arn"];
        assert_eq!(arn, &serde_json::json!({"Fn::GetAtt": ["Fn", "Arn"]}));
        assert_eq!(
            source.locate("/paths/~1pets/get/x-amazon-apigateway-integration/uri"),
            "api.yaml:6"
        );
        assert_eq!(
            source.locate("/paths/~1pets/get/nothing/here"),
            "api.yaml:4"
        );
    }

    #[test]
    fn json_positions_and_errors() {
        let text = "{\n  \"openapi\": \"3.0.1\",\n  \"paths\": {\n    \"/a\": {}\n  }\n}";
        let source = Source::parse(text, "a.json").unwrap();
        assert_eq!(source.locate("/paths/~1a"), "a.json:4");
        let error = Source::parse("{\n  \"openapi\": \"3.0.1\",\n  \"paths\": \n}", "b.json")
            .unwrap_err()
            .to_string();
        assert_eq!(error, "b.json:4:1: invalid JSON: expected value");
        let error = Source::parse("a: [1, 2\nb: 3\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("c.yaml:2:"), "{error}");
        assert!(Source::parse("- 1\n- 2\n", "d.yaml").is_err());
    }
}
