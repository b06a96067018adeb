//! The executor's failure paths, proven on a scripted fake transport under tokio's paused
//! clock (so waits are exact and cost no time): apply retried with its back-off up to
//! `attempts`, verify polled until `settle` and then a failure naming the step, the first
//! failure stopping new steps on every host while what already ran is reported, `after`
//! ordering across hosts, a passing check skipping the step, and relayed secrets that reach
//! the other host's stdin and no command line, log line or error.

mod fake;
mod relay;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake::{Lab, Reply};
use provisioner::exec::{self, Error, Outcome, Progress, Summary};
use provisioner::plan::{Plan, Step, StepId};

/// What the executor told its progress display, one line per event.
#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Progress for Seen {
    fn started(&self, _: StepId, step: &Step) {
        self.0.lock().unwrap().push(format!("start {}", step.name));
    }
    fn finished(&self, _: StepId, step: &Step, outcome: Outcome) {
        let line = format!("done {} {outcome:?}", step.name);
        self.0.lock().unwrap().push(line);
    }
}

impl Seen {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A step whose commands name it: `check-NAME`, `apply-NAME`, `verify-NAME`.
fn step(host: &str, name: &str) -> Step {
    Step::shell(
        host,
        name,
        &format!("check-{name}"),
        format!("apply-{name}"),
    )
    .verify(format!("verify-{name}"))
}

/// Scripts a step that is not done yet and goes well: check fails, apply and verify pass.
fn goes_well(lab: &Lab, host: &str, name: &str, apply_takes: Duration) {
    lab.on(host, &format!("check-{name}"), [Reply::fails("not yet")]);
    lab.on(
        host,
        &format!("apply-{name}"),
        [Reply::ok().after(apply_takes)],
    );
    lab.on(host, &format!("verify-{name}"), [Reply::ok()]);
}

async fn run(lab: &Lab, plan: &Plan, hosts: &[&str]) -> (Result<Summary, Error>, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let progress: Arc<dyn Progress> = seen.clone();
    let result = exec::execute(plan, &lab.hosts(hosts), progress).await;
    (result, seen)
}

const SEC: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn apply_is_retried_after_2_4_8_16_s_and_then_passes() {
    let lab = Lab::new();
    lab.on("a", "check-s", [Reply::fails("absent")]);
    let fails = ["boom 1", "boom 2", "boom 3", "boom 4"].map(Reply::fails);
    lab.on("a", "apply-s", fails.into_iter().chain([Reply::ok()]));
    lab.on("a", "verify-s", [Reply::ok()]);
    let mut plan = Plan::default();
    plan.add(step("a", "s").attempts(5));
    let (result, _) = run(&lab, &plan, &["a"]).await;
    assert_eq!(result.unwrap().n_changed(), 1);
    // Back-off doubles from 2 s; at plan::ATTEMPTS_MAX (5) the longest wait is 16 s, under
    // exec::BACKOFF_MAX. The attempts start at 0, 0+2, 2+4, 6+8 and 14+16 s.
    assert_eq!(lab.starts("a", "apply-s"), [0, 2, 6, 14, 30]);
    assert_eq!(
        lab.starts("a", "verify-s"),
        [30],
        "verified once, after the last apply"
    );
}

#[tokio::test(start_paused = true)]
async fn apply_gives_up_after_its_attempts_naming_the_last_failure() {
    let lab = Lab::new();
    lab.on("a", "check-s", [Reply::fails("absent")]);
    let fails = ["boom 1", "boom 2", "boom 3", "boom 4"].map(Reply::fails);
    lab.on("a", "apply-s", fails);
    let mut plan = Plan::default();
    plan.add(step("a", "s").attempts(3));
    let (result, seen) = run(&lab, &plan, &["a"]).await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Step { .. }), "{err:?}");
    assert_eq!(err.to_string(), "a: s: `apply-s` exited 1: boom 3");
    assert_eq!(
        lab.starts("a", "apply-s"),
        [0, 2, 6],
        "three attempts, no fourth"
    );
    assert!(
        lab.calls_to("a", "verify-s").is_empty(),
        "no verify after a failed apply"
    );
    assert_eq!(
        seen.lines(),
        ["start s"],
        "a failed step is not reported finished"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_host_on_apply_is_retried_too() {
    let lab = Lab::new();
    lab.on("a", "check-s", [Reply::fails("absent")]);
    let refused = Reply::Connect("connection refused".into());
    lab.on("a", "apply-s", [refused, Reply::ok()]);
    lab.on("a", "verify-s", [Reply::ok()]);
    let mut plan = Plan::default();
    plan.add(step("a", "s").attempts(2));
    let (result, _) = run(&lab, &plan, &["a"]).await;
    assert_eq!(result.unwrap().n_changed(), 1);
    assert_eq!(lab.starts("a", "apply-s"), [0, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_single_attempt_is_not_retried() {
    let lab = Lab::new();
    lab.on("a", "check-s", [Reply::fails("absent")]);
    lab.on("a", "apply-s", [Reply::fails("boom"), Reply::ok()]);
    let mut plan = Plan::default();
    plan.add(step("a", "s"));
    let (result, _) = run(&lab, &plan, &["a"]).await;
    assert!(result.is_err());
    assert_eq!(lab.starts("a", "apply-s"), [0]);
    assert_eq!(
        lab.now(),
        Duration::ZERO,
        "no back-off after the last attempt"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_host_on_check_fails_the_step_naming_it() {
    let lab = Lab::new();
    lab.on("a", "check-s", [Reply::Connect("no route to host".into())]);
    let mut plan = Plan::default();
    plan.add(step("a", "s").attempts(3));
    let (result, _) = run(&lab, &plan, &["a"]).await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(err.to_string(), "s: a: no route to host");
    assert!(lab.calls_to("a", "apply-s").is_empty());
}

#[tokio::test(start_paused = true)]
async fn verify_is_polled_every_2_s_until_it_passes() {
    let lab = Lab::new();
    lab.on("a", "check-s", [Reply::fails("absent")]);
    lab.on("a", "apply-s", [Reply::ok().after(SEC)]);
    let polls = [
        Reply::fails("starting"),
        Reply::fails("starting"),
        Reply::ok(),
    ];
    lab.on("a", "verify-s", polls);
    let mut plan = Plan::default();
    plan.add(step("a", "s").settle(Duration::from_secs(30)));
    let (result, _) = run(&lab, &plan, &["a"]).await;
    assert_eq!(result.unwrap().outcomes[&0], Outcome::Changed);
    // The apply ends at 1 s; polls 2 s apart (exec::SETTLE_POLL); none after the first pass.
    assert_eq!(lab.starts("a", "verify-s"), [1, 3, 5]);
}

#[tokio::test(start_paused = true)]
async fn verify_that_never_passes_fails_at_settle_naming_the_step() {
    let lab = Lab::new();
    lab.on("a", "check-s", [Reply::fails("absent")]);
    lab.on("a", "apply-s", [Reply::ok()]);
    lab.on("a", "verify-s", [Reply::exit(3, "", "inactive (dead)")]);
    let mut plan = Plan::default();
    plan.add(step("a", "s").settle(Duration::from_secs(10)));
    let (result, seen) = run(&lab, &plan, &["a"]).await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::NotSettled { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "a: s: not done after 10s: `verify-s` exited 3: inactive (dead)"
    );
    // Polls at 0, 2, ... 10 s: the one at 10 s has waited the whole settle time.
    assert_eq!(lab.starts("a", "verify-s"), [0, 2, 4, 6, 8, 10]);
    assert_eq!(
        lab.now(),
        Duration::from_secs(10),
        "no poll or wait after the last"
    );
    assert_eq!(seen.lines(), ["start s"]);
}

#[tokio::test(start_paused = true)]
async fn without_settle_verify_runs_once() {
    let lab = Lab::new();
    lab.on("a", "check-s", [Reply::fails("absent")]);
    lab.on("a", "apply-s", [Reply::ok()]);
    lab.on("a", "verify-s", [Reply::fails("not there"), Reply::ok()]);
    let mut plan = Plan::default();
    plan.add(step("a", "s"));
    let (result, _) = run(&lab, &plan, &["a"]).await;
    let err = result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "a: s: not done after 0s: `verify-s` exited 1: not there"
    );
    assert_eq!(lab.starts("a", "verify-s"), [0]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_step_shows_its_log_and_a_good_one_never_reads_it() {
    let lab = Lab::new();
    lab.on("a", "check-s", [Reply::fails("absent")]);
    lab.on("a", "apply-s", [Reply::ok()]);
    lab.on("a", "verify-s", [Reply::exit(3, "", "inactive (dead)")]);
    let journal = "1\n2\nstarting\n\nbind: address in use\n4\n5\n6\nexit 1\n";
    lab.on("a", "journal-s", [Reply::exit(0, journal, "")]);
    goes_well(&lab, "b", "t", SEC);
    lab.on("b", "journal-t", [Reply::prints("never read")]);
    // A failed apply shows it too; a log that cannot be read leaves the error as it was.
    lab.on("c", "check-u", [Reply::fails("absent")]);
    lab.on("c", "apply-u", [Reply::fails("Job for u failed")]);
    lab.on("c", "journal-u", [Reply::Connect("gone".into())]);
    let mut plan = Plan::default();
    plan.add(step("a", "s").logs("journal-s"));
    plan.add(step("b", "t").logs("journal-t"));
    let (result, _) = run(&lab, &plan, &["a", "b"]).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "a: s: not done after 0s: `verify-s` exited 3: inactive (dead); its log: starting | \
         bind: address in use | 4 | 5 | 6 | exit 1"
    );
    assert!(lab.calls_to("b", "journal-t").is_empty());

    let mut plan = Plan::default();
    plan.add(step("c", "u").logs("journal-u"));
    let (result, _) = run(&lab, &plan, &["c"]).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "c: u: `apply-u` exited 1: Job for u failed"
    );
    assert_eq!(lab.calls_to("c", "journal-u").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_passing_check_skips_apply_and_verify() {
    let lab = Lab::new();
    lab.on("a", "check-done", [Reply::ok()]);
    goes_well(&lab, "a", "todo", Duration::ZERO);
    let mut plan = Plan::default();
    let done = plan.add(step("a", "done"));
    let todo = plan.add(step("a", "todo"));
    let (result, seen) = run(&lab, &plan, &["a"]).await;
    let summary = result.unwrap();
    assert_eq!(summary.outcomes[&done], Outcome::Unchanged);
    assert_eq!(summary.outcomes[&todo], Outcome::Changed);
    assert_eq!(summary.n_changed(), 1);
    let done_calls: Vec<String> = lab
        .calls_to("a", "-done")
        .into_iter()
        .map(|c| c.cmd)
        .collect();
    assert_eq!(done_calls, ["check-done"], "only the check ran");
    assert_eq!(
        seen.lines(),
        [
            "start done",
            "done done Unchanged",
            "start todo",
            "done todo Changed"
        ]
    );
}

/// a1 fails after 1 s while b1 (5 s) is still running: b1 finishes and is reported, but no
/// host starts another step, and the error is a1's.
#[tokio::test(start_paused = true)]
async fn the_first_failure_stops_new_steps_and_lets_running_ones_finish() {
    let lab = Lab::new();
    lab.on("a", "check-a1", [Reply::fails("absent")]);
    lab.on("a", "apply-a1", [Reply::fails("disk full").after(SEC)]);
    goes_well(&lab, "a", "a2", Duration::ZERO);
    goes_well(&lab, "b", "b1", 5 * SEC);
    goes_well(&lab, "b", "b2", Duration::ZERO);
    goes_well(&lab, "c", "c1", Duration::ZERO);
    let mut plan = Plan::default();
    let a1 = plan.add(step("a", "a1"));
    plan.add(step("a", "a2"));
    plan.add(step("b", "b1"));
    plan.add(step("b", "b2"));
    plan.add(step("c", "c1").after([a1]));
    let (result, seen) = run(&lab, &plan, &["a", "b", "c"]).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "a: a1: `apply-a1` exited 1: disk full"
    );
    assert_eq!(
        seen.lines(),
        ["start a1", "start b1", "done b1 Changed"],
        "b1 was running: it ends and is reported; a2, b2 and c1 never start"
    );
    for (host, name) in [("a", "a2"), ("b", "b2"), ("c", "c1")] {
        assert!(lab.calls_to(host, name).is_empty(), "{name} ran a command");
    }
    assert_eq!(lab.starts("b", "verify-b1"), [5], "b1 was not cut short");
    assert_eq!(lab.now(), 5 * SEC, "execute returns once b1 has finished");
}

/// b1 waits for a1 (3 s) although b0 frees host b after 1 s; c1 has no such wait.
#[tokio::test(start_paused = true)]
async fn a_step_starts_when_its_after_steps_on_other_hosts_are_done() {
    let lab = Lab::new();
    goes_well(&lab, "a", "a1", 3 * SEC);
    goes_well(&lab, "b", "b0", SEC);
    goes_well(&lab, "b", "b1", Duration::ZERO);
    goes_well(&lab, "c", "c1", Duration::ZERO);
    let mut plan = Plan::default();
    let a1 = plan.add(step("a", "a1"));
    plan.add(step("b", "b0"));
    plan.add(step("b", "b1").after([a1]));
    plan.add(step("c", "c1"));
    let (result, _) = run(&lab, &plan, &["a", "b", "c"]).await;
    assert_eq!(result.unwrap().n_changed(), 4);
    assert_eq!(lab.starts("a", "check-a1"), [0]);
    assert_eq!(lab.starts("b", "check-b0"), [0], "hosts work in parallel");
    assert_eq!(lab.starts("c", "check-c1"), [0]);
    let a1_verified = lab.calls_to("a", "verify-a1")[0].end;
    let b1_checked = lab.calls_to("b", "check-b1")[0].start;
    assert_eq!(a1_verified, 3 * SEC);
    assert_eq!(
        b1_checked,
        3 * SEC,
        "b1 starts when a1 is done, not when b is free"
    );
}

/// Steps of one host run one at a time, in plan order, even when another host's step ends
/// while one of them runs (the moment the executor looks for steps to start).
#[tokio::test(start_paused = true)]
async fn one_host_runs_its_steps_in_order_one_at_a_time() {
    let lab = Lab::new();
    goes_well(&lab, "a", "a1", 2 * SEC);
    goes_well(&lab, "a", "a2", 2 * SEC);
    goes_well(&lab, "b", "b1", SEC);
    let mut plan = Plan::default();
    plan.add(step("a", "a1"));
    plan.add(step("a", "a2"));
    plan.add(step("b", "b1"));
    let (result, _) = run(&lab, &plan, &["a", "b"]).await;
    assert_eq!(result.unwrap().n_changed(), 3);
    let on_a: Vec<(String, u64)> = lab
        .calls()
        .into_iter()
        .filter(|c| c.host == "a")
        .map(|c| (c.cmd, c.start.as_secs()))
        .collect();
    let want = [
        ("check-a1", 0),
        ("apply-a1", 0),
        ("verify-a1", 2),
        ("check-a2", 2),
        ("apply-a2", 2),
        ("verify-a2", 4),
    ];
    assert_eq!(on_a, want.map(|(c, t)| (c.to_owned(), t)));
}

#[tokio::test(start_paused = true)]
async fn a_host_without_transport_fails_before_anything_runs() {
    let lab = Lab::new();
    goes_well(&lab, "a", "a1", Duration::ZERO);
    let mut plan = Plan::default();
    plan.add(step("a", "a1"));
    plan.add(step("ghost", "g1"));
    let (result, seen) = run(&lab, &plan, &["a"]).await;
    let err = result.unwrap_err();
    assert_eq!(err.to_string(), "ghost: no transport for this host");
    assert!(lab.calls().is_empty() && seen.lines().is_empty());
}
