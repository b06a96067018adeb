//! Limits at the door: a scenario past one of the drill's, the record's or the simulation's
//! limits is refused when it is read, with one line naming the limit; one near it is read
//! and runs on the simulation without a panic or a limit reached. A limit reached at run time
//! (a scenario made in code, which no check saw) is an error, and the drill that could not
//! finish judges nothing: every service unknown.

use std::path::Path;
use std::time::Duration;

use harness::drill::{self, SimLab, ACTIVE_MAX};
use harness::lab::{Error, Lab, Substrate};
use harness::record::{Record, Service};
use harness::report::{PostCheck, ScenarioReport};
use harness::scenario::{
    self, FaultKind, FaultSpec, Scenario, Step, Target, ACTIONS_MAX, STEPS_MAX,
};
use harness::sim::{Sim, NODES_MAX};
use harness::verdict::Outcome;
use proptest::prelude::*;
use proptest::test_runner::Config;
use provisioner::model::{ClusterModel, NodeId, Profile};

/// Few cases per limit: each near case runs a drill.
fn config() -> Config {
    Config {
        cases: 12,
        failure_persistence: None,
        ..Config::default()
    }
}

fn parse(text: &str) -> Result<Scenario, String> {
    scenario::parse(Path::new("limit.yaml"), text).map_err(|e| e.to_string())
}

/// A refused scenario: one printable line that names the file and the limit.
fn assert_refused(text: &str, limit: &str) {
    let e = parse(text).expect_err("past the limit");
    assert!(
        e.starts_with("limit.yaml") && e.contains(limit) && !e.chars().any(char::is_control),
        "{e}"
    );
}

fn run(s: &Scenario, profile: Profile, seed: u64) -> ScenarioReport {
    drill::run(
        &mut SimLab::new(Sim::new(ClusterModel::seed(profile), seed)),
        s,
        None,
    )
}

/// A scenario near a limit runs to its end, or stops on a lab error (a role nobody holds)
/// that is not a limit: the checks at the door keep every limit out of reach.
fn assert_runs(text: &str, profile: Profile, seed: u64) {
    let s = parse(text).expect("near the limit");
    let r = run(&s, profile, seed);
    if let Some(e) = &r.error {
        assert!(!e.contains("limit"), "{e}");
    }
}

fn yaml(steps: &[String]) -> String {
    let mut out = String::from("steps:\n");
    for s in steps {
        out += &format!("  - {s}\n");
    }
    out
}

fn ms(n: u64) -> String {
    format!("observe: {n}ms")
}

