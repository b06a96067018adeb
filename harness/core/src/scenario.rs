//! Scenario files: YAML drills that run unchanged on every lab.
//!
//! A scenario is a list of steps (settle, observe, fault) and an expectation per service. This
//! module parses and checks the file; it does not know labs, nodes or time. Roles in targets
//! (`vip-holder`, ...) stay roles here: labs resolve them when the step runs.
//!
//! Every limit a scenario could reach in the drill, the record or the simulation is checked
//! here, when the file is read: steps ([`STEPS_MAX`]), probing time ([`probing_max`], so
//! that the record holds its samples), faults in force at once (`drill::ACTIVE_MAX`) and fault
//! actions ([`ACTIONS_MAX`], so that the simulation's queue holds their timers).
//!
//! **Invariant:** a bad file is an [`Error`] naming file, line (when known) and field, on one
//! printable line, never a panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use provisioner::model::{ClusterModel, Probes, Profile};
use provisioner::text;
use serde::{Deserialize, Serialize};

pub use crate::fault::{Direction, FaultKind, Signal};
use crate::record::{Service, SAMPLES_MAX};
use crate::{drill, sim};

/// A parsed, checked scenario.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    /// Its name (defaults to the file stem).
    pub name: String,
    /// What it is about, for reports.
    pub description: String,
    /// The steps, run in order.
    pub steps: Vec<Step>,
    /// What must hold per service; a service not named is recorded but not judged.
    pub expect: BTreeMap<Service, Expect>,
    /// How the client probes (`probe:`): every `interval`, each request failed after
    /// `timeout`, on every lab. Default: [`Scenario::default_probes`].
    pub probe: Probes,
}

impl Scenario {
    /// The probes a scenario without `probe:` gets: every 200 ms, a 2 s deadline.
    pub fn default_probes() -> Probes {
        ClusterModel::seed(Profile::Bare).probes
    }
}

/// Shortest probe interval a scenario may ask for: every probe is three requests, and a real
/// lab's client sends them from one process.
pub const PROBE_INTERVAL_MIN: Duration = Duration::from_millis(50);
/// Longest probe interval: a gap is measured to an interval, so a longer one says little.
pub const PROBE_INTERVAL_MAX: Duration = Duration::from_secs(10);
/// Longest probe deadline (what a patient client waits for an answer).
pub const PROBE_TIMEOUT_MAX: Duration = Duration::from_secs(60);

/// One step of a drill.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Let the cluster run (warm-up or recovery) while probing.
    Settle(Duration),
    /// Probe and record for a duration.
    Observe(Duration),
    /// Inject a fault (or undo one).
    Fault(FaultSpec),
}

/// What a fault step names: a node or a role that the lab resolves when the step runs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// A node by its name.
    Node(String),
    /// The node holding the VIP (the VRRP master).
    VipHolder,
    /// The node whose etcd member is the raft leader.
    EtcdLeader,
    /// The first control-plane node (where `kubeadm init` ran).
    ZeroMaster,
    /// A node picked by the seeded random generator.
    Any,
    /// The first node that holds neither the VIP nor etcd leadership.
    Other,
    /// Every node (only for `heal`).
    All,
}

impl Target {
    fn parse(s: &str) -> Target {
        match s {
            "vip-holder" => Target::VipHolder,
            "etcd-leader" => Target::EtcdLeader,
            "zero-master" => Target::ZeroMaster,
            "any" => Target::Any,
            "other" => Target::Other,
            "all" => Target::All,
            name => Target::Node(name.to_owned()),
        }
    }

    /// Whether this is a role (resolved at run time) rather than a fixed node.
    pub fn is_role(&self) -> bool {
        !matches!(self, Target::Node(_) | Target::All)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Target::Node(n) => n,
            Target::VipHolder => "vip-holder",
            Target::EtcdLeader => "etcd-leader",
            Target::ZeroMaster => "zero-master",
            Target::Any => "any",
            Target::Other => "other",
            Target::All => "all",
        })
    }
}

/// A service on a node that `stop-service`/`start-service` can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Daemon {
    /// keepalived (VRRP).
    Keepalived,
    /// HAProxy.
    Haproxy,
    /// etcd.
    Etcd,
    /// kube-apiserver (kubernetes profile).
    KubeApiserver,
    /// kubelet (kubernetes profile).
    Kubelet,
    /// ceph-mon.
    CephMon,
    /// ceph-osd.
    CephOsd,
    /// The ingress controller, `ingress` in every profile: traefik (kubernetes) or nginx
    /// (bare), whose own names are accepted too.
    Ingress,
}

impl Daemon {
    /// Every daemon.
    pub const ALL: [Daemon; 8] = [
        Daemon::Keepalived,
        Daemon::Haproxy,
        Daemon::Etcd,
        Daemon::KubeApiserver,
        Daemon::Kubelet,
        Daemon::CephMon,
        Daemon::CephOsd,
        Daemon::Ingress,
    ];

    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Daemon::Keepalived => "keepalived",
            Daemon::Haproxy => "haproxy",
            Daemon::Etcd => "etcd",
            Daemon::KubeApiserver => "kube-apiserver",
            Daemon::Kubelet => "kubelet",
            Daemon::CephMon => "ceph-mon",
            Daemon::CephOsd => "ceph-osd",
            Daemon::Ingress => "ingress",
        }
    }

    /// The ingress controller's names in the profiles, accepted for `ingress`.
    const INGRESS_NAMES: [&str; 2] = ["traefik", "nginx"];

    fn parse(s: &str) -> Option<Daemon> {
        if Self::INGRESS_NAMES.contains(&s) {
            return Some(Daemon::Ingress);
        }
        Daemon::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// A fault step: what to do, and to which node or role.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultSpec {
    /// What to do.
    pub kind: FaultKind,
    /// To which node or role.
    pub target: Target,
}

