//! What a plugin's store holds, and the host functions plugins import:
//! logging, their own settings, and outbound HTTP to an allow-list.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::authorizer::bindings::turnpike::gateway::{config, log, outbound_http, types};
use super::output::{CurrentRequest, PluginOutput};

/// Budgets and grants of one plugin, from its configuration.
#[derive(Debug, Clone)]
pub struct PluginSettings {
    /// The plugin's name.
    pub name: Arc<str>,
    /// `[plugins.NAME.config]`.
    pub config: Vec<(String, String)>,
    /// Wall-clock time one invocation may take.
    pub timeout: std::time::Duration,
    /// Largest linear memory, in bytes.
    pub memory_limit: usize,
    /// Fuel per invocation, if metered.
    pub fuel: Option<u64>,
    /// `host:port` pairs outbound HTTP may reach.
    pub outbound_hosts: Vec<String>,
    /// Outbound requests allowed per invocation.
    pub max_outbound_calls: u32,
    /// Environment variables the guest sees through WASI (Lambda-style
    /// plugins get their settings there, as Lambda functions do); empty for
    /// the other worlds.
    pub environment: Vec<(String, String)>,
}

/// The data of one plugin store.
pub struct HostState {
    pub(super) settings: Arc<PluginSettings>,
    request_id: String,
    /// The request id as the WASI output streams see it, once built.
    output_request: Option<Arc<CurrentRequest>>,
    pub(super) deadline: Instant,
    pub(super) outbound_calls: u32,
    pub(super) limits: StoreLimits,
    /// Built on the plugin's first WASI call: most invocations make none, and
    /// building one (RNG seeding, boxed streams and clocks) costs more than
    /// the rest of the store.
    wasi: Option<WasiCtx>,
    http: wasmtime_wasi_http::WasiHttpCtx,
    egress: Egress,
    table: ResourceTable,
}

/// `wasi:http` outgoing requests: allowed only to the plugin's
/// `outbound_hosts`, like the `outbound-http` interface.
struct Egress {
    settings: Arc<PluginSettings>,
}

impl wasmtime_wasi_http::WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<
                            dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>>
                                + Send,
                        >,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let uri = request.uri();
        let https = uri.scheme_str() == Some("https");
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        if !host_allowed(&self.settings, &authority, https) {
            tracing::warn!(plugin = &*self.settings.name, %authority, "outbound wasi:http request denied");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let _ = fut;
        let mut request = request;
        crate::observe::trace::propagate(request.headers_mut());
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
            ))
        })
    }
}

/// Whether `authority` (with or without port) is on the plugin's allow-list.
fn host_allowed(settings: &PluginSettings, authority: &str, https: bool) -> bool {
    let with_port = if authority.contains(':') {
        authority.to_owned()
    } else if https {
        format!("{authority}:443")
    } else {
        format!("{authority}:80")
    };
    settings
        .outbound_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&with_port) || h.eq_ignore_ascii_case(authority))
}

impl HostState {
    /// State for a new store: no filesystem, arguments or network through
    /// WASI, no environment but the plugin's `environment`; stdout and stderr go to the gateway's log.
    pub fn new(settings: Arc<PluginSettings>) -> HostState {
        let limits = StoreLimitsBuilder::new()
            .memory_size(settings.memory_limit)
            .instances(64)
            .tables(64)
            .memories(64)
            .trap_on_grow_failure(false)
            .build();
        HostState {
            settings: settings.clone(),
            request_id: String::new(),
            output_request: None,
            deadline: Instant::now(),
            outbound_calls: 0,
            limits,
            wasi: None,
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            egress: Egress {
                settings: settings.clone(),
            },
            table: ResourceTable::new(),
        }
    }

    /// What the guest last said on stderr about the current invocation, if
    /// anything (see [`CurrentRequest::guest_message`]).
    pub(super) fn guest_message(&self) -> Option<String> {
        self.output_request.as_ref()?.guest_message()
    }

