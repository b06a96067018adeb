//! Runs a [`Plan`] on its hosts: the executor and the [`Transport`] it speaks through.
//!
//! Steps of one host run in plan order; a step whose `after` steps are done starts as soon as
//! its host is free, so hosts work in parallel wherever the plan allows. A step is skipped when
//! its check passes, applied (with retries and backoff where the plan allows them), then
//! verified (polled while a daemon converges). The first failure stops new steps, lets running
//! ones finish, and is returned naming host, step, command and output.
//!
//! **Invariant:** a relayed secret lives only in this process's memory between two channels;
//! it is never logged, never in an error, never on the workstation's disk.
//! **Boundary:** this is the provisioner's only IO layer besides `plan::write_out` and
//! `inventory::load`; the plan it runs is a value built elsewhere.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::plan::{self, quote, Action, Plan, Relay, RelayTo, Step, StepId};

pub mod ssh;

/// What a command did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit status, if the command exited (None when it was killed by a signal).
    pub status: Option<u32>,
    /// The signal that killed it, if any.
    pub signal: Option<String>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// The last lines of stderr (or stdout), on one line, for an error message.
    pub fn tail(&self) -> String {
        let text = if self.stderr.iter().any(|b| !b.is_ascii_whitespace()) {
            &self.stderr
        } else {
            &self.stdout
        };
        tail_lines(text, 3)
    }

    fn how(&self) -> String {
        match (&self.status, &self.signal) {
            (Some(s), _) => format!("exited {s}"),
            (None, Some(sig)) => format!("killed by {sig}"),
            (None, None) => "ended without a status".to_owned(),
        }
    }
}

/// The last `n` lines of `text` that are not blank, joined on one line.
fn tail_lines(text: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(text);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// How many lines of a failed step's log ([`Step::logs`]) its error shows.
const LOG_LINES: usize = 6;
/// How long a failed step's log command may take.
const LOG_TIMEOUT: Duration = Duration::from_secs(20);

/// A transport failed before the command could run or finish.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Could not reach or log in to the host.
    #[error("{host}: {message}")]
    Connect {
        /// The host.
        host: String,
        /// What went wrong.
        message: String,
    },
    /// The host's key is not the one pinned for it.
    #[error("{host}: host key changed: the server offers {offered}, but {known_hosts} pins another key for it (remove that entry if the host was rebuilt)")]
    HostKeyChanged {
        /// The host.
        host: String,
        /// Fingerprint offered now.
        offered: String,
        /// The pin file.
        known_hosts: String,
    },
    /// The command did not finish in time.
    #[error("{host}: command timed out after {}s", .after.as_secs())]
    Timeout {
        /// The host.
        host: String,
        /// How long it was given.
        after: Duration,
    },
    /// The session broke while the command ran.
    #[error("{host}: {message}")]
    Session {
        /// The host.
        host: String,
        /// What went wrong.
        message: String,
    },
}

/// How commands reach one host (SSH here; `docker exec` or a local shell elsewhere).
pub trait Transport: Send + Sync + 'static {
    /// Runs `cmd` with `sh -c` as root, feeding `stdin`, within `timeout`.
    fn run(
        &self,
        cmd: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> impl Future<Output = Result<Output, TransportError>> + Send;
}

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The check passed: nothing to do.
    Unchanged,
    /// The step was applied and verified.
    Changed,
}

/// A plan that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command of a step failed.
    #[error("{host}: {step}: `{command}` {how}: {output}")]
    Step {
        /// The host.
        host: String,
        /// The step's name.
        step: String,
        /// The command (never a secret: plans carry none).
        command: String,
        /// How it ended (`exited 1`).
        how: String,
        /// Its last lines of output.
        output: String,
    },
    /// The verify did not pass within the step's settle time.
    #[error("{host}: {step}: not done after {}s: `{command}` {how}: {output}", .waited.as_secs())]
    NotSettled {
        /// The host.
        host: String,
        /// The step's name.
        step: String,
        /// The verify command.
        command: String,
        /// How long it was polled.
        waited: Duration,
        /// How the last poll ended.
        how: String,
        /// Its last lines of output.
        output: String,
    },
    /// The host could not be reached.
    #[error("{step}: {source}")]
    Transport {
        /// The step's name.
        step: String,
        /// Why.
        #[source]
        source: TransportError,
    },
    /// The plan names a host with no transport.
    #[error("{0}: no transport for this host")]
    NoHost(String),
    /// A relayed join command could not be turned into a configuration.
    #[error("{host}: {step}: {message}")]
    Relay {
        /// The host.
        host: String,
        /// The step's name.
        step: String,
        /// What was wrong (never the secret itself).
        message: String,
    },
}

