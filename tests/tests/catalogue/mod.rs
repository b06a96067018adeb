//! The scenario catalogue (scenarios/*.yaml), loaded once per test binary that needs it.

use std::path::Path;

use harness::scenario::{self, Scenario};

/// Every catalogue scenario, by file stem, in name order.
pub fn all() -> Vec<(String, Scenario)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 21, "the catalogue: {files:?}");
    files
        .iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, scenario::load(p).unwrap())
        })
        .collect()
}
