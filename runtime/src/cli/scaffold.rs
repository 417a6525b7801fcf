//! `turnpike plugin new`: writes a ready-to-build plugin project for a role
//! and a language, with the WIT contract, a unit test, a README and a
//! gateway configuration that runs it.
//!
//! The templates live in `runtime/templates/<language>/` and are compiled
//! into the binary, so the scaffold works on a machine without this
//! repository. `__NAME__` and `__ROLE__` in them are replaced by the
//! project's name and role.

use std::fmt;
use std::path::{Path, PathBuf};

/// The WIT contract every project gets a copy of, in `wit/`.
const WIT: &str = include_str!("../../../wit/gateway.wit");

/// A plugin role that has a world of its own in the WIT contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// `turnpike:gateway/authorizer`.
    Authorizer,
    /// `turnpike:gateway/mapper`.
    Mapper,
    /// A `function` integration; with `--lambda`, a Lambda-style handler of
    /// `turnpike:gateway/lambda`.
    Function,
}

impl Role {
    /// The role's name, as the command line writes it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Authorizer => "authorizer",
            Role::Mapper => "mapper",
            Role::Function => "function",
        }
    }
}

/// A language with a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust with the turnpike-sdk crate (vendored into the project).
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    #[value(name = "js", alias = "javascript")]
    JavaScript,
    /// C with wit-bindgen c, clang for wasm32-wasi and wasm-tools.
    C,
}

/// Why a project could not be written. Nothing is written when any of these
/// is returned, except for [`ScaffoldError::Write`] in the middle of writing.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot be a package, crate and file name in every language.
    #[error(
        "invalid plugin name `{0}`: use 1 to 64 lower-case letters, digits and dashes, starting with a letter and not ending with a dash"
    )]
    InvalidName(String),
    /// The role, language and `--lambda` do not go together.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The target folder exists and has files in it.
    #[error("{0} already exists and is not empty; choose another --dir or --name")]
    NotEmpty(PathBuf),
    /// `plugin wit --out` names something that is not a folder.
    #[error("{0} is not a folder; pass --out a folder to write gateway.wit into")]
    NotAFolder(PathBuf),
    /// Reading the target folder or writing a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// Writes the WIT contract this binary implements to `dir/gateway.wit`
/// (creating `dir`), for building a plugin outside a project made by
/// `turnpike plugin new`. An existing copy is replaced: the binary's is
/// the one plugins must match.
pub fn write_wit(dir: &Path) -> Result<PathBuf, ScaffoldError> {
    let path = dir.join("gateway.wit");
    if dir.exists() && !dir.is_dir() {
        return Err(ScaffoldError::NotAFolder(dir.to_path_buf()));
    }
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    std::fs::write(&path, WIT).map_err(write_error(&path))?;
    Ok(path)
}

/// Turns an I/O error on `path` into [`ScaffoldError::Write`], for `map_err`.
fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> ScaffoldError {
    let path = path.to_path_buf();
    move |source| ScaffoldError::Write { path, source }
}

/// One file of a project: path inside the project, contents, executable bit.
struct Template {
    path: &'static str,
    contents: &'static str,
    executable: bool,
}

const fn file(path: &'static str, contents: &'static str) -> Template {
    Template {
        path,
        contents,
        executable: false,
    }
}

const fn script(path: &'static str, contents: &'static str) -> Template {
    Template {
        path,
        contents,
        executable: true,
    }
}

macro_rules! template {
    ($lang:literal, $file:literal) => {
        include_str!(concat!("../../templates/", $lang, "/", $file))
    };
}