/// What the executor tells whoever shows progress.
pub trait Progress: Send + Sync {
    /// A step started.
    fn started(&self, id: StepId, step: &Step);
    /// A step finished.
    fn finished(&self, id: StepId, step: &Step, outcome: Outcome);
}

/// Shows nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn started(&self, _: StepId, _: &Step) {}
    fn finished(&self, _: StepId, _: &Step, _: Outcome) {}
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// How each step ended, by id.
    pub outcomes: BTreeMap<StepId, Outcome>,
}

impl Summary {
    /// Steps that changed something.
    pub fn n_changed(&self) -> usize {
        self.outcomes
            .values()
            .filter(|o| **o == Outcome::Changed)
            .count()
    }
}

/// Longest one command may run.
pub const COMMAND_TIMEOUT_MAX: Duration = Duration::from_secs(900);
/// Time between two polls of a verify.
pub const SETTLE_POLL: Duration = Duration::from_secs(2);
/// Longest backoff between two attempts of an apply.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Runs the plan on the hosts.
pub async fn execute<T: Transport>(
    plan: &Plan,
    hosts: &BTreeMap<String, Arc<T>>,
    progress: Arc<dyn Progress>,
) -> Result<Summary, Error> {
    for s in &plan.steps {
        if !hosts.contains_key(&s.host) {
            return Err(Error::NoHost(s.host.clone()));
        }
    }
    let plan = Arc::new(plan.clone());
    let mut sched = Schedule::new(&plan);
    let mut running: JoinSet<(StepId, Result<Outcome, Error>)> = JoinSet::new();
    let mut summary = Summary::default();
    let mut failure: Option<Error> = None;
    loop {
        if failure.is_none() {
            for id in sched.ready() {
                let step = &plan.steps[id];
                progress.started(id, step);
                let (plan, hosts) = (Arc::clone(&plan), hosts.clone());
                running.spawn(async move { (id, run_step(&plan.steps[id], &hosts).await) });
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (id, result) = joined.expect("a step task never panics");
        sched.finish(id);
        match result {
            Ok(outcome) => {
                progress.finished(id, &plan.steps[id], outcome);
                summary.outcomes.insert(id, outcome);
            }
            Err(e) => {
                tracing::warn!(step = %plan.steps[id].name, host = %plan.steps[id].host, "step failed");
                failure.get_or_insert(e);
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => {
            assert_eq!(summary.outcomes.len(), plan.steps.len(), "every step ran");
            Ok(summary)
        }
    }
}

/// Which steps may start: pure bookkeeping, tested without hosts.
struct Schedule<'a> {
    plan: &'a Plan,
    started: Vec<bool>,
    done: Vec<bool>,
    busy: BTreeMap<&'a str, bool>,
}

impl<'a> Schedule<'a> {
    fn new(plan: &'a Plan) -> Schedule<'a> {
        let n = plan.steps.len();
        Schedule {
            plan,
            started: vec![false; n],
            done: vec![false; n],
            busy: plan
                .steps
                .iter()
                .map(|s| (s.host.as_str(), false))
                .collect(),
        }
    }

    /// Steps that can start now, marked started: for each free host, its next step if every
    /// step it waits for is done.
    fn ready(&mut self) -> Vec<StepId> {
        let mut out = Vec::new();
        let hosts: Vec<&str> = self.busy.keys().copied().collect();
        for host in hosts {
            if self.busy[host] {
                continue;
            }
            let next = self
                .plan
                .of_host(host)
                .find(|(id, _)| !self.started[*id])
                .map(|(id, _)| id);
            let Some(id) = next else { continue };
            if self.plan.steps[id].after.iter().all(|&a| self.done[a]) {
                self.started[id] = true;
                self.busy.insert(host, true);
                out.push(id);
            }
        }
        out
    }

    fn finish(&mut self, id: StepId) {
        self.done[id] = true;
        self.busy.insert(self.plan.steps[id].host.as_str(), false);
    }
}

async fn run_step<T: Transport>(
    step: &Step,
    hosts: &BTreeMap<String, Arc<T>>,
) -> Result<Outcome, Error> {
    let start = tokio::time::Instant::now();
    let result = run_step_inner(step, hosts).await;
    tracing::info!(
        host = %step.host,
        step = %step.name,
        outcome = ?result.as_ref().map_err(|_| "failed"),
        secs = start.elapsed().as_secs_f64(),
        "step done"
    );
    result
}

async fn run_step_inner<T: Transport>(
    step: &Step,
    hosts: &BTreeMap<String, Arc<T>>,
) -> Result<Outcome, Error> {
    let t = &hosts[&step.host];
    let transport = |e| Error::Transport {
        step: step.name.clone(),
        source: e,
    };
    if let Some(check) = &step.check {
        if t.run(check, b"", COMMAND_TIMEOUT_MAX)
            .await
            .map_err(transport)?
            .success()
        {
            return Ok(Outcome::Unchanged);
        }
    }
    if let Action::Relay(r) = &step.apply {
        if relay_is_current(step, r, hosts).await? {
            return Ok(Outcome::Unchanged);
        }
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        match apply(step, hosts).await {
            Ok(()) => break,
            Err(e) if attempt < step.attempts => {
                let wait = (Duration::from_secs(2) * 2u32.pow(attempt - 1)).min(BACKOFF_MAX);
                tracing::info!(host = %step.host, step = %step.name, attempt, "apply failed, retrying: {e}");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(with_log(e, step, t.as_ref()).await),
        }
    }
    if let Some(verify) = &step.verify {
        if let Err(e) = settle(step, t.as_ref(), verify).await {
            return Err(with_log(e, step, t.as_ref()).await);
        }
    }
    Ok(Outcome::Changed)
}

/// A failed step's error with the last lines of its log command, when it has one (a unit that
/// would not start says why there); the error as it was if the log cannot be read.
async fn with_log<T: Transport>(mut e: Error, step: &Step, t: &T) -> Error {
    let Some(cmd) = &step.logs else {
        return e;
    };
    let (Error::Step { output, .. } | Error::NotSettled { output, .. }) = &mut e else {
        return e;
    };
    if let Ok(out) = t.run(cmd, b"", LOG_TIMEOUT).await {
        let log = tail_lines(&out.stdout, LOG_LINES);
        if !log.is_empty() {
            output.push_str("; its log: ");
            output.push_str(&log);
        }
    }
    e
}

/// Polls `verify` until it passes or the step's settle time is spent.
async fn settle<T: Transport>(step: &Step, t: &T, verify: &str) -> Result<(), Error> {
    let start = tokio::time::Instant::now();
    loop {
        let out = t
            .run(verify, b"", COMMAND_TIMEOUT_MAX)
            .await
            .map_err(|e| Error::Transport {
                step: step.name.clone(),
                source: e,
            })?;
        if out.success() {
            return Ok(());
        }
        let waited = start.elapsed();
        if waited >= step.settle {
            return Err(Error::NotSettled {
                host: step.host.clone(),
                step: step.name.clone(),
                command: verify.to_owned(),
                waited,
                how: out.how(),
                output: out.tail(),
            });
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

fn failed(step: &Step, command: &str, out: &Output) -> Error {
    Error::Step {
        host: step.host.clone(),
        step: step.name.clone(),
        command: command.to_owned(),
        how: out.how(),
        output: out.tail(),
    }
}

async fn apply<T: Transport>(step: &Step, hosts: &BTreeMap<String, Arc<T>>) -> Result<(), Error> {
    let t = &hosts[&step.host];
    let transport = |e| Error::Transport {
        step: step.name.clone(),
        source: e,
    };
    let (cmd, stdin) = match &step.apply {
        Action::Shell(cmd) => (cmd.clone(), Vec::new()),
        Action::Upload(f) => (
            plan::write_stdin(&f.path, f.mode, &f.owner),
            f.content.clone().into_bytes(),
        ),
        Action::Relay(r) => return relay(step, r, hosts).await,
    };
    let out = t
        .run(&cmd, &stdin, COMMAND_TIMEOUT_MAX)
        .await
        .map_err(transport)?;
    if out.success() {
        Ok(())
    } else {
        Err(failed(step, &cmd, &out))
    }
}

/// Whether a relayed file is already the same on both hosts (compared by sha256).
async fn relay_is_current<T: Transport>(
    step: &Step,
    r: &Relay,
    hosts: &BTreeMap<String, Arc<T>>,
) -> Result<bool, Error> {
    let RelayTo::File { path, mode, owner } = &r.to else {
        return Ok(false);
    };
    let from = hosts
        .get(&r.from)
        .ok_or_else(|| Error::NoHost(r.from.clone()))?;
    let sum = format!("sha256sum {} | cut -c1-64", quote(path));
    let transport = |e| Error::Transport {
        step: step.name.clone(),
        source: e,
    };
    let src = from
        .run(&sum, b"", COMMAND_TIMEOUT_MAX)
        .await
        .map_err(transport)?;
    if !src.success() || src.stdout.len() < 64 {
        return Ok(false);
    }
    let want = String::from_utf8_lossy(&src.stdout[..64]).into_owned();
    let check = plan::file_check(path, *mode, owner, &want);
    let dst = hosts[&step.host]
        .run(&check, b"", COMMAND_TIMEOUT_MAX)
        .await
        .map_err(transport)?;
    Ok(dst.success())
}

/// Reads a secret on one host and writes it on another; the bytes stay in memory.
async fn relay<T: Transport>(
    step: &Step,
    r: &Relay,
    hosts: &BTreeMap<String, Arc<T>>,
) -> Result<(), Error> {
    let from = hosts
        .get(&r.from)
        .ok_or_else(|| Error::NoHost(r.from.clone()))?;
    let transport = |e| Error::Transport {
        step: step.name.clone(),
        source: e,
    };
    let read = from
        .run(&r.read, b"", COMMAND_TIMEOUT_MAX)
        .await
        .map_err(transport)?;
    if !read.success() {
        // Only stderr: stdout would be the secret.
        let out = Output {
            stdout: Vec::new(),
            ..read
        };
        return Err(Error::Step {
            host: r.from.clone(),
            step: step.name.clone(),
            command: r.read.clone(),
            how: out.how(),
            output: out.tail(),
        });
    }
    let secret = Secret(read.stdout);
    let (cmd, stdin) = match &r.to {
        RelayTo::File { path, mode, owner } => {
            (plan::write_stdin(path, *mode, owner), secret.0.clone())
        }
        RelayTo::KubeadmJoin {
            control_plane,
            advertise,
            bind_port,
            schedulable,
        } => {
            let line = String::from_utf8_lossy(&secret.0).into_owned();
            let join = crate::render::kube::Join {
                node: &step.host,
                advertise,
                bind_port: *bind_port,
                control_plane: *control_plane,
                schedulable: *schedulable,
            };
            let config =
                crate::render::kube::join_config(&line, &join).map_err(|message| Error::Relay {
                    host: step.host.clone(),
                    step: step.name.clone(),
                    message,
                })?;
            (
                "umask 077; f=$(mktemp /tmp/hadrill-join.XXXXXX) && cat > \"$f\" && \
                 kubeadm join --config \"$f\"; rc=$?; rm -f \"$f\"; exit $rc"
                    .to_owned(),
                config.into_bytes(),
            )
        }
    };
    let out = hosts[&step.host]
        .run(&cmd, &Secret(stdin).0, COMMAND_TIMEOUT_MAX)
        .await
        .map_err(transport)?;
    if out.success() {
        Ok(())
    } else {
        Err(failed(step, &cmd, &out))
    }
}

/// Bytes that must not be shown: Debug prints their length only.
struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(host: &str, name: &str) -> Step {
        Step::shell(host, name, "false", "true")
    }

    #[test]
    fn hosts_run_in_parallel_and_wait_for_their_dependencies() {
        let mut p = Plan::default();
        let a1 = p.add(step("a", "a1"));
        let b1 = p.add(step("b", "b1"));
        let a2 = p.add(step("a", "a2").after([b1]));
        let b2 = p.add(step("b", "b2"));
        let mut s = Schedule::new(&p);
        assert_eq!(s.ready(), vec![a1, b1], "one step per host at a time");
        assert!(s.ready().is_empty());
        s.finish(a1);
        assert!(s.ready().is_empty(), "a2 waits for b1");
        s.finish(b1);
        assert_eq!(s.ready(), vec![a2, b2]);
    }

    #[test]
    fn output_tail_is_one_line() {
        let out = Output {
            status: Some(1),
            signal: None,
            stdout: b"ignored\n".to_vec(),
            stderr: b"a\nb\n\nc\nd\n".to_vec(),
        };
        assert_eq!(out.tail(), "b | c | d");
        assert_eq!(out.how(), "exited 1");
        assert_eq!(format!("{:?}", Secret(b"AQBx".to_vec())), "Secret(4 bytes)");
    }
}
