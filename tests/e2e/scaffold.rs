//! `turnpike plugin new`: every language's authorizer and mapper starting
//! points are written, built with their own tooling, unit-tested natively as
//! their README says, and served through the real binary by the
//! `gateway.toml` the scaffold wrote.

use std::path::Path;
use std::process::Command;

use crate::harness::{Gateway, binary, build_lock, client, plugin_cache, run, workspace};

/// Runs `command` (a shell line from the project's README) in `dir`.
fn sh(dir: &Path, command: &str, envs: &[(&str, String)]) {
    let (code, out, err) = run(Command::new("sh")
        .args(["-c", command])
        .current_dir(dir)
        .envs(envs.iter().map(|(k, v)| (k, v))));
    assert_eq!(code, 0, "`{command}` in {}:\n{out}\n{err}", dir.display());
}

/// Writes, builds and unit-tests one project; returns its folder.
fn scaffold(parent: &Path, role: &str, lang: &str) -> std::path::PathBuf {
    scaffold_with(parent, role, lang, &[])
}

fn scaffold_with(parent: &Path, role: &str, lang: &str, flags: &[&str]) -> std::path::PathBuf {
    let name = format!("{lang}-{role}{}", flags.concat().replace("--", "-"));
    let dir = parent.join(&name);
    let (code, out, err) = run(Command::new(binary())
        .args([
            "plugin", "new", role, "--lang", lang, "--name", &name, "--dir",
        ])
        .arg(&dir)
        .args(flags));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created"), "{out}");
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("README");
    // The Rust projects share one target folder so that the SDK's
    // dependencies build once per run, not once per project.
    let envs = [(
        "CARGO_TARGET_DIR",
        workspace().join("target/scaffold").display().to_string(),
    )];
    let _one_build_at_a_time = build_lock();
    for command in readme_commands(&readme) {
        if !command.starts_with("turnpike ") {
            sh(&dir, &command, &envs);
        }
    }
    if lang == "rust" {
        let built = workspace()
            .join("target/scaffold/wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let target = dir.join("target/wasm32-wasip2/release");
        std::fs::create_dir_all(&target).expect("mkdir");
        std::fs::copy(
            built,
            target.join(format!("{}.wasm", name.replace('-', "_"))),
        )
        .expect("copy component");
    }
    dir
}

/// The lines of the README's `sh` code blocks, in order.
fn readme_commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_block = false;
    for line in readme.lines() {
        match (in_block, line.trim()) {
            (false, "```sh") => in_block = true,
            (true, "```") => in_block = false,
            (true, command) if !command.is_empty() => commands.push(command.to_owned()),
            _ => {}
        }
    }
    commands
}

/// The project's own gateway.toml, made to run here: port 0, the shared
/// compiled-plugin cache, the component path absolute. Precompiled with
/// `turnpike validate`, which also proves the file valid.
fn start_project_gateway(dir: &Path) -> Gateway {
    let config = std::fs::read_to_string(dir.join("gateway.toml")).expect("gateway.toml");
    let config = config
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace(
            "[server]\n",
            &format!("[server]\ncache_dir = \"{}\"\n", plugin_cache()),
        )
        .replace(
            "component = \"",
            &format!("component = \"{}/", dir.display()),
        );
    let path = dir.join("test-gateway.toml");
    std::fs::write(&path, &config).expect("write config");
    let (code, out, err) = run(Command::new(binary())
        .args(["validate", "--config"])
        .arg(&path));
    assert_eq!(code, 0, "{out}{err}");
    Gateway::start(&config)
}