    /// Records the request the store now serves, for the plugin's log lines
    /// (its `log` calls and its stdout and stderr).
    pub(super) fn set_request_id(&mut self, request_id: &str) {
        self.request_id.clear();
        self.request_id.push_str(request_id);
        if let Some(output) = &self.output_request {
            output.set(request_id);
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: self.wasi.get_or_insert_with(|| {
                let request = Arc::new(CurrentRequest::default());
                request.set(&self.request_id);
                let (stdout, stderr) = PluginOutput::pair(&self.settings.name, &request);
                self.output_request = Some(request);
                let mut builder = WasiCtx::builder();
                builder.stdout(stdout).stderr(stderr);
                builder.envs(&self.settings.environment);
                builder.build()
            }),
            table: &mut self.table,
        }
    }
}

impl wasmtime_wasi_http::WasiHttpView for HostState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            hooks: &mut self.egress,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// Adds the WASI imports that language runtimes need (clocks, random,
/// stdio into the log, ...: every other grant is empty), `wasi:http`
/// (incoming for functions, outgoing limited to the allow-list) and
/// Turnpike's host interfaces.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    log::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    config::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    outbound_http::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

impl types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let plugin = &*self.settings.name;
        let request_id = self.request_id.as_str();
        match level {
            log::Level::Trace => tracing::trace!(target: "plugin", plugin, request_id, "{message}"),
            log::Level::Debug => tracing::debug!(target: "plugin", plugin, request_id, "{message}"),
            log::Level::Info => tracing::info!(target: "plugin", plugin, request_id, "{message}"),
            log::Level::Warn => tracing::warn!(target: "plugin", plugin, request_id, "{message}"),
            log::Level::Error => tracing::error!(target: "plugin", plugin, request_id, "{message}"),
        }
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.settings
            .config
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }

    fn get_all(&mut self) -> Vec<(String, String)> {
        self.settings.config.clone()
    }
}

impl outbound_http::Host for HostState {
    async fn send(
        &mut self,
        request: outbound_http::Request,
    ) -> Result<outbound_http::Response, outbound_http::Error> {
        use outbound_http::Error;
        let uri: http::Uri = request
            .url
            .parse()
            .map_err(|e| Error::Failed(format!("`{}` is not a URL: {e}", request.url)))?;
        let scheme = uri.scheme_str().unwrap_or("");
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
        if !matches!(scheme, "http" | "https")
            || !host_allowed(&self.settings, authority, scheme == "https")
        {
            return Err(Error::NotAllowed(format!(
                "{scheme}://{authority} is not in the plugin's outbound_hosts"
            )));
        }
        if self.outbound_calls >= self.settings.max_outbound_calls {
            return Err(Error::BudgetExceeded);
        }
        self.outbound_calls += 1;
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(uri);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut outgoing = builder
            .body(Full::new(Bytes::from(request.body.unwrap_or_default())))
            .map_err(|e| Error::Failed(format!("invalid request: {e}")))?;
        crate::observe::trace::propagate(outgoing.headers_mut());
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let exchange = async {
            let response = outbound_client()
                .request(outgoing)
                .await
                .map_err(|e| Error::Failed(format!("{e}")))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| Error::Failed(format!("reading the response failed: {e}")))?
                .to_bytes();
            Ok(outbound_http::Response {
                status: parts.status.as_u16(),
                headers: super::header_entries(&parts.headers),
                body: body.to_vec(),
            })
        };
        match tokio::time::timeout(remaining, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Error::Failed(
                "timed out within the plugin's deadline".into(),
            )),
        }
    }
}

type OutboundClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

fn outbound_client() -> OutboundClient {
    thread_local! {
        static CLIENT: OutboundClient = {
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(crate::upstream::tls::https_connector())
        };
    }
    CLIENT.with(Clone::clone)
}
