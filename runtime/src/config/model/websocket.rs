//! WebSocket APIs (`protocol = "websocket"`): the route selection
//! expression and the connection limits, Amazon API Gateway's defaults.

use std::time::Duration;

/// API Gateway's idle timeout of a WebSocket connection.
pub const DEFAULT_WS_IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// API Gateway's maximum connection duration.
pub const DEFAULT_WS_MAX_DURATION: Duration = Duration::from_secs(2 * 60 * 60);
/// API Gateway's frame size limit (32 KB).
pub const DEFAULT_WS_MAX_FRAME_BYTES: u64 = 32 * 1024;
/// API Gateway's message size limit (128 KB).
pub const DEFAULT_WS_MAX_MESSAGE_BYTES: u64 = 128 * 1024;
/// How often an idle connection is pinged.
pub const DEFAULT_WS_PING_INTERVAL: Duration = Duration::from_secs(30);
/// Bytes waiting to be written to one client before it counts as a slow
/// reader and is closed.
pub const DEFAULT_WS_SEND_QUEUE_BYTES: u64 = 1024 * 1024;

/// What a WebSocket API adds to an API.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSocketSettings {
    /// Which part of a message names its route.
    pub selection: SelectionExpression,
    /// A connection with no message either way for this long is closed
    /// (1001), as API Gateway's 10 minutes.
    pub idle_timeout: Duration,
    /// A connection is closed (1001) after this long whatever it does.
    pub max_duration: Duration,
    /// Largest frame a client may send (larger: close 1009).
    pub max_frame_bytes: usize,
    /// Largest message, all its frames together (larger: close 1009).
    pub max_message_bytes: usize,
    /// How often the gateway pings a connection (`None`: never). A client
    /// that has not answered by the next ping is gone.
    pub ping_interval: Option<Duration>,
    /// Bytes queued for one client before it is closed as a slow reader
    /// (1008); pushes to it are refused from then on.
    pub send_queue_bytes: usize,
    /// The authorizer (an index into the API's authorizers, a `sigv4` one)
    /// that admits `@connections` calls on the API's own listeners; `None`:
    /// they are served by the admin listener only.
    pub management_authorizer: Option<usize>,
}

/// A route selection expression: `$request.body.PATH`, where PATH is a
/// dot-separated path into the JSON message (`action`, `detail.type`,
/// `items[0].kind`). `${request.body.action}` is the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectionExpression {
    steps: Vec<Step>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    Index(usize),
}

impl SelectionExpression {
    /// Parses an expression, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<SelectionExpression, String> {
        let inner = match text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
            Some(braced) => braced,
            None => text.strip_prefix('$').unwrap_or(""),
        };
        let Some(path) = inner.strip_prefix("request.body.") else {
            return Err(format!(
                "`{text}` is not a route selection expression: write `$request.body.FIELD` (a JSON path into the message, e.g. `$request.body.action`)"
            ));
        };
        let mut steps = Vec::new();
        for segment in path.split('.') {
            let (name, mut rest) = match segment.find('[') {
                Some(at) => (&segment[..at], &segment[at..]),
                None => (segment, ""),
            };
            if name.is_empty() && steps.is_empty() && rest.is_empty() {
                return Err(format!("`{text}` has an empty field name"));
            }
            if !name.is_empty() {
                if name.contains([']', ' ', '$', '{', '}']) {
                    return Err(format!("`{text}`: `{name}` is not a field name"));
                }
                steps.push(Step::Field(name.to_owned()));
            } else if rest.is_empty() {
                return Err(format!("`{text}` has an empty field name"));
            }
            while let Some(open) = rest.strip_prefix('[') {
                let Some((index, after)) = open.split_once(']') else {
                    return Err(format!("`{text}`: `[` without `]`"));
                };
                let index = index
                    .parse::<usize>()
                    .map_err(|_| format!("`{text}`: `[{index}]` is not an array index"))?;
                steps.push(Step::Index(index));
                rest = after;
            }
            if !rest.is_empty() {
                return Err(format!("`{text}`: unexpected `{rest}`"));
            }
        }
        Ok(SelectionExpression {
            steps,
            text: text.to_owned(),
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The route key a message selects: the string (or number or boolean,
    /// as text) at the path; `None` when the message is not JSON or has
    /// nothing there (the `$default` route's messages).
    pub fn select(&self, message: &[u8]) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(message).ok()?;
        let mut at = &value;
        for step in &self.steps {
            at = match step {
                Step::Field(name) => at.get(name.as_str())?,
                Step::Index(i) => at.get(*i)?,
            };
        }
        match at {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

impl Default for SelectionExpression {
    fn default() -> Self {
        SelectionExpression {
            steps: vec![Step::Field("action".to_owned())],
            text: "$request.body.action".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_select_nested_values_and_refuse_nonsense() {
        let cases = [
            ("$request.body.action", r#"{"action":"send"}"#, Some("send")),
            (
                "${request.body.action}",
                r#"{"action":"send"}"#,
                Some("send"),
            ),
            (
                "$request.body.detail.type",
                r#"{"detail":{"type":"a.b"}}"#,
                Some("a.b"),
            ),
            (
                "$request.body.items[1].kind",
                r#"{"items":[{"kind":"x"},{"kind":"y"}]}"#,
                Some("y"),
            ),
            ("$request.body.n", r#"{"n":7}"#, Some("7")),
            ("$request.body.action", r#"{"action":{"x":1}}"#, None),
            ("$request.body.action", "not json", None),
            ("$request.body.action", r#"{"other":1}"#, None),
        ];
        for (expression, message, want) in cases {
            let parsed = SelectionExpression::parse(expression).expect(expression);
            assert_eq!(
                parsed.select(message.as_bytes()).as_deref(),
                want,
                "{expression} on {message}"
            );
        }
        for bad in [
            "action",
            "$request.header.x",
            "$request.body.",
            "$request.body.a[x]",
            "$request.body.a[1",
            "$request.body.a..b",
        ] {
            assert!(SelectionExpression::parse(bad).is_err(), "{bad}");
        }
    }
}