impl std::fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            FaultKind::StopService(d) | FaultKind::StartService(d) => {
                write!(f, "{} {} on {}", self.kind.key(), d.as_str(), self.target)
            }
            FaultKind::KillService(d, sig) => write!(
                f,
                "kill-service {} on {} (SIG{})",
                d.as_str(),
                self.target,
                sig.as_str().to_uppercase()
            ),
            FaultKind::Netem { delay, loss } => {
                let delay = humantime::format_duration(*delay);
                write!(
                    f,
                    "netem {} delay {delay} loss {:.1}%",
                    self.target,
                    loss * 100.0
                )
            }
            FaultKind::SlowDisk(p) => write!(f, "slow-disk {} {p}", self.target),
            FaultKind::MoveVip => write!(f, "move-vip to {}", self.target),
            FaultKind::Cut(d) => write!(f, "isolate {} ({} only)", self.target, d.as_str()),
            k => write!(f, "{} {}", k.key(), self.target),
        }
    }
}

/// What must hold for one service over the whole drill.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// No continuous run of failed probes longer than `max_gap`.
    Available {
        /// Longest allowed gap.
        max_gap: Duration,
    },
    /// The service is lost while the fault lasts (an expected loss).
    Unavailable,
}

/// A scenario file that could not be read or checked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read (missing, larger than the cap, not text).
    #[error("{}: not a readable scenario file", file(path))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: provisioner::text::ReadError,
    },
    /// The file is not a valid scenario.
    #[error("{}{}: {}: {message}", file(path), line_part(*line), text::printable(field))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown: then not printed).
        line: u64,
        /// Where in the document (`steps[0].fault`).
        field: String,
        /// What is wrong: one printable line, values in backticks ([`text::shown`]).
        message: String,
    },
}

/// A file name as it starts a message: printable, on one line.
fn file(path: &Path) -> String {
    text::printable(&path.to_string_lossy())
}

/// `:LINE`, or nothing when the line is not known.
fn line_part(line: u64) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}")
    }
}

/// Most steps in a scenario.
pub const STEPS_MAX: usize = 1_000;

/// Most fault actions in a scenario: a fault step is one, `heal: all` one per node of the
/// largest simulated cluster ([`sim::NODES_MAX`]). Each sets at most
/// [`sim::TIMERS_PER_FAULT_MAX`] timers in the simulation, and a stale timer stays queued until
/// it is due, so even with every action at one instant (the worst case; measured, at most 17
/// timers an action on 16 nodes, `heal: all` with half of them off, and 4 on the seed's 3) the
/// queue stays within [`sim::QUEUE_LEN_MAX`], beside the cluster's own timers
/// ([`sim::STEADY_TIMERS_MAX`]) and the undos of the drill's clean-up (at most
/// [`drill::ACTIVE_MAX`]).
pub const ACTIONS_MAX: usize =
    (sim::QUEUE_LEN_MAX - sim::STEADY_TIMERS_MAX) / sim::TIMERS_PER_FAULT_MAX - drill::ACTIVE_MAX;

/// Time between two probes of one service when the scenario does not say.
fn probe_interval() -> Duration {
    Scenario::default_probes().interval
}

/// Longest probing a scenario may ask for at the default probe interval (its settle and
/// observe steps together, and so any one duration in it): the probes it sends, one per probe
/// interval from within an interval of its start, must fit a record's [`SAMPLES_MAX`] samples
/// of a service.
pub fn probing_max() -> Duration {
    probing_max_at(probe_interval())
}

/// [`probing_max`] for probes every `interval`.
pub fn probing_max_at(interval: Duration) -> Duration {
    let n = u32::try_from(SAMPLES_MAX - 1).expect("SAMPLES_MAX fits u32");
    interval * n
}

/// Reads and checks a scenario file (through the input size cap, never whole first).
pub fn load(path: &Path) -> Result<Scenario, Error> {
    let text = provisioner::yaml::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and checks a scenario from text; `path` is used in errors and for the default name.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, Error> {
    let raw = raw::parse(text).map_err(|e| Error::Invalid {
        path: path.to_owned(),
        line: e.line,
        field: e.field,
        // serde's messages echo values as they are: keep them on one printable line.
        message: text::one_line(&e.message),
    })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenario");
    raw.check(stem).map_err(|(field, message)| Error::Invalid {
        path: path.to_owned(),
        line: raw::line_of(text, &field),
        field,
        message,
    })
}

impl Scenario {
    /// Total time the steps take, not counting the faults themselves.
    pub fn duration(&self) -> Duration {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Settle(d) | Step::Observe(d) => *d,
                Step::Fault(_) => Duration::ZERO,
            })
            .sum()
    }

    /// Every fault step.
    pub fn faults(&self) -> impl Iterator<Item = &FaultSpec> {
        self.steps.iter().filter_map(|s| match s {
            Step::Fault(f) => Some(f),
            _ => None,
        })
    }

    /// Renders the scenario as YAML that [`parse`] reads back (used to write shrunk schedules).
    pub fn to_yaml(&self) -> String {
        let mut out = format!("name: {}\n", self.name);
        if !self.description.is_empty() {
            out += &format!("description: {:?}\n", self.description);
        }
        if self.probe != Scenario::default_probes() {
            out += &format!(
                "probe: {{interval: {}, timeout: {}}}\n",
                fmt_dur(self.probe.interval),
                fmt_dur(self.probe.timeout)
            );
        }
        out += "steps:\n";
        for step in &self.steps {
            out += &match step {
                Step::Settle(d) => format!("  - settle: {}\n", fmt_dur(*d)),
                Step::Observe(d) => format!("  - observe: {}\n", fmt_dur(*d)),
                Step::Fault(f) => format!("  - fault: {}\n", fault_yaml(f)),
            };
        }
        if !self.expect.is_empty() {
            out += "expect:\n";
        }
        for (service, e) in &self.expect {
            out += &match e {
                Expect::Available { max_gap } => {
                    format!(
                        "  {service}: {{available: {{max_gap: {}}}}}\n",
                        fmt_dur(*max_gap)
                    )
                }
                Expect::Unavailable => format!("  {service}: unavailable\n"),
            };
        }
        out
    }
}

