//! `[upstreams.NAME]`: targets, balancing, TLS, HTTP/2, limits, retries,
//! outlier ejection and health checks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_spanned::Spanned;

use super::Validator;
use crate::config::model::*;
use crate::config::raw;
use crate::tls::certs;

/// Default connections to one upstream, all targets and workers together.
const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default requests in flight to one upstream.
const DEFAULT_MAX_PENDING: usize = 10_000;
/// Default time to connect.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Validator {
    /// Every `[upstreams.NAME]`.
    pub(super) fn upstreams(
        &mut self,
        raw: &BTreeMap<String, Spanned<raw::RawUpstream>>,
    ) -> Vec<Arc<UpstreamConfig>> {
        raw.iter()
            .filter_map(|(name, upstream)| self.upstream(name, upstream).map(Arc::new))
            .collect()
    }

    fn upstream(&mut self, name: &str, raw: &Spanned<raw::RawUpstream>) -> Option<UpstreamConfig> {
        let key = format!("upstreams.{name}");
        let span = raw.span();
        let u = raw.get_ref();
        let mut ok = true;
        if !is_identifier(name) {
            self.problem(
                span.clone(),
                key.clone(),
                format!("`{name}` is not a valid name (letters, digits, `_` and `-`)"),
            );
            ok = false;
        }
        let mut targets = Vec::new();
        for (i, target) in u.targets.get_ref().iter().enumerate() {
            let text = target.get_ref().trim().to_ascii_lowercase();
            match http::uri::Authority::try_from(text.as_str()) {
                Ok(a) if a.port_u16().is_some() && !text.contains(['/', '@']) => targets.push(text),
                _ => {
                    self.problem(
                        target.span(),
                        format!("{key}.targets[{i}]"),
                        format!(
                            "`{}` is not `host:port` (e.g. \"10.0.0.5:8080\" or \"orders.internal:443\")",
                            target.get_ref()
                        ),
                    );
                    ok = false;
                }
            }
        }
        if u.targets.get_ref().is_empty() {
            self.problem(
                u.targets.span(),
                format!("{key}.targets"),
                "list at least one target",
            );
            ok = false;
        }
        let balance = match u.balance.as_ref().map(|b| (b, b.get_ref().as_str())) {
            None | Some((_, "round_robin")) => Balance::RoundRobin,
            Some((_, "least_request")) => Balance::LeastRequest,
            Some((b, other)) => {
                self.problem(
                    b.span(),
                    format!("{key}.balance"),
                    format!("`{other}` is not \"round_robin\" or \"least_request\""),
                );
                Balance::RoundRobin
            }
        };
        let tls = u
            .tls
            .as_ref()
            .map(|t| self.upstream_tls(t, &format!("{key}.tls")));
        let count = |me: &mut Self, value: &Option<Spanned<i64>>, field: &str, default: usize| {
            match value {
                None => default,
                Some(v) => match usize::try_from(*v.get_ref()) {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        me.problem(
                            v.span(),
                            format!("{key}.{field}"),
                            format!("{} is not a count of at least 1", v.get_ref()),
                        );
                        default
                    }
                },
            }
        };
        let max_connections = count(
            self,
            &u.max_connections,
            "max_connections",
            DEFAULT_MAX_CONNECTIONS,
        );
        let max_pending = count(self, &u.max_pending, "max_pending", DEFAULT_MAX_PENDING);
        let connect_timeout = self.duration(
            u.connect_timeout.clone(),
            &format!("{key}.connect_timeout"),
            DEFAULT_CONNECT_TIMEOUT,
        );
        let retries = match &u.retries {
            None => RetryPolicy {
                attempts: 1,
                statuses: Vec::new(),
            },
            Some(r) => {
                let r = r.get_ref();
                let attempts = match &r.attempts {
                    None => 1,
                    Some(a) => match u32::try_from(*a.get_ref()) {
                        Ok(n) if n <= 10 => n,
                        _ => {
                            self.problem(
                                a.span(),
                                format!("{key}.retries.attempts"),
                                format!("{} is not a number of retries from 0 to 10", a.get_ref()),
                            );
                            1
                        }
                    },
                };
                let mut statuses = Vec::new();
                for (i, s) in r.statuses.iter().enumerate() {
                    match u16::try_from(*s.get_ref()) {
                        Ok(code) if (500..=599).contains(&code) => statuses.push(code),
                        _ => self.problem(
                            s.span(),
                            format!("{key}.retries.statuses[{i}]"),
                            format!("{} is not a 5xx status", s.get_ref()),
                        ),
                    }
                }
                RetryPolicy { attempts, statuses }
            }
        };
        let outlier = match &u.outlier {
            // On by default: five failures in a row leave a target out for
            // 30 s, never more than half of them at once.
            None => Some(OutlierPolicy {
                consecutive_failures: 5,
                ejection_time: Duration::from_secs(30),
                max_ejected_percent: 50,
            }),
            Some(o) => {
                let o = o.get_ref();
                let failures = match &o.consecutive_failures {
                    None => 5,
                    Some(f) => match u32::try_from(*f.get_ref()) {
                        Ok(n) => n,
                        Err(_) => {
                            self.problem(
                                f.span(),
                                format!("{key}.outlier.consecutive_failures"),
                                format!("{} is not a count from 0 (never eject) up", f.get_ref()),
                            );
                            5
                        }
                    },
                };
                let percent = match &o.max_ejected_percent {
                    None => 50,
                    Some(p) => match u8::try_from(*p.get_ref()) {
                        Ok(n) if n <= 100 => n,
                        _ => {
                            self.problem(
                                p.span(),
                                format!("{key}.outlier.max_ejected_percent"),
                                format!("{} is not a percentage from 0 to 100", p.get_ref()),
                            );
                            50
                        }
                    },
                };
                let ejection_time = self.duration(
                    o.ejection_time.clone(),
                    &format!("{key}.outlier.ejection_time"),
                    Duration::from_secs(30),
                );
                (failures > 0).then_some(OutlierPolicy {
                    consecutive_failures: failures,
                    ejection_time,
                    max_ejected_percent: percent,
                })
            }
        };
        let health_check = u.health_check.as_ref().map(|h| {
            let h = h.get_ref();
            let path = h.path.get_ref().clone();
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                self.problem(
                    h.path.span(),
                    format!("{key}.health_check.path"),
                    format!("`{path}` is not a path starting with `/`"),
                );
            }
            let threshold = |me: &mut Self, v: &Option<Spanned<i64>>, field: &str| match v {
                None => 2,
                Some(n) => match u32::try_from(*n.get_ref()) {
                    Ok(t) if (1..=100).contains(&t) => t,
                    _ => {
                        me.problem(
                            n.span(),
                            format!("{key}.health_check.{field}"),
                            format!("{} is not a count from 1 to 100", n.get_ref()),
                        );
                        2
                    }
                },
            };
            HealthCheck {
                path,
                interval: self.duration(
                    h.interval.clone(),
                    &format!("{key}.health_check.interval"),
                    Duration::from_secs(5),
                ),
                timeout: self.duration(
                    h.timeout.clone(),
                    &format!("{key}.health_check.timeout"),
                    Duration::from_secs(2),
                ),
                healthy_threshold: threshold(self, &h.healthy_threshold, "healthy_threshold"),
                unhealthy_threshold: threshold(self, &h.unhealthy_threshold, "unhealthy_threshold"),
            }
        });
        if tls.as_ref().is_some_and(|t| !t.verify) {
            self.warning(
                u.tls.as_ref().map_or(span, |t| t.span()),
                format!("{key}.tls.verify"),
                "certificate verification is off: anyone on the path to these targets can read and change the traffic",
            );
        }
        ok.then(|| UpstreamConfig {
            name: name.to_owned(),
            targets,
            balance,
            http2: u.http2.as_ref().is_some_and(|h| *h.get_ref()),
            tls,
            max_connections,
            max_pending,
            connect_timeout,
            retries,
            outlier,
            health_check,
        })
    }

    fn upstream_tls(&mut self, raw: &Spanned<raw::RawUpstreamTls>, key: &str) -> UpstreamTls {
        let t = raw.get_ref();
        let ca = t.ca.as_ref().and_then(|ca| {
            let path = self.base_dir.join(ca.get_ref());
            match certs::read_chain(&path) {
                Ok(_) => Some(path),
                Err(e) => {
                    self.problem(ca.span(), format!("{key}.ca"), e.to_string());
                    None
                }
            }
        });
        let server_name = t.server_name.as_ref().and_then(|n| {
            match rustls::pki_types::ServerName::try_from(n.get_ref().as_str()) {
                Ok(_) => Some(n.get_ref().to_ascii_lowercase()),
                Err(_) => {
                    self.problem(
                        n.span(),
                        format!("{key}.server_name"),
                        format!("`{}` is not a DNS name or IP address", n.get_ref()),
                    );
                    None
                }
            }
        });
        let client_cert = t
            .client_cert
            .as_ref()
            .and_then(|c| self.certificate(c, &format!("{key}.client_cert")));
        UpstreamTls {
            ca,
            server_name,
            verify: t.verify.as_ref().is_none_or(|v| *v.get_ref()),
            client_cert,
        }
    }
}
