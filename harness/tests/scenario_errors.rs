//! A bad scenario file is one printable line: every error path of `scenario`, and random
//! mutations of the catalogue's files, give an error that names the file, stays on one line
//! with no control character, shows no Rust type and no unknown line, and never a panic.

use std::path::{Path, PathBuf};

use harness::scenario;
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Checks one error message (if `text` is refused); returns it for further checks. `ours`:
/// the message is one of scenario.rs's, which names no Rust type at all; others come from the
/// YAML reader (`provisioner::yaml`, which words serde-saphyr's messages) and name none of
/// scenario.rs's types.
fn printable(text: &str, ours: bool) -> Option<String> {
    let e = scenario::parse(Path::new("bad.yaml"), text)
        .err()?
        .to_string();
    assert!(e.starts_with("bad.yaml"), "{e}");
    assert!(!e.chars().any(char::is_control), "{e:?}");
    assert!(!e.contains(":0:") && !e.contains("line 0"), "{e}");
    assert!(!e.contains("Raw"), "a type of scenario.rs in: {e}");
    if ours {
        for rust in ["struct ", "enum ", "Option<", "String"] {
            assert!(!shows(&e, rust), "a Rust type in: {e}");
        }
    }
    Some(e)
}

/// `word` stands in `m` as a word of its own, not inside another ("construct " holds "struct ").
fn shows(m: &str, word: &str) -> bool {
    m.match_indices(word)
        .any(|(i, _)| !m[..i].ends_with(|c: char| c.is_alphanumeric()))
}

fn check(text: &str, field_and_message: &str) {
    let e = printable(text, true).unwrap_or_else(|| panic!("{text:?} was read"));
    assert!(e.contains(field_and_message), "{text:?}: {e}");
}

/// A bad file for each error path of scenario.rs, and what its message must say.
const ERROR_PATHS: &[(&str, &str)] = &[
    ("", "(document): expected a scenario: a map of steps (and name, description, expect, probe), found nothing"),
    ("[]", "expected a scenario"),
    ("name: [a]\nsteps: []", "name: expected a string, found a list"),
    ("steps: []", "steps: a scenario needs at least one step"),
    (
        "name: \"a\\nb\"\nsteps: [{settle: 1s}]",
        r"name: `a\nb` is not a name",
    ),
    (
        "steps: [{settle: 1s}]\nname: \"\\e[31m\"",
        r"`\u{1b}[31m` is not a name",
    ),
    (
        "steps: [{settle: soon}]",
        "bad.yaml:1: steps[0].settle: `soon` is not a duration",
    ),
    (
        "steps:\n  - settle: 1s\n  - observe: 2d\n",
        "bad.yaml:3: steps[1].observe: `2d` is longer than",
    ),
    (
        "steps: [{fault: {power-of: n1}}]",
        "steps[0].fault: unknown variant `power-of`",
    ),
    (
        "steps: [{\"se\\nttle\": 1s}]",
        r"unknown variant `se\nttle`",
    ),
    (
        "steps: [{fault: {\"po\\e[2Jwer\": n1}}]",
        r"unknown variant `po\u{1b}[2Jwer`",
    ),
    (
        "\"na\\nme\": x\nsteps: [{settle: 1s}]",
        r"unknown field `na\nme`",
    ),
    (
        "steps: [{fault: {move-vip: 3}}]",
        "expected a map: {to: NODE}",
    ),
    (
        "steps: [{fault: {slow-disk: 3}}]",
        "expected a map: {node: NODE, profile: PROFILE}",
    ),
    (
        "steps: [{fault: {netem: 3}}]",
        "expected a map: {node: NODE, delay: DURATION",
    ),
    (
        "steps: [{fault: {stop-service: 3}}]",
        "expected a map: {node: NODE, service: SERVICE}",
    ),
    (
        "steps: [{fault: {power-off: all}}]",
        "`all` is only a target of heal",
    ),
    (
        "steps: [{fault: {power-off: \"\"}}]",
        "steps[0].fault.power-off: empty target",
    ),
    (
        "steps: [{fault: {stop-service: {node: a, service: \"k\\nx\"}}}]",
        r"unknown service `k\nx`",
    ),
    (
        "steps: [{fault: {slow-disk: {node: a, profile: \"\\tx\"}}}]",
        r"unknown disk profile `\tx`",
    ),
    (
        "steps: [{fault: {netem: {node: a, loss: \"5\\r\"}}}]",
        r"`5\r` is not a percentage",
    ),
    (
        "steps: [{fault: {netem: {node: a, loss: 500%}}}]",
        "`500%` is not between 0% and 100%",
    ),
    (
        "steps: [{fault: {netem: {node: a}}}]",
        "steps[0].fault.netem: netem needs a delay or a loss",
    ),
    (
        "steps: [{fault: {netem: {node: a, delay: \"1\\u0007x\"}}}]",
        r"`1\u{7}x` is not a duration",
    ),
    (
        "steps: [{settle: 1s}]\nexpect: {\"ap\\ni\": unavailable}",
        r"expect.ap\ni: unknown service `ap\ni`",
    ),
    (
        "steps: [{settle: 1s}]\nexpect: {api: \"x\\ny\"}",
        r"unknown expectation `x\ny`",
    ),
    (
        "steps: [{settle: 1s}]\nexpect: {api: {\"x\\ny\": {max_gap: 1s}}}",
        r"unknown expectation `x\ny`",
    ),
    (
        "steps: [{settle: 1s}]\nexpect: {api: 3}",
        "expect.api: an expectation: unavailable, or",
    ),
    (
        "steps: [{settle: 1s}]\nexpect: {api: {available: {}}}",
        "expect.api: available needs max_gap",
    ),
    (
        "steps: [{settle: 1s}]\nexpect: {api: {available: {max_gap: x}}}",
        "`x` is not a duration",
    ),
    (
        "steps: [{settle: 1s}]\nexpect:\n  api:\n    a: {max_gap: 1s}\n    b: {max_gap: 1s}\n",
        "expected one of available, unavailable",
    ),
    ("steps: [{settle: 1s}]\n---\nsteps: []", "(document)"),
    (
        "probe: {interval: 10ms}\nsteps: [{settle: 1s}]",
        "probe.interval: `10ms` is not within 50ms-10s (PROBE_INTERVAL_MIN, PROBE_INTERVAL_MAX)",
    ),
    (
        "probe: {timeout: 0s}\nsteps: [{settle: 1s}]",
        "probe.timeout: `0s` is not within 1ms-1m (PROBE_TIMEOUT_MAX)",
    ),
    ("probe: {timeout: soon}\nsteps: [{settle: 1s}]", "probe.timeout: `soon` is not a duration"),
    ("probe: {every: 1s}\nsteps: [{settle: 1s}]", "probe.every: unknown field `every`, expected `interval` or `timeout`"),
    (
        "probe: {interval: 50ms}\nsteps: [{settle: 6h}]",
        "steps: settle and observe add up to 6h, longer than the 5h 59m 59s 950ms a record holds (SAMPLES_MAX 432000 samples of a service, one per 50ms)",
    ),
];

