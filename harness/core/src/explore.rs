//! Exploration: random fault schedules on the simulation, checked against invariants that
//! hold in any schedule. A violation is shrunk by proptest and written out as a scenario.
//!
//! Safety (checked inside the simulation, as it runs): at most one VIP holder among connected
//! nodes, no API success without an etcd quorum, no acknowledged Ceph write below min_size.
//! Liveness (checked on the record): once every fault is undone, every service answers again
//! within the model's recovery bound.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use provisioner::model::ClusterModel;

use crate::drill::{self, SimLab};
use crate::record::Service;
use crate::scenario::{Daemon, Direction, FaultKind, FaultSpec, Scenario, Signal, Step, Target};
use crate::sim::{Broken, Sim};

/// Most faults in one generated schedule.
pub const SCHEDULE_LEN_MAX: usize = 6;

/// One generated fault: wait after it (s), node index, the fault and its undo.
pub type Planned = (u64, u8, (FaultKind, Option<FaultKind>));

/// What exploration found.
#[derive(Debug)]
pub struct Found {
    /// Runs made.
    pub runs: u32,
    /// The shrunk failing schedule, if one failed: the scenario, what broke, and the
    /// simulation seed it broke on (what `drill --sim --seed` replays it with).
    pub violation: Option<(Scenario, String, u64)>,
}

fn fault_kind() -> impl Strategy<Value = (FaultKind, Option<FaultKind>)> {
    let svc = || {
        prop_oneof![
            Just(Daemon::Keepalived),
            Just(Daemon::Haproxy),
            Just(Daemon::Etcd),
            Just(Daemon::CephOsd)
        ]
    };
    prop_oneof![
        Just((FaultKind::PowerOff, Some(FaultKind::PowerOn))),
        Just((FaultKind::Reboot, None)),
        Just((FaultKind::Isolate, Some(FaultKind::Heal))),
        Just((FaultKind::Cut(Direction::Inbound), Some(FaultKind::Heal))),
        Just((FaultKind::Cut(Direction::Outbound), Some(FaultKind::Heal))),
        Just((FaultKind::LinkDown, Some(FaultKind::LinkUp))),
        svc().prop_map(|d| (FaultKind::StopService(d), Some(FaultKind::StartService(d)))),
        svc().prop_map(|d| (
            FaultKind::KillService(d, Signal::Kill),
            Some(FaultKind::StartService(d))
        )),
    ]
}

fn schedule(n_nodes: u8) -> impl Strategy<Value = Vec<Planned>> {
    proptest::collection::vec((1u64..60, 0..n_nodes, fault_kind()), 1..=SCHEDULE_LEN_MAX)
}

/// Builds the scenario for a schedule: each fault then a wait, then every undo, then the
/// recovery window.
pub fn scenario_of(model: &ClusterModel, sched: &[Planned]) -> Scenario {
    let name = |n: u8| Target::Node(model.nodes[usize::from(n)].name.clone());
    let mut steps = vec![Step::Settle(Duration::from_secs(5))];
    for (wait, node, (kind, _)) in sched {
        steps.push(Step::Fault(FaultSpec {
            kind: kind.clone(),
            target: name(*node),
        }));
        steps.push(Step::Observe(Duration::from_secs(*wait)));
    }
    for (_, node, (_, undo)) in sched.iter().rev() {
        if let Some(u) = undo {
            steps.push(Step::Fault(FaultSpec {
                kind: u.clone(),
                target: name(*node),
            }));
        }
    }
    steps.push(Step::Observe(model.recovery_bound() + LIVE_WINDOW));
    Scenario {
        name: "explored".into(),
        description: "a schedule found by hadrill sim explore".into(),
        steps,
        expect: Default::default(),
        probe: model.probes.clone(),
    }
}

/// After the recovery bound, every probe of this final stretch must succeed.
pub const LIVE_WINDOW: Duration = Duration::from_secs(20);

/// Runs one schedule; Err names the broken invariant.
pub fn check(model: &ClusterModel, seed: u64, scenario: &Scenario) -> Result<(), String> {
    check_broken(model, seed, scenario, None)
}

/// [`check`] on a simulation with a protocol rule switched off ([`Broken`]), if one is given.
pub fn check_broken(
    model: &ClusterModel,
    seed: u64,
    scenario: &Scenario,
    broken: Option<Broken>,
) -> Result<(), String> {
    let sim = Sim::new(model.clone(), seed);
    let sim = match broken {
        Some(rule) => sim.with_broken(rule),
        None => sim,
    };
    let mut lab = SimLab::new(sim);
    let report = drill::run(&mut lab, scenario, None);
    if let Some(v) = lab.sim().violations().first() {
        // Liveness violations name themselves; the others are safety's.
        return Err(if v.starts_with("liveness:") {
            v.clone()
        } else {
            format!("safety: {v}")
        });
    }
    let end = report.record.end;
    for service in Service::ALL {
        let mut late = report
            .record
            .of(service)
            .iter()
            .filter(|s| s.at + LIVE_WINDOW >= end);
        if let Some(s) = late.rfind(|s| !s.ok) {
            return Err(format!(
                "liveness: {service} not back within the recovery bound ({:.0} s) after every fault was undone: {}",
                model.recovery_bound().as_secs_f64(),
                s.cause
            ));
        }
    }
    Ok(())
}

/// Runs `runs` random schedules from `seed`.
pub fn explore(model: &ClusterModel, runs: u32, seed: u64) -> Found {
    explore_broken(model, runs, seed, None)
}

/// [`explore`] on simulations with a protocol rule switched off, if one is given: what a test
/// uses to show that each safety property fires and shrinks to a scenario.
pub fn explore_broken(model: &ClusterModel, runs: u32, seed: u64, broken: Option<Broken>) -> Found {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases: runs,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let n_nodes = u8::try_from(model.nodes.len()).expect("few nodes");
    let result = runner.run(&(schedule(n_nodes), any::<u64>()), |(sched, sim_seed)| {
        check_broken(model, sim_seed, &scenario_of(model, &sched), broken)
            .map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => Found {
            runs,
            violation: None,
        },
        Err(TestError::Fail(why, (sched, sim_seed))) => Found {
            runs,
            violation: Some((scenario_of(model, &sched), why.to_string(), sim_seed)),
        },
        Err(TestError::Abort(why)) => Found {
            runs,
            violation: Some((scenario_of(model, &[]), why.to_string(), seed)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisioner::model::Profile;

    #[test]
    fn generated_schedules_undo_everything() {
        let m = ClusterModel::seed(Profile::Bare);
        let s = scenario_of(
            &m,
            &[(10, 1, (FaultKind::PowerOff, Some(FaultKind::PowerOn)))],
        );
        let undo = s.faults().last().unwrap();
        assert_eq!(undo.kind, FaultKind::PowerOn);
        assert_eq!(undo.target, Target::Node("node-2".into()));
    }
}
