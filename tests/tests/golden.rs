//! Golden outcomes: every catalogue scenario on the simulation, on both profiles, pinned per
//! scenario and service: the outcome, the verdict word and the longest gap over three seeds.
//! Any change to a timer, a protocol rule or a scenario's expectation that moves one of them
//! fails here. An intended change updates `snapshots/golden__*.snap` in the same commit
//! (`cargo insta review`, or `INSTA_UPDATE=always`), and the commit says why. Findings stay
//! findings: a scenario the design fails is pinned as failed.
//!
//! The gap is shown as the lowest and highest of seeds 1–3, rounded to 0.1 s (the probe
//! interval is 0.2 s): the seeds move election timeouts and answer times; a change that moves
//! any seed's gap shows here. Why each gap may be what it is, a band from the daemons'
//! documented timers, is tests/tests/gap_bands.rs.

use std::fmt::Write as _;
use std::path::Path;

use harness::drill::{self, SimLab};
use harness::record::Service;
use harness::scenario;
use harness::sim::Sim;
use harness::verdict::Outcome;
use provisioner::model::{ClusterModel, Profile};

mod catalogue;

const SEEDS: [u64; 3] = [1, 2, 3];

/// The catalogue as `.ci/test` drills it: the `bare` profile has no kube-apiserver or kubelet.
fn catalogue(profile: Profile) -> Vec<(String, scenario::Scenario)> {
    let kube_only = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.yaml"));
        let text = std::fs::read_to_string(path).unwrap();
        text.contains("kube-apiserver") || text.contains("kubelet")
    };
    catalogue::all()
        .into_iter()
        .filter(|(name, _)| profile == Profile::Kubernetes || !kube_only(name))
        .collect()
}

fn table(profile: Profile) -> String {
    let mut out = String::from("scenario | service | outcome | verdict | max gap s (seeds 1-3)\n");
    let scenarios = catalogue(profile);
    for (name, s) in &scenarios {
        let runs: Vec<_> = SEEDS
            .iter()
            .map(|&seed| {
                let mut lab = SimLab::new(Sim::new(ClusterModel::seed(profile), seed));
                let r = drill::run(&mut lab, s, None);
                // After its last heal every component was checked for liveness (the lab
                // runs on until each bound has passed; a component not back is the drill's
                // error, asserted below).
                let checked = lab.sim().liveness_checks();
                assert!(
                    checked >= harness::sim::Component::ALL.len() as u64,
                    "{name} seed {seed}: {checked} liveness checks"
                );
                r
            })
            .collect();
        for r in &runs {
            assert!(r.error.is_none(), "{name}: {:?}", r.error);
        }
        let first = &runs[0];
        for service in Service::ALL {
            if !first.services.contains_key(&service) {
                continue;
            }
            let gaps: Vec<f64> = runs
                .iter()
                .map(|r| r.services[&service].max_gap_s())
                .collect();
            let lo = gaps.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = gaps.iter().copied().fold(0.0, f64::max);
            // The outcome and verdict of every seed, when they differ from seed 1's.
            let outcome = per_seed(
                runs.iter().map(|r| r.services[&service].outcome).collect(),
                |o: &Outcome| format!("{o:?}"),
            );
            let verdict = per_seed(
                runs.iter()
                    .map(|r| r.services[&service].verdict.as_str())
                    .collect(),
                |v: &&str| (*v).to_owned(),
            );
            let _ = writeln!(
                out,
                "{name} | {service} | {outcome} | {verdict} | {lo:.1}-{hi:.1}"
            );
        }
    }
    out
}

/// One value shown once when every seed gave it, else every seed's in order.
fn per_seed<T: PartialEq + std::fmt::Debug>(each: Vec<T>, show: fn(&T) -> String) -> String {
    if each.iter().all(|x| *x == each[0]) {
        show(&each[0])
    } else {
        format!("{each:?}")
    }
}

#[test]
fn kubernetes_catalogue_outcomes() {
    insta::assert_snapshot!(table(Profile::Kubernetes));
}

#[test]
fn bare_catalogue_outcomes() {
    insta::assert_snapshot!(table(Profile::Bare));
}