#[test]
fn every_error_path_is_one_printable_line() {
    for (text, want) in ERROR_PATHS {
        check(text, want);
    }
}

#[test]
fn limits_are_one_printable_line_naming_them() {
    let many = format!(
        "steps:\n{}",
        "  - observe: 1ms\n".repeat(scenario::STEPS_MAX + 1)
    );
    check(
        &many,
        "bad.yaml:1: steps: 1001 steps, more than STEPS_MAX (1000)",
    );
    let long = "steps:\n  - settle: 20h\n  - observe: 5h\n";
    check(
        long,
        "bad.yaml:1: steps: settle and observe add up to 1day 1h",
    );
    check(
        long,
        "SAMPLES_MAX 432000 samples of a service, one per 200ms",
    );
    let in_force = format!(
        "steps:\n{}",
        "  - fault: {isolate: node-1}\n".repeat(harness::drill::ACTIVE_MAX + 1)
    );
    check(
        &in_force,
        "bad.yaml:66: steps[64]: up to 65 faults could be in force",
    );
    check(&in_force, "more than ACTIVE_MAX (64)");
    let heals = format!("steps:\n{}", "  - fault: {heal: all}\n".repeat(64));
    check(&heals, "steps[63]: 1024 fault actions by this step");
    check(&heals, "ACTIONS_MAX (1020)");
}

#[test]
fn unreadable_files_are_one_line() {
    let e = scenario::load(Path::new("/dev/zero")).unwrap_err();
    let e = format!("{:#}", anyhow::Error::from(e));
    assert_eq!(
        e,
        "/dev/zero: not a readable scenario file: larger than 1048576 bytes"
    );
    let e = scenario::load(Path::new("/no/such\nfile.yaml")).unwrap_err();
    assert!(e.to_string().starts_with(r"/no/such\nfile.yaml: "), "{e}");
}

fn catalogue() -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// One edit of a file: at a char position, delete some chars and insert a piece.
#[derive(Clone, Debug)]
struct Edit {
    at: usize,
    delete: usize,
    insert: String,
}

fn edit() -> impl Strategy<Value = Edit> {
    let piece = prop_oneof![
        Just(String::new()),
        Just("\n".to_owned()),
        Just("\u{1b}[31m".to_owned()),
        Just(": ".to_owned()),
        Just("- ".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("all".to_owned()),
        Just("heal".to_owned()),
        Just("  ".to_owned()),
        Just("\t".to_owned()),
        Just("&a *a".to_owned()),
        Just("999999999999999999999h".to_owned()),
        Just("fault: {power-off: vip-holder}".to_owned()),
        "[a-z\\-_:{}\\[\\],\\n \\\\\"'%#&*!|>]{1,12}",
        any::<String>(),
    ];
    (0usize..4000, 0usize..20, piece).prop_map(|(at, delete, insert)| Edit { at, delete, insert })
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let at = e.at % (chars.len() + 1);
        let end = (at + e.delete).min(chars.len());
        chars.splice(at..end, e.insert.chars());
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(Config { cases: 400, failure_persistence: None, ..Config::default() })]

    #[test]
    fn mutated_catalogue_files_never_panic(file in any::<prop::sample::Index>(), edits in proptest::collection::vec(edit(), 1..5)) {
        let files = catalogue();
        let (_, text) = &files[file.index(files.len())];
        // Read or refused with one printable line; never a panic.
        printable(&apply(text, &edits), false);
    }
}

/// Inputs the scenario fuzzer (fuzz/, run by .ci/test) once found a bad message for: each is
/// still refused with one printable line. A new finding is added here with its fix.
#[test]
fn fuzzer_findings_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text =
            String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()).into_owned();
        printable(&text, true).expect("a finding is a bad scenario");
        n += 1;
    }
    assert!(n >= 1, "the findings are there");
}
