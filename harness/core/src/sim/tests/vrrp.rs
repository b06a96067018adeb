//! keepalived's takeover race: equal priorities and the second GARP burst.

use super::*;

/// The seed's cluster, probed, with its holder (node-1) powered off at 10 s and the master-down
/// timers of `disarmed` backups stopped: the test makes their takeovers.
fn holder_gone(m: ClusterModel, disarmed: &[NodeId]) -> (Sim, Record) {
    let mut sim = Sim::new(m, 1);
    let mut rec = Record::default();
    sim.set_probing(true);
    sim.run_until(Duration::from_secs(10), &mut rec).unwrap();
    sim.inject(&FaultKind::PowerOff, NodeId(0)).unwrap();
    for i in disarmed {
        sim.keepalived.nodes[i.index()].gen += 1;
    }
    (sim, rec)
}

/// keepalived on `i` takes over now, its master-down timer or not.
fn become_master(sim: &mut Sim, i: NodeId) {
    let (keepalived, mut cx) = sim.keepalived();
    keepalived.become_master(i, &mut cx);
}

#[test]
fn a_backup_stays_backup_on_an_advert_of_its_own_priority_from_a_lower_address() {
    // keepalived (RFC 3768: "greater than or equal") accepts it; only a master compares the
    // addresses. node-2 (.12) takes over at once, before node-3's (.13, the same priority)
    // master-down timer runs out: node-3 must stay a backup, not take over and win.
    let (mut sim, mut rec) = holder_gone(ClusterModel::seed(Profile::Bare), &[NodeId(1)]);
    become_master(&mut sim, NodeId(1));
    sim.run_until(Duration::from_secs(20), &mut rec).unwrap();
    assert_eq!(sim.vrrp_masters(), vec![NodeId(1)]);
}

#[test]
fn clients_left_on_a_backup_that_stepped_down_wait_for_the_second_garp_burst() {
    // Both backups take over at once; node-2 (the lower address) steps down on hearing
    // node-3. Had node-2's GARPs left last, the client sends to it: set by hand here, after
    // both takeovers' first bursts. It answers nothing (no VIP) until node-3's second burst,
    // garp_master_delay after its first; then every probe is answered. (Under the previous
    // model, with no second burst, the client stayed there until its entry went stale.)
    let mut m = ClusterModel::seed(Profile::Bare);
    m.machine.vrrp_garp_lag = Duration::from_millis(1);
    let (mut sim, mut rec) = holder_gone(m.clone(), &[NodeId(1), NodeId(2)]);
    // Late enough that HAProxy has marked the dead node's servers DOWN.
    sim.run_until(Duration::from_secs(40), &mut rec).unwrap();
    let t0 = sim.now;
    become_master(&mut sim, NodeId(1));
    become_master(&mut sim, NodeId(2));
    sim.run_until(t0 + Duration::from_millis(100), &mut rec)
        .unwrap();
    assert_eq!(
        sim.vrrp_masters(),
        vec![NodeId(2)],
        "the higher address wins"
    );
    sim.neighbour.entry = Some(NodeId(1));
    let burst = t0 + m.keepalived.garp_master_delay;
    sim.run_until(burst + Duration::from_secs(5), &mut rec)
        .unwrap();
    let api = rec.of(Service::Api);
    let (before, after): (Vec<_>, Vec<_>) = api
        .iter()
        .filter(|x| x.at >= t0 + Duration::from_millis(100))
        .partition(|x| x.at + m.probes.timeout < burst);
    assert!(
        before.len() > 10 && before.iter().all(|x| !x.ok),
        "answered on the node that stepped down"
    );
    let late: Vec<_> = after
        .iter()
        .filter(|x| x.at > burst + Duration::from_millis(10))
        .collect();
    assert!(
        late.len() > 10 && late.iter().all(|x| x.ok),
        "not back after the second burst"
    );
    assert_eq!(sim.neighbour.entry, Some(NodeId(2)));
}
