//! Running the gateway: bind every listener, start the worker threads and
//! the admin thread, reload on SIGHUP, and drain on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::control::admin::{self, Admin};
use crate::control::cluster::Cluster;
use crate::control::releases::Releases;
use crate::control::{Control, Desired, Gateway, StartError};
use crate::proxy::listeners;

/// Name under which the admin listener is reported to `on_listening`
/// (listener names cannot contain `@`).
pub const ADMIN_LISTENER: &str = "@admin";

/// Name under which the developer portal's listener is reported.
pub const PORTAL_LISTENER: &str = "@portal";

/// Runs the gateway for `config` until `shutdown` resolves.
///
/// `on_listening` is called once every listener is bound, with each
/// listener's name and the address it really bound (the admin API as
/// [`ADMIN_LISTENER`]). The calling thread waits for `shutdown` on a small
/// runtime of its own while worker threads serve; SIGHUP (and the admin
/// API's `POST /reload`) re-read `config_path`, if given.
pub fn run(
    config: Config,
    config_path: Option<PathBuf>,
    cluster: Option<Arc<Cluster>>,
    on_listening: impl FnOnce(&[(String, SocketAddr)]),
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let releases =
        Releases::load(config.server.data_dir.as_deref()).map_err(StartError::Compile)?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let gateway = Arc::new(Gateway::new(&config, &releases)?);
    let bound = listeners::bind(&config)?;
    gateway.set_bound(bound.iter().map(|l| l.address).collect());
    let mut addresses: Vec<(String, SocketAddr)> =
        bound.iter().map(|l| (l.name.clone(), l.address)).collect();
    let admin_settings = config.admin.clone();
    let limits = config.limits.clone();
    let grace = config.server.shutdown_grace;
    let workers = config
        .server
        .workers
        .map(|w| w.get())
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    let mut control = Control::new(gateway.clone(), config_path, Desired { config, releases });
    if let Some(cluster) = &cluster {
        control = control.with_cluster(cluster.clone());
    }
    let control = Arc::new(control);
    let admin = Arc::new(Admin::new(control.clone()));
    let admin_listener = match &admin_settings {
        Some(settings) => {
            let listener = admin::bind(settings.address).map_err(|source| StartError::Bind {
                listener: ADMIN_LISTENER.into(),
                address: settings.address,
                source,
            })?;
            let address = listener.local_addr().map_err(StartError::Runtime)?;
            addresses.push((ADMIN_LISTENER.into(), address));
            Some(listener)
        }
        None => None,
    };
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let serving_gateway = gateway.clone();
    let serving = std::thread::Builder::new()
        .name("turnpike-serve".into())
        .spawn(move || listeners::serve(serving_gateway, bound, &limits, workers, grace, stop_rx))
        .map_err(StartError::Runtime)?;
    // The admin API outlives the drain, so that readiness answers 503 (and
    // health 200) until the last request has finished.
    let (admin_stop_tx, admin_stop_rx) = tokio::sync::watch::channel(false);
    let portal_settings = control.read(|d| d.config.portal.clone());
    let portal_thread = match portal_settings {
        Some(settings) => {
            let listener =
                crate::portal::bind(settings.address).map_err(|source| StartError::Bind {
                    listener: PORTAL_LISTENER.into(),
                    address: settings.address,
                    source,
                })?;
            let address = listener.local_addr().map_err(StartError::Runtime)?;
            addresses.push((PORTAL_LISTENER.into(), address));
            let portal = crate::portal::Portal::new(control.clone(), settings)
                .map_err(|e| StartError::Runtime(std::io::Error::other(e)))?;
            Some(
                crate::portal::spawn(Arc::new(portal), listener, admin_stop_rx.clone())
                    .map_err(StartError::Runtime)?,
            )
        }
        None => None,
    };
    let admin_thread = match admin_listener {
        Some(listener) => Some(
            admin::spawn(admin.clone(), listener, admin_stop_rx).map_err(StartError::Runtime)?,
        ),
        None => None,
    };
    // SIGHUP is watched before anyone hears the gateway is ready: a reload
    // signalled right after must not meet the default action (exit).
    let hangups = {
        let _runtime = signals.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    };
    // SIGUSR1 reopens the access log (after logrotate moved it); watched
    // from the start so that the signal's default action (exit) never runs.
    let user1 = {
        let _runtime = signals.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
    };
    if let Some(cluster) = &cluster {
        if let Some((_, address)) = addresses.iter().find(|(name, _)| name == ADMIN_LISTENER) {
            cluster.set_admin_address(address.to_string());
        }
        gateway.set_relay(cluster.relay().clone());
        cluster
            .relay()
            .listen(admin::connections::relay_handler(control.clone()));
        crate::control::cluster::follow::start(control.clone(), cluster.clone());
    }
    admin.set_ready(true);
    on_listening(&addresses);
    signals.block_on(async {
        tokio::select! {
            _ = shutdown => {}
            _ = reload_on_sighup(&control, hangups) => {}
            _ = reload_changed_certificates(&control) => {}
            _ = reopen_log_on_sigusr1(&gateway, user1) => {}
        }
        tracing::info!(grace = ?grace, "shutting down: no new connections, finishing requests in flight");
    });
    admin.set_ready(false);
    let _ = stop_tx.send(true);
    match serving.join() {
        Ok(Ok(())) => tracing::info!("all connections finished"),
        Ok(Err(error)) => tracing::error!(%error, "a worker could not start"),
        Err(_) => tracing::error!("a worker thread panicked"),
    }
    let _ = admin_stop_tx.send(true);
    if let Some(thread) = admin_thread {
        let _ = thread.join();
    }
    if let Some(thread) = portal_thread {
        let _ = thread.join();
    }
    if let Some(cluster) = &cluster {
        cluster.leave();
    }
    gateway.access_log().close();
    // Spans of the last requests go out (bounded to a few seconds).
    gateway.tracer().shutdown();
    Ok(())
}

