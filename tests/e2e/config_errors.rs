//! Invalid configurations: every file in `tests/invalid-configs/` is paired
//! with the exact output `turnpike validate` must give for it.

use std::process::Command;

use crate::harness::{binary, run, workspace};

#[test]
fn each_invalid_config_gives_its_exact_message() {
    // wrong-world.toml names a real example component.
    crate::harness::guest_dir();
    let dir = workspace().join("tests/invalid-configs");
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/invalid-configs exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    entries.sort();
    for config in entries {
        let name = config
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let expected_path = config.with_extension("err");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{name} has no {}", expected_path.display()));
        let (code, out, err) = run(Command::new(binary())
            .current_dir(&dir)
            .args(["validate", "--config", &name]));
        if code != 1 || !out.is_empty() || err.trim_end() != expected.trim_end() {
            failures.push(format!(
                "{name}: exit {code}\n--- expected\n{}\n--- got\n{}",
                expected.trim_end(),
                err.trim_end()
            ));
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} invalid configs found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