/// The files of a Lambda-style project: the user's handler file (plain
/// Lambda code), the entry module handing it to the shim, the shim itself,
/// a native unit test, the build.
fn lambda_templates(language: Language, role: Role) -> Vec<Template> {
    let authorizer = role == Role::Authorizer;
    let mut files = match language {
        Language::Python => vec![
            script("build.sh", template!("python-lambda", "build.sh")),
            file(".gitignore", template!("python-lambda", "gitignore")),
            file("app.py", template!("python-lambda", "app.py")),
            file(
                "turnpike_lambda/__init__.py",
                include_str!("../../../sdk/python/turnpike_lambda/__init__.py"),
            ),
            if authorizer {
                file(
                    "lambda_function.py",
                    template!("python-lambda", "authorizer.py"),
                )
            } else {
                file(
                    "lambda_function.py",
                    template!("python-lambda", "function.py"),
                )
            },
            if authorizer {
                file(
                    "test_lambda_function.py",
                    template!("python-lambda", "test_authorizer.py"),
                )
            } else {
                file(
                    "test_lambda_function.py",
                    template!("python-lambda", "test_function.py"),
                )
            },
        ],
        _ => vec![
            file("package.json", template!("js-lambda", "package.json")),
            file(".gitignore", template!("js-lambda", "gitignore")),
            file("entry.mjs", template!("js-lambda", "entry.mjs")),
            file(
                "turnpike-lambda/index.js",
                include_str!("../../../sdk/js/turnpike-lambda/index.js"),
            ),
            file(
                "turnpike-lambda/package.json",
                include_str!("../../../sdk/js/turnpike-lambda/package.json"),
            ),
            if authorizer {
                file("index.mjs", template!("js-lambda", "authorizer.mjs"))
            } else {
                file("index.mjs", template!("js-lambda", "function.mjs"))
            },
            if authorizer {
                file(
                    "test/handler.test.mjs",
                    template!("js-lambda", "test/authorizer.test.mjs"),
                )
            } else {
                file(
                    "test/handler.test.mjs",
                    template!("js-lambda", "test/function.test.mjs"),
                )
            },
        ],
    };
    files.push(file("wit/gateway.wit", WIT));
    files
}

fn templates(language: Language, role: Role) -> Vec<Template> {
    use Language::*;
    use Role::*;
    let mut files = match language {
        Rust => vec![
            file("Cargo.toml", template!("rust", "Cargo.toml.template")),
            file("build.rs", template!("rust", "build.rs")),
            file("turnpike-sdk/Cargo.toml", SDK_MANIFEST),
            file(
                "turnpike-sdk/src/lib.rs",
                include_str!("../../../sdk/src/lib.rs"),
            ),
            file(
                "turnpike-sdk/src/authorizer.rs",
                include_str!("../../../sdk/src/authorizer.rs"),
            ),
            file(
                "turnpike-sdk/src/config.rs",
                include_str!("../../../sdk/src/config.rs"),
            ),
            file(
                "turnpike-sdk/src/http.rs",
                include_str!("../../../sdk/src/http.rs"),
            ),
            file(
                "turnpike-sdk/src/lambda.rs",
                include_str!("../../../sdk/src/lambda.rs"),
            ),
            file(
                "turnpike-sdk/src/log.rs",
                include_str!("../../../sdk/src/log.rs"),
            ),
            file(
                "turnpike-sdk/src/mapper.rs",
                include_str!("../../../sdk/src/mapper.rs"),
            ),
            file(
                "turnpike-sdk/src/testing.rs",
                include_str!("../../../sdk/src/testing.rs"),
            ),
            file(".gitignore", "/target\n"),
        ],
        Python => vec![
            script("build.sh", template!("python", "build.sh")),
            file(".gitignore", template!("python", "gitignore")),
        ],
        JavaScript => vec![
            file("package.json", template!("js", "package.json")),
            file(
                "test/gateway-imports.js",
                template!("js", "test/gateway-imports.js"),
            ),
            file(
                "test/resolve-gateway-imports.js",
                template!("js", "test/resolve-gateway-imports.js"),
            ),
            file(
                "test/stubs/config.js",
                template!("js", "test/stubs/config.js"),
            ),
            file("test/stubs/log.js", template!("js", "test/stubs/log.js")),
            file("errors.js", template!("js", "errors.js")),
            file(".gitignore", template!("js", "gitignore")),
        ],
        C => vec![
            script("build.sh", template!("c", "build.sh")),
            file(".gitignore", template!("c", "gitignore")),
        ],
    };
    files.extend(match (language, role) {
        (Rust, Authorizer) => vec![file("src/lib.rs", template!("rust", "authorizer.rs"))],
        (Rust, Mapper) => vec![file("src/lib.rs", template!("rust", "mapper.rs"))],
        (Python, Authorizer) => vec![
            file("app.py", template!("python", "authorizer.py")),
            file("test_app.py", template!("python", "test_authorizer.py")),
        ],
        (Python, Mapper) => vec![
            file("app.py", template!("python", "mapper.py")),
            file("test_app.py", template!("python", "test_mapper.py")),
        ],
        (JavaScript, Authorizer) => vec![
            file("authorizer.js", template!("js", "authorizer.js")),
            file(
                "test/authorizer.test.js",
                template!("js", "test/authorizer.test.js"),
            ),
        ],
        (JavaScript, Mapper) => vec![
            file("mapper.js", template!("js", "mapper.js")),
            file(
                "test/mapper.test.js",
                template!("js", "test/mapper.test.js"),
            ),
        ],
        (C, Authorizer) => vec![file("plugin.c", template!("c", "authorizer.c"))],
        (C, Mapper) => vec![file("plugin.c", template!("c", "mapper.c"))],
        // `Project::new` lets a function through only with `--lambda`.
        (_, Function) => Vec::new(),
    });
    files.push(file("wit/gateway.wit", WIT));
    files
}

