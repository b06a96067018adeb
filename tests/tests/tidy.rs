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
        "harness/core/src",
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

/// The crates a package's normal dependencies resolve to, as `cargo tree` reads them from
/// Cargo.toml and Cargo.lock for that package alone (`-p`, with the features it asks for).
fn resolved_crates(args: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .current_dir(root())
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .args(args)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The crates that do network, VM or async IO; none may be in the IO-free core's graph.
const IO_CRATES: [&str; 9] = [
    "tokio",
    "russh",
    "virt",
    "kube",
    "kube-client",
    "reqwest",
    "hyper",
    "testcontainers",
    "bollard",
];

/// The IO-free core (hadrill-core: scenarios, faults, the simulation, the drill loop, verdicts,
/// reports) and the provisioner without its executor (inventory, model, render, plan) resolve
/// to no IO crate: the real dependency graph, not a list of files.
#[test]
fn the_io_free_core_depends_on_no_io_crate() {
    for args in [
        &["-p", "hadrill-core"][..],
        &["-p", "provisioner", "--no-default-features"][..],
    ] {
        let crates = resolved_crates(args);
        // The graph was read: the core sits on the model and serde at least.
        assert!(crates.iter().any(|c| c == "serde"), "{args:?}: {crates:?}");
        let io: Vec<&String> = crates
            .iter()
            .filter(|c| IO_CRATES.contains(&c.as_str()))
            .collect();
        assert!(io.is_empty(), "{args:?} resolves to IO crates {io:?}");
    }
    // And the check can fail: the harness, which drives VMs, does resolve to them.
    let harness = resolved_crates(&["-p", "harness"]);
    for c in ["tokio", "russh", "virt", "kube"] {
        assert!(
            harness.iter().any(|h| h == c),
            "harness without {c}: {harness:?}"
        );
    }
}

/// What a dependency cannot show: the core's sources use no process, socket or wall clock
/// from std (the simulation has its own clock; reports of one seed are byte-identical).
#[test]
fn the_io_free_core_uses_no_process_socket_or_clock() {
    let files = sources(&root().join("harness/core/src"));
    assert!(files.len() >= 20, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for b in [
            "std::process",
            "TcpStream",
            "TcpListener",
            "UdpSocket",
            "Instant::now",
            "SystemTime",
        ] {
            assert!(
                !text.contains(b),
                "{} is in the IO-free core but mentions `{b}`",
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
/// as a number in harness/core/src/sim/, but in its tests (sim/tests/).
#[test]
fn the_simulators_timers_come_from_the_model() {
    let sim = root().join("harness/core/src/sim");
    let files: Vec<PathBuf> = sources(&sim)
        .into_iter()
        .filter(|f| !f.starts_with(sim.join("tests")))
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

/// The simulator reads as protocol models a newcomer can find by name: no file of
/// harness/core/src/sim/ (its tests included) over 500 lines (issue 16's bound).
#[test]
fn no_simulator_file_is_over_500_lines() {
    let files = sources(&root().join("harness/core/src/sim"));
    assert!(files.len() >= 10, "{files:?}");
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 500).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these:\n{}", long.join("\n"));
}
