//! Scenario files: YAML drills that run unchanged on every lab.
//!
//! A scenario is a list of steps (settle, observe, fault) and an expectation per service. This
//! module parses and checks the file; it does not know labs, nodes or time. Roles in targets
//! (`vip-holder`, ...) stay roles here: labs resolve them when the step runs.
//!
//! **Invariant:** a bad file is an [`Error`] naming file, line and field, never a panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::record::Service;

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
}

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
    /// The ingress controller: traefik (kubernetes) or nginx (bare).
    Traefik,
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
        Daemon::Traefik,
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
            Daemon::Traefik => "traefik",
        }
    }

    fn parse(s: &str) -> Option<Daemon> {
        Daemon::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// A fault kind with its parameters, not yet bound to a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Pull the power (libvirt destroy).
    PowerOff,
    /// Power on again.
    PowerOn,
    /// Clean reboot.
    Reboot,
    /// Clean shutdown (power on to undo).
    Shutdown,
    /// Suspend the machine (libvirt suspend): it stops where it is, its clock too.
    Pause,
    /// Resume a paused machine.
    Resume,
    /// Cut the node off in the network; it keeps its link (and so its VIP).
    Isolate,
    /// Lose the carrier on the node's interface: keepalived goes FAULT.
    LinkDown,
    /// Restore the carrier.
    LinkUp,
    /// Undo every network fault of the target (isolate, netem, link-down).
    Heal,
    /// Delay and loss on the node's link.
    Netem {
        /// Added one-way delay.
        delay: Duration,
        /// Packet loss, 0–1.
        loss: f64,
    },
    /// Kill a daemon (SIGKILL; the unit does not restart it).
    StopService(Daemon),
    /// Start a daemon again.
    StartService(Daemon),
    /// Make the VIP move to the target (lower the holder's priority).
    MoveVip,
    /// Cordon and evict the pods of the node (kubernetes) or take it out of the LB (bare).
    Drain,
    /// Make the node schedulable again.
    Uncordon,
    /// The storage disk slows down to a disk profile.
    SlowDisk(String),
    /// The storage disk fails (I/O errors).
    FailDisk,
    /// The storage disk is healthy again.
    RestoreDisk,
}

impl FaultKind {
    /// The scenario key.
    pub fn key(&self) -> &'static str {
        match self {
            FaultKind::PowerOff => "power-off",
            FaultKind::PowerOn => "power-on",
            FaultKind::Reboot => "reboot",
            FaultKind::Shutdown => "shutdown",
            FaultKind::Pause => "pause",
            FaultKind::Resume => "resume",
            FaultKind::Isolate => "isolate",
            FaultKind::LinkDown => "link-down",
            FaultKind::LinkUp => "link-up",
            FaultKind::Heal => "heal",
            FaultKind::Netem { .. } => "netem",
            FaultKind::StopService(_) => "stop-service",
            FaultKind::StartService(_) => "start-service",
            FaultKind::MoveVip => "move-vip",
            FaultKind::Drain => "drain",
            FaultKind::Uncordon => "uncordon",
            FaultKind::SlowDisk(_) => "slow-disk",
            FaultKind::FailDisk => "fail-disk",
            FaultKind::RestoreDisk => "restore-disk",
        }
    }

    /// Whether this kind undoes a fault of kind `other` (`power-on` undoes `power-off`).
    pub fn undoes(&self, other: &FaultKind) -> bool {
        use FaultKind as K;
        match (self, other) {
            (K::PowerOn, K::PowerOff | K::Shutdown) => true,
            (K::Resume, K::Pause) => true,
            (K::Heal, K::Isolate | K::Netem { .. } | K::LinkDown) => true,
            (K::LinkUp, K::LinkDown) => true,
            (K::StartService(a), K::StopService(b)) => a == b,
            (K::Uncordon, K::Drain) => true,
            (K::RestoreDisk, K::SlowDisk(_) | K::FailDisk) => true,
            _ => false,
        }
    }

    /// Whether this kind is an undo of another kind (it opens no fault window of its own).
    pub fn is_undo(&self) -> bool {
        matches!(
            self,
            FaultKind::PowerOn
                | FaultKind::Resume
                | FaultKind::Heal
                | FaultKind::LinkUp
                | FaultKind::StartService(_)
                | FaultKind::Uncordon
                | FaultKind::RestoreDisk
        )
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
            k => write!(f, "{} {}", k.key(), self.target),
        }
    }
}