async fn check_language(lang: &str) {
    let parent = tempfile::tempdir().expect("tempdir");

    let authorizer = scaffold(parent.path(), "authorizer", lang);
    let gw = start_project_gateway(&authorizer);
    let hello = || client().get(gw.url("main", "/hello"));
    let (status, _, _) = gw.send_logged(hello()).await;
    assert_eq!(status, 401, "{lang}");
    let (status, _, _) = gw
        .send_logged(hello().header("authorization", "Bearer nope"))
        .await;
    assert_eq!(status, 403, "{lang}");
    let (status, body, entry) = gw
        .send_logged(hello().header("authorization", "Bearer let-me-in"))
        .await;
    assert_eq!(
        (status, body.as_str()),
        (200, format!("hello from behind {lang}-authorizer").as_str()),
        "{lang}"
    );
    assert_eq!(entry["principalId"], "me", "{lang}");
    drop(gw);

    let mapper = scaffold(parent.path(), "mapper", lang);
    let gw = start_project_gateway(&mapper);
    let response = client()
        .get(gw.url("main", "/hello"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{lang}");
    assert_eq!(
        response.headers()["x-mapped-by"],
        format!("{lang}-mapper").as_str(),
        "{lang}"
    );
    assert_eq!(response.text().await.expect("body"), "hello");
}

#[tokio::test]
async fn rust_starting_points() {
    check_language("rust").await;
}

#[tokio::test]
async fn python_starting_points() {
    check_language("python").await;
}

#[tokio::test]
async fn javascript_starting_points() {
    check_language("js").await;
}

#[tokio::test]
async fn c_starting_points() {
    check_language("c").await;
}

/// `--lambda`: a Lambda function and a Lambda authorizer, plain Lambda code
/// behind the shim, built, unit-tested natively and served.
async fn check_lambda(lang: &str) {
    let parent = tempfile::tempdir().expect("tempdir");

    let function = scaffold_with(parent.path(), "function", lang, &["--lambda"]);
    let gw = start_project_gateway(&function);
    let response = client()
        .get(gw.url("main", "/hello?name=Ada"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{lang}");
    assert_eq!(
        response.text().await.expect("body").replace(' ', ""),
        r#"{"message":"Hello,Ada!"}"#,
        "{lang}"
    );
    drop(gw);

    let authorizer = scaffold_with(parent.path(), "authorizer", lang, &["--lambda"]);
    let gw = start_project_gateway(&authorizer);
    let hello = || client().get(gw.url("main", "/hello"));
    let (status, _, _) = gw
        .send_logged(hello().header("authorization", "Bearer nope"))
        .await;
    assert_eq!(status, 401, "{lang}: raising Unauthorized");
    let (status, body, entry) = gw
        .send_logged(hello().header("authorization", "Bearer let-me-in"))
        .await;
    assert_eq!(status, 200, "{lang}: {body}");
    assert_eq!(entry["principalId"], "me", "{lang}");
    drop(gw);

    if lang == "js" {
        // A CommonJS handler in the callback style (as AWS's Node.js
        // blueprints are written) drops in for index.mjs unchanged.
        std::fs::remove_file(authorizer.join("index.mjs")).expect("rm index.mjs");
        std::fs::remove_dir_all(authorizer.join("test")).expect("rm test");
        std::fs::write(
            authorizer.join("index.js"),
            "exports.handler = function (event, context, callback) {\n\
             \x20 if (event.authorizationToken !== 'Bearer let-me-in') return callback('Unauthorized');\n\
             \x20 const [arn, stage] = event.methodArn.split('/');\n\
             \x20 callback(null, { principalId: 'cjs', policyDocument: { Version: '2012-10-17',\n\
             \x20   Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: arn + '/' + stage + '/*' }] } });\n\
             };\n",
        )
        .expect("write index.js");
        let _one_build_at_a_time = build_lock();
        sh(&authorizer, "npm run build", &[]);
        drop(_one_build_at_a_time);
        let gw = start_project_gateway(&authorizer);
        let hello = || client().get(gw.url("main", "/hello"));
        let (status, _, _) = gw
            .send_logged(hello().header("authorization", "Bearer nope"))
            .await;
        assert_eq!(status, 401, "CommonJS: callback('Unauthorized')");
        let (status, _, entry) = gw
            .send_logged(hello().header("authorization", "Bearer let-me-in"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(entry["principalId"], "cjs");
    }
}

#[tokio::test]
async fn python_lambda_starting_points() {
    check_lambda("python").await;
}

#[tokio::test]
async fn javascript_lambda_starting_points() {
    check_lambda("js").await;
}

#[test]
fn lambda_projects_are_python_or_javascript_functions_and_authorizers() {
    for (args, refusal) in [
        (
            ["mapper", "--lang", "python", "--lambda"],
            "a mapper has no Lambda counterpart",
        ),
        (
            ["function", "--lang", "rust", "--lambda"],
            "turnpike_sdk::lambda::Handler",
        ),
        (["function", "--lang", "python", ""], "add --lambda"),
    ] {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("x");
        let (code, _, err) = run(Command::new(binary())
            .args(["plugin", "new"])
            .args(args.iter().filter(|a| !a.is_empty()))
            .arg("--dir")
            .arg(&dir));
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains(refusal), "{args:?}: {err}");
        assert!(!dir.exists(), "nothing written for {args:?}");
    }
}

#[test]
fn bad_names_and_occupied_folders_are_refused_without_writing() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("x");
    let (code, _, err) = run(Command::new(binary())
        .args([
            "plugin",
            "new",
            "authorizer",
            "--lang",
            "c",
            "--name",
            "Bad_Name",
            "--dir",
        ])
        .arg(&dir));
    assert_eq!(code, 1);
    assert!(err.contains("invalid plugin name `Bad_Name`"), "{err}");
    assert!(!dir.exists());

    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("keep.txt"), "mine").expect("write");
    let (code, _, err) = run(Command::new(binary())
        .args(["plugin", "new", "mapper", "--lang", "python", "--dir"])
        .arg(&dir));
    assert_eq!(code, 1);
    assert!(err.contains("already exists and is not empty"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dir).expect("read").collect();
    assert_eq!(left.len(), 1, "nothing else was written");

    let (code, _, err) =
        run(Command::new(binary()).args(["plugin", "new", "mapper", "--lang", "cobol"]));
    assert_eq!(code, 2);
    assert!(err.contains("invalid value 'cobol'"), "{err}");
}