/// The vendored SDK's manifest: the workspace's, without workspace inheritance.
const SDK_MANIFEST: &str = r#"[package]
name = "turnpike-sdk"
description = "Write Turnpike gateway plugins (authorizers, mappers) in Rust"
version = "0.1.0"
edition = "2024"
license = "Apache-2.0"
publish = false

[dependencies]
wit-bindgen = { version = "0.61", default-features = false, features = ["macros", "realloc"] }
"#;

/// A project to write: what, in which language, under which name.
#[derive(Clone, Debug)]
pub struct Project {
    /// The role, and so the world the component implements.
    pub role: Role,
    /// The language.
    pub language: Language,
    /// Package, crate and plugin name (checked by [`Project::new`]).
    name: String,
    /// A Lambda-style handler (`--lambda`): plain Lambda code behind
    /// Turnpike's shim, for the `lambda` world.
    lambda: bool,
}

impl Project {
    /// A project named `name`, if that name works in every language and
    /// the role, language and `lambda` go together.
    pub fn new(
        role: Role,
        language: Language,
        name: &str,
        lambda: bool,
    ) -> Result<Project, ScaffoldError> {
        match (role, language, lambda) {
            (Role::Mapper, _, true) => {
                return Err(ScaffoldError::Unsupported(
                    "a mapper has no Lambda counterpart; --lambda makes a function or an authorizer",
                ));
            }
            (_, Language::Rust | Language::C, true) => {
                return Err(ScaffoldError::Unsupported(
                    "--lambda projects are Python or JavaScript; in Rust, implement turnpike_sdk::lambda::Handler (docs/lambda.md)",
                ));
            }
            (Role::Function, _, false) => {
                return Err(ScaffoldError::Unsupported(
                    "`function` projects are Lambda-style handlers: add --lambda (a wasi:http/proxy function is built with your language's wasi:http tooling; see guest-examples/rust-http-function)",
                ));
            }
            _ => {}
        }
        let valid = (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(ScaffoldError::InvalidName(name.to_owned()));
        }
        Ok(Project {
            role,
            language,
            name: name.to_owned(),
            lambda,
        })
    }

