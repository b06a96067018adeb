//! Tidy checks: the layering and documentation rules of ARCHITECTURE.md, enforced.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    for dir in [
        "harness/src",
        "provisioner/src",
        "harness/tests",
        "tests/tests",
    ] {
        for f in sources(&root().join(dir)) {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(
                text.trim_start().starts_with("//!"),
                "{} must open with //! (what it owns)",
                f.display()
            );
        }
    }
}

#[test]
fn io_free_layers_import_no_io() {
    let mut pure: Vec<PathBuf> = [
        "harness/src/verdict.rs",
        "harness/src/record.rs",
        "harness/src/scenario.rs",
        "harness/src/matrix.rs",
        "harness/src/compare.rs",
        "harness/src/disk.rs",
        "harness/src/lab/libvirt/xml.rs",
        "provisioner/src/model.rs",
        "provisioner/src/inventory.rs",
        "provisioner/src/yaml.rs",
    ]
    .iter()
    .map(|f| root().join(f))
    .collect();
    pure.extend(sources(&root().join("harness/src/sim")));
    pure.extend(sources(&root().join("provisioner/src/render")));
    pure.extend(sources(&root().join("provisioner/src/plan")));
    let banned = [
        "tokio",
        "russh",
        "virt::",
        "testcontainers",
        "std::net::TcpStream",
        "std::process",
        "Instant::now",
        "SystemTime",
    ];
    for f in pure {
        let text = std::fs::read_to_string(&f).unwrap();
        for b in banned {
            assert!(
                !text.contains(b),
                "{} is an IO-free layer but mentions `{b}`",
                f.display()
            );
        }
    }
}

#[test]
fn provisioner_does_not_depend_on_harness() {
    let toml = std::fs::read_to_string(root().join("provisioner/Cargo.toml")).unwrap();
    assert!(
        !toml.contains("harness"),
        "provisioner must not depend on harness"
    );
    for f in sources(&root().join("provisioner/src")) {
        assert!(
            !std::fs::read_to_string(&f).unwrap().contains("use harness"),
            "{}",
            f.display()
        );
    }
}

#[test]
fn readme_and_ci_run_the_same_test_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let cmd = "bash .ci/test";
    assert!(
        readme.contains(cmd) && ci.contains(cmd),
        "README.md and .ci/run must both run `{cmd}`"
    );
}

/// Every timer of the simulator comes from the cluster model (so that the rendered configs,
/// the outage budget and a search over settings see the same figures): no duration written
/// as a number in harness/src/sim/, but in its tests.
#[test]
fn the_simulators_timers_come_from_the_model() {
    let files: Vec<PathBuf> = sources(&root().join("harness/src/sim"))
        .into_iter()
        .filter(|f| !f.ends_with("tests.rs"))
        .collect();
    assert!(files.len() >= 10, "{files:?}");
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for ctor in [
                "from_secs(",
                "from_millis(",
                "from_micros(",
                "from_nanos(",
                "from_secs_f64(",
            ] {
                let mut rest = code;
                while let Some(at) = rest.find(ctor) {
                    rest = &rest[at + ctor.len()..];
                    if rest.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
                        found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "durations written as numbers:\n{}",
        found.join("\n")
    );
}