/// An upper bound on the faults the drill's ledger holds (`drill::ACTIVE_MAX`) after each
/// step, found without running it. The walk keeps a list of the faults that have an undo
/// ([`FaultKind::inverse`]) with the target their step named; at run time the ledger holds
/// some of the listed faults and never one that is not listed, because each step changes
/// both alike or shrinks the ledger more:
/// - a fault with an undo adds one to each (a role is bound to one node; `all` is only for
///   `heal`);
/// - `heal: all` runs on every node, so the ledger forgets every fault a heal undoes (network
///   faults): the list forgets the same;
/// - an undo naming a node forgets, on that node, every fault it undoes, among them all the
///   listed ones of that target (a name always resolves to the same node): the list forgets
///   those;
/// - an undo naming a role is bound to the newest fault it undoes of the same target that the
///   ledger holds (or to whoever has the role now), which the ledger forgets; the list forgets
///   its own newest such fault. Both are the same fault, or the list's is newer and already
///   gone from the ledger: either way the ledger stays within the list.
fn in_force_bounds(steps: &[Step]) -> impl Iterator<Item = usize> + '_ {
    let mut listed: Vec<&FaultSpec> = Vec::new();
    steps.iter().map(move |s| {
        let Step::Fault(f) = s else {
            return listed.len();
        };
        if f.kind.inverse().is_some() {
            listed.push(f);
        } else if f.kind.is_undo() {
            let undone = |a: &&FaultSpec| f.kind.undoes(&a.kind);
            match &f.target {
                Target::All => listed.retain(|a| !undone(a)),
                Target::Node(_) => listed.retain(|a| !(a.target == f.target && undone(a))),
                role => {
                    if let Some(k) = listed.iter().rposition(|a| &a.target == role && undone(a)) {
                        listed.remove(k);
                    }
                }
            }
        }
        listed.len()
    })
}

fn fmt_dur(d: Duration) -> String {
    humantime::format_duration(d).to_string().replace(' ', "")
}

fn fault_yaml(f: &FaultSpec) -> String {
    let t = &f.target;
    match &f.kind {
        FaultKind::StopService(d) | FaultKind::StartService(d) => {
            format!(
                "{{{}: {{node: {t}, service: {}}}}}",
                f.kind.key(),
                d.as_str()
            )
        }
        FaultKind::KillService(d, sig) => format!(
            "{{kill-service: {{node: {t}, service: {}, signal: {}}}}}",
            d.as_str(),
            sig.as_str()
        ),
        FaultKind::Netem { delay, loss } => {
            format!(
                "{{netem: {{node: {t}, delay: {}, loss: {}%}}}}",
                fmt_dur(*delay),
                loss * 100.0
            )
        }
        FaultKind::SlowDisk(p) => format!("{{slow-disk: {{node: {t}, profile: {p}}}}}"),
        FaultKind::MoveVip => format!("{{move-vip: {{to: {t}}}}}"),
        FaultKind::Cut(d) => format!("{{isolate: {{node: {t}, direction: {}}}}}", d.as_str()),
        k => format!("{{{}: {t}}}", k.key()),
    }
}

/// The file's form, as serde reads it, before the checks that give it meaning.
mod raw {
    use super::*;
    use provisioner::text::shown;

