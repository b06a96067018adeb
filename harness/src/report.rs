//! Reports (placeholder until the full writer lands): the types the drill fills in.

use std::collections::BTreeMap;

use crate::record::{Record, Service};
use crate::verdict::{Outcome, ServiceResult};

/// One scenario's results.
pub struct ScenarioReport {
    /// Scenario name.
    pub name: String,
    /// Scenario description.
    pub description: String,
    /// Combined outcome.
    pub outcome: Outcome,
    /// Per-service judgement.
    pub services: BTreeMap<Service, ServiceResult>,
    /// What was recorded.
    pub record: Record,
    /// Lab error, if the drill could not finish.
    pub error: Option<String>,
}

/// A whole drill's results.
pub struct DrillReport {
    /// sim, libvirt, ...
    pub substrate: String,
    /// kubernetes or bare.
    pub profile: String,
    /// The seed.
    pub seed: u64,
    /// Every scenario.
    pub scenarios: Vec<ScenarioReport>,
}

impl DrillReport {
    /// The worst outcome of all scenarios.
    pub fn outcome(&self) -> Outcome {
        self.scenarios
            .iter()
            .map(|s| s.outcome)
            .max()
            .unwrap_or(Outcome::Passed)
    }
}

/// Placeholder terminal table.
pub fn terminal(r: &DrillReport) -> String {
    let mut out = String::new();
    for s in &r.scenarios {
        for (svc, v) in &s.services {
            out += &format!(
                "{:<28} {:<8} {:<12} {:>7.1} s  {:?}  {}\n",
                s.name,
                svc,
                v.verdict.as_str(),
                v.max_gap_s(),
                v.outcome,
                v.why
            );
        }
    }
    out
}

/// Placeholder writer.
pub fn write_all(_r: &DrillReport, dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}
