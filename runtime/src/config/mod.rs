//! Configuration: parse the TOML file, validate it, and produce typed values.
//!
//! Parsing rejects unknown keys and wrong types at the first occurrence (the
//! TOML reader stops there); validation then reports every semantic problem at
//! once. Each problem names the file, the key and the line.

mod raw;
pub mod template;
pub mod units;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use serde_spanned::Spanned;

use crate::router::{RouteKey, Router};
use raw::{RawApi, RawConfig, RawIntegration, RawListener, SpannedStr};
pub use template::{BraceParams, Template};

/// Amazon API Gateway's payload limit: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// Amazon API Gateway's limit on the total size of request headers.
pub const DEFAULT_MAX_HEADER_BYTES: u64 = 10 * 1024;
/// Amazon API Gateway's default integration timeout.
pub const DEFAULT_INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);
/// How long in-flight requests may run after SIGTERM before the process exits.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Process-wide settings.
    pub server: ServerSettings,
    /// Request limits.
    pub limits: Limits,
    /// Where the gateway accepts downstream connections.
    pub listeners: Vec<ListenerConfig>,
    /// The APIs served.
    pub apis: Vec<ApiConfig>,
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Time in-flight requests get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Where access-log lines go.
    pub access_log: AccessLogTarget,
    /// Worker threads; `None` means one per available core.
    pub workers: Option<NonZeroUsize>,
    /// Response (and upstream request) header carrying the request id.
    pub request_id_header: HeaderName,
}

/// Destination of the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    /// One JSON line per request on standard output.
    Stdout,
    /// One JSON line per request on standard error.
    Stderr,
    /// Appended to a file.
    File(PathBuf),
    /// No access log.
    Off,
}

/// `[limits]`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: u64,
    /// Largest total of request header names and values (431 beyond).
    pub max_header_bytes: usize,
    /// Integration timeout used when an integration sets none.
    pub integration_timeout: Duration,
}

/// `[[listeners]]`.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Name that APIs refer to.
    pub name: String,
    /// Address to bind; port 0 picks a free port, reported at start-up.
    pub address: SocketAddr,
}

/// `[[apis]]`.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Unique name.
    pub name: String,
    /// Indexes into [`Config::listeners`] of the listeners serving this API.
    pub listeners: Vec<usize>,
    /// Host names (lower case, no port) this API answers; empty means any.
    pub hosts: Vec<String>,
    /// Stages; at least one.
    pub stages: Vec<StageConfig>,
    /// Routes, in file order.
    pub routes: Vec<RouteConfig>,
}

/// A stage of an API.
#[derive(Debug, Clone)]
pub struct StageConfig {
    /// `$default` (served at the root) or a name (served under `/{name}`).
    pub name: StageName,
    /// Stage variables.
    pub variables: BTreeMap<String, String>,
}

/// A stage's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StageName {
    /// `$default`: no path prefix.
    Default,
    /// Served under `/{name}/...`.
    Named(String),
}

impl StageName {
    /// The name as written in config and logs.
    pub fn as_str(&self) -> &str {
        match self {
            StageName::Default => "$default",
            StageName::Named(n) => n,
        }
    }
}

/// A route: its key and what serves it.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// The route key.
    pub key: RouteKey,
    /// The integration behind the route.
    pub integration: IntegrationConfig,
}

/// What serves a route.
#[derive(Debug, Clone)]
pub enum IntegrationConfig {
    /// Pass the request on to an HTTP upstream.
    HttpProxy(HttpProxyConfig),
    /// Answer from config.
    Mock(MockConfig),
}

/// `type = "http_proxy"`.
#[derive(Debug, Clone)]
pub struct HttpProxyConfig {
    /// Target URL; path parameters and stage variables are substituted, the
    /// request's query string is appended.
    pub url: Template,
    /// Time allowed for the upstream's response headers.
    pub timeout: Duration,
    /// Headers set (replacing any the client sent) on the upstream request.
    pub request_headers: Vec<(HeaderName, Template)>,
}

/// `type = "mock"`.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Response status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: Vec<(HeaderName, Template)>,
    /// Response body.
    pub body: Template,
}