    // `expecting` words serde's messages for users: without it they name these Rust types.
    #[derive(Debug, Deserialize)]
    #[serde(
        deny_unknown_fields,
        expecting = "a scenario: a map of steps (and name, description, expect, probe)"
    )]
    pub(super) struct RawScenario {
        name: Option<String>,
        #[serde(default)]
        description: String,
        steps: Vec<RawStep>,
        #[serde(default)]
        expect: BTreeMap<String, RawExpect>,
        probe: Option<RawProbe>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(
        deny_unknown_fields,
        expecting = "a map: {interval: DURATION, timeout: DURATION}"
    )]
    struct RawProbe {
        interval: Option<String>,
        timeout: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(
        rename_all = "kebab-case",
        deny_unknown_fields,
        expecting = "a step: settle, observe or fault"
    )]
    enum RawStep {
        Settle(String),
        Observe(String),
        Fault(RawFault),
    }

    #[derive(Debug, Deserialize)]
    #[serde(
        rename_all = "kebab-case",
        deny_unknown_fields,
        expecting = "a fault: a map of one fault kind to its target"
    )]
    enum RawFault {
        PowerOff(String),
        PowerOn(String),
        Reboot(String),
        Shutdown(String),
        Pause(String),
        Resume(String),
        Isolate(RawIsolate),
        LinkDown(String),
        LinkUp(String),
        Heal(String),
        Drain(String),
        Uncordon(String),
        FailDisk(String),
        RestoreDisk(String),
        ReleaseVip(String),
        MoveVip(MoveVip),
        StopService(NodeService),
        KillService(KillService),
        StartService(NodeService),
        Netem(Netem),
        SlowDisk(SlowDisk),
    }

    /// `isolate: NODE` (both ways), or one way: `isolate: {node: NODE, direction: D}`.
    #[derive(Debug, Deserialize)]
    #[serde(
        untagged,
        expecting = "a node, or a map: {node: NODE, direction: inbound|outbound}"
    )]
    enum RawIsolate {
        Both(String),
        OneWay(OneWay),
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct OneWay {
        node: String,
        direction: String,
    }

    impl OneWay {
        fn direction(&self) -> Result<Direction, Field> {
            match self.direction.as_str() {
                "inbound" => Ok(Direction::Inbound),
                "outbound" => Ok(Direction::Outbound),
                other => Err((
                    ".isolate.direction".into(),
                    format!("unknown direction {} (inbound, outbound)", shown(other)),
                )),
            }
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, expecting = "a map: {to: NODE}")]
    struct MoveVip {
        to: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(
        deny_unknown_fields,
        expecting = "a map: {node: NODE, service: SERVICE}"
    )]
    struct NodeService {
        node: String,
        service: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(
        deny_unknown_fields,
        expecting = "a map: {node: NODE, service: SERVICE, signal: kill|term}"
    )]
    struct KillService {
        node: String,
        service: String,
        #[serde(default)]
        signal: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(
        deny_unknown_fields,
        expecting = "a map: {node: NODE, delay: DURATION, loss: PERCENT}"
    )]
    struct Netem {
        node: String,
        #[serde(default)]
        delay: Option<String>,
        #[serde(default)]
        loss: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(
        deny_unknown_fields,
        expecting = "a map: {node: NODE, profile: PROFILE}"
    )]
    struct SlowDisk {
        node: String,
        profile: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(
        rename_all = "kebab-case",
        untagged,
        expecting = "an expectation: unavailable, or {available: {max_gap: DURATION}}"
    )]
    enum RawExpect {
        Word(String),
        Map(BTreeMap<String, RawAvailable>),
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, expecting = "a map: {max_gap: DURATION}")]
    struct RawAvailable {
        max_gap: Option<String>,
    }

    pub(super) fn parse(text: &str) -> Result<RawScenario, provisioner::yaml::Error> {
        provisioner::yaml::from_str(text)
    }

    /// The 1-based line of the first occurrence of a field path's last key, best effort: used
    /// for errors found after parsing, when serde has no location.
    pub(super) fn line_of(text: &str, field: &str) -> u64 {
        let key = field.rsplit('.').next().unwrap_or(field);
        let key = key.split('[').next().unwrap_or(key);
        let steps_index = field
            .strip_prefix("steps[")
            .and_then(|r| r.split(']').next())
            .and_then(|n| n.parse::<usize>().ok());
        let mut seen_steps = 0usize;
        let mut in_steps = false;
        for (i, l) in text.lines().enumerate() {
            let t = l.trim_start();
            if let Some(rest) = t.strip_prefix("steps:") {
                // The field is `steps` itself, or a step of a flow sequence (`steps: [...]`).
                let whole = steps_index.is_none() && key == "steps";
                if whole || steps_index.is_some() && !rest.trim().is_empty() {
                    return i as u64 + 1;
                }
                in_steps = true;
                continue;
            }
            if let (true, Some(want)) = (in_steps, steps_index) {
                if t.starts_with("- ") {
                    if seen_steps == want {
                        return i as u64 + 1;
                    }
                    seen_steps += 1;
                }
            } else if !key.is_empty() && t.starts_with(&format!("{key}:")) {
                return i as u64 + 1;
            }
        }
        0
    }

    type Field = (String, String);

    impl RawScenario {
        pub(super) fn check(&self, stem: &str) -> Result<Scenario, Field> {
            let name = self.name.clone().unwrap_or_else(|| stem.to_owned());
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err((
                    "name".into(),
                    format!("{} is not a name (letters, digits, - _ .)", shown(&name)),
                ));
            }
            if self.steps.is_empty() {
                return Err(("steps".into(), "a scenario needs at least one step".into()));
            }
            if self.steps.len() > STEPS_MAX {
                return Err((
                    "steps".into(),
                    format!(
                        "{} steps, more than STEPS_MAX ({STEPS_MAX})",
                        self.steps.len()
                    ),
                ));
            }
            let steps = self
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| s.check().map_err(|(f, m)| (format!("steps[{i}]{f}"), m)))
                .collect::<Result<Vec<_>, _>>()?;
            let probe = self.check_probe()?;
            limits(&steps, probe.interval)?;
            Ok(Scenario {
                name,
                description: self.description.clone(),
                steps,
                expect: self.check_expect()?,
                probe,
            })
        }

        fn check_probe(&self) -> Result<Probes, Field> {
            let mut p = Scenario::default_probes();
            let Some(raw) = &self.probe else {
                return Ok(p);
            };
            if let Some(i) = &raw.interval {
                p.interval = duration(i).map_err(|m| ("probe.interval".into(), m))?;
                if !(PROBE_INTERVAL_MIN..=PROBE_INTERVAL_MAX).contains(&p.interval) {
                    let m = format!(
                        "{} is not within {}-{} (PROBE_INTERVAL_MIN, PROBE_INTERVAL_MAX)",
                        shown(i),
                        human(PROBE_INTERVAL_MIN),
                        human(PROBE_INTERVAL_MAX)
                    );
                    return Err(("probe.interval".into(), m));
                }
            }
            if let Some(t) = &raw.timeout {
                p.timeout = duration(t).map_err(|m| ("probe.timeout".into(), m))?;
                if p.timeout.is_zero() || p.timeout > PROBE_TIMEOUT_MAX {
                    let m = format!(
                        "{} is not within 1ms-{} (PROBE_TIMEOUT_MAX)",
                        shown(t),
                        human(PROBE_TIMEOUT_MAX)
                    );
                    return Err(("probe.timeout".into(), m));
                }
            }
            Ok(p)
        }

        fn check_expect(&self) -> Result<BTreeMap<Service, Expect>, Field> {
            let mut expect = BTreeMap::new();
            for (key, e) in &self.expect {
                let field = format!("expect.{key}");
                let service = Service::ALL
                    .into_iter()
                    .find(|s| s.as_str() == key)
                    .ok_or_else(|| {
                        let m = format!("unknown service {} (api, ceph, ingress)", shown(key));
                        (field.clone(), m)
                    })?;
                expect.insert(service, e.check().map_err(|m| (field, m))?);
            }
            Ok(expect)
        }
    }

    /// The limits of a whole scenario, once each step is known to be well formed.
    fn limits(steps: &[Step], interval: Duration) -> Result<(), Field> {
        let probing: Duration = steps
            .iter()
            .map(|s| match s {
                Step::Settle(d) | Step::Observe(d) => *d,
                Step::Fault(_) => Duration::ZERO,
            })
            .sum();
        if probing > probing_max_at(interval) {
            return Err((
                "steps".into(),
                format!(
                    "settle and observe add up to {}, longer than the {} a record holds \
                     (SAMPLES_MAX {SAMPLES_MAX} samples of a service, one per {})",
                    human(probing),
                    human(probing_max_at(interval)),
                    human(interval),
                ),
            ));
        }
        let mut actions = 0;
        for (i, s) in steps.iter().enumerate() {
            if let Step::Fault(f) = s {
                actions += if f.target == Target::All {
                    sim::NODES_MAX
                } else {
                    1
                };
            }
            if actions > ACTIONS_MAX {
                return Err((
                    format!("steps[{i}]"),
                    format!(
                        "{actions} fault actions by this step (heal of all counts {}), more than \
                         ACTIONS_MAX ({ACTIONS_MAX}): the simulation could not queue their timers",
                        sim::NODES_MAX
                    ),
                ));
            }
        }
        let in_force = in_force_bounds(steps);
        if let Some((i, n)) = in_force.enumerate().find(|(_, n)| *n > drill::ACTIVE_MAX) {
            return Err((
                format!("steps[{i}]"),
                format!(
                    "up to {n} faults could be in force after this step, more than ACTIVE_MAX \
                     ({}): undo some first",
                    drill::ACTIVE_MAX
                ),
            ));
        }
        Ok(())
    }

    impl RawStep {
        fn check(&self) -> Result<Step, Field> {
            match self {
                RawStep::Settle(d) => Ok(Step::Settle(
                    duration(d).map_err(|m| (".settle".into(), m))?,
                )),
                RawStep::Observe(d) => Ok(Step::Observe(
                    duration(d).map_err(|m| (".observe".into(), m))?,
                )),
                RawStep::Fault(f) => Ok(Step::Fault(
                    f.check().map_err(|(p, m)| (format!(".fault{p}"), m))?,
                )),
            }
        }
    }

    /// A fault of `kind` on the target named `t` (at `field`): `all` only for heal.
    fn node(kind: FaultKind, t: &str, field: &str) -> Result<FaultSpec, Field> {
        let target = Target::parse(t);
        if target == Target::All && !matches!(kind, FaultKind::Heal) {
            return Err((
                field.into(),
                format!("`all` is only a target of heal, not of {}", kind.key()),
            ));
        }
        if t.is_empty() {
            return Err((field.into(), "empty target".into()));
        }
        Ok(FaultSpec { kind, target })
    }

    impl RawFault {
        fn check(&self) -> Result<FaultSpec, Field> {
            use FaultKind as K;
            match self {
                RawFault::PowerOff(t) => node(K::PowerOff, t, ".power-off"),
                RawFault::PowerOn(t) => node(K::PowerOn, t, ".power-on"),
                RawFault::Reboot(t) => node(K::Reboot, t, ".reboot"),
                RawFault::Shutdown(t) => node(K::Shutdown, t, ".shutdown"),
                RawFault::Pause(t) => node(K::Pause, t, ".pause"),
                RawFault::Resume(t) => node(K::Resume, t, ".resume"),
                RawFault::Isolate(RawIsolate::Both(t)) => node(K::Isolate, t, ".isolate"),
                RawFault::Isolate(RawIsolate::OneWay(w)) => {
                    node(K::Cut(w.direction()?), &w.node, ".isolate.node")
                }
                RawFault::LinkDown(t) => node(K::LinkDown, t, ".link-down"),
                RawFault::LinkUp(t) => node(K::LinkUp, t, ".link-up"),
                RawFault::Heal(t) => node(K::Heal, t, ".heal"),
                RawFault::Drain(t) => node(K::Drain, t, ".drain"),
                RawFault::Uncordon(t) => node(K::Uncordon, t, ".uncordon"),
                RawFault::FailDisk(t) => node(K::FailDisk, t, ".fail-disk"),
                RawFault::RestoreDisk(t) => node(K::RestoreDisk, t, ".restore-disk"),
                RawFault::ReleaseVip(t) => node(K::ReleaseVip, t, ".release-vip"),
                RawFault::MoveVip(m) => node(K::MoveVip, &m.to, ".move-vip.to"),
                RawFault::StopService(ns) => node(
                    K::StopService(daemon(ns, ".stop-service")?),
                    &ns.node,
                    ".stop-service.node",
                ),
                RawFault::KillService(ks) => node(kill(ks)?, &ks.node, ".kill-service.node"),
                RawFault::StartService(ns) => node(
                    K::StartService(daemon(ns, ".start-service")?),
                    &ns.node,
                    ".start-service.node",
                ),
                RawFault::Netem(n) => {
                    let delay = match &n.delay {
                        Some(d) => duration(d).map_err(|m| (".netem.delay".to_owned(), m))?,
                        None => Duration::ZERO,
                    };
                    let loss = match &n.loss {
                        Some(l) => percent(l).map_err(|m| (".netem.loss".to_owned(), m))?,
                        None => 0.0,
                    };
                    if delay.is_zero() && loss == 0.0 {
                        return Err((".netem".into(), "netem needs a delay or a loss".into()));
                    }
                    node(K::Netem { delay, loss }, &n.node, ".netem.node")
                }
                RawFault::SlowDisk(s) => {
                    if crate::disk::profile(&s.profile).is_none() {
                        let known = crate::disk::names().join(", ");
                        return Err((
                            ".slow-disk.profile".into(),
                            format!("unknown disk profile {} ({known})", shown(&s.profile)),
                        ));
                    }
                    node(K::SlowDisk(s.profile.clone()), &s.node, ".slow-disk.node")
                }
            }
        }
    }

    /// kill-service's daemon and signal (SIGKILL unless it says `term`).
    fn kill(ks: &KillService) -> Result<FaultKind, Field> {
        let ns = NodeService {
            node: ks.node.clone(),
            service: ks.service.clone(),
        };
        let signal = match ks.signal.as_deref() {
            None | Some("kill") => Signal::Kill,
            Some("term") => Signal::Term,
            Some(other) => {
                return Err((
                    ".kill-service.signal".into(),
                    format!("unknown signal {} (kill, term)", shown(other)),
                ))
            }
        };
        Ok(FaultKind::KillService(
            daemon(&ns, ".kill-service")?,
            signal,
        ))
    }

    fn daemon(ns: &NodeService, field: &str) -> Result<Daemon, Field> {
        Daemon::parse(&ns.service).ok_or_else(|| {
            let known: Vec<_> = Daemon::ALL.iter().map(|d| d.as_str()).collect();
            (
                format!("{field}.service"),
                format!(
                    "unknown service {} ({})",
                    shown(&ns.service),
                    known.join(", ")
                ),
            )
        })
    }

    impl RawExpect {
        fn check(&self) -> Result<Expect, String> {
            match self {
                RawExpect::Word(w) if w == "unavailable" => Ok(Expect::Unavailable),
                RawExpect::Word(w) => Err(format!(
                    "unknown expectation {} (available or unavailable)",
                    shown(w)
                )),
                RawExpect::Map(m) => {
                    let Some((key, value)) = m.iter().next().filter(|_| m.len() == 1) else {
                        return Err("expected one of available, unavailable".into());
                    };
                    match key.as_str() {
                        "available" => {
                            let gap = value.max_gap.as_deref().ok_or("available needs max_gap")?;
                            Ok(Expect::Available {
                                max_gap: duration(gap)?,
                            })
                        }
                        "unavailable" => Ok(Expect::Unavailable),
                        other => Err(format!(
                            "unknown expectation {} (available or unavailable)",
                            shown(other)
                        )),
                    }
                }
            }
        }
    }

    fn duration(s: &str) -> Result<Duration, String> {
        let d = humantime::parse_duration(s.trim())
            .map_err(|e| format!("{} is not a duration ({e})", shown(s)))?;
        if d > probing_max() {
            return Err(format!(
                "{} is longer than the {} a record holds (SAMPLES_MAX {SAMPLES_MAX} samples of a \
                 service, one per {})",
                shown(s),
                human(probing_max()),
                human(probe_interval())
            ));
        }
        Ok(d)
    }

    /// A duration as humantime writes it (`23h 59m 59s 800ms`).
    fn human(d: Duration) -> String {
        humantime::format_duration(d).to_string()
    }

    fn percent(s: &str) -> Result<f64, String> {
        let not = || format!("{} is not a percentage like 5%", shown(s));
        let n = s.trim().strip_suffix('%').ok_or_else(not)?;
        let v: f64 = n.trim().parse().map_err(|_| not())?;
        if !(0.0..=100.0).contains(&v) {
            return Err(format!("{} is not between 0% and 100%", shown(s)));
        }
        Ok(v / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        parse(Path::new("t.yaml"), text).unwrap_err().to_string()
    }

    fn ok(text: &str) -> Scenario {
        parse(Path::new("t.yaml"), text).unwrap()
    }

    #[test]
    fn the_issue_example_parses() {
        let s = ok("name: kill-vip-holder\nsteps:\n  - settle: 30s\n  - fault: {power-off: vip-holder}\n  - observe: 120s\n  - fault: {power-on: vip-holder}\n  - observe: 180s\nexpect:\n  api: {available: {max_gap: 10s}}\n  ceph: {available: {max_gap: 45s}}\n  ingress: unavailable\n");
        assert_eq!(s.steps.len(), 5);
        assert_eq!(
            s.steps[1],
            Step::Fault(FaultSpec {
                kind: FaultKind::PowerOff,
                target: Target::VipHolder
            })
        );
        assert_eq!(
            s.expect[&Service::Api],
            Expect::Available {
                max_gap: Duration::from_secs(10)
            }
        );
        assert_eq!(s.expect[&Service::Ingress], Expect::Unavailable);
        assert_eq!(s.duration(), Duration::from_secs(330));
    }

    /// Probing for D sends at most D / interval + 1 probes (limits.rs shows it on the
    /// simulation): the longest probing fills a record exactly, and one interval more would
    /// not fit.
    #[test]
    fn the_longest_probing_fills_a_record_and_no_more() {
        for ms in [50, 200, 1000, 10_000] {
            let iv = Duration::from_millis(ms);
            let probes = |d: Duration| (d.as_nanos() / iv.as_nanos()) as usize + 1;
            assert_eq!(probes(probing_max_at(iv)), SAMPLES_MAX, "every {ms} ms");
            assert!(probes(probing_max_at(iv) + iv) > SAMPLES_MAX);
        }
    }

    /// Exactly STEPS_MAX steps are accepted, one more refused.
    #[test]
    fn steps_max_is_the_last_accepted_count() {
        let steps = |n: usize| format!("steps:\n{}", "  - settle: 1ms\n".repeat(n));
        assert_eq!(ok(&steps(STEPS_MAX)).steps.len(), STEPS_MAX);
        assert!(parse_err(&steps(STEPS_MAX + 1)).contains("STEPS_MAX"));
    }

    /// A description survives the YAML that a shrunk schedule is written as; an empty one is
    /// left out.
    #[test]
    fn to_yaml_keeps_a_description_and_omits_an_empty_one() {
        let mut s = ok("name: d\ndescription: two words\nsteps:\n  - settle: 1s\n");
        assert_eq!(ok(&s.to_yaml()).description, "two words");
        s.description.clear();
        assert!(!s.to_yaml().contains("description"), "{}", s.to_yaml());
    }

    /// The ledger bound after each step: `heal: all` forgets every network fault; a heal of
    /// one node forgets that node's faults only.
    #[test]
    fn in_force_bounds_forget_what_a_heal_undoes_and_nothing_else() {
        let s = ok("steps:\n  - fault: {isolate: node-1}\n  - fault: {isolate: node-2}\n  \
                    - fault: {heal: node-1}\n  - fault: {isolate: node-3}\n  - fault: {heal: all}\n");
        let bounds: Vec<usize> = in_force_bounds(&s.steps).collect();
        assert_eq!(bounds, [1, 2, 1, 2, 0]);
        // A heal naming a role forgets only a fault of that role that it undoes.
        let s = ok(
            "steps:\n  - fault: {isolate: node-1}\n  - fault: {power-off: vip-holder}\n  \
                    - fault: {heal: vip-holder}\n",
        );
        let bounds: Vec<usize> = in_force_bounds(&s.steps).collect();
        assert_eq!(bounds, [1, 2, 2]);
    }

    /// Errors found after parsing point at the line: a key, a step of a block list, a step of
    /// a flow list.
    #[test]
    fn line_of_finds_keys_and_steps() {
        let block =
            "name: x\nsteps:\n  - settle: 1s\n  - observe: 2s\nexpect:\n  api: unavailable\n";
        assert_eq!(raw::line_of(block, "steps[1].observe"), 4);
        assert_eq!(raw::line_of(block, "steps[0]"), 3);
        assert_eq!(raw::line_of(block, "steps"), 2);
        assert_eq!(raw::line_of(block, "expect.api"), 6);
        let flow = "name: x\nsteps: [{settle: 1s}]\n";
        assert_eq!(raw::line_of(flow, "steps[0].settle"), 2);
        assert_eq!(raw::line_of(flow, "nowhere"), 0);
    }

    /// kill-service: SIGKILL unless it says term; it round-trips; another signal is an error
    /// naming the field. `ingress`, `traefik` and `nginx` name the same daemon.
    #[test]
    fn kill_service_and_the_ingress_names() {
        let s = ok(
            "steps:\n  - fault: {kill-service: {node: node-1, service: etcd}}\n  \
                    - fault: {kill-service: {node: node-1, service: nginx, signal: term}}\n",
        );
        let kinds: Vec<_> = s
            .steps
            .iter()
            .map(|st| match st {
                Step::Fault(f) => f.kind.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                FaultKind::KillService(Daemon::Etcd, Signal::Kill),
                FaultKind::KillService(Daemon::Ingress, Signal::Term)
            ]
        );
        assert_eq!(ok(&s.to_yaml()).steps, s.steps);
        let e = parse_err(
            "steps:\n  - fault: {kill-service: {node: node-1, service: etcd, signal: hup}}\n",
        );
        assert!(
            e.contains("kill-service.signal") && e.contains("unknown signal"),
            "{e}"
        );
        for name in ["ingress", "traefik", "nginx"] {
            assert_eq!(Daemon::parse(name), Some(Daemon::Ingress));
        }
    }

    /// isolate: a node cuts both ways; a map with a direction cuts one way (IP only). Both
    /// round-trip through the YAML a shrunk schedule is written as, the one-way form says so
    /// when shown, and another direction or a missing node is an error naming the field.
    #[test]
    fn isolate_takes_a_node_or_one_direction() {
        let s = ok("steps:\n  - fault: {isolate: node-1}\n  \
                    - fault: {isolate: {node: vip-holder, direction: inbound}}\n  \
                    - fault: {isolate: {node: node-2, direction: outbound}}\n");
        let faults: Vec<FaultSpec> = s
            .steps
            .iter()
            .filter_map(|st| match st {
                Step::Fault(f) => Some(f.clone()),
                _ => None,
            })
            .collect();
        let kinds: Vec<_> = faults.iter().map(|f| f.kind.clone()).collect();
        assert_eq!(
            kinds,
            [
                FaultKind::Isolate,
                FaultKind::Cut(Direction::Inbound),
                FaultKind::Cut(Direction::Outbound)
            ]
        );
        assert_eq!(faults[1].target, Target::VipHolder);
        assert_eq!(faults[1].to_string(), "isolate vip-holder (inbound only)");
        assert_eq!(ok(&s.to_yaml()).steps, s.steps);
        let e = parse_err("steps:\n  - fault: {isolate: {node: node-1, direction: sideways}}\n");
        assert!(
            e.contains("isolate.direction") && e.contains("unknown direction"),
            "{e}"
        );
        let e = parse_err("steps:\n  - fault: {isolate: {direction: inbound}}\n");
        assert!(e.contains("isolate"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }

    /// netem needs a delay or a loss, not both.
    #[test]
    fn netem_takes_a_delay_or_a_loss_alone() {
        ok("steps:\n  - fault: {netem: {node: node-1, delay: 100ms}}\n");
        ok("steps:\n  - fault: {netem: {node: node-1, loss: 5%}}\n");
        assert!(
            parse_err("steps:\n  - fault: {netem: {node: node-1}}\n").contains("a delay or a loss")
        );
    }

    #[test]
    fn misspelt_fault() {
        let e = parse_err("steps: [{fault: {power-of: n1}}]");
        assert!(
            e.starts_with("t.yaml:1: steps[0].fault: unknown variant `power-of`"),
            "{e}"
        );
    }

    #[test]
    fn bad_duration_names_line_and_field() {
        let e = parse_err("name: x\nsteps:\n  - settle: 30s\n  - observe: soon\n");
        assert_eq!(
            e,
            "t.yaml:4: steps[1].observe: `soon` is not a duration (expected number at 0)"
        );
    }

    #[test]
    fn unknown_service_in_stop() {
        let e = parse_err("steps:\n  - fault: {stop-service: {node: any, service: kafka}}\n");
        assert!(
            e.starts_with("t.yaml:2: steps[0].fault.stop-service.service: unknown service `kafka`"),
            "{e}"
        );
    }

    #[test]
    fn all_only_for_heal() {
        assert!(parse_err("steps: [{fault: {power-off: all}}]").contains("only a target of heal"));
        ok("steps: [{fault: {heal: all}}]");
    }

    #[test]
    fn unknown_top_level_field() {
        let e = parse_err("name: x\nstep: []\n");
        assert!(e.starts_with("t.yaml:"), "{e}");
        assert!(e.contains("unknown field `step`"), "{e}");
    }

    #[test]
    fn netem_and_roundtrip() {
        let s = ok("steps:\n  - fault: {netem: {node: node-2, delay: 200ms, loss: 5%}}\n  - observe: 1m\n  - fault: {heal: node-2}\nexpect:\n  api: {available: {max_gap: 2s}}\n");
        assert_eq!(
            s.steps[0],
            Step::Fault(FaultSpec {
                kind: FaultKind::Netem {
                    delay: Duration::from_millis(200),
                    loss: 0.05
                },
                target: Target::Node("node-2".into()),
            })
        );
        let again = parse(Path::new("t.yaml"), &s.to_yaml()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn probe_settings_roundtrip_and_default() {
        let s = ok("probe: {interval: 100ms, timeout: 1s}\nsteps:\n  - fault: {release-vip: node-2}\n  - observe: 1m\n");
        assert_eq!(s.probe.interval, Duration::from_millis(100));
        assert_eq!(s.probe.timeout, Duration::from_secs(1));
        let again = parse(Path::new("t.yaml"), &s.to_yaml()).unwrap();
        assert_eq!(again, s);
        let plain = ok("steps:\n  - observe: 1m\n");
        assert_eq!(plain.probe, Scenario::default_probes());
        assert!(!plain.to_yaml().contains("probe"));
    }

    #[test]
    fn undo_pairs() {
        assert!(FaultKind::PowerOn.undoes(&FaultKind::PowerOff));
        assert!(FaultKind::StartService(Daemon::Etcd).undoes(&FaultKind::StopService(Daemon::Etcd)));
        assert!(
            !FaultKind::StartService(Daemon::Etcd).undoes(&FaultKind::StopService(Daemon::Haproxy))
        );
        assert!(!FaultKind::PowerOff.undoes(&FaultKind::PowerOn));
    }
}
