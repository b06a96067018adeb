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
        "harness/src/sim.rs",
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