    /// The project's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The world the component implements.
    pub fn world(&self) -> &'static str {
        if self.lambda {
            "lambda"
        } else {
            self.role.name()
        }
    }

    /// Where the build puts the component, relative to the project folder.
    pub fn component_path(&self) -> String {
        match self.language {
            Language::Rust => format!(
                "target/wasm32-wasip2/release/{}.wasm",
                self.name.replace('-', "_")
            ),
            _ => format!("{}.wasm", self.name),
        }
    }

    /// The commands that build the component, run in the project folder.
    pub fn build_command(&self) -> &'static str {
        match self.language {
            Language::Rust => "cargo build --release --target wasm32-wasip2",
            Language::Python | Language::C => "./build.sh",
            Language::JavaScript => "npm install && npm run build",
        }
    }

    /// The command that runs the plugin's unit tests natively, if the
    /// language's template has them.
    pub fn test_command(&self) -> Option<&'static str> {
        match self.language {
            Language::Rust => Some("cargo test"),
            Language::Python => Some("python3 -m unittest"),
            Language::JavaScript => Some("npm test"),
            Language::C => None,
        }
    }

    /// Writes the project into `dir`, which must not exist or be empty.
    /// Returns the files written, relative to `dir`.
    pub fn write(&self, dir: &Path) -> Result<Vec<String>, ScaffoldError> {
        match std::fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(ScaffoldError::NotEmpty(dir.to_path_buf()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(write_error(dir)(e)),
        }
        let templates = if self.lambda {
            lambda_templates(self.language, self.role)
        } else {
            templates(self.language, self.role)
        };
        let mut files: Vec<(String, String, bool)> = templates
            .into_iter()
            .map(|t| (t.path.to_owned(), self.render(t.contents), t.executable))
            .collect();
        files.push(("README.md".into(), self.readme(), false));
        files.push(("gateway.toml".into(), self.gateway_config(), false));
        for (path, contents, executable) in &files {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(write_error(parent))?;
            }
            std::fs::write(&target, contents).map_err(write_error(&target))?;
            if *executable {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                    .map_err(write_error(&target))?;
            }
        }
        Ok(files.into_iter().map(|(path, _, _)| path).collect())
    }

    fn render(&self, template: &str) -> String {
        template
            .replace("__NAME__", &self.name)
            .replace("__ROLE__", self.world())
    }

    /// A configuration that serves `GET /hello` through the plugin on
    /// 127.0.0.1:8080, with the component path relative to the project.
    pub fn gateway_config(&self) -> String {
        let name = &self.name;
        let component = self.component_path();
        let (try_it, plugin_config, api) = match (self.role, self.lambda) {
            (Role::Authorizer, true) => (
                "#   curl -i localhost:8080/hello                                      -> 401\n\
                 #   curl -i -H 'authorization: Bearer let-me-in' localhost:8080/hello -> 200",
                "config = { TOKEN = \"let-me-in\", PRINCIPAL = \"me\" }\n",
                authorizer_api(name, "format = \"lambda\"\npayload = \"token\"\n"),
            ),
            (_, true) => (
                "#   curl -i 'localhost:8080/hello?name=Ada'  -> {\"message\": \"Hello, Ada!\"}",
                "",
                format!(
                    "[[apis.routes]]\n\
                     key = \"GET /hello\"\n\
                     integration = {{ type = \"function\", plugin = \"{name}\", payload_format = \"1.0\" }}\n"
                ),
            ),
            (Role::Authorizer, false) => (
                "#   curl -i localhost:8080/hello                                      -> 401\n\
                 #   curl -i -H 'authorization: Bearer nope' localhost:8080/hello      -> 403\n\
                 #   curl -i -H 'authorization: Bearer let-me-in' localhost:8080/hello -> 200",
                "config = { token = \"let-me-in\", principal = \"me\" }\n",
                authorizer_api(name, ""),
            ),
            (_, false) => (
                "#   curl -i localhost:8080/hello      -> 200 with x-mapped-by: the plugin's name",
                "",
                format!(
                    "[[apis.routes]]\n\
                     key = \"GET /hello\"\n\
                     mapper = \"{name}\"\n\
                     integration = {{ type = \"mock\", body = \"hello\" }}\n"
                ),
            ),
        };
        format!(
            "# Runs the plugin in a gateway: build it first ({build}), then\n\
             #   turnpike serve --config gateway.toml\n\
             {try_it}\n\
             \n\
             [server]\n\
             access_log = \"stdout\"\n\
             \n\
             [[listeners]]\n\
             name = \"main\"\n\
             address = \"127.0.0.1:8080\"\n\
             \n\
             [plugins.{name}]\n\
             component = \"{component}\"\n\
             world = \"{world}\"\n\
             {plugin_config}\
             \n\
             [[apis]]\n\
             name = \"demo\"\n\
             \n\
             {api}",
            build = self.build_command(),
            world = self.world(),
        )
    }

    fn readme(&self) -> String {
        let tools = match self.language {
            Language::Rust => {
                "Rust with the `wasm32-wasip2` target (`rustup target add wasm32-wasip2`). \
                 The SDK matching this gateway's WIT contract is copied in `turnpike-sdk/`."
            }
            Language::Python if self.lambda => {
                "Python 3.10+ and componentize-py (`pip install componentize-py==0.25.1`). \
                 `lambda_function.py` is plain Lambda code; `app.py` hands it to the \
                 `turnpike_lambda` shim shipped in this project. See docs/lambda.md."
            }
            Language::Python => {
                "Python 3.10+ and componentize-py (`pip install componentize-py==0.25.1`). \
                 The typed bindings are generated from `wit/` into `bindings/` by the build."
            }
            Language::JavaScript if self.lambda => {
                "Node.js 20+ and npm; `npm install` fetches esbuild and componentize-js. \
                 `index.mjs` is plain Lambda code (or drop in an `index.js`/`index.cjs`, CommonJS \
                 or not); `entry.mjs` hands it to the `turnpike-lambda` module shipped in this \
                 project, and the build bundles them. See docs/lambda.md."
            }
            Language::JavaScript => "Node.js 20+ and npm; `npm install` fetches componentize-js.",
            Language::C => {
                "`wit-bindgen` (`cargo install wit-bindgen-cli --version 0.61.0 --locked`), \
                 `wasm-tools` (`cargo install --locked wasm-tools --version 1.263.0`) and clang with wasi-libc \
                 (Debian: `apt-get install clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32`)."
            }
        };
        let test = match self.test_command() {
            Some(command) => format!(
                "Run the unit tests natively (no gateway, the host calls are stand-ins):\n\n\
                 ```sh\n{command}\n```\n\n"
            ),
            None => String::new(),
        };
        format!(
            "# {name}\n\
             \n\
             A Turnpike `{world}` plugin ({language}), created by `turnpike plugin new`.\n\
             \n\
             Tools: {tools}\n\
             \n\
             Build the component (`{component}`):\n\
             \n\
             ```sh\n{build}\n```\n\
             \n\
             {test}\
             Run it in a gateway and try it (`gateway.toml` serves `GET /hello` through it):\n\
             \n\
             ```sh\nturnpike serve --config gateway.toml\n```\n\
             \n\
             The contract is `wit/gateway.wit` (`turnpike:gateway@0.1.0`, world `{world}`).\n",
            name = self.name,
            world = self.world(),
            language = self.language,
            component = self.component_path(),
            build = self.build_command(),
        )
    }
}

