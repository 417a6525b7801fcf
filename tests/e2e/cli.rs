//! The command line: version, help, validate.

use std::process::Command;

use crate::harness::{binary, run, workspace};

#[test]
fn version_and_help() {
    let (code, out, _) = run(Command::new(binary()).arg("--version"));
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("turnpike {}", env!("CARGO_PKG_VERSION"))
    );

    let (code, out, _) = run(Command::new(binary()).arg("--help"));
    assert_eq!(code, 0);
    for word in ["serve", "validate", "--log-level"] {
        assert!(out.contains(word), "--help does not mention {word}:\n{out}");
    }
    let (code, _, err) = run(Command::new(binary()).arg("frobnicate"));
    assert_eq!(code, 2);
    assert!(err.contains("unrecognized subcommand"), "{err}");
}

#[test]
fn bundled_configs_are_valid() {
    // They name the example plugins, which must exist to validate, and
    // certificates made by the scripts that go with them.
    crate::harness::guest_dir();
    for (dir, file) in [
        ("python-lambda-hello", "python_lambda_hello.wasm"),
        ("python-lambda-echo", "python_lambda_echo.wasm"),
        ("python-lambda-authorizer", "python_lambda_authorizer.wasm"),
    ] {
        crate::harness::polyglot_guest(dir, file, "lambda");
    }
    for script in ["scripts/example-certs", "benches/tls/make-cert.sh"] {
        let (code, _, err) = run(&mut Command::new(workspace().join(script)));
        assert_eq!(code, 0, "{script}: {err}");
    }
    for file in [
        "examples/quickstart.toml",
        "examples/https.toml",
        "examples/lambda.toml",
        "benches/proxy-tls.toml",
        "benches/proxy-tls-h2.toml",
        "benches/proxy.toml",
        "benches/proxy-wasm-auth.toml",
        "benches/proxy-usage-plan.toml",
        "benches/proxy-jwt.toml",
        "benches/proxy-jwt-nocache.toml",
    ] {
        let (code, out, err) = validate_in_workspace(file);
        assert_eq!(code, 0, "{file}: {err}");
        assert_eq!(out.trim(), format!("{file}: configuration is valid"));
    }
}

/// `turnpike validate --config FILE` run in the repository's root, where
/// the bundled configurations' relative component paths resolve.
fn validate_in_workspace(file: &str) -> (i32, String, String) {
    run(Command::new(binary())
        .current_dir(workspace())
        .args(["validate", "--config", file]))
}

#[test]
fn the_rust_examples_readme_configurations_are_valid() {
    crate::harness::guest_dir();
    for example in [
        "rust-token-authorizer",
        "rust-request-authorizer",
        "rust-misbehaving-authorizer",
        "rust-json-mapper",
        "rust-http-function",
    ] {
        let readme = std::fs::read_to_string(
            workspace().join(format!("guest-examples/{example}/README.md")),
        )
        .expect("README");
        let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let end = start + readme[start..].find("```").expect("its end");
        // The README says to save it in the repository's root.
        let file = format!("readme-{example}-{}.toml", std::process::id());
        let path = workspace().join(&file);
        std::fs::write(&path, &readme[start..end]).expect("write");
        let (code, out, err) = validate_in_workspace(&file);
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(code, 0, "{example}: {err}");
        assert!(out.contains("configuration is valid"), "{example}: {out}");
    }
}

#[test]
fn serve_refuses_an_invalid_config_without_binding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[listeners]]\nname = \"x\"\naddress = \"nowhere\"\n",
    )
    .expect("write");
    let (code, out, err) = run(Command::new(binary())
        .arg("serve")
        .arg("--config")
        .arg(&path));
    assert_eq!(code, 1);
    assert!(!out.contains("listening"), "{out}");
    assert!(
        err.contains(&format!(
            "{}:3:11: listeners[0].address: `nowhere` is not an IP address with a port",
            path.display()
        )),
        "{err}"
    );
    let (code, _, err) =
        run(Command::new(binary()).args(["serve", "--config", "/nonexistent/turnpike.toml"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("/nonexistent/turnpike.toml: cannot read the file"),
        "{err}"
    );
}

#[test]
fn a_listener_port_in_use_is_a_clear_start_up_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("busy.toml");
    std::fs::write(
        &path,
        format!("[[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:{port}\"\n"),
    )
    .expect("write");
    let (code, _, err) = run(Command::new(binary())
        .arg("serve")
        .arg("--config")
        .arg(&path));
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("listener `main`: cannot bind 127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn plugin_wit_writes_the_contract_plugins_build_against() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = run(Command::new(binary())
        .current_dir(dir.path())
        .args(["plugin", "wit"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "wrote wit/gateway.wit");
    let written = std::fs::read_to_string(dir.path().join("wit/gateway.wit")).expect("written");
    let source = std::fs::read_to_string(workspace().join("wit/gateway.wit")).expect("wit");
    assert_eq!(written, source);

    // A file where the folder should be: a precise error, nothing written.
    std::fs::write(dir.path().join("taken"), "mine").expect("write");
    let (code, _, err) = run(Command::new(binary())
        .current_dir(dir.path())
        .args(["plugin", "wit", "--out", "taken"]));
    assert_eq!(code, 1);
    assert!(err.contains("taken is not a folder"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("taken")).expect("read"),
        "mine"
    );
}

/// `validate` builds what it checks and nothing else: an access log in an
/// empty folder is not created, an unreachable Redis is not dialled, and
/// the verdict comes at once.
#[test]
fn validate_has_no_side_effects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("logs folder");
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        r#"
[server]
access_log = "logs/access.log"

[usage_store]
# Nothing listens on port 1: a connection attempt would fail or hang.
redis_url = "redis://192.0.2.1:1/0"
timeout = "5s"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[usage_plans.basic]
stages = [{ api = "a", stage = "$default" }]
throttle = { rate = 10, burst = 10 }

[[apis]]
name = "a"
[[apis.routes]]
key = "GET /x"
api_key_required = true
integration = { type = "mock" }
"#,
    )
    .expect("config");
    let started = std::time::Instant::now();
    let (code, out, err) = run(Command::new(binary())
        .arg("validate")
        .arg("--config")
        .arg(&config));
    let took = started.elapsed();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configuration is valid"), "{out}");
    assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
    let created: Vec<_> = std::fs::read_dir(&logs).expect("list").collect();
    assert!(created.is_empty(), "validate created {created:?}");
}