/// A fault step and its undo, on a node or a role.
fn fault_and_undo() -> impl Strategy<Value = (String, String)> {
    let target = prop_oneof![
        Just("node-1"),
        Just("node-2"),
        Just("node-3"),
        Just("vip-holder"),
        Just("etcd-leader"),
        Just("any"),
    ];
    let kind = prop_oneof![
        Just(("power-off", "power-on")),
        Just(("isolate", "heal")),
        Just(("link-down", "link-up")),
        Just(("pause", "resume")),
        Just(("fail-disk", "restore-disk")),
        Just(("drain", "uncordon")),
    ];
    (kind, target).prop_map(|((f, u), t)| {
        (
            format!("fault: {{{f}: {t}}}"),
            format!("fault: {{{u}: {t}}}"),
        )
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn steps(over in 1usize..50, under in 0usize..50, seed in 0u64..1000) {
        let past = vec![ms(1); STEPS_MAX + over];
        assert_refused(&yaml(&past), "STEPS_MAX");
        let near = vec![ms(1); STEPS_MAX - under];
        assert_runs(&yaml(&near), Profile::Bare, seed);
    }

    #[test]
    fn probing_time(n in 1u32..20, extra_ms in 1u64..100_000) {
        // Split the longest probing over n steps; a little more is refused. A day is too
        // slow to simulate here: the near case is only read (the next test shows why it fits).
        let max = scenario::probing_max();
        let each = max / n;
        let mut near = vec![format!("settle: {}ns", each.as_nanos()); n as usize];
        let rest = max - each * n;
        near.push(format!("observe: {}ns", rest.as_nanos()));
        prop_assert!(parse(&yaml(&near)).is_ok());
        near.push(ms(extra_ms));
        assert_refused(&yaml(&near), "SAMPLES_MAX");
    }

    #[test]
    fn faults_in_force(pairs in proptest::collection::vec(fault_and_undo(), 1..40), extra in 1usize..8, seed in 0u64..1000) {
        // Faults on node-1 up to the limit (some undone on the way), then undos and faults
        // drawn at random: only faults without an undo in the walk count.
        let power = "fault: {stop-service: {node: node-1, service: ceph-osd}}".to_owned();
        let mut near = vec!["settle: 1s".to_owned()];
        for (f, u) in &pairs {
            near.push(f.clone());
            near.push(ms(300));
            near.push(u.clone());
        }
        near.extend(std::iter::repeat_n(power.clone(), ACTIVE_MAX));
        near.push("observe: 2s".to_owned());
        assert_runs(&yaml(&near), Profile::Kubernetes, seed);
        let mut past = near.clone();
        past.pop();
        past.extend(std::iter::repeat_n(power, extra));
        assert_refused(&yaml(&past), "ACTIVE_MAX");
    }

    #[test]
    fn fault_actions(n_all in 2usize..=ACTIONS_MAX / NODES_MAX, seed in 0u64..1000) {
        // Every action at one instant, the most the simulation's queue has to hold: `heal:
        // all` counts once per node of the largest cluster, other steps once.
        let heal_all = "fault: {heal: all}".to_owned();
        let singles = ACTIONS_MAX - n_all * NODES_MAX;
        let mut near = vec!["settle: 1s".to_owned()];
        near.extend(std::iter::repeat_n(heal_all.clone(), n_all));
        near.extend((0..singles).map(|i| {
            let node = i % 3 + 1;
            if i % 2 == 0 { format!("fault: {{isolate: node-{node}}}") } else { format!("fault: {{heal: node-{node}}}") }
        }));
        near.push("observe: 5s".to_owned());
        assert_runs(&yaml(&near), Profile::Kubernetes, seed);
        let mut past = near.clone();
        past.insert(1, heal_all);
        assert_refused(&yaml(&past), "ACTIONS_MAX");
    }
}

#[test]
fn a_scenario_sends_at_most_one_probe_more_than_its_probing_time_holds_intervals() {
    // What `probing_max` rests on: probing for D sends at most D / interval + 1 probes of a
    // service (the first within an interval of the start), however the time is cut into
    // steps and faults. A whole day is too slow to simulate here; this holds for any D.
    let interval = ClusterModel::seed(Profile::Bare).probes.interval;
    for seed in 0..20 {
        let s = parse(&format!(
            "steps:\n  - settle: {}ms\n  - fault: {{reboot: node-2}}\n  - observe: 20s\n  - observe: 1ms\n  - observe: 9999ms\n",
            seed * 7
        ))
        .unwrap();
        let r = run(&s, Profile::Kubernetes, seed);
        assert_eq!(r.error, None);
        let most = (s.duration().as_nanos() / interval.as_nanos()) as usize + 1;
        for service in Service::ALL {
            let n = r.record.of(service).len();
            assert!(
                n <= most && n + 1 >= most,
                "seed {seed}: {n} {service} probes, {most} at most"
            );
        }
    }
}

/// A scenario made in code, which no check at the door saw.
fn unchecked(steps: Vec<Step>) -> Scenario {
    Scenario {
        name: "unchecked".into(),
        description: String::new(),
        probe: Scenario::default_probes(),
        steps,
        expect: Service::ALL
            .into_iter()
            .map(|s| {
                (
                    s,
                    scenario::Expect::Available {
                        max_gap: Duration::from_secs(60),
                    },
                )
            })
            .collect(),
    }
}

fn fault(kind: FaultKind, node: &str) -> Step {
    Step::Fault(FaultSpec {
        kind,
        target: Target::Node(node.into()),
    })
}

/// The drill stopped on `limit`: it and every service are unknown, saying why.
fn assert_unknown(r: &ScenarioReport, limit: &str) {
    let e = r.error.as_deref().expect("an error");
    assert!(e.contains(limit), "{e}");
    assert_eq!(r.outcome, Outcome::Unknown);
    assert_eq!(r.services.len(), 3);
    for (s, v) in &r.services {
        assert_eq!(v.outcome, Outcome::Unknown, "{s}");
        assert!(
            v.why.contains("could not finish") && v.why.contains(limit),
            "{s}: {}",
            v.why
        );
    }
}

#[test]
fn the_ledger_refuses_a_fault_past_active_max_and_the_drill_heals() {
    let mut steps = vec![Step::Settle(Duration::from_secs(5))];
    steps.extend((0..=ACTIVE_MAX).map(|_| fault(FaultKind::Isolate, "node-2")));
    steps.push(Step::Observe(Duration::from_secs(5)));
    let mut lab = SimLab::new(Sim::new(ClusterModel::seed(Profile::Bare), 1));
    let r = drill::run(&mut lab, &unchecked(steps), None);
    assert_unknown(&r, "ACTIVE_MAX");
    // The faults in force were undone: the last mark heals node-2.
    let last = r.record.marks.last().unwrap();
    assert!(last.label.starts_with("heal node-2"), "{}", last.label);
}

#[test]
fn the_simulation_stops_at_its_queue_limit() {
    // Past ACTIONS_MAX by far: 20 000 heals of all at one instant during an election queue
    // more timers than the simulation holds (six each on three nodes).
    let mut steps = vec![
        Step::Settle(Duration::from_secs(5)),
        fault(
            FaultKind::KillService(scenario::Daemon::Etcd, scenario::Signal::Kill),
            "node-1",
        ),
    ];
    steps.extend((0..20_000).map(|_| {
        Step::Fault(FaultSpec {
            kind: FaultKind::Heal,
            target: Target::All,
        })
    }));
    steps.push(Step::Observe(Duration::from_secs(5)));
    let r = run(&unchecked(steps), Profile::Kubernetes, 1);
    assert_unknown(&r, "QUEUE_LEN_MAX");
}

/// The simulation, failing its `fail_at`-th inject as a lab's machinery might, and doing at
/// its `odd_observe`-th observe what a lab might: take wall-clock time and be interrupted
/// (Ctrl-C during a slow observe), or panic (a bug).
struct Failing {
    sim: SimLab,
    fail_at: usize,
    n_inject: usize,
    odd_observe: Option<(usize, Odd)>,
    n_observe: usize,
    /// An undo (its key) after which the lab finds something left.
    leaves_after: Option<&'static str>,
}

#[derive(Clone, Copy)]
enum Odd {
    SlowThenInterrupted,
    Panic,
}

impl Failing {
    fn new(sim: SimLab, fail_at: usize) -> Failing {
        Failing {
            sim,
            fail_at,
            n_inject: 0,
            odd_observe: None,
            n_observe: 0,
            leaves_after: None,
        }
    }
}

impl Lab for Failing {
    fn substrate(&self) -> Substrate {
        self.sim.substrate()
    }
    fn supports(&self, kind: &FaultKind) -> Result<(), String> {
        self.sim.supports(kind)
    }
    fn set_probes(&mut self, probes: &provisioner::model::Probes) -> Result<(), Error> {
        self.sim.set_probes(probes)
    }
    fn node_names(&self) -> Vec<String> {
        self.sim.node_names()
    }
    fn now(&self) -> Duration {
        self.sim.now()
    }
    fn resolve(&mut self, target: &Target) -> Result<Option<NodeId>, Error> {
        self.sim.resolve(target)
    }
    fn inject(&mut self, kind: &FaultKind, node: NodeId) -> Result<(), Error> {
        self.n_inject += 1;
        if self.n_inject == self.fail_at {
            return Err(Error::Lab("virsh: connection lost".into()));
        }
        self.sim.inject(kind, node)
    }
    fn observe(&mut self, span: Duration, rec: &mut Record) -> Result<(), Error> {
        self.n_observe += 1;
        match self.odd_observe {
            Some((at, Odd::SlowThenInterrupted)) if at == self.n_observe => {
                std::thread::sleep(Duration::from_millis(200));
                Err(Error::Interrupted)
            }
            Some((at, Odd::Panic)) if at == self.n_observe => panic!("observe broke"),
            _ => self.sim.observe(span, rec),
        }
    }
    fn finish(&mut self, rec: &mut Record) -> Result<(), Error> {
        self.sim.finish(rec)
    }
    fn check_undone(&mut self, undo: &FaultKind, node: NodeId) -> Vec<PostCheck> {
        let ok = self.leaves_after != Some(undo.key());
        vec![PostCheck {
            node: self.sim.node_names()[node.index()].clone(),
            check: "nothing left".into(),
            ok,
            detail: if ok { String::new() } else { "a qdisc".into() },
        }]
    }
}

/// Each undo is checked at once, the scenario's own and the clean-up's, each check saying which
/// undo it followed; one that finds something left fails the scenario.
#[test]
fn every_undo_is_checked_and_a_leftover_fails_the_drill() {
    let s = parse(
        "steps:\n  - settle: 5s\n  - fault: {isolate: node-1}\n  - observe: 5s\n  - fault: {heal: node-1}\n  - fault: {stop-service: {node: node-2, service: haproxy}}\n  - observe: 5s\nexpect:\n  api: {available: {max_gap: 60s}}\n",
    )
    .unwrap();
    let sim = || SimLab::new(Sim::new(ClusterModel::seed(Profile::Bare), 5));
    let mut lab = Failing::new(sim(), 0);
    let r = drill::run(&mut lab, &s, None);
    let checks: Vec<(&str, &str, bool)> = r
        .post_checks
        .iter()
        .map(|c| (c.node.as_str(), c.check.as_str(), c.ok))
        .collect();
    assert_eq!(
        checks,
        [
            ("node-1", "nothing left, after heal", true),
            ("node-2", "nothing left, after start-service", true)
        ]
    );
    assert_eq!(r.outcome, Outcome::Passed, "{:?}", r.error);

    let mut lab = Failing::new(sim(), 0);
    lab.leaves_after = Some("heal");
    let r = drill::run(&mut lab, &s, None);
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(
        !r.post_checks[0].ok && r.post_checks[1].ok,
        "{:?}",
        r.post_checks
    );
    assert!(
        r.services.values().all(|s| s.outcome == Outcome::Passed),
        "measured, still judged"
    );
}

#[test]
fn a_drill_that_could_not_finish_judges_no_service() {
    // A power-off, then its power-on fails: the record so far would pass every expectation,
    // yet nothing is judged.
    let s = parse(
        "steps:\n  - settle: 10s\n  - fault: {power-off: node-3}\n  - observe: 60s\n  - fault: {power-on: node-3}\n  - observe: 60s\nexpect:\n  api: {available: {max_gap: 10s}}\n  ceph: {available: {max_gap: 60s}}\n  ingress: {available: {max_gap: 10s}}\n",
    )
    .unwrap();
    let sim = || SimLab::new(Sim::new(ClusterModel::seed(Profile::Bare), 3));
    let whole = drill::run(&mut sim(), &s, None);
    assert_eq!(whole.outcome, Outcome::Passed, "{:?}", whole.error);
    let mut lab = Failing::new(sim(), 2);
    let r = drill::run(&mut lab, &s, None);
    assert_unknown(&r, "virsh: connection lost");
    // It was healed on the way out: the clean-up powered node-3 on.
    assert_eq!(lab.n_inject, 3);
}

/// Three faults in force (one on a role), then the drill ends by `odd` during the observe
/// after them: every one is undone on the way out, newest first, and written in the ledger
/// file as undone.
fn heals_on(odd: Odd, error: &str) {
    let s = parse(
        "steps:\n  - settle: 10s\n  - fault: {isolate: node-1}\n  - fault: {stop-service: {node: node-2, service: haproxy}}\n  - fault: {pause: etcd-leader}\n  - observe: 30s\nexpect:\n  api: {available: {max_gap: 60s}}\n",
    )
    .unwrap();
    let mut lab = Failing::new(
        SimLab::new(Sim::new(ClusterModel::seed(Profile::Bare), 5)),
        0,
    );
    lab.odd_observe = Some((2, odd));
    let dir = std::env::temp_dir().join(format!("hadrill-heal-{}-{error}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ledger = dir.join("faults.json");
    let r = drill::run(&mut lab, &s, Some(&ledger));
    assert_eq!(r.outcome, Outcome::Unknown);
    assert!(
        r.error.as_deref().unwrap_or("").contains(error),
        "{:?}",
        r.error
    );
    // Three faults, then three clean-ups in reverse order, each on the node its fault took.
    assert_eq!(lab.n_inject, 6);
    let undos: Vec<&str> = r
        .record
        .marks
        .iter()
        .filter(|m| m.label.ends_with("(cleanup)"))
        .map(|m| m.label.as_str())
        .collect();
    assert_eq!(undos.len(), 3, "{undos:?}");
    assert!(undos[0].starts_with("resume "), "{undos:?}");
    assert!(undos[1].starts_with("start-service"), "{undos:?}");
    assert_eq!(undos[2], "heal node-1 (cleanup)");
    // Each clean-up undo was checked too.
    let after: Vec<&str> = r.post_checks.iter().map(|c| c.check.as_str()).collect();
    assert_eq!(
        after,
        [
            "nothing left, after resume",
            "nothing left, after start-service",
            "nothing left, after heal"
        ]
    );
    let left = std::fs::read_to_string(&ledger).unwrap();
    let left: serde_json::Value = serde_json::from_str(&left).unwrap();
    assert_eq!(left.as_array().map(Vec::len), Some(0), "{left}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_interrupt_during_a_slow_observe_heals_what_is_in_force() {
    heals_on(Odd::SlowThenInterrupted, "interrupted");
}

#[test]
fn a_panic_mid_drill_heals_what_is_in_force() {
    heals_on(Odd::Panic, "panicked during the steps: observe broke");
}
