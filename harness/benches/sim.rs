//! Simulator speed: a 10-minute simulated scenario with every probe (target ≤ 10 ms median on
//! the 2-core build machine, ≥ 60,000× real time), and one exploration run.

#![allow(missing_docs)] // criterion's macros generate undocumented functions

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use harness::drill::{self, SimLab};
use harness::scenario::{FaultKind, FaultSpec, Scenario, Step, Target};
use harness::sim::Sim;
use provisioner::model::{ClusterModel, Profile};

fn ten_minutes() -> Scenario {
    let f = |kind| {
        Step::Fault(FaultSpec {
            kind,
            target: Target::VipHolder,
        })
    };
    let steps = vec![
        Step::Settle(Duration::from_secs(60)),
        f(FaultKind::PowerOff),
        Step::Observe(Duration::from_secs(240)),
        f(FaultKind::PowerOn),
        Step::Observe(Duration::from_secs(300)),
    ];
    Scenario {
        name: "bench".into(),
        description: String::new(),
        steps,
        expect: Default::default(),
        probe: Scenario::default_probes(),
    }
}

fn bench(c: &mut Criterion) {
    let model = ClusterModel::seed(Profile::Kubernetes);
    let s = ten_minutes();
    assert_eq!(s.duration(), Duration::from_secs(600));
    c.bench_function("sim_10min_scenario_all_probes", |b| {
        b.iter(|| drill::run(&mut SimLab::new(Sim::new(model.clone(), 7)), &s, None))
    });
    c.bench_function("explore_20_runs", |b| {
        b.iter(|| harness::explore::explore(&model, 20, 3))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
