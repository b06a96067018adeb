//! The `bare` profile's plan: packages, files, the HA front, a 3-member etcd behind it, nginx
//! for ingress, and Ceph from Debian's packages (mons, a mgr, one bluestore OSD per storage
//! device, a replicated pool).
//!
//! Ceph's keys are made on the first monitor host and relayed to the others; nothing secret
//! is in a command line that the executor logs, and nothing goes through the workstation's
//! disk. OSD uuids are derived from the model, so a second run finds the OSDs it made.

use std::time::Duration;

use super::{
    journal, quote, service_after_config, upload, Action, Plan, Relay, RelayTo, Step, StepId,
};
use crate::model::{Ceph, ClusterModel, Node};
use crate::render::{
    self, bare, CEPH_CONF, ETCD_DEFAULT, HAPROXY_CFG, KEEPALIVED_CONF, NGINX_SITE,
};

/// Ceph's files on every node; keyrings are secrets (mode 0600).
const ADMIN_KEYRING: &str = "/etc/ceph/ceph.client.admin.keyring";
const MON_KEYRING: &str = "/etc/ceph/ceph.mon.keyring";
const OSD_BOOTSTRAP_KEYRING: &str = "/var/lib/ceph/bootstrap-osd/ceph.keyring";
const MONMAP: &str = "/etc/ceph/monmap";

/// How long daemons may take to converge (under software emulation, a Ceph monitor quorum
/// takes tens of seconds).
const SETTLE_DAEMON: Duration = Duration::from_secs(180);

/// Debian packages a node needs in the bare profile.
pub fn packages(node: &Node) -> Vec<&'static str> {
    let mut p = vec!["ceph-common", "python3-rados", "curl"];
    if node.proxy {
        p.extend(["haproxy", "keepalived"]);
    }
    if node.control_plane {
        p.extend(["etcd-server", "etcd-client"]);
    }
    if node.worker {
        p.push("nginx-light");
    }
    if node.storage() {
        p.extend(["ceph-mon", "ceph-mgr", "ceph-osd"]);
    }
    p
}

fn install(node: &Node) -> Step {
    let list = packages(node);
    let pkgs = list.join(" ");
    // Exit 0 only when every package reports `install ok installed`.
    let check = format!(
        "test \"$(dpkg-query -W -f='${{Status}}\\n' {pkgs} 2>/dev/null | grep -cx 'install ok installed')\" = {n}",
        n = list.len()
    );
    Step::shell(
        &node.name,
        "install packages",
        &check,
        format!("DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {pkgs}"),
    )
    .attempts(3)
}

/// The plan of the bare profile.
pub fn plan(model: &ClusterModel) -> Plan {
    let mut p = Plan::default();
    let files = render::render(model);
    for node in &model.nodes {
        p.add(install(node));
    }
    // Every file everywhere before any daemon starts: etcd members must agree on the cluster.
    let mut written: Vec<StepId> = files.iter().map(|f| p.add(upload(f))).collect();
    for node in &model.nodes {
        if node.proxy {
            p.add(Step::shell(
                &node.name,
                "sysctl",
                "test \"$(sysctl -n net.ipv4.ip_nonlocal_bind)\" = 1",
                format!("sysctl -p {}", quote(render::SYSCTL_CONF)),
            ));
        }
        if node.worker {
            let default = "/etc/nginx/sites-enabled/default";
            written.push(p.add(Step::shell(
                &node.name,
                "disable nginx's default site",
                &format!("! test -e {default}"),
                format!("rm -f {default}"),
            )));
        }
    }
    front_and_etcd(model, &mut p, &written);
    ceph(model, &mut p);
    etcd_members_healthy(model, &mut p);
    p
}

/// The plan's last step: every etcd member listed with its client URL and healthy, asked
/// through one member as `validate` asks. Each member's own step saw it answer locally, but
/// CI once met a `validate` right after `provision` that found only 2 of 3 members listed
/// (one had not yet published its client URL through raft): the plan ends there, not before.
fn etcd_members_healthy(model: &ClusterModel, p: &mut Plan) {
    let Some(first) = model.nodes.iter().find(|n| n.control_plane) else {
        return;
    };
    let want = model.nodes.iter().filter(|n| n.control_plane).count();
    let check = format!(
        "ETCDCTL_API=3 timeout 20 etcdctl --endpoints=http://127.0.0.1:{} endpoint health \
         --cluster -w json | {ETCD_HEALTHY_JUDGE} {want}",
        model.etcd.client_port
    );
    let everything: Vec<StepId> = (0..p.steps.len()).collect();
    p.add(
        Step::shell(&first.name, "etcd members healthy", &check, "true")
            .after(everything)
            .settle(SETTLE_DAEMON),
    );
}