/// A configuration that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read the file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{}", ProblemList(.0))]
    Invalid(Vec<Problem>),
}

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// 1-based line, if the problem has a place.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
    /// Dotted key path, e.g. `apis[0].routes[2].key`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Validates configuration text; `origin` names it in problems.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let locate = |span: Option<Range<usize>>, key: String, message: String| {
            let (line, column) = match span {
                Some(span) => {
                    let (l, c) = line_column(text, span.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            Problem {
                file: origin.to_owned(),
                line,
                column,
                key,
                message,
            }
        };
        let raw: RawConfig = match toml::de::Deserializer::parse(text) {
            Err(e) => {
                return Err(ConfigError::Invalid(vec![locate(
                    e.span(),
                    String::new(),
                    format!("invalid TOML: {}", e.message().trim_end()),
                )]));
            }
            Ok(de) => match serde_path_to_error::deserialize(de) {
                Ok(raw) => raw,
                Err(e) => {
                    let key = key_path(e.path());
                    let inner = e.into_inner();
                    return Err(ConfigError::Invalid(vec![locate(
                        inner.span(),
                        key,
                        inner.message().to_owned(),
                    )]));
                }
            },
        };
        let mut v = Validator::default();
        let config = v.config(raw);
        if v.problems.is_empty() {
            Ok(config)
        } else {
            v.problems
                .sort_by_key(|(span, _, _)| span.as_ref().map(|s| s.start));
            Err(ConfigError::Invalid(
                v.problems
                    .into_iter()
                    .map(|(span, key, message)| locate(span, key, message))
                    .collect(),
            ))
        }
    }
}

/// Renders a serde path as config keys (`apis[0].routes[1].key`), leaving
/// out the wrapper fields that carry source spans.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key.starts_with("$__serde_spanned") {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[derive(Default)]
struct Validator {
    problems: Vec<(Option<Range<usize>>, String, String)>,
}

impl Validator {
    fn problem(&mut self, span: Range<usize>, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push((Some(span), key.into(), message.into()));
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let server = self.server(raw.server);
        let limits = self.limits(raw.limits);
        let listeners = self.listeners(raw.listeners);
        let apis = self.apis(raw.apis, &listeners, &limits);
        Config {
            server,
            limits,
            listeners,
            apis,
        }
    }

    fn duration(&mut self, value: Option<SpannedStr>, key: &str, default: Duration) -> Duration {
        let Some(value) = value else { return default };
        match units::parse_duration(value.get_ref()) {
            Ok(d) => d,
            Err(why) => {
                self.problem(value.span(), key, why);
                default
            }
        }
    }