/// What must hold for one service over the whole drill.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
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
    /// The file could not be read.
    #[error("{path}: cannot read")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid scenario.
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: u64,
        /// Where in the document (`steps[0].fault`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
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
        message: e.message,
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
        FaultKind::Netem { delay, loss } => {
            format!(
                "{{netem: {{node: {t}, delay: {}, loss: {}%}}}}",
                fmt_dur(*delay),
                loss * 100.0
            )
        }
        FaultKind::SlowDisk(p) => format!("{{slow-disk: {{node: {t}, profile: {p}}}}}"),
        FaultKind::MoveVip => format!("{{move-vip: {{to: {t}}}}}"),
        k => format!("{{{}: {t}}}", k.key()),
    }
}

/// The file's form, as serde reads it, before the checks that give it meaning.
mod raw {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct RawScenario {
        name: Option<String>,
        #[serde(default)]
        description: String,
        steps: Vec<RawStep>,
        #[serde(default)]
        expect: BTreeMap<String, RawExpect>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    enum RawStep {
        Settle(String),
        Observe(String),
        Fault(RawFault),
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    enum RawFault {
        PowerOff(String),
        PowerOn(String),
        Reboot(String),
        Shutdown(String),
        Pause(String),
        Resume(String),
        Isolate(String),
        LinkDown(String),
        LinkUp(String),
        Heal(String),
        Drain(String),
        Uncordon(String),
        FailDisk(String),
        RestoreDisk(String),
        MoveVip(MoveVip),
        StopService(NodeService),
        StartService(NodeService),
        Netem(Netem),
        SlowDisk(SlowDisk),
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct MoveVip {
        to: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NodeService {
        node: String,
        service: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Netem {
        node: String,
        #[serde(default)]
        delay: Option<String>,
        #[serde(default)]
        loss: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SlowDisk {
        node: String,
        profile: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "kebab-case", untagged)]
    enum RawExpect {
        Word(String),
        Map(BTreeMap<String, RawAvailable>),
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
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
            if t.starts_with("steps:") {
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
                    format!("`{name}` is not a name (letters, digits, - _ .)"),
                ));
            }
            if self.steps.is_empty() {
                return Err(("steps".into(), "a scenario needs at least one step".into()));
            }
            let steps = self
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| s.check().map_err(|(f, m)| (format!("steps[{i}]{f}"), m)))
                .collect::<Result<Vec<_>, _>>()?;
            let mut expect = BTreeMap::new();
            for (key, e) in &self.expect {
                let service = Service::ALL
                    .into_iter()
                    .find(|s| s.as_str() == key)
                    .ok_or_else(|| {
                        (
                            format!("expect.{key}"),
                            format!("unknown service `{key}` (api, ceph, ingress)"),
                        )
                    })?;
                expect.insert(
                    service,
                    e.check().map_err(|m| (format!("expect.{key}"), m))?,
                );
            }
            Ok(Scenario {
                name,
                description: self.description.clone(),
                steps,
                expect,
            })
        }
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

    impl RawFault {
        fn check(&self) -> Result<FaultSpec, Field> {
            use FaultKind as K;
            let node = |kind: FaultKind, t: &str, field: &str| -> Result<FaultSpec, Field> {
                let target = Target::parse(t);
                let all_ok = matches!(kind, K::Heal);
                if target == Target::All && !all_ok {
                    return Err((
                        field.into(),
                        format!("`all` is only a target of heal, not of {}", kind.key()),
                    ));
                }
                if t.is_empty() {
                    return Err((field.into(), "empty target".into()));
                }
                Ok(FaultSpec { kind, target })
            };
            match self {
                RawFault::PowerOff(t) => node(K::PowerOff, t, ".power-off"),
                RawFault::PowerOn(t) => node(K::PowerOn, t, ".power-on"),
                RawFault::Reboot(t) => node(K::Reboot, t, ".reboot"),
                RawFault::Shutdown(t) => node(K::Shutdown, t, ".shutdown"),
                RawFault::Pause(t) => node(K::Pause, t, ".pause"),
                RawFault::Resume(t) => node(K::Resume, t, ".resume"),
                RawFault::Isolate(t) => node(K::Isolate, t, ".isolate"),
                RawFault::LinkDown(t) => node(K::LinkDown, t, ".link-down"),
                RawFault::LinkUp(t) => node(K::LinkUp, t, ".link-up"),
                RawFault::Heal(t) => node(K::Heal, t, ".heal"),
                RawFault::Drain(t) => node(K::Drain, t, ".drain"),
                RawFault::Uncordon(t) => node(K::Uncordon, t, ".uncordon"),
                RawFault::FailDisk(t) => node(K::FailDisk, t, ".fail-disk"),
                RawFault::RestoreDisk(t) => node(K::RestoreDisk, t, ".restore-disk"),
                RawFault::MoveVip(m) => node(K::MoveVip, &m.to, ".move-vip.to"),
                RawFault::StopService(ns) => node(
                    K::StopService(daemon(ns, ".stop-service")?),
                    &ns.node,
                    ".stop-service.node",
                ),
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
                            format!("unknown disk profile `{}` ({known})", s.profile),
                        ));
                    }
                    node(K::SlowDisk(s.profile.clone()), &s.node, ".slow-disk.node")
                }
            }
        }
    }

    fn daemon(ns: &NodeService, field: &str) -> Result<Daemon, Field> {
        Daemon::parse(&ns.service).ok_or_else(|| {
            let known: Vec<_> = Daemon::ALL.iter().map(|d| d.as_str()).collect();
            (
                format!("{field}.service"),
                format!("unknown service `{}` ({})", ns.service, known.join(", ")),
            )
        })
    }

    impl RawExpect {
        fn check(&self) -> Result<Expect, String> {
            match self {
                RawExpect::Word(w) if w == "unavailable" => Ok(Expect::Unavailable),
                RawExpect::Word(w) => Err(format!(
                    "unknown expectation `{w}` (available or unavailable)"
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
                            "unknown expectation `{other}` (available or unavailable)"
                        )),
                    }
                }
            }
        }
    }

    /// Longest duration a step may take: one simulated day.
    const STEP_MAX: Duration = Duration::from_secs(86_400);

    fn duration(s: &str) -> Result<Duration, String> {
        let d = humantime::parse_duration(s.trim())
            .map_err(|e| format!("`{s}` is not a duration ({e})"))?;
        if d > STEP_MAX {
            return Err(format!("`{s}` is longer than a day"));
        }
        Ok(d)
    }

    fn percent(s: &str) -> Result<f64, String> {
        let n = s
            .trim()
            .strip_suffix('%')
            .ok_or_else(|| format!("`{s}` is not a percentage like 5%"))?;
        let v: f64 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a percentage like 5%"))?;
        if !(0.0..=100.0).contains(&v) {
            return Err(format!("`{s}` is not between 0% and 100%"));
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
    fn undo_pairs() {
        assert!(FaultKind::PowerOn.undoes(&FaultKind::PowerOff));
        assert!(FaultKind::StartService(Daemon::Etcd).undoes(&FaultKind::StopService(Daemon::Etcd)));
        assert!(
            !FaultKind::StartService(Daemon::Etcd).undoes(&FaultKind::StopService(Daemon::Haproxy))
        );
        assert!(!FaultKind::PowerOff.undoes(&FaultKind::PowerOn));
    }
}