/// Reads `etcdctl endpoint health --cluster -w json` on stdin; exit 0 when exactly `$1`
/// endpoints are listed and every one is healthy (etcdctl exits 1 when one is not, but lists
/// only members that have published a client URL, so the count is checked too).
const ETCD_HEALTHY_JUDGE: &str = "python3 -c 'import json,sys; e=json.load(sys.stdin); \
sys.exit(0 if len(e) == int(sys.argv[1]) and all(x[\"health\"] for x in e) else 1)'";

/// etcd on every control-plane node, then HAProxy, keepalived and nginx.
fn front_and_etcd(model: &ClusterModel, p: &mut Plan, written: &[StepId]) {
    let health = format!(
        "ETCDCTL_API=3 timeout 5 etcdctl --endpoints=http://127.0.0.1:{} endpoint health",
        model.etcd.client_port
    );
    for node in &model.nodes {
        let host = node.name.as_str();
        if node.control_plane {
            // --no-block: a member is ready only once a quorum of its peers runs, and the
            // peers start in parallel on their own hosts.
            let step = service_after_config(host, "etcd", &[ETCD_DEFAULT], true)
                .after(written.iter().copied())
                .verify(health.clone())
                .settle(SETTLE_DAEMON);
            p.add(step);
        }
        if node.worker {
            // Before HAProxy: Debian's default site listens on every address's port 80, where
            // HAProxy binds the VIP. Its folder's time changes when the default site goes.
            let sites = "/etc/nginx/sites-enabled";
            p.add(service_after_config(
                host,
                "nginx",
                &[NGINX_SITE, sites],
                false,
            ));
        }
        if node.proxy {
            p.add(service_after_config(host, "haproxy", &[HAPROXY_CFG], false));
            p.add(service_after_config(
                host,
                "keepalived",
                &[KEEPALIVED_CONF],
                false,
            ));
        }
    }
}

/// Runs `cmd` with a timeout so a Ceph command never hangs a step (no quorum, no OSDs). A
/// minute: the CLI alone takes seconds to start on a loaded, emulated machine.
fn ceph_cmd(cmd: &str) -> String {
    format!("timeout 60 {cmd}")
}

/// Ceph: keys and monmap on the first monitor host, relayed; monitors; quorum; a mgr; OSDs;
/// the pool; a write.
fn ceph(model: &ClusterModel, p: &mut Plan) {
    let mons = model.ceph_mons();
    let Some(first) = mons.first() else { return };
    let zero = first.name.as_str();
    let keys = p.add(ceph_keys(model, zero));
    let mut relayed = Vec::new();
    for node in model.nodes.iter().filter(|n| n.name != zero) {
        let is_mon = mons.iter().any(|m| m.name == node.name);
        let mut want = vec![(ADMIN_KEYRING, 0o600, "root:root")];
        if is_mon {
            want.push((MON_KEYRING, 0o600, "ceph:ceph"));
            want.push((MONMAP, 0o644, "ceph:ceph"));
        }
        if node.storage() {
            want.push((OSD_BOOTSTRAP_KEYRING, 0o600, "root:root"));
        }
        for (path, mode, owner) in want {
            relayed.push(p.add(relay(zero, &node.name, path, mode, owner).after([keys])));
        }
    }
    let mut started = Vec::new();
    for m in &mons {
        let dir = format!("/var/lib/ceph/mon/ceph-{}", m.name);
        let mkfs = Step::shell(
            &m.name,
            "ceph-mon mkfs",
            &format!("test -f {}/done", quote(&dir)),
            format!(
                "install -d -o ceph -g ceph {d} && ceph-mon --mkfs -i {n} --monmap {MONMAP} \
                 --keyring {MON_KEYRING} --setuser ceph --setgroup ceph && touch {d}/done",
                d = quote(&dir),
                n = quote(&m.name),
            ),
        )
        .after([keys])
        .after(relayed.iter().copied());
        p.add(mkfs);
        let unit = format!("ceph-mon@{}", m.name);
        started.push(p.add(service_after_config(&m.name, &unit, &[CEPH_CONF], false)));
    }
    let quorum = quorum_check(mons.len());
    let q = p.add(
        Step::shell(zero, "ceph monitor quorum", &quorum, "true")
            .after(started)
            .settle(SETTLE_DAEMON),
    );
    p.add(mgr(zero).after([q]));
    let mut osds = Vec::new();
    for node in model.nodes.iter().filter(|n| n.storage()) {
        for dev in &node.storage_devices {
            let step = osd(model, node, dev)
                .after([q])
                .after(relayed.iter().copied());
            osds.push(p.add(step));
        }
    }
    pool_ready(model, zero, osds, p);
}

