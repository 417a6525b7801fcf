//! `[server]`, `[limits]`, `[[listeners]]` and `[admin]`.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use http::HeaderName;
use serde_spanned::Spanned;

use super::Validator;
use crate::config::model::*;
use crate::config::raw::{self, RawListener};
use crate::config::units;

impl Validator {
    pub(super) fn server(&mut self, raw: raw::RawServer) -> ServerSettings {
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
            // Relative to the configuration file, like `data_dir` and `cache_dir`.
            Some(path) => AccessLogTarget::File(self.base_dir.join(path)),
        };
        let access_log_format = match raw.access_log_format.as_ref() {
            None => AccessLogFormat::Json,
            Some(text) if text.get_ref().trim().eq_ignore_ascii_case("json") => {
                AccessLogFormat::Json
            }
            Some(text) => match LogTemplate::parse(text.get_ref()) {
                Ok(template) => AccessLogFormat::Template(template),
                Err(why) => {
                    self.problem(text.span(), "server.access_log_format", why);
                    AccessLogFormat::Json
                }
            },
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
        let cache_dir = match raw.cache_dir {
            Some(dir) if dir.get_ref() == "off" => None,
            Some(dir) => Some(self.base_dir.join(dir.get_ref())),
            None => default_cache_dir(),
        };
        let data_dir = raw.data_dir.map(|dir| self.base_dir.join(dir.get_ref()));
        ServerSettings {
            shutdown_grace,
            access_log,
            access_log_format,
            workers,
            request_id_header,
            cache_dir,
            data_dir,
        }
    }

    pub(super) fn limits(&mut self, raw: raw::RawLimits) -> Limits {
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
        let header_read_timeout = self.duration(
            raw.header_read_timeout,
            "limits.header_read_timeout",
            DEFAULT_HEADER_READ_TIMEOUT,
        );
        let body_read_timeout = self.duration(
            raw.body_read_timeout,
            "limits.body_read_timeout",
            DEFAULT_BODY_READ_TIMEOUT,
        );
        let idle_timeout = self.duration(
            raw.idle_timeout,
            "limits.idle_timeout",
            DEFAULT_IDLE_TIMEOUT,
        );
        Limits {
            max_body_bytes,
            max_header_bytes: usize::try_from(max_header_bytes).unwrap_or(usize::MAX),
            integration_timeout,
            header_read_timeout,
            body_read_timeout,
            idle_timeout,
        }
    }

