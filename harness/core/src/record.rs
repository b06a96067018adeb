//! The record of one drill: an append-only list of probe samples and fault marks.
//!
//! Probes write samples, the drill loop writes marks; nothing here judges. Verdicts are computed
//! from a finished [`Record`] by `verdict`, reports are drawn from both.
//!
//! **Invariant:** samples of one service are appended in time order (checked on push).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A service that users of the cluster depend on, as a client sees it through the VIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    /// The Kubernetes API (`/readyz` and a write); in the `bare` profile, etcd through HAProxy.
    Api,
    /// A write to the replicated Ceph pool.
    Ceph,
    /// An HTTP GET through HAProxy :80 and the ingress controller.
    Ingress,
}

impl Service {
    /// Every service, in report order.
    pub const ALL: [Service; 3] = [Service::Api, Service::Ceph, Service::Ingress];

    /// The name used in scenario files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Api => "api",
            Service::Ceph => "ceph",
            Service::Ingress => "ingress",
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One probe's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// When the probe was sent, from the start of the drill.
    pub at: Duration,
    /// Whether it succeeded within the probe timeout.
    pub ok: bool,
    /// How long it took (the timeout when it failed by timing out).
    pub latency: Duration,
    /// Why it failed (`vip unreachable`, `etcd has no leader`, ...); empty when it succeeded.
    pub cause: std::borrow::Cow<'static, str>,
}

/// What a mark on the timeline stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MarkKind {
    /// A fault was injected.
    Fault,
    /// A fault was undone (power-on, heal, start-service, ...).
    Undo,
    /// A step boundary (settle/observe).
    Step,
}

/// A fault or step mark on the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// When it happened, from the start of the drill.
    pub at: Duration,
    /// What kind of mark.
    pub kind: MarkKind,
    /// What happened, with the resolved node: `power-off node-1 (vip-holder)`.
    pub label: String,
}

/// Everything one drill of one scenario recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Samples of each service, in time order.
    pub samples: BTreeMap<Service, Vec<Sample>>,
    /// Fault, undo and step marks, in time order.
    pub marks: Vec<Mark>,
    /// When the drill ended.
    pub end: Duration,
}

/// How long past its deadline the Ceph probe waits for its agent's answer (a line that crosses
/// the network from the agent's node) before it gives up on that agent and moves to the next
/// storage node's; the simulation's probe does the same.
pub const AGENT_GRACE: Duration = Duration::from_millis(500);

/// Most samples one service may record in one drill (a day of probes at 200 ms).
pub const SAMPLES_MAX: usize = 432_000;

/// A service's samples already number [`SAMPLES_MAX`]: the record takes no more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("samples of {service}: limit SAMPLES_MAX ({SAMPLES_MAX}) reached")]
pub struct Full {
    /// The service.
    pub service: Service,
}

impl Record {
    /// Appends a probe result. A caller whose input can make more than [`SAMPLES_MAX`] calls
    /// uses [`Record::try_push`].
    pub fn push(&mut self, service: Service, sample: Sample) {
        self.try_push(service, sample)
            .expect("the caller keeps within SAMPLES_MAX");
    }

    /// Appends a probe result, unless the service has [`SAMPLES_MAX`] already.
    pub fn try_push(&mut self, service: Service, sample: Sample) -> Result<(), Full> {
        let list = self.samples.entry(service).or_default();
        assert!(
            list.last().is_none_or(|last| last.at <= sample.at),
            "samples out of order"
        );
        if list.len() >= SAMPLES_MAX {
            return Err(Full { service });
        }
        list.push(sample);
        if sample_end(list) > self.end {
            self.end = sample_end(list);
        }
        Ok(())
    }

    /// Appends a mark.
    pub fn mark(&mut self, at: Duration, kind: MarkKind, label: impl Into<String>) {
        assert!(
            self.marks.last().is_none_or(|m| m.at <= at),
            "marks out of order"
        );
        self.marks.push(Mark {
            at,
            kind,
            label: label.into(),
        });
        self.end = self.end.max(at);
    }

    /// The samples of one service (empty if it was not probed).
    pub fn of(&self, service: Service) -> &[Sample] {
        self.samples.get(&service).map_or(&[], Vec::as_slice)
    }
}

fn sample_end(list: &[Sample]) -> Duration {
    list.last().map_or(Duration::ZERO, |s| s.at)
}