/// The pool once every OSD is in, a first write, then every placement group active+clean.
fn pool_ready(model: &ClusterModel, zero: &str, osds: Vec<usize>, p: &mut Plan) {
    let pool = p.add(pool(model, zero).after(osds));
    let write = ceph_cmd(&format!(
        "rados -p {} put hadrill-provision /etc/hostname",
        quote(&model.ceph.pool)
    ));
    let written = p.add(
        Step::shell(zero, "ceph pool write", &write, "true")
            .after([pool])
            .settle(SETTLE_DAEMON),
    );
    // A pool takes writes once min_size copies of a group peer; `validate` (and a drill's
    // baseline) want every group active+clean, so the plan ends there, not before.
    p.add(
        Step::shell(zero, "ceph pgs active+clean", &pgs_clean_check(), "true")
            .after([written])
            .settle(SETTLE_DAEMON),
    );
}

/// Reads `ceph status -f json` on stdin; exit 0 when there are placement groups and every one
/// is active and clean.
const PGS_CLEAN_JUDGE: &str = "python3 -c 'import json,sys; m=json.load(sys.stdin)[\"pgmap\"]; \
ok=sum(s[\"count\"] for s in m[\"pgs_by_state\"] if {\"active\",\"clean\"} <= set(s[\"state_name\"].split(\"+\"))); \
sys.exit(0 if m[\"num_pgs\"] > 0 and ok == m[\"num_pgs\"] else 1)'";

/// Exit 0 when every placement group is active and clean.
fn pgs_clean_check() -> String {
    format!("{} | {PGS_CLEAN_JUDGE}", ceph_cmd("ceph status -f json"))
}

/// Exit 0 when `n` monitors are in quorum.
fn quorum_check(n: usize) -> String {
    let count = "python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"quorum\"]))'";
    format!(
        "test \"$({} | {count})\" = {n}",
        ceph_cmd("ceph quorum_status -f json")
    )
}

/// The first monitor host makes every key and the initial monmap. Keys stay on the hosts.
fn ceph_keys(model: &ClusterModel, zero: &str) -> Step {
    let check = [ADMIN_KEYRING, MON_KEYRING, OSD_BOOTSTRAP_KEYRING, MONMAP]
        .iter()
        .map(|f| format!("test -s {f}"))
        .collect::<Vec<_>>()
        .join(" && ");
    let [v2, v1] = Ceph::MON_PORTS;
    let addv: Vec<String> = model
        .ceph_mons()
        .iter()
        .map(|m| {
            format!(
                "--addv {} {}",
                quote(&m.name),
                quote(&format!("[v2:{a}:{v2},v1:{a}:{v1}]", a = m.address))
            )
        })
        .collect();
    let apply = format!(
        "set -e; umask 077; mkdir -p /etc/ceph /var/lib/ceph/bootstrap-osd\n\
         test -s {MON_KEYRING} || ceph-authtool --create-keyring {MON_KEYRING} --gen-key -n mon. --cap mon 'allow *'\n\
         test -s {ADMIN_KEYRING} || ceph-authtool --create-keyring {ADMIN_KEYRING} --gen-key -n client.admin \
         --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *'\n\
         test -s {OSD_BOOTSTRAP_KEYRING} || ceph-authtool --create-keyring {OSD_BOOTSTRAP_KEYRING} --gen-key \
         -n client.bootstrap-osd --cap mon 'profile bootstrap-osd' --cap mgr 'allow r'\n\
         ceph-authtool {MON_KEYRING} --import-keyring {ADMIN_KEYRING} >/dev/null\n\
         ceph-authtool {MON_KEYRING} --import-keyring {OSD_BOOTSTRAP_KEYRING} >/dev/null\n\
         chown ceph:ceph {MON_KEYRING}\n\
         test -s {MONMAP} || monmaptool --create --enable-all-features --fsid {fsid} {addv} {MONMAP}\n\
         chown ceph:ceph {MONMAP}; chmod 644 {MONMAP}",
        fsid = quote(&bare::ceph_fsid(&model.name)),
        addv = addv.join(" "),
    );
    Step::shell(zero, "ceph keys and monmap", &check, apply)
}