    pub(super) fn listeners(&mut self, raw: Vec<Spanned<RawListener>>) -> Vec<ListenerConfig> {
        let mut out: Vec<ListenerConfig> = Vec::new();
        let mut redirects = Vec::new();
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
            let tls = listener
                .tls
                .as_ref()
                .map(|t| self.listener_tls(t, &format!("{key}.tls")));
            if let Some(target) = listener.redirect_https {
                if tls.is_some() {
                    self.problem(
                        target.span(),
                        format!("{key}.redirect_https"),
                        "a listener with `tls` serves HTTPS itself; `redirect_https` is for a plain listener",
                    );
                }
                redirects.push((i, key.clone(), target));
            }
            let max_connections =
                listener
                    .max_connections
                    .and_then(|m| match usize::try_from(*m.get_ref()) {
                        Ok(n) if n >= 1 => Some(n),
                        _ => {
                            self.problem(
                                m.span(),
                                format!("{key}.max_connections"),
                                format!("{} is not a count of at least 1", m.get_ref()),
                            );
                            None
                        }
                    });
            out.push(ListenerConfig {
                name,
                address,
                tls,
                redirect_https: None,
                max_connections,
            });
        }
        for (i, key, target) in redirects {
            match out.iter().position(|l| l.name == *target.get_ref()) {
                Some(to) if out[to].tls.is_some() => out[i].redirect_https = Some(to),
                Some(_) => self.problem(
                    target.span(),
                    format!("{key}.redirect_https"),
                    format!(
                        "listener `{}` has no `tls` to redirect to",
                        target.get_ref()
                    ),
                ),
                None => self.problem(
                    target.span(),
                    format!("{key}.redirect_https"),
                    format!("no listener is named `{}`", target.get_ref()),
                ),
            }
        }
        out
    }

    pub(super) fn portal(
        &mut self,
        raw: raw::RawPortal,
        listeners: &[ListenerConfig],
    ) -> PortalConfig {
        let address = raw
            .address
            .get_ref()
            .parse::<SocketAddr>()
            .unwrap_or_else(|_| {
                self.problem(
                    raw.address.span(),
                    "portal.address",
                    format!(
                        "`{}` is not an IP address with a port, e.g. \"127.0.0.1:8090\"",
                        raw.address.get_ref()
                    ),
                );
                SocketAddr::from(([127, 0, 0, 1], 0))
            });
        let signup = match raw.signup.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("approval") => Signup::Approval,
            Some("open") => Signup::Open,
            Some("invite") => Signup::Invite,
            Some(other) => {
                if let Some(s) = &raw.signup {
                    self.problem(
                        s.span(),
                        "portal.signup",
                        format!("`{other}` is not `open`, `approval` or `invite`"),
                    );
                }
                Signup::Approval
            }
        };
        let session_ttl = self.duration(
            raw.session_ttl,
            "portal.session_ttl",
            DEFAULT_PORTAL_SESSION_TTL,
        );
        let listener = match &raw.listener {
            None => 0,
            Some(name) => listeners
                .iter()
                .position(|l| l.name == *name.get_ref())
                .unwrap_or_else(|| {
                    self.problem(
                        name.span(),
                        "portal.listener",
                        format!("no listener `{}` is configured", name.get_ref()),
                    );
                    0
                }),
        };
        if listeners.is_empty() {
            self.problem(
                raw.address.span(),
                "portal",
                "the portal sends \"try it\" requests to a listener; none is configured",
            );
        }
        PortalConfig {
            address,
            title: raw
                .title
                .map_or_else(|| "API portal".to_owned(), |t| t.into_inner()),
            signup,
            session_ttl,
            listener,
        }
    }

    pub(super) fn admin(&mut self, raw: raw::RawAdmin) -> AdminConfig {
        let address = match &raw.address {
            None => DEFAULT_ADMIN_ADDRESS,
            Some(a) => a.get_ref().parse::<SocketAddr>().unwrap_or_else(|_| {
                self.problem(
                    a.span(),
                    "admin.address",
                    format!(
                        "`{}` is not an IP address with a port, e.g. \"127.0.0.1:9901\"",
                        a.get_ref()
                    ),
                );
                DEFAULT_ADMIN_ADDRESS
            }),
        };
        let token_problems = self.problems.len();
        let token = match (raw.token_file, raw.token_env) {
            (Some(_), Some(env)) => {
                self.problem(
                    env.span(),
                    "admin.token_env",
                    "set either token_file or token_env, not both",
                );
                None
            }
            (Some(file), None) => {
                let path = self.base_dir.join(file.get_ref());
                match std::fs::read_to_string(&path) {
                    Ok(text) if !text.trim().is_empty() => Some(text.trim().into()),
                    Ok(_) => {
                        self.problem(
                            file.span(),
                            "admin.token_file",
                            format!("{} is empty", path.display()),
                        );
                        None
                    }
                    Err(e) => {
                        self.problem(
                            file.span(),
                            "admin.token_file",
                            format!("cannot read {}: {e}", path.display()),
                        );
                        None
                    }
                }
            }
            (None, Some(env)) => match std::env::var(env.get_ref()) {
                Ok(value) if !value.trim().is_empty() => Some(value.trim().into()),
                _ => {
                    self.problem(
                        env.span(),
                        "admin.token_env",
                        format!(
                            "the environment variable `{}` is not set or empty",
                            env.get_ref()
                        ),
                    );
                    None
                }
            },
            (None, None) => None,
        };
        if token.is_none() && !address.ip().is_loopback() && self.problems.len() == token_problems {
            let span = raw.address.as_ref().map(|a| a.span());
            self.problems.push((
                span,
                "admin.address".into(),
                format!(
                    "the admin API on {address}, which is not a loopback address, needs a token: set token_file or token_env"
                ),
            ));
        }
        let max_upload_bytes = match raw.max_upload_size {
            None => DEFAULT_MAX_UPLOAD_BYTES,
            Some(size) => units::parse_size(size.get_ref()).unwrap_or_else(|why| {
                self.problem(size.span(), "admin.max_upload_size", why);
                DEFAULT_MAX_UPLOAD_BYTES
            }),
        };
        AdminConfig {
            address,
            token,
            max_upload_bytes,
        }
    }
}

/// `$XDG_CACHE_HOME/turnpike/compiled`, else `~/.cache/turnpike/compiled`.
fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("turnpike").join("compiled"))
}
