//! The README's two quick-start commands and `.ci/run` stay in step.

mod common;

#[test]
fn ci_installs_what_the_readme_installs_and_runs_the_readme_test_command() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(common::root().join(".ci/run")).unwrap();
    let blocks: Vec<&str> = readme
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().trim())
        .collect();
    let (install, test) = (blocks[0], blocks[1]);
    assert!(
        install.starts_with(".ci/install-deps && cargo run --release -- batch data"),
        "{install}"
    );
    assert_eq!(test, "cargo test --release && python/run-tests");
    let ci_lines: Vec<&str> = ci
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert!(ci_lines.contains(&".ci/install-deps"), "{ci}");
    assert_eq!(
        ci_lines.last(),
        Some(&test),
        "CI ends with the README's test command"
    );
}