/// Relays one file from `from` to `to` (same path).
fn relay(from: &str, to: &str, path: &str, mode: u32, owner: &str) -> Step {
    Step {
        host: to.to_owned(),
        name: format!("relay {path}"),
        check: None,
        apply: Action::Relay(Relay {
            from: from.to_owned(),
            read: format!("cat {}", quote(path)),
            to: RelayTo::File {
                path: path.to_owned(),
                mode,
                owner: owner.to_owned(),
            },
        }),
        verify: None,
        settle: Duration::ZERO,
        after: Vec::new(),
        attempts: 1,
        logs: None,
    }
}

fn mgr(host: &str) -> Step {
    let dir = format!("/var/lib/ceph/mgr/ceph-{host}");
    let keyring = format!("{dir}/keyring");
    let unit = format!("ceph-mgr@{host}");
    let check = format!(
        "test -s {k} && systemctl is-enabled --quiet {u} && systemctl is-active --quiet {u}",
        k = quote(&keyring),
        u = quote(&unit)
    );
    let apply = format!(
        "install -d -o ceph -g ceph {d} && {get} -o {k} && chown ceph:ceph {k} && \
         systemctl enable --no-reload {u} && systemctl restart {u}",
        d = quote(&dir),
        get = ceph_cmd(&format!(
            "ceph auth get-or-create mgr.{} mon 'allow profile mgr' osd 'allow *' mds 'allow *'",
            quote(host)
        )),
        k = quote(&keyring),
        u = quote(&unit),
    );
    Step::shell(host, "ceph-mgr", &check, apply)
        .attempts(3)
        .logs_of(&unit)
}

/// One bluestore OSD on a device (a disk, or a sparse file for hosts without one). The OSD's
/// secret is made on the host, kept in a 0700 stage folder so a re-run finds it.
fn osd(model: &ClusterModel, node: &Node, dev: &str) -> Step {
    let uuid = bare::osd_uuid(model, node, dev);
    let stage = format!("/var/lib/ceph/hadrill/osd-{uuid}");
    let uuid = quote(&uuid);
    let d = quote(dev);
    let prepare = if bare::is_file_device(dev) {
        format!(
            "test -e {d} || {{ mkdir -p \"$(dirname {d})\" && truncate -s {} {d}; }}; chown ceph:ceph {d}",
            model.ceph.file_osd_size
        )
    } else {
        format!("chown ceph:ceph {d}")
    };
    let check = format!(
        "id=$(cat {st}/id 2>/dev/null) && test -f /var/lib/ceph/osd/ceph-$id/hadrill-mkfs-done \
         && systemctl is-enabled --quiet ceph-osd@$id && systemctl is-active --quiet ceph-osd@$id",
        st = quote(&stage)
    );
    let apply = format!(
        "set -e; st={st}; install -d -m 700 \"$st\"; {prepare}\n\
         test -s \"$st/secret\" || (umask 077; ceph-authtool --gen-print-key > \"$st/secret\")\n\
         id=$(printf '{{\"cephx_secret\": \"%s\"}}' \"$(cat \"$st/secret\")\" | {new})\n\
         echo \"$id\" > \"$st/id\"; dir=/var/lib/ceph/osd/ceph-$id\n\
         if ! test -f \"$dir/hadrill-mkfs-done\"; then\n\
         mkdir -p \"$dir\"; ln -sfn {d} \"$dir/block\"\n\
         ceph-authtool --create-keyring \"$dir/keyring\" --name osd.$id --add-key \"$(cat \"$st/secret\")\" >/dev/null\n\
         chown -R ceph:ceph \"$dir\"\n\
         ceph-osd -i \"$id\" --mkfs --osd-uuid {uuid} --setuser ceph --setgroup ceph\n\
         touch \"$dir/hadrill-mkfs-done\"\n\
         fi\n\
         systemctl enable --no-reload ceph-osd@$id && systemctl restart ceph-osd@$id",
        st = quote(&stage),
        new = ceph_cmd(&format!(
            "ceph osd new {uuid} -i - -n client.bootstrap-osd -k {OSD_BOOTSTRAP_KEYRING}"
        )),
    );
    let up = format!(
        "id=$(cat {st}/id) && {} | grep -q \"^osd.$id up \"",
        ceph_cmd("ceph osd dump"),
        st = quote(&stage)
    );
    // Safe to try again: the secret is kept, and `ceph osd new` returns the same id for the
    // same uuid.
    Step::shell(&node.name, format!("ceph-osd on {dev}"), &check, apply)
        .logs(format!(
            "id=$(cat {st}/id) && {}",
            journal("\"ceph-osd@$id\""),
            st = quote(&stage)
        ))
        .verify(up)
        .settle(SETTLE_DAEMON)
        .attempts(3)
}