/// A `wasm` authorizer named after the plugin (with `keys` added) guarding
/// a mock `GET /hello`.
fn authorizer_api(name: &str, keys: &str) -> String {
    format!(
        "[apis.authorizers.{name}]\n\
         type = \"wasm\"\n\
         plugin = \"{name}\"\n\
         {keys}\
         identity_sources = [\"$request.header.Authorization\"]\n\
         \n\
         [[apis.routes]]\n\
         key = \"GET /hello\"\n\
         authorizer = \"{name}\"\n\
         integration = {{ type = \"mock\", body = \"hello from behind {name}\" }}\n"
    )
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
            Language::C => "C",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_work_in_every_language() {
        for good in ["a", "my-auth", "auth2"] {
            assert!(
                Project::new(Role::Mapper, Language::C, good, false).is_ok(),
                "{good}"
            );
        }
        for bad in ["", "My", "2fa", "a_b", "a-", "a b", &"a".repeat(65)] {
            assert!(
                matches!(
                    Project::new(Role::Mapper, Language::C, bad, false),
                    Err(ScaffoldError::InvalidName(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_placeholder_is_filled_in() {
        let dir = tempfile::tempdir().expect("tempdir");
        for language in [
            Language::Rust,
            Language::Python,
            Language::JavaScript,
            Language::C,
        ] {
            for (role, lambda) in [
                (Role::Authorizer, false),
                (Role::Mapper, false),
                (Role::Authorizer, true),
                (Role::Function, true),
            ] {
                let Ok(project) = Project::new(role, language, "my-plugin", lambda) else {
                    assert!(lambda, "{language} {role:?}");
                    continue;
                };
                let target = dir
                    .path()
                    .join(format!("{language}-{}-{lambda}", role.name()));
                let written = project.write(&target).expect("written");
                for path in written {
                    let text = std::fs::read_to_string(target.join(&path)).expect("read");
                    assert!(
                        !text.contains("__NAME__") && !text.contains("__ROLE__"),
                        "{language} {role:?}: {path}"
                    );
                }
                assert!(matches!(
                    project.write(&target),
                    Err(ScaffoldError::NotEmpty(_))
                ));
            }
        }
    }
}
