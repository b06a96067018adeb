//! `hadrill bench etcd --lab`: etcd's disk tests run on one node of a lab, over SSH.
//!
//! On the node, in a folder beside etcd's data (`/var/lib/etcd/hadrill-bench`, the same
//! filesystem): fio's fdatasync test as etcd's documentation gives it, then a scratch etcd
//! member of its own (loopback ports 23790 and 23800, so the cluster's etcd is not touched)
//! loaded by `etcdctl check perf --load=s`, its WAL fsync and backend commit histograms read
//! from its `/metrics` before and after. One member alone is what the disk model predicts: no
//! followers, no network, the disk only.
//!
//! **Safe to interrupt:** Ctrl-C or SIGTERM stops the bench after the stage in progress and
//! cleans up before it exits.
//! **Safe to kill:** the scratch member is a transient systemd unit that stops by itself
//! after [`UNIT_MAX`] and removes the bench folder when it stops, so a bench killed in the
//! middle leaves nothing behind a few minutes later; a new bench stops a stale one first.

use std::time::Duration;

use hadrill_core::bench::{self, etcd::Figures, etcd::FIO_BS, etcd::FIO_SIZE, Percentiles};
use provisioner::model::NodeId;
use provisioner::text::shell_word;

use crate::lab::nodes::Nodes;

/// The bench's folder on the node: beside etcd's data, on its filesystem.
pub const DIR: &str = "/var/lib/etcd/hadrill-bench";
/// The scratch member's unit.
pub const UNIT: &str = "hadrill-bench-etcd";
/// The scratch member stops by itself this long after it started, whatever happens to
/// hadrill.
pub const UNIT_MAX: Duration = Duration::from_secs(900);
/// Its client port, on loopback.
const CLIENT: &str = "http://127.0.0.1:23790";
const PEER: &str = "http://127.0.0.1:23800";
/// The histograms read from it.
const WAL_FSYNC: &str = "etcd_disk_wal_fsync_duration_seconds";
const BACKEND_COMMIT: &str = "etcd_disk_backend_commit_duration_seconds";
/// How long fio may take: 10,029 synced writes at up to 50 ms each, with room.
const FIO_MAX: Duration = Duration::from_secs(900);
/// check perf runs 60 s; its start and its clean-up take some more.
const PERF_MAX: Duration = Duration::from_secs(180);
const SHORT: Duration = Duration::from_secs(60);

/// Runs a command on the node with a time limit; its stdout, or an error naming the step.
fn run(nodes: &Nodes, id: NodeId, what: &str, cmd: &str, max: Duration) -> Result<String, String> {
    nodes
        .ssh_for(id, cmd, max)
        .map_err(|e| format!("{}: {what}: {e}", nodes.node(id)))
}

/// Stops the scratch member (its unit removes the bench folder) and checks that nothing is
/// left; Err says what is.
pub fn clean(nodes: &Nodes, id: NodeId) -> Result<(), String> {
    let cmd = format!(
        "systemctl stop {UNIT} 2>/dev/null; systemctl reset-failed {UNIT} 2>/dev/null; \
         rm -rf {DIR}; ! systemctl is-active --quiet {UNIT} && test ! -e {DIR}"
    );
    run(nodes, id, "clean-up", &cmd, SHORT).map(|_| ())
}

/// Measures every figure on node `id`; `say` reports each stage as it starts.
pub fn measure(nodes: &Nodes, id: NodeId, say: &dyn Fn(&str)) -> Result<Figures, String> {
    clean(nodes, id)?;
    let result = measure_clean(nodes, id, say);
    let cleaned = clean(nodes, id);
    let figures = result?;
    cleaned.map_err(|e| format!("{e} (the bench's figures were taken)"))?;
    Ok(figures)
}