fn pool(model: &ClusterModel, host: &str) -> Step {
    let c = &model.ceph;
    // One `ceph` process for all the commands (its interactive mode reads them from stdin):
    // each start of the CLI costs seconds on a slow machine.
    // Its answers (on stdout for `get`, stderr for `set`) come with a blank line after each;
    // the verify reads the answers, so `apply` needs none of them.
    let batch = |cmds: &[String]| {
        let lines: Vec<String> = cmds.iter().map(|c| quote(c)).collect();
        format!("printf '%s\\n' {} | timeout 60 ceph", lines.join(" "))
    };
    let check = format!(
        "test \"$({} | grep .)\" = {}",
        batch(&[
            format!("osd pool get {} size", c.pool),
            format!("osd pool get {} min_size", c.pool)
        ]),
        quote(&format!(
            "size: {}\nmin_size: {}",
            c.pool_size, c.pool_min_size
        ))
    );
    let apply = batch(&[
        format!(
            "osd pool create {} {n} {n} replicated",
            c.pool,
            n = c.pg_num
        ),
        format!(
            "osd pool set {} size {} --yes-i-really-mean-it",
            c.pool, c.pool_size
        ),
        format!("osd pool set {} min_size {}", c.pool, c.pool_min_size),
        format!("osd pool application enable {} hadrill", c.pool),
    ]);
    Step::shell(host, "ceph pool", &check, apply).attempts(3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Profile;
    use crate::plan::plan_txt;

    #[test]
    fn shape_of_the_seed_plan() {
        let m = ClusterModel::seed(Profile::Bare);
        let p = plan(&m);
        let names: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names[0], "install packages");
        let first_start = names.iter().position(|s| s.starts_with("start "));
        let last_write = names.iter().rposition(|s| s.starts_with("write "));
        assert!(last_write < first_start, "every file before any daemon");
        for name in [
            "ceph keys and monmap",
            "ceph monitor quorum",
            "ceph pool",
            "ceph pool write",
            "ceph pgs active+clean",
        ] {
            assert_eq!(names.iter().filter(|n| **n == name).count(), 1, "{name}");
        }
        assert_eq!(
            names
                .iter()
                .filter(|n| n.starts_with("ceph-osd on "))
                .count(),
            3
        );
        assert_eq!(
            names.iter().filter(|n| n.starts_with("relay ")).count(),
            2 * 4
        );
        let txt = plan_txt(&p);
        assert!(txt.starts_with("# 1. node-1: install packages\n"));
        assert!(txt.contains("relay from node-1: cat '/etc/ceph/ceph.client.admin.keyring'"));
    }

    #[test]
    fn osd_uuids_are_stable_and_distinct() {
        let m = ClusterModel::seed(Profile::Bare);
        let a = bare::osd_uuid(&m, &m.nodes[0], "/dev/sdb");
        assert_eq!(a, bare::osd_uuid(&m, &m.nodes[0], "/dev/sdb"));
        assert_ne!(a, bare::osd_uuid(&m, &m.nodes[1], "/dev/sdb"));
    }
}
