//! The maintenance-tolerance matrix: can I take any one node down? any two?
//!
//! Rows: every single node powered off, every single node rebooted, every pair powered off;
//! each row is a generated scenario run on a fresh simulation and judged like any drill.

use std::collections::BTreeMap;
use std::time::Duration;

use provisioner::model::ClusterModel;
use serde_json::json;

use crate::drill::{self, SimLab};
use crate::record::Service;
use crate::scenario::{FaultKind, FaultSpec, Scenario, Step, Target};
use crate::sim::Sim;
use crate::verdict::ServiceResult;

/// One row of the matrix.
pub struct Row {
    /// `power-off node-1`.
    pub fault: String,
    /// The nodes it takes down.
    pub nodes: Vec<String>,
    /// Each service's judgement.
    pub services: BTreeMap<Service, ServiceResult>,
    /// Why the row's drill could not run or finish (a lab not healthy before it, a lab
    /// error), when it could not.
    pub error: Option<String>,
}

/// How long each row keeps its fault in force.
pub const FAULT_SPAN: Duration = Duration::from_secs(180);

fn scenario(name: String, faults: &[(FaultKind, String)], undo: Option<FaultKind>) -> Scenario {
    let mut steps = vec![Step::Settle(Duration::from_secs(10))];
    for (k, n) in faults {
        steps.push(Step::Fault(FaultSpec {
            kind: k.clone(),
            target: Target::Node(n.clone()),
        }));
    }
    steps.push(Step::Observe(FAULT_SPAN));
    if let Some(u) = undo {
        for (_, n) in faults {
            steps.push(Step::Fault(FaultSpec {
                kind: u.clone(),
                target: Target::Node(n.clone()),
            }));
        }
        steps.push(Step::Observe(Duration::from_secs(120)));
    }
    Scenario {
        name,
        description: String::new(),
        steps,
        expect: BTreeMap::new(),
        probe: Scenario::default_probes(),
    }
}

/// Runs every row on the simulation of `model`.
pub fn run(model: &ClusterModel, seed: u64) -> Vec<Row> {
    run_with(model, |s| {
        drill::run(&mut SimLab::new(Sim::new(model.clone(), seed)), s, None)
    })
}

/// Runs every row with `drill` (a fresh simulation, or a real lab).
pub fn run_with(
    model: &ClusterModel,
    mut drill: impl FnMut(&Scenario) -> crate::report::ScenarioReport,
) -> Vec<Row> {
    let names: Vec<String> = model.nodes.iter().map(|n| n.name.clone()).collect();
    let mut rows = Vec::new();
    for n in &names {
        rows.push((
            format!("power-off {n}"),
            vec![n.clone()],
            vec![(FaultKind::PowerOff, n.clone())],
            Some(FaultKind::PowerOn),
        ));
    }
    for n in &names {
        rows.push((
            format!("reboot {n}"),
            vec![n.clone()],
            vec![(FaultKind::Reboot, n.clone())],
            None,
        ));
    }
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            let faults = vec![
                (FaultKind::PowerOff, a.clone()),
                (FaultKind::PowerOff, b.clone()),
            ];
            rows.push((
                format!("power-off {a} {b}"),
                vec![a.clone(), b.clone()],
                faults,
                Some(FaultKind::PowerOn),
            ));
        }
    }
    rows.into_iter()
        .map(|(fault, nodes, faults, undo)| {
            let s = scenario(fault.replace(' ', "-"), &faults, undo);
            let report = drill(&s);
            Row {
                fault,
                nodes,
                services: report.services,
                error: report.error,
            }
        })
        .collect()
}

/// `matrix.json`.
pub fn json(rows: &[Row]) -> String {
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            let services: serde_json::Map<String, serde_json::Value> = r
                .services
                .iter()
                .map(|(s, v)| (s.as_str().to_owned(), json!({ "verdict": v.verdict.as_str(), "max_gap_s": round3(v.max_gap_s()), "availability": round3(v.availability), "why": v.why })))
                .collect();
            json!({ "fault": r.fault, "nodes": r.nodes, "services": services, "error": r.error })
        })
        .collect();
    serde_json::to_string_pretty(&json!({ "rows": rows })).expect("json values serialize")
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `matrix.md`: one line per row, one column per service; then why each row that could not
/// run or finish did not.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| fault | api | ceph | ingress |\n| --- | --- | --- | --- |\n");
    for r in rows {
        let cell = |s: Service| {
            r.services.get(&s).map_or("-".to_owned(), |v| {
                format!("{} (max gap {:.1} s)", v.verdict.as_str(), v.max_gap_s())
            })
        };
        out += &format!(
            "| {} | {} | {} | {} |\n",
            r.fault,
            cell(Service::Api),
            cell(Service::Ceph),
            cell(Service::Ingress)
        );
    }
    for r in rows {
        if let Some(e) = &r.error {
            out += &format!("\n{}: could not finish: {e}\n", r.fault);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisioner::model::Profile;

    #[test]
    fn a_row_that_could_not_run_says_why() {
        let model = ClusterModel::seed(Profile::Bare);
        let why = "the cluster was not healthy before the drill: 33 pgs peering";
        let rows = run_with(&model, |s| {
            if s.name == "power-off-node-1-node-3" {
                crate::report::unknown(s, why.to_owned())
            } else {
                drill::run(&mut SimLab::new(Sim::new(model.clone(), 1)), s, None)
            }
        });
        assert_eq!(rows.len(), 9);
        let failed: Vec<&Row> = rows.iter().filter(|r| r.error.is_some()).collect();
        assert_eq!(failed.len(), 1);
        assert!(failed[0].services.is_empty());
        let md = markdown(&rows);
        assert!(
            md.contains(&format!("power-off node-1 node-3: could not finish: {why}")),
            "{md}"
        );
        let v: serde_json::Value = serde_json::from_str(&json(&rows)).unwrap();
        assert_eq!(v["rows"][7]["error"], why);
        assert!(v["rows"][0]["error"].is_null());
    }
}
