//! Starts the real `turnpike` binary on a temporary config with port-0
//! listeners, learns the ports it bound from its `listening` lines, keeps its
//! output for assertions, and kills it when dropped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Path of the binary under test, built by cargo for this test target.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_turnpike")
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ has a parent")
        .to_owned()
}

/// A running gateway process.
pub struct Gateway {
    child: Child,
    listeners: HashMap<String, SocketAddr>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// Writes `config` to a temporary file and serves it; panics with the
    /// gateway's own output if it does not report ready within 20 s.
    pub fn start(config: &str) -> Gateway {
        Gateway::start_with(config, false)
    }

    /// Like [`Gateway::start`], but run from the configuration's folder and
    /// given its path as `turnpike.toml`, as a user in that folder would:
    /// relative paths in the file then meet a relative configuration path.
    pub fn start_in_its_folder(config: &str) -> Gateway {
        Gateway::start_with(config, true)
    }

    fn start_with(config: &str, relative: bool) -> Gateway {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("turnpike.toml");
        std::fs::write(&path, config).expect("write config");
        let mut command = Command::new(binary());
        if relative {
            command.current_dir(dir.path());
        }
        let mut child = command
            .args(["serve", "--config"])
            .arg(if relative {
                std::path::Path::new("turnpike.toml")
            } else {
                &path
            })
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn turnpike");

        let stdout_lines = Arc::new(Mutex::new(Vec::new()));
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel::<HashMap<String, SocketAddr>>();
        {
            let lines = stdout_lines.clone();
            let out = child.stdout.take().expect("stdout piped");
            std::thread::spawn(move || {
                let mut listening = HashMap::new();
                let mut ready_tx = Some(ready_tx);
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(event) = serde_json::from_str::<Value>(&line) {
                        match event["event"].as_str() {
                            Some("listening") => {
                                let name =
                                    event["listener"].as_str().unwrap_or_default().to_owned();
                                let addr = event["address"]
                                    .as_str()
                                    .and_then(|a| a.parse().ok())
                                    .expect("listening line has an address");
                                listening.insert(name, addr);
                            }
                            Some("ready") => {
                                if let Some(tx) = ready_tx.take() {
                                    let _ = tx.send(listening.clone());
                                }
                            }
                            _ => {}
                        }
                    }
                    lines.lock().expect("lock").push(line);
                }
            });
        }
        {
            let text = stderr_text.clone();
            let mut err = child.stderr.take().expect("stderr piped");
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    text.lock()
                        .expect("lock")
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        // Generous: a large component not yet in the plugin cache compiles
        // first, on a machine busy with the other tests.
        let listeners = match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(50));
                panic!(
                    "turnpike did not become ready; stderr:\n{}",
                    stderr_text.lock().expect("lock")
                );
            }
        };
        Gateway {
            child,
            listeners,
            stdout: stdout_lines,
            stderr: stderr_text,
            _dir: dir,
        }
    }

    /// The address a listener bound.
    pub fn addr(&self, listener: &str) -> SocketAddr {
        *self
            .listeners
            .get(listener)
            .unwrap_or_else(|| panic!("no listener `{listener}`"))
    }

    /// `http://ADDR{path}` for a listener.
    pub fn url(&self, listener: &str, path: &str) -> String {
        format!("http://{}{path}", self.addr(listener))
    }

    /// Process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Replaces the configuration file the gateway was started from (for
    /// reloads).
    pub fn rewrite_config(&self, config: &str) {
        std::fs::write(self.config_path(), config).expect("rewrite config");
    }

    /// The configuration file the gateway was started from.
    pub fn config_path(&self) -> std::path::PathBuf {
        self._dir.path().join("turnpike.toml")
    }

    /// Sends a signal, e.g. `"HUP"`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "turnpike did not exit within {limit:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The lines written to stdout so far (listening lines, access log).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().expect("lock").clone()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    /// Sends `request` and returns its status, its body and the access-log
    /// line the gateway wrote for it (found by the response's request id).
    pub async fn send_logged(&self, request: reqwest::RequestBuilder) -> (u16, String, Value) {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let id = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let body = response.text().await.expect("body");
        (status, body, self.access_log_entry(&id))
    }

    /// The access-log record of a request id, waiting up to 5 s for the
    /// (asynchronously written) line to appear.
    pub fn access_log_entry(&self, request_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let found = self
                .stdout
                .lock()
                .expect("lock")
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| v["requestId"] == request_id);
            if let Some(entry) = found {
                return entry;
            }
            assert!(
                Instant::now() < deadline,
                "no access-log line for request {request_id}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A file holding an admin `token`, `target/e2e-NAME.token`, for
/// `[admin] token_file`. Written to a fresh name and renamed over the old
/// one, so that a gateway starting in a test beside reads either the whole
/// token or the previous whole one, never an empty file.
pub fn token_file(name: &str, token: &str) -> String {
    let path = workspace().join(format!("target/e2e-{name}.token"));
    let fresh = workspace().join(format!(
        "target/e2e-{name}.token.{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&fresh, token).expect("write the token file");
    std::fs::rename(&fresh, &path).expect("put the token file in place");
    path.display().to_string()
}

/// Polls `check` every 10 ms until it returns true, failing after `limit`.
pub fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A plain HTTP/1.1 client that keeps nothing alive between tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A client speaking HTTP/2 without TLS from the first byte (h2c prior knowledge).
pub fn h2c_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Runs a command and returns (exit code, stdout, stderr).
pub fn run(command: &mut Command) -> (i32, String, String) {
    let out = command.output().expect("run command");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Builds the guest examples for `wasm32-wasip2` once per test run and
/// returns the folder holding the `.wasm` files. A failed build fails the
/// calling test: an example that cannot be built is a broken example.
pub fn guest_dir() -> PathBuf {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = workspace().join("guest-examples");
            let out = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--release",
                    "--target",
                    "wasm32-wasip2",
                    "--manifest-path",
                ])
                .arg(root.join("Cargo.toml"))
                .output()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "building guest-examples failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(root.join("target/wasm32-wasip2/release"))
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Path of a built guest example, e.g. `guest("rust_token_authorizer")`.
pub fn guest(name: &str) -> String {
    let path = guest_dir().join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} was not built", path.display());
    path.display().to_string()
}

/// Held while a test builds a plugin with a language's tooling: the builds
/// are CPU-heavy and the tools share caches (npm, pip, cargo), so they run
/// one at a time.
pub fn build_lock() -> std::sync::MutexGuard<'static, ()> {
    static BUILDS: Mutex<()> = Mutex::new(());
    BUILDS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds a non-Rust guest example (`guest-examples/<dir>/build.sh`, or
/// `npm install && npm run build` for JavaScript) once per test run, precompiles
/// it into the shared [`plugin_cache`] with `turnpike validate` so that the
/// gateways the tests start load it in milliseconds, and returns the path of
/// the component, which implements `world`. A failed build fails the
/// calling test.
pub fn polyglot_guest(dir: &'static str, file: &'static str, world: &str) -> String {
    static BUILT: Mutex<Vec<(&'static str, Result<String, String>)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, result)) = built.iter().find(|(d, _)| *d == dir) {
        return result.clone().unwrap_or_else(|e| panic!("{e}"));
    }
    let result = {
        let _one_build_at_a_time = build_lock();
        build_polyglot(dir, file, world)
    };
    built.push((dir, result.clone()));
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn build_polyglot(dir: &str, file: &str, world: &str) -> Result<String, String> {
    let example = workspace().join("guest-examples").join(dir);
    let steps: Vec<Vec<&str>> = if example.join("package.json").is_file() {
        vec![
            // `npm install` honours package-lock.json; `npm ci` rejects the
            // lock here because the registry mirror lists the other
            // platforms' optional native packages without versions.
            vec!["npm", "install", "--no-audit", "--no-fund"],
            vec!["npm", "run", "build"],
        ]
    } else {
        vec![vec!["./build.sh"]]
    };
    for step in steps {
        let out = Command::new(step[0])
            .args(&step[1..])
            .current_dir(&example)
            .output()
            .map_err(|e| format!("cannot run {step:?} in {}: {e}", example.display()))?;
        if !out.status.success() {
            return Err(format!(
                "building {dir} failed at {step:?}:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let component = workspace()
        .join("guest-examples/target/polyglot")
        .join(file);
    // A gateway that loads the plugin once proves it loads and fills the
    // compiled-plugin cache (`validate` compiles without caching), so that
    // the tests' gateways start in moments even when several start with the
    // same large component at once.
    let config = format!(
        "[server]\ncache_dir = \"{cache}\"\n\n[plugins.p]\ncomponent = \"{component}\"\nworld = \"{world}\"\n\n\
         [[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\n\n[[apis]]\nname = \"warm\"\nlisteners = [\"main\"]\n\n\
         [[apis.routes]]\nkey = \"GET /\"\n[apis.routes.integration]\ntype = \"mock\"\n",
        cache = plugin_cache(),
        component = component.display()
    );
    let warm = std::panic::catch_unwind(|| Gateway::start(&config)).map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("the gateway did not start");
        format!("{file} does not load: {why}")
    })?;
    drop(warm);
    Ok(component.display().to_string())
}

/// A compiled-plugin cache shared by the tests (large Python and JavaScript
/// components take seconds to compile; every later load is a file map).
pub fn plugin_cache() -> String {
    workspace()
        .join("target/e2e-plugin-cache")
        .display()
        .to_string()
}

/// Runs `tests/tools/SCRIPT` with `input` as JSON on stdin and returns the
/// JSON it prints. The tools sign tokens and requests with independent,
/// widely used libraries (PyJWT, botocore), which `scripts/test` installs.
pub fn python_tool(script: &str, input: &Value) -> Value {
    use std::io::Write;
    let mut child = Command::new("python3")
        .arg(workspace().join("tests/tools").join(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write the input");
    let out = child.wait_with_output().expect("run the tool");
    assert!(
        out.status.success(),
        "{script} failed (its libraries are installed by scripts/test):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the tool prints JSON")
}
