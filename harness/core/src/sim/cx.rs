//! What a component's handlers get: [`Cx`], the rest of the world as one component may see
//! and touch it, lent by [`Sim`] together with the component (`lend!`).

use std::time::Duration;

use provisioner::model::{ClusterModel, NodeId};

use super::queue::Queue;
use super::{ceph, etcd, net, Broken, Error, Event};

/// What a component's handlers may use beside their own state: the model, the wire now, the
/// client's neighbour entry (a GARP moves it), the network's loss stream, and the queue for
/// their timers. [`Sim`] lends it with the component (`Sim::keepalived`, …), so a component
/// owns its handlers and reads no other component's state.
pub(super) struct Cx<'a> {
    pub(super) model: &'a ClusterModel,
    pub(super) wire: net::Wire<'a>,
    pub(super) broken: Option<Broken>,
    pub(super) neighbour: &'a mut net::Neighbour,
    net_rng: &'a mut rand_chacha::ChaCha8Rng,
    queue: &'a mut Queue,
    stopped: &'a mut Option<Error>,
}

impl<'a> Cx<'a> {
    /// The context over a simulation's parts (`lend!` takes them apart).
    #[allow(clippy::too_many_arguments)] // one per part a handler may use
    pub(super) fn new(
        model: &'a ClusterModel,
        wire: net::Wire<'a>,
        broken: Option<Broken>,
        neighbour: &'a mut net::Neighbour,
        net_rng: &'a mut rand_chacha::ChaCha8Rng,
        queue: &'a mut Queue,
        stopped: &'a mut Option<Error>,
    ) -> Cx<'a> {
        Cx {
            model,
            wire,
            broken,
            neighbour,
            net_rng,
            queue,
            stopped,
        }
    }

    pub(super) fn now(&self) -> Duration {
        self.wire.now
    }

    /// A timer `delay` from now (as [`Sim::at`]).
    pub(super) fn at(&mut self, delay: Duration, ev: impl Into<Event>) {
        push(self.queue, self.stopped, self.wire.now + delay, ev.into());
    }

    /// Whether netem on `i`'s egress drops this packet.
    pub(super) fn lost(&mut self, i: NodeId) -> bool {
        net::lost(self.net_rng, &self.wire.nodes[i.index()])
    }

    pub(super) fn is_broken(&self, rule: Broken) -> bool {
        self.broken == Some(rule)
    }

    /// Ceph's view of the wire (its references outlive this borrow of the context).
    pub(super) fn hosts(&self) -> ceph::Hosts<'a> {
        ceph::Hosts {
            model: self.model,
            wire: self.wire,
        }
    }

    /// etcd's view of the wire (its references outlive this borrow of the context).
    pub(super) fn peers(&self) -> etcd::Peers<'a> {
        etcd::Peers {
            model: self.model,
            wire: self.wire,
        }
    }
}

/// A component of a [`Sim`] and the [`Cx`] its handlers get, borrowed apart from it.
macro_rules! lend {
    ($sim:expr, $component:ident) => {{
        let Sim {
            $component,
            model,
            now,
            nodes,
            queue,
            stopped,
            rngs,
            neighbour,
            broken,
            ..
        } = $sim;
        let wire = net::Wire { nodes, now: *now };
        let cx = Cx::new(
            model,
            wire,
            *broken,
            neighbour,
            &mut rngs.net,
            queue,
            stopped,
        );
        ($component, cx)
    }};
}

/// Queues a timer; a full queue stops the simulation (the first limit reached is kept).
pub(super) fn push(queue: &mut Queue, stopped: &mut Option<Error>, at: Duration, ev: Event) {
    if let Err(e) = queue.push(at, ev) {
        stopped.get_or_insert(e);
    }
}
pub(super) use lend;
