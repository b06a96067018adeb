//! HAProxy's connections: a refused server, `retries` and `option redispatch`.

use super::*;
use crate::record::Sample;
use crate::scenario::Daemon;

/// The seed's bare cluster, probed, with etcd stopped cleanly on node-3 (a follower: no
/// election) at 10 s, run until HAProxy has marked it DOWN for sure. The API samples from the
/// stop on, and when node-3's etcd went DOWN on the VIP holder's HAProxy at the latest.
fn etcd_refused_on_node_3(m: &ClusterModel) -> (Vec<Sample>, Duration) {
    let mut sim = Sim::new(m.clone(), 1);
    let mut rec = Record::default();
    sim.set_probing(true);
    sim.run_until(Duration::from_secs(10), &mut rec).unwrap();
    assert_eq!(sim.etcd.leader, Some(NodeId(0)), "node-3 is a follower");
    let stop = sim.now;
    sim.inject(&FaultKind::StopService(Daemon::Etcd), NodeId(2))
        .unwrap();
    // HAProxy's checks: `fall` failures `inter` apart, the first within `inter` of the stop.
    let h = &m.haproxy;
    let down = stop + h.check_inter * (h.check_fall + 1);
    sim.run_until(down + Duration::from_secs(5), &mut rec)
        .unwrap();
    let api = rec.of(Service::Api).iter().filter(|s| s.at >= stop);
    (api.cloned().collect(), down)
}

#[test]
fn a_refusing_server_costs_a_redispatching_round_robin_nothing() {
    // The seed: `retries 3`, `option redispatch`, `balance roundrobin`, three servers UP. A
    // connection refused by node-3 goes at once to the next server (HAProxy's
    // stream_choose_redispatch), so no probe fails while node-3 is still UP.
    let m = ClusterModel::seed(Profile::Bare);
    assert!(m.haproxy.redispatch && m.haproxy.retries == 3);
    let (api, _) = etcd_refused_on_node_3(&m);
    assert!(api.len() > 50, "{} samples", api.len());
    let failed: Vec<_> = api.iter().filter(|s| !s.ok).collect();
    assert!(failed.is_empty(), "{failed:?}");
}

#[test]
fn without_redispatch_a_refusing_server_fails_the_requests_sent_to_it_until_down() {
    // Without `option redispatch` each retry goes to node-3 again (after HAProxy's
    // turn-around) and is refused again. Round-robin sends one connection in three there, so about a third of the
    // probes fail, each for the refusal, and none once node-3 is DOWN.
    let mut m = ClusterModel::seed(Profile::Bare);
    m.haproxy.redispatch = false;
    let (api, down) = etcd_refused_on_node_3(&m);
    let failed: Vec<_> = api.iter().filter(|s| !s.ok).collect();
    assert!(!failed.is_empty(), "no probe failed");
    for s in &failed {
        assert_eq!(s.cause, "haproxy sent it to a refusing server not yet DOWN");
        assert!(s.at < down, "failed at {:?}, after DOWN at {down:?}", s.at);
    }
    let before_down = api.iter().filter(|s| s.at < down).count();
    // The bare probe's two requests each take their own pick: a probe fails when either
    // lands on node-3, at most two in three, at least one in three (of probes sent up to
    // the first check's failures).
    assert!(
        failed.len() * 4 >= before_down && failed.len() * 4 <= before_down * 3,
        "{} of {before_down} failed",
        failed.len()
    );
}

/// The API samples of the seed's bare cluster with node-3 paused at 10 s (a silent server:
/// its SYNs go unanswered), until 6 s later, with HAProxy's `timeout connect` set to `connect`.
fn node_3_silent(connect: Duration) -> Vec<Sample> {
    let mut m = ClusterModel::seed(Profile::Bare);
    m.haproxy.timeout_connect = connect;
    let mut sim = Sim::new(m, 1);
    let mut rec = Record::default();
    sim.set_probing(true);
    sim.run_until(Duration::from_secs(10), &mut rec).unwrap();
    sim.inject(&FaultKind::Pause, NodeId(2)).unwrap();
    sim.run_until(Duration::from_secs(16), &mut rec).unwrap();
    let api = rec
        .of(Service::Api)
        .iter()
        .filter(|s| s.at >= Duration::from_secs(10));
    api.cloned().collect()
}

#[test]
fn a_silent_server_holds_a_connection_for_timeout_connect_then_redispatches() {
    // The seed's 10 s `timeout connect` outlasts the probe's 2 s: a connection sent to a
    // silent node-3 fails. With 500 ms, HAProxy gives up on node-3 after 500 ms and
    // redispatches: the probe is answered, 500 ms late.
    let seed = node_3_silent(Duration::from_secs(10));
    let failed: Vec<_> = seed.iter().filter(|s| !s.ok).collect();
    assert!(!failed.is_empty());
    for s in &failed {
        assert_eq!(s.cause, "haproxy sent it to a silent server not yet DOWN");
    }
    let short = node_3_silent(Duration::from_millis(500));
    assert!(short.iter().all(|s| s.ok), "{short:?}");
    let late = short
        .iter()
        .filter(|s| s.latency >= Duration::from_millis(500))
        .count();
    assert!(late > 0, "no probe waited for the silent server");
}