/// Reopens the access log file on every SIGUSR1 (what logrotate's
/// `postrotate` sends, as to nginx); never returns unless the signal cannot
/// be watched.
async fn reopen_log_on_sigusr1(
    gateway: &Gateway,
    signals: std::io::Result<tokio::signal::unix::Signal>,
) {
    let mut signals = match signals {
        Ok(s) => s,
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGUSR1; the access log is not reopened on rotation");
            return std::future::pending().await;
        }
    };
    while signals.recv().await.is_some() {
        gateway.access_log().reopen();
    }
}

/// How often certificate files are checked for changes.
const CERTIFICATE_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Rebuilds the snapshot when a certificate, key, truststore or CRL file
/// changes (its modification time, size or inode): new handshakes use the
/// new files, open connections keep theirs; a file that no longer loads is
/// logged with its name and the old ones keep serving. Polling sees
/// Kubernetes' secret updates (a symlink swapped) as well as a `cp`.
async fn reload_changed_certificates(control: &Control) {
    let stamp = |files: &[PathBuf]| -> Vec<Option<(std::time::SystemTime, u64, u64)>> {
        use std::os::unix::fs::MetadataExt;
        files
            .iter()
            .map(|f| {
                let m = std::fs::metadata(f).ok()?;
                Some((m.modified().ok()?, m.len(), m.ino()))
            })
            .collect()
    };
    let mut files = control.tls_files();
    let mut seen = stamp(&files);
    loop {
        tokio::time::sleep(CERTIFICATE_POLL).await;
        let now_files = control.tls_files();
        let now = stamp(&now_files);
        if now_files != files {
            // A reload named other files: they load with it.
            (files, seen) = (now_files, now);
            continue;
        }
        if now == seen {
            continue;
        }
        seen = now;
        // On this thread, like SIGHUP's reload: one change at a time.
        match control.rebuild() {
            Ok(generation) => tracing::info!(generation, "certificates reloaded (a file changed)"),
            Err(error) => tracing::error!(
                %error,
                "a certificate file changed but does not load; the previous certificates keep serving"
            ),
        }
    }
}

/// Reloads the configuration file on every SIGHUP; never returns unless the
/// signal cannot be watched.
async fn reload_on_sighup(
    control: &Control,
    hangups: std::io::Result<tokio::signal::unix::Signal>,
) {
    let mut hangups = match hangups {
        Ok(s) => s,
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGHUP; reload through the admin API");
            return std::future::pending().await;
        }
    };
    while hangups.recv().await.is_some() {
        match control.reload_from_file() {
            Ok(generation) => tracing::info!(generation, "configuration reloaded (SIGHUP)"),
            Err(error) => tracing::error!(
                %error,
                "configuration reload refused (SIGHUP); still serving the previous one"
            ),
        }
    }
    std::future::pending().await
}