/// Starts the scratch member (a transient unit that stops by itself after [`UNIT_MAX`] and
/// removes the bench folder when it stops) and waits until it answers.
fn start_member(nodes: &Nodes, id: NodeId) -> Result<(), String> {
    let etcd = format!(
        "mkdir -p {DIR} && systemd-run --quiet --unit={UNIT} --property=RuntimeMaxSec={max} \
         --property={stop} /usr/bin/etcd --name bench --data-dir {DIR}/etcd \
         --listen-client-urls {CLIENT} --advertise-client-urls {CLIENT} \
         --listen-peer-urls {PEER} --initial-advertise-peer-urls {PEER} \
         --initial-cluster bench={PEER} --initial-cluster-state new && \
         for i in $(seq 100); do ETCDCTL_API=3 etcdctl --endpoints={CLIENT} endpoint health \
         >/dev/null 2>&1 && exit 0; sleep 0.2; done; echo 'the scratch member did not answer' >&2; \
         journalctl -u {UNIT} -n 20 --no-pager >&2; exit 1",
        max = UNIT_MAX.as_secs(),
        stop = shell_word(&format!("ExecStopPost=/bin/rm -rf {DIR}")),
    );
    run(nodes, id, "scratch etcd", &etcd, SHORT).map(|_| ())
}

/// What a bench stopped by Ctrl-C or SIGTERM returns (after its clean-up).
pub const INTERRUPTED: &str = "interrupted";

fn measure_clean(nodes: &Nodes, id: NodeId, say: &dyn Fn(&str)) -> Result<Figures, String> {
    // Ctrl-C is seen between stages: the one running finishes (check perf: 60 s), then the
    // clean-up runs.
    let going = || {
        if nodes.interrupted() {
            Err(INTERRUPTED.to_owned())
        } else {
            Ok(())
        }
    };
    say(&format!(
        "fio: {} MiB of {FIO_BS}-byte writes, each followed by fdatasync, in {DIR}",
        FIO_SIZE / 1024 / 1024
    ));
    let fio = format!(
        "mkdir -p {DIR}/fio && fio --name=etcd --directory={DIR}/fio --rw=write --ioengine=sync \
         --fdatasync=1 --size={FIO_SIZE} --bs={FIO_BS} --output-format=json; \
         code=$?; rm -rf {DIR}/fio; exit $code"
    );
    let fdatasync = bench::parse_fio(&run(nodes, id, "fio", &fio, FIO_MAX)?)
        .map_err(|e| format!("{}: fio: {e}", nodes.node(id)))?;
    going()?;
    say("a scratch etcd member on the same disk (loopback ports 23790, 23800)");
    start_member(nodes, id)?;
    let metrics = || {
        run(
            nodes,
            id,
            "metrics",
            &format!("curl -sf {CLIENT}/metrics"),
            SHORT,
        )
    };
    let before = metrics()?;
    going()?;
    say("etcdctl check perf --load=s (150 puts a second for 60 s)");
    // check perf exits 1 when it fails; its output says why, and is what is read.
    let perf = run(
        nodes,
        id,
        "check perf",
        &format!("ETCDCTL_API=3 etcdctl --endpoints={CLIENT} check perf --load=s 2>&1; true"),
        PERF_MAX,
    )?;
    let check_perf = bench::parse_check_perf(&perf)
        .map_err(|e| format!("{}: {e}: {}", nodes.node(id), perf.trim()))?;
    let after = metrics()?;
    going()?;
    let hist = |name: &str| -> Result<Percentiles, String> {
        let d = bench::histogram_delta(
            &bench::parse_histogram(&before, name),
            &bench::parse_histogram(&after, name),
        );
        if d.last().is_none_or(|b| b.1 == 0) {
            return Err(format!(
                "{}: the scratch member's {name} counted nothing",
                nodes.node(id)
            ));
        }
        Ok(Percentiles::from_histogram(&d))
    };
    Ok(Figures {
        fdatasync,
        wal_fsync: hist(WAL_FSYNC)?,
        backend_commit: hist(BACKEND_COMMIT)?,
        check_perf,
    })
}