    fn server(&mut self, raw: raw::RawServer) -> ServerSettings {
        let shutdown_grace = self.duration(
            raw.shutdown_grace,
            "server.shutdown_grace",
            DEFAULT_SHUTDOWN_GRACE,
        );
        let access_log = match raw.access_log.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("stdout") => AccessLogTarget::Stdout,
            Some("stderr") => AccessLogTarget::Stderr,
            Some("off") => AccessLogTarget::Off,
            Some("") => {
                if let Some(s) = &raw.access_log {
                    self.problem(
                        s.span(),
                        "server.access_log",
                        "empty; use \"stdout\", \"stderr\", \"off\" or a file path",
                    );
                }
                AccessLogTarget::Off
            }
            Some(path) => AccessLogTarget::File(PathBuf::from(path)),
        };
        let workers = match raw.workers {
            None => None,
            Some(w) if *w.get_ref() == 0 => None,
            Some(w) => match usize::try_from(*w.get_ref())
                .ok()
                .and_then(NonZeroUsize::new)
            {
                Some(n) if n.get() <= 1024 => Some(n),
                _ => {
                    self.problem(
                        w.span(),
                        "server.workers",
                        format!(
                            "{} is not a worker count between 0 (one per core) and 1024",
                            w.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        let request_id_header = match raw.request_id_header {
            None => HeaderName::from_static("x-request-id"),
            Some(h) => match HeaderName::try_from(h.get_ref().as_str()) {
                Ok(name) => name,
                Err(_) => {
                    self.problem(
                        h.span(),
                        "server.request_id_header",
                        format!("`{}` is not a valid header name", h.get_ref()),
                    );
                    HeaderName::from_static("x-request-id")
                }
            },
        };
        ServerSettings {
            shutdown_grace,
            access_log,
            workers,
            request_id_header,
        }
    }

    fn limits(&mut self, raw: raw::RawLimits) -> Limits {
        let mut size = |value: Option<Spanned<units::SizeValue>>, key: &str, default: u64| {
            let Some(value) = value else { return default };
            match units::parse_size(value.get_ref()) {
                Ok(n) => n,
                Err(why) => {
                    self.problem(value.span(), key, why);
                    default
                }
            }
        };
        let max_body_bytes = size(
            raw.max_body_size,
            "limits.max_body_size",
            DEFAULT_MAX_BODY_BYTES,
        );
        let max_header_bytes = size(
            raw.max_header_size,
            "limits.max_header_size",
            DEFAULT_MAX_HEADER_BYTES,
        );
        let integration_timeout = self.duration(
            raw.integration_timeout,
            "limits.integration_timeout",
            DEFAULT_INTEGRATION_TIMEOUT,
        );
        Limits {
            max_body_bytes,
            max_header_bytes: usize::try_from(max_header_bytes).unwrap_or(usize::MAX),
            integration_timeout,
        }
    }

    fn listeners(&mut self, raw: Vec<Spanned<RawListener>>) -> Vec<ListenerConfig> {
        let mut out: Vec<ListenerConfig> = Vec::new();
        for (i, listener) in raw.into_iter().enumerate() {
            let listener = listener.into_inner();
            let key = format!("listeners[{i}]");
            let name = listener.name.get_ref().clone();
            if !is_identifier(&name) {
                self.problem(
                    listener.name.span(),
                    format!("{key}.name"),
                    format!("`{name}` is not a valid name (letters, digits, `_` and `-`)"),
                );
            } else if out.iter().any(|l| l.name == name) {
                self.problem(
                    listener.name.span(),
                    format!("{key}.name"),
                    format!("listener `{name}` is defined twice"),
                );
            }
            let address = match listener.address.get_ref().parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    self.problem(
                        listener.address.span(),
                        format!("{key}.address"),
                        format!(
                            "`{}` is not an IP address with a port, e.g. \"127.0.0.1:8080\" or \"[::]:0\"",
                            listener.address.get_ref()
                        ),
                    );
                    SocketAddr::from(([127, 0, 0, 1], 0))
                }
            };
            if let Some(other) = out
                .iter()
                .find(|l| l.address == address && address.port() != 0)
            {
                self.problem(
                    listener.address.span(),
                    format!("{key}.address"),
                    format!("listener `{}` already binds {address}", other.name),
                );
            }
            out.push(ListenerConfig { name, address });
        }
        out
    }

    fn apis(
        &mut self,
        raw: Vec<Spanned<RawApi>>,
        listeners: &[ListenerConfig],
        limits: &Limits,
    ) -> Vec<ApiConfig> {
        let mut out: Vec<ApiConfig> = Vec::new();
        // (listener, host or "" for any) -> api name, to find two APIs claiming one place.
        let mut claimed: HashMap<(usize, String), String> = HashMap::new();
        for (i, api) in raw.into_iter().enumerate() {
            let api_span = api.span();
            let api = api.into_inner();
            let key = format!("apis[{i}]");
            let name = api.name.get_ref().clone();
            if !is_identifier(&name) {
                self.problem(
                    api.name.span(),
                    format!("{key}.name"),
                    format!("`{name}` is not a valid name (letters, digits, `_` and `-`)"),
                );
            } else if out.iter().any(|a| a.name == name) {
                self.problem(
                    api.name.span(),
                    format!("{key}.name"),
                    format!("API `{name}` is defined twice"),
                );
            }
            let listener_ids: Vec<usize> = match &api.listeners {
                None => (0..listeners.len()).collect(),
                Some(names) => names
                    .iter()
                    .enumerate()
                    .filter_map(|(j, n)| {
                        let found = listeners.iter().position(|l| l.name == *n.get_ref());
                        if found.is_none() {
                            self.problem(
                                n.span(),
                                format!("{key}.listeners[{j}]"),
                                format!("no listener is named `{}`", n.get_ref()),
                            );
                        }
                        found
                    })
                    .collect(),
            };
            if listeners.is_empty() {
                self.problem(
                    api_span.clone(),
                    key.clone(),
                    "there is no [[listeners]] entry to serve this API on",
                );
            }
            let mut hosts = Vec::new();
            for (j, h) in api.hosts.iter().enumerate() {
                let host = h.get_ref().to_ascii_lowercase();
                if host.is_empty()
                    || host.contains(['/', ':', ' '])
                    || http::uri::Authority::try_from(host.as_str()).is_err()
                {
                    self.problem(
                        h.span(),
                        format!("{key}.hosts[{j}]"),
                        format!(
                            "`{}` is not a host name (no scheme, port or path)",
                            h.get_ref()
                        ),
                    );
                }
                hosts.push(host);
            }
            let places: Vec<String> = if hosts.is_empty() {
                vec![String::new()]
            } else {
                hosts.clone()
            };
            for &l in &listener_ids {
                for host in &places {
                    if let Some(other) = claimed.insert((l, host.clone()), name.clone()) {
                        let which = if host.is_empty() {
                            "every host".to_owned()
                        } else {
                            format!("host `{host}`")
                        };
                        self.problem(
                            api.name.span(),
                            format!("{key}.hosts"),
                            format!(
                                "API `{other}` already serves {which} on listener `{}`; give the APIs distinct `hosts`",
                                listeners[l].name
                            ),
                        );
                    }
                }
            }
            let stages = self.stages(&api, &key, api_span);
            let routes = self.routes(&api, &key, &stages, limits);
            out.push(ApiConfig {
                name,
                listeners: listener_ids,
                hosts,
                stages,
                routes,
            });
        }
        out
    }

    fn stages(&mut self, api: &RawApi, key: &str, api_span: Range<usize>) -> Vec<StageConfig> {
        if api.stages.is_empty() {
            return vec![StageConfig {
                name: StageName::Default,
                variables: BTreeMap::new(),
            }];
        }
        let _ = api_span;
        let mut out = Vec::new();
        for (stage_name, stage) in &api.stages {
            let stage_key = format!("{key}.stages.{stage_name}");
            let name = if stage_name == "$default" {
                StageName::Default
            } else {
                if !is_identifier(stage_name) || stage_name.len() > 128 {
                    self.problem(
                        stage.span(),
                        stage_key.clone(),
                        format!(
                            "`{stage_name}` is not a stage name: use `$default` or up to 128 letters, digits, `_` and `-`"
                        ),
                    );
                }
                StageName::Named(stage_name.clone())
            };
            let mut variables = BTreeMap::new();
            for (var, value) in &stage.get_ref().variables {
                if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.problem(
                        value.span(),
                        format!("{stage_key}.variables.{var}"),
                        format!("`{var}` is not a stage variable name (letters, digits and `_`)"),
                    );
                }
                if value.get_ref().chars().any(|c| c.is_control()) {
                    self.problem(
                        value.span(),
                        format!("{stage_key}.variables.{var}"),
                        "stage variable values may not contain control characters",
                    );
                }
                variables.insert(var.clone(), value.get_ref().clone());
            }
            out.push(StageConfig { name, variables });
        }
        out
    }

    fn routes(
        &mut self,
        api: &RawApi,
        key: &str,
        stages: &[StageConfig],
        limits: &Limits,
    ) -> Vec<RouteConfig> {
        let mut parsed: Vec<(RouteConfig, Range<usize>)> = Vec::new();
        for (i, route) in api.routes.iter().enumerate() {
            let route_key_path = format!("{key}.routes[{i}]");
            let route = route.get_ref();
            let route_key = match RouteKey::parse(route.key.get_ref()) {
                Ok(k) => k,
                Err(why) => {
                    self.problem(route.key.span(), format!("{route_key_path}.key"), why);
                    continue;
                }
            };
            let Some(integration) = self.integration(
                &route.integration,
                &format!("{route_key_path}.integration"),
                &route_key,
                stages,
                limits,
            ) else {
                continue;
            };
            parsed.push((
                RouteConfig {
                    key: route_key,
                    integration,
                },
                route.key.span(),
            ));
        }
        if let Err(conflicts) = Router::build(parsed.iter().map(|(r, _)| &r.key)) {
            for c in conflicts {
                let (route, span) = &parsed[c.route];
                let (existing, existing_span) = &parsed[c.existing];
                let _ = existing_span;
                self.problem(
                    span.clone(),
                    format!("{key}.routes"),
                    format!(
                        "route `{}` conflicts with route `{}`: {}",
                        route.key, existing.key, c.reason
                    ),
                );
            }
        }
        parsed.into_iter().map(|(r, _)| r).collect()
    }

    fn integration(
        &mut self,
        raw: &Spanned<RawIntegration>,
        key: &str,
        route_key: &RouteKey,
        stages: &[StageConfig],
        limits: &Limits,
    ) -> Option<IntegrationConfig> {
        let span = raw.span();
        let raw = raw.get_ref();
        let kind = raw.kind.get_ref().as_str();
        let reject_keys = |me: &mut Self, allowed: &[&str]| {
            let present = [
                ("url", raw.url.as_ref().map(|s| s.span())),
                ("timeout", raw.timeout.as_ref().map(|s| s.span())),
                (
                    "request_headers",
                    raw.request_headers.as_ref().map(|s| s.span()),
                ),
                ("status", raw.status.as_ref().map(|s| s.span())),
                ("headers", raw.headers.as_ref().map(|s| s.span())),
                ("body", raw.body.as_ref().map(|s| s.span())),
            ];
            for (name, at) in present {
                if let Some(at) = at
                    && !allowed.contains(&name)
                {
                    me.problem(
                        at,
                        format!("{key}.{name}"),
                        format!("`{name}` does not apply to integrations of type `{kind}`"),
                    );
                }
            }
        };
        let param_names = || match route_key {
            RouteKey::Route { path, .. } => path.param_names().collect::<Vec<_>>(),
            RouteKey::Default => Vec::new(),
        };
        match kind {
            "http_proxy" => {
                reject_keys(self, &["url", "timeout", "request_headers"]);
                let Some(url) = &raw.url else {
                    self.problem(
                        span,
                        key.to_owned(),
                        "an `http_proxy` integration needs a `url`",
                    );
                    return None;
                };
                let url_key = format!("{key}.url");
                let template = match Template::parse(url.get_ref(), BraceParams::Allowed) {
                    Ok(t) => t,
                    Err(why) => {
                        self.problem(url.span(), url_key, why);
                        return None;
                    }
                };
                let names = param_names();
                for stage in stages {
                    match template.resolve(&stage.variables, names.iter().copied()) {
                        Ok(resolved) => {
                            if let Err(why) = check_upstream_url(&resolved) {
                                self.problem(
                                    url.span(),
                                    url_key.clone(),
                                    stage_context(stages, stage, why),
                                );
                                break;
                            }
                        }
                        Err(why) => {
                            self.problem(
                                url.span(),
                                url_key.clone(),
                                stage_context(stages, stage, why),
                            );
                            break;
                        }
                    }
                }
                let timeout = self.duration(
                    raw.timeout.clone(),
                    &format!("{key}.timeout"),
                    limits.integration_timeout,
                );
                let request_headers = self.header_templates(
                    raw.request_headers.as_ref(),
                    &format!("{key}.request_headers"),
                    stages,
                    &names,
                    true,
                );
                Some(IntegrationConfig::HttpProxy(HttpProxyConfig {
                    url: template,
                    timeout,
                    request_headers,
                }))
            }
            "mock" => {
                reject_keys(self, &["status", "headers", "body"]);
                let status = match &raw.status {
                    None => StatusCode::OK,
                    Some(s) => match u16::try_from(*s.get_ref())
                        .ok()
                        .filter(|c| (200..=599).contains(c))
                        .and_then(|c| StatusCode::from_u16(c).ok())
                    {
                        Some(code) => code,
                        None => {
                            self.problem(
                                s.span(),
                                format!("{key}.status"),
                                format!(
                                    "{} is not an HTTP status between 200 and 599",
                                    s.get_ref()
                                ),
                            );
                            StatusCode::OK
                        }
                    },
                };
                let names = param_names();
                let headers = self.header_templates(
                    raw.headers.as_ref(),
                    &format!("{key}.headers"),
                    stages,
                    &names,
                    false,
                );
                let body = match &raw.body {
                    None => Template::literal(""),
                    Some(b) => match Template::parse(b.get_ref(), BraceParams::Literal) {
                        Ok(t) => {
                            for stage in stages {
                                if let Err(why) = t.resolve(&stage.variables, names.iter().copied())
                                {
                                    self.problem(
                                        b.span(),
                                        format!("{key}.body"),
                                        stage_context(stages, stage, why),
                                    );
                                    break;
                                }
                            }
                            t
                        }
                        Err(why) => {
                            self.problem(b.span(), format!("{key}.body"), why);
                            Template::literal("")
                        }
                    },
                };
                Some(IntegrationConfig::Mock(MockConfig {
                    status,
                    headers,
                    body,
                }))
            }
            other => {
                self.problem(
                    raw.kind.span(),
                    format!("{key}.type"),
                    format!("unknown integration type `{other}` (expected `http_proxy` or `mock`)"),
                );
                None
            }
        }
    }

    fn header_templates(
        &mut self,
        raw: Option<&Spanned<BTreeMap<String, SpannedStr>>>,
        key: &str,
        stages: &[StageConfig],
        param_names: &[&str],
        upstream: bool,
    ) -> Vec<(HeaderName, Template)> {
        let Some(raw) = raw else { return Vec::new() };
        let mut out = Vec::new();
        for (name, value) in raw.get_ref() {
            let header_key = format!("{key}.{name}");
            let Ok(header) = HeaderName::try_from(name.as_str()) else {
                self.problem(
                    value.span(),
                    header_key,
                    format!("`{name}` is not a valid header name"),
                );
                continue;
            };
            if upstream && (is_hop_by_hop(&header) || header == http::header::CONTENT_LENGTH) {
                self.problem(
                    value.span(),
                    header_key,
                    format!("`{name}` is managed by the gateway and cannot be set"),
                );
                continue;
            }
            let template = match Template::parse(value.get_ref(), BraceParams::Literal) {
                Ok(t) => t,
                Err(why) => {
                    self.problem(value.span(), header_key, why);
                    continue;
                }
            };
            for stage in stages {
                match template.resolve(&stage.variables, param_names.iter().copied()) {
                    Ok(resolved) => {
                        let text: String = resolved
                            .iter()
                            .map(|r| match r {
                                template::Resolved::Text(t) => t.as_str(),
                                template::Resolved::Param(_) => "x",
                            })
                            .collect();
                        if HeaderValue::try_from(text).is_err() {
                            self.problem(
                                value.span(),
                                header_key.clone(),
                                stage_context(stages, stage, "is not a valid header value".into()),
                            );
                            break;
                        }
                    }
                    Err(why) => {
                        self.problem(
                            value.span(),
                            header_key.clone(),
                            stage_context(stages, stage, why),
                        );
                        break;
                    }
                }
            }
            out.push((header, template));
        }
        out
    }
}

fn stage_context(stages: &[StageConfig], stage: &StageConfig, why: String) -> String {
    if stages.len() == 1 && stage.name == StageName::Default {
        why
    } else {
        format!("in stage `{}`: {why}", stage.name.as_str())
    }
}

/// Checks that a resolved integration URL is an absolute http(s) URL, with
/// sample values standing in for path parameters.
fn check_upstream_url(resolved: &[template::Resolved]) -> Result<(), String> {
    let sample: String = resolved
        .iter()
        .map(|r| match r {
            template::Resolved::Text(t) => t.as_str(),
            template::Resolved::Param(_) => "p",
        })
        .collect();
    let uri: http::Uri = sample
        .parse()
        .map_err(|e| format!("`{sample}` is not a valid URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("`{sample}` must start with http:// or https://")),
    }
    match uri.authority() {
        Some(a) if !a.host().is_empty() && !a.as_str().contains('@') => {}
        _ => return Err(format!("`{sample}` needs a host (and no user info)")),
    }
    if let Some(Resolved::Param(_)) = resolved.first() {
        return Err("the URL must not start with a path parameter".into());
    }
    if !uri.path().starts_with('/') && !uri.path().is_empty() {
        return Err(format!("`{sample}` has no valid path"));
    }
    if sample.contains('#') {
        return Err(format!("`{sample}` must not contain a fragment"));
    }
    Ok(())
}

use template::Resolved;

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded by a proxy.
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    use http::header::*;
    *name == CONNECTION
        || *name == TE
        || *name == TRANSFER_ENCODING
        || *name == UPGRADE
        || *name == TRAILER
        || *name == PROXY_AUTHORIZATION
        || *name == PROXY_AUTHENTICATE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
