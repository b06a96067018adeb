//! `hadrill validate`: checks a provisioned cluster as a user would, each check one line.
//!
//! `bare`: the VIP is held by exactly one node at the priority the model gives it, etcd answers `/health` and a write through the
//! VIP and HAProxy and has every member, nginx answers through the VIP, Ceph has every monitor
//! in quorum, every OSD up and in, the pool's size and min_size, and takes a write.
//! `kubernetes`: with the kube crate (credentials from the user's kubeconfig; hadrill never
//! copies admin.conf off the cluster): every node Ready, the control-plane pods on each master,
//! etcd's member list, the CephCluster's health, and ingress through the VIP.
//!
//! Only observes: nothing here changes the cluster but the test key/object each write check
//! makes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use provisioner::exec::ssh::Ssh;
use provisioner::exec::Transport;
use provisioner::model::{ClusterModel, Profile};
use provisioner::plan::quote;

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

impl Check {
    fn new(name: &str, result: Result<String, String>) -> Check {
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        Check {
            name: name.to_owned(),
            ok,
            detail,
        }
    }
}

/// The checks as a table, one per line.
pub fn table(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    checks
        .iter()
        .map(|c| {
            format!(
                "{} {:width$}  {}\n",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            )
        })
        .collect()
}

/// How long one HTTP request through the VIP may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one command on a node may take.
const SSH_TIMEOUT: Duration = Duration::from_secs(90);

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .pool_max_idle_per_host(0)
        .build()
        .expect("a plain HTTP client builds")
}

/// Runs a command on a node; Ok(stdout) when it exits 0.
async fn ssh(t: &Ssh, cmd: &str) -> Result<String, String> {
    let out = t
        .run(cmd, b"", SSH_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if out.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("`{cmd}`: {}", out.tail()))
    }
}

/// Checks the `bare` profile; the checks run at once (each is a client's question).
pub async fn bare(model: &ClusterModel, hosts: &BTreeMap<String, Arc<Ssh>>) -> Vec<Check> {
    let api = format!("http://{}:{}", model.vip, model.haproxy.api_port);
    let ingress = format!("http://{}:{}/", model.vip, model.haproxy.ingress_port);
    let Some(zero) = model
        .ceph_mons()
        .first()
        .map(|n| n.name.clone())
        .or_else(|| model.nodes.first().map(|n| n.name.clone()))
    else {
        return Vec::new();
    };
    let z = &hosts[&zero];
    let write = format!(
        "timeout 60 rados -p {} put hadrill-validate /etc/hostname",
        quote(&model.ceph.pool)
    );
    let pool_get = format!("ceph osd pool get {} all", quote(&model.ceph.pool));
    let (vip, prio, health, put, members, http, status, pool, written) = tokio::join!(
        vip_holder(model, hosts),
        vrrp_priorities(model, hosts),
        etcd_health(&api),
        etcd_write(&api),
        etcd_members(model, hosts),
        ingress_get(&ingress),
        ceph_json(z, "ceph status"),
        ceph_json(z, &pool_get),
        ssh(z, &write),
    );
    vec![
        Check::new("vip held by one node", vip),
        Check::new("vrrp priorities as modelled", prio),
        Check::new("etcd /health through the vip", health),
        Check::new("etcd write through the vip", put),
        Check::new("etcd members", members),
        Check::new("ingress through the vip", http),
        Check::new(
            "ceph monitors in quorum",
            status
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|v| ceph_quorum(model, v)),
        ),
        Check::new(
            "ceph osds up and in",
            status
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|v| ceph_osds(model, v)),
        ),
        Check::new("ceph pool size", pool.and_then(|v| ceph_pool(model, &v))),
        Check::new(
            "ceph write",
            written.map(|_| format!("pool {}", model.ceph.pool)),
        ),
    ]
}

async fn vip_holder(
    model: &ClusterModel,
    hosts: &BTreeMap<String, Arc<Ssh>>,
) -> Result<String, String> {
    let cmd = format!("ip -4 -o addr show dev {}", quote(&model.vip_interface));
    let want = format!(" {}/", model.vip);
    let mut asked = tokio::task::JoinSet::new();
    for n in model.nodes.iter().filter(|n| n.proxy) {
        let (t, cmd, name) = (Arc::clone(&hosts[&n.name]), cmd.clone(), n.name.clone());
        asked.spawn(async move { (name, ssh(&t, &cmd).await) });
    }
    let mut holders = Vec::new();
    while let Some(joined) = asked.join_next().await {
        let (name, out) = joined.map_err(|e| e.to_string())?;
        if out?.contains(&want) {
            holders.push(name);
        }
    }
    holders.sort();
    match holders.len() {
        1 => Ok(format!("{} on {}", model.vip, holders[0])),
        0 => Err(format!("no node holds {}", model.vip)),
        _ => Err(format!("{} held by {}", model.vip, holders.join(" and "))),
    }
}

/// Each proxy node's effective VRRP priority, from keepalived's own state dump (SIGUSR1), is
/// the model's for a node whose HAProxy runs: a check script that cannot pass (or a weight
/// that never applies) changes who takes the VIP, and nothing else would show it.
async fn vrrp_priorities(
    model: &ClusterModel,
    hosts: &BTreeMap<String, Arc<Ssh>>,
) -> Result<String, String> {
    // The track file's value (what `move-vip` wrote, weight 1) is added: a VIP moved on
    // purpose is a state the model knows.
    let dump = format!(
        "rm -f /tmp/keepalived.data; pkill -USR1 -x keepalived || exit 1; \
         for i in $(seq 100); do \
           grep -q 'Effective priority' /tmp/keepalived.data 2>/dev/null && break; sleep 0.1; \
         done; echo track=$(cat {} 2>/dev/null || echo 0); \
         grep -m1 'Effective priority' /tmp/keepalived.data",
        provisioner::render::front::VIP_TRACK_FILE
    );
    let mut asked = tokio::task::JoinSet::new();
    for id in model.node_ids().filter(|&i| model.node(i).proxy) {
        let (t, name) = (
            Arc::clone(&hosts[&model.node(id).name]),
            model.node(id).name.clone(),
        );
        let want = u32::from(model.vrrp_priority(id, true));
        let dump = dump.clone();
        asked.spawn(async move { (name, want, ssh(&t, &dump).await) });
    }
    let mut seen = Vec::new();
    let mut wrong = Vec::new();
    while let Some(joined) = asked.join_next().await {
        let (name, want, out) = joined.map_err(|e| e.to_string())?;
        let out = out?;
        let value = |key: &str| {
            out.lines()
                .find(|l| l.trim_start().starts_with(key))
                .and_then(|l| l.rsplit('=').next())
                .and_then(|v| v.trim().parse::<u32>().ok())
        };
        let got = value("Effective priority")
            .ok_or_else(|| format!("{name}: no priority in keepalived's dump: {}", out.trim()))?;
        let want = (want + value("track").unwrap_or(0)).min(254);
        if got != want {
            wrong.push(format!("{name} {got} (model {want})"));
        }
        seen.push(format!("{name} {got}"));
    }
    seen.sort();
    wrong.sort();
    if wrong.is_empty() {
        Ok(seen.join(", "))
    } else {
        Err(wrong.join(", "))
    }
}

async fn etcd_health(api: &str) -> Result<String, String> {
    let r = http()
        .get(format!("{api}/health"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let body = r.text().await.map_err(|e| e.to_string())?;
    if status.is_success() && body.contains("\"true\"") {
        Ok(body.trim().to_owned())
    } else {
        Err(format!("{status}: {}", body.trim()))
    }
}

async fn etcd_write(api: &str) -> Result<String, String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let body = serde_json::json!({ "key": b64("hadrill/validate"), "value": b64("ok") });
    let r = http()
        .post(format!("{api}/v3/kv/put"))
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let text = r.text().await.map_err(|e| e.to_string())?;
    if status.is_success() && text.contains("revision") {
        Ok("put hadrill/validate".to_owned())
    } else {
        Err(format!("{status}: {}", text.trim()))
    }
}

async fn etcd_members(
    model: &ClusterModel,
    hosts: &BTreeMap<String, Arc<Ssh>>,
) -> Result<String, String> {
    let first = model
        .nodes
        .iter()
        .find(|n| n.control_plane)
        .ok_or("no control-plane node")?;
    let cmd = format!(
        "ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:{} member list",
        model.etcd.client_port
    );
    let out = ssh(&hosts[&first.name], &cmd).await?;
    let started = out.lines().filter(|l| l.contains(", started,")).count();
    let want = model.nodes.iter().filter(|n| n.control_plane).count();
    if started == want {
        Ok(format!("{started} started"))
    } else {
        Err(format!("{started} of {want} members started"))
    }
}

async fn ingress_get(url: &str) -> Result<String, String> {
    let r = http().get(url).send().await.map_err(|e| e.to_string())?;
    let status = r.status();
    let body = r.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(format!("{status}, answered by {}", body.trim()))
    } else {
        Err(format!("{status}"))
    }
}

async fn ceph_json(t: &Ssh, cmd: &str) -> Result<serde_json::Value, String> {
    let out = ssh(t, &format!("timeout 60 {cmd} -f json")).await?;
    serde_json::from_str(&out).map_err(|e| format!("`{cmd}`: {e}"))
}

fn ceph_quorum(model: &ClusterModel, status: &serde_json::Value) -> Result<String, String> {
    let names: Vec<String> = status["quorum_names"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if names.len() == model.ceph_mons().len() {
        Ok(names.join(", "))
    } else {
        Err(format!(
            "quorum {names:?} of {} monitors",
            model.ceph_mons().len()
        ))
    }
}

fn ceph_osds(model: &ClusterModel, status: &serde_json::Value) -> Result<String, String> {
    let osdmap = &status["osdmap"];
    // `ceph status` nests the counts one level deeper in some releases.
    let map = if osdmap["osdmap"].is_object() {
        &osdmap["osdmap"]
    } else {
        osdmap
    };
    let get = |k: &str| map[k].as_u64().unwrap_or(0);
    let want = model
        .nodes
        .iter()
        .map(|n| n.storage_devices.len() as u64)
        .sum::<u64>();
    let (n, up, inn) = (get("num_osds"), get("num_up_osds"), get("num_in_osds"));
    if n == want && up == want && inn == want {
        Ok(format!("{up} up, {inn} in"))
    } else {
        Err(format!("{n} osds, {up} up, {inn} in; want {want}"))
    }
}

fn ceph_pool(model: &ClusterModel, pool: &serde_json::Value) -> Result<String, String> {
    let c = &model.ceph;
    let got = [
        pool["size"].as_u64().unwrap_or(0),
        pool["min_size"].as_u64().unwrap_or(0),
    ];
    let want = [u64::from(c.pool_size), u64::from(c.pool_min_size)];
    if got == want {
        Ok(format!("{} size {} min_size {}", c.pool, got[0], got[1]))
    } else {
        Err(format!(
            "{} size {} min_size {}, want {} / {}",
            c.pool, got[0], got[1], want[0], want[1]
        ))
    }
}

/// Checks the `kubernetes` profile with the kube crate.
pub async fn kubernetes(model: &ClusterModel, kubeconfig: &std::path::Path) -> Vec<Check> {
    let client = match kube_client(kubeconfig).await {
        Ok(c) => c,
        Err(e) => return vec![Check::new("kubeconfig", Err(e))],
    };
    let ingress = format!("http://{}:{}/", model.vip, model.haproxy.ingress_port);
    vec![
        Check::new("api /readyz", kube_readyz(&client).await),
        Check::new("nodes ready", kube_nodes(model, &client).await),
        Check::new(
            "control plane on every master",
            kube_control_plane(model, &client).await,
        ),
        Check::new("etcd members", kube_etcd_members(model, &client).await),
        Check::new("ceph cluster health", kube_ceph_health(&client).await),
        Check::new("ingress through the vip", ingress_get(&ingress).await),
    ]
}

/// A Kubernetes client from a kubeconfig file (the user's: hadrill never copies admin.conf).
pub async fn kube_client(path: &std::path::Path) -> Result<kube::Client, String> {
    let kc = kube::config::Kubeconfig::read_from(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut cfg =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
    cfg.connect_timeout = Some(HTTP_TIMEOUT);
    cfg.read_timeout = Some(Duration::from_secs(15));
    kube::Client::try_from(cfg).map_err(|e| e.to_string())
}

async fn kube_readyz(client: &kube::Client) -> Result<String, String> {
    let req = http::Request::get("/readyz")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    client
        .request_text(req)
        .await
        .map(|t| t.trim().to_owned())
        .map_err(|e| e.to_string())
}

async fn kube_nodes(model: &ClusterModel, client: &kube::Client) -> Result<String, String> {
    use k8s_openapi::api::core::v1::Node;
    let nodes: kube::Api<Node> = kube::Api::all(client.clone());
    let list = nodes
        .list(&Default::default())
        .await
        .map_err(|e| e.to_string())?;
    let ready: Vec<String> = list
        .items
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    let missing: Vec<&str> = model
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .filter(|n| !ready.iter().any(|r| r == n))
        .collect();
    if missing.is_empty() {
        Ok(format!("{} ready", ready.len()))
    } else {
        Err(format!("not ready: {}", missing.join(", ")))
    }
}

async fn kube_control_plane(model: &ClusterModel, client: &kube::Client) -> Result<String, String> {
    use k8s_openapi::api::core::v1::Pod;
    let pods: kube::Api<Pod> = kube::Api::namespaced(client.clone(), "kube-system");
    let list = pods
        .list(&kube::api::ListParams::default().labels("tier=control-plane"))
        .await
        .map_err(|e| e.to_string())?;
    let mut missing = Vec::new();
    for n in model.nodes.iter().filter(|n| n.control_plane) {
        for component in [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
        ] {
            let running = list.items.iter().any(|p| {
                p.metadata.name.as_deref() == Some(&format!("{component}-{}", n.name))
                    && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            });
            if !running {
                missing.push(format!("{component} on {}", n.name));
            }
        }
    }
    if missing.is_empty() {
        Ok("etcd, kube-apiserver, kube-controller-manager, kube-scheduler running".to_owned())
    } else {
        Err(format!("not running: {}", missing.join(", ")))
    }
}

async fn kube_etcd_members(model: &ClusterModel, client: &kube::Client) -> Result<String, String> {
    use k8s_openapi::api::core::v1::Pod;
    let zero = model
        .zero_master()
        .map(|z| model.node(z).name.clone())
        .ok_or("no master")?;
    let pods: kube::Api<Pod> = kube::Api::namespaced(client.clone(), "kube-system");
    let pki = "/etc/kubernetes/pki/etcd";
    let cmd = [
        "etcdctl".to_owned(),
        format!("--cacert={pki}/ca.crt"),
        format!("--cert={pki}/healthcheck-client.crt"),
        format!("--key={pki}/healthcheck-client.key"),
        "member".to_owned(),
        "list".to_owned(),
    ];
    let mut attached = pods
        .exec(
            &format!("etcd-{zero}"),
            cmd,
            &kube::api::AttachParams::default().stderr(false),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    if let Some(mut stdout) = attached.stdout() {
        use tokio::io::AsyncReadExt as _;
        stdout
            .read_to_string(&mut out)
            .await
            .map_err(|e| e.to_string())?;
    }
    let _ = attached.join().await;
    let started = out.lines().filter(|l| l.contains(", started,")).count();
    let want = model.nodes.iter().filter(|n| n.control_plane).count();
    if started == want {
        Ok(format!("{started} started"))
    } else {
        Err(format!("{started} of {want} members started"))
    }
}

async fn kube_ceph_health(client: &kube::Client) -> Result<String, String> {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let gvk = GroupVersionKind::gvk("ceph.rook.io", "v1", "CephCluster");
    let ar = ApiResource::from_gvk(&gvk);
    let api: kube::Api<DynamicObject> =
        kube::Api::namespaced_with(client.clone(), "rook-ceph", &ar);
    let list = api
        .list(&Default::default())
        .await
        .map_err(|e| e.to_string())?;
    let cluster = list.items.first().ok_or("no CephCluster in rook-ceph")?;
    let health = cluster.data["status"]["ceph"]["health"]
        .as_str()
        .unwrap_or("unknown")
        .to_owned();
    if health == "HEALTH_OK" || health == "HEALTH_WARN" {
        Ok(health)
    } else {
        Err(health)
    }
}

/// How long to rest between rounds of checks while waiting for a cluster to settle (a round
/// runs the Ceph CLI on a node: seconds of CPU on an emulated guest, so not more often).
const ROUND_PAUSE: Duration = Duration::from_secs(5);

/// Runs `round` until every check holds, `wait` has passed or `give_up` says so; returns the
/// last round and, for each check that failed in an earlier round but holds now, a line saying
/// so (a flapping etcd leader or a late OSD is worth knowing even when it settled).
pub async fn until_settled<F, Fut>(
    wait: Duration,
    give_up: impl Fn() -> bool,
    mut round: F,
) -> (Vec<Check>, Vec<String>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<Check>>,
{
    let start = tokio::time::Instant::now();
    let mut first_failure: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let checks = round().await;
        for c in checks.iter().filter(|c| !c.ok) {
            first_failure
                .entry(c.name.clone())
                .or_insert_with(|| c.detail.clone());
        }
        let all_ok = checks.iter().all(|c| c.ok);
        if all_ok || start.elapsed() + ROUND_PAUSE > wait || give_up() {
            let elapsed = start.elapsed().as_secs();
            let settled = checks
                .iter()
                .filter(|c| c.ok)
                .filter_map(|c| {
                    let was = first_failure.get(&c.name)?;
                    Some(format!(
                        "{} failed at first ({was}); holds after {elapsed} s",
                        c.name
                    ))
                })
                .collect();
            return (checks, settled);
        }
        tokio::time::sleep(ROUND_PAUSE).await;
    }
}

/// Checks a cluster of either profile.
pub async fn validate(
    model: &ClusterModel,
    hosts: &BTreeMap<String, Arc<Ssh>>,
    kubeconfig: &std::path::Path,
) -> Vec<Check> {
    match model.profile {
        Profile::Bare => bare(model, hosts).await,
        Profile::Kubernetes => kubernetes(model, kubeconfig).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, ok: bool, detail: &str) -> Check {
        Check {
            name: name.to_owned(),
            ok,
            detail: detail.to_owned(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_that_settles_passes_and_says_it_failed_first() {
        let mut n = 0;
        let (checks, settled) = until_settled(
            Duration::from_secs(60),
            || false,
            || {
                n += 1;
                let ok = n >= 3;
                async move {
                    vec![
                        check("etcd", ok, if ok { "true" } else { "503" }),
                        check("vip", true, "node-1"),
                    ]
                }
            },
        )
        .await;
        assert!(checks.iter().all(|c| c.ok));
        assert_eq!(n, 3);
        assert_eq!(
            settled,
            vec!["etcd failed at first (503); holds after 10 s".to_owned()]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_that_never_holds_fails_when_the_wait_is_over() {
        let mut n = 0;
        let (checks, settled) = until_settled(
            Duration::from_secs(10),
            || false,
            || {
                n += 1;
                async { vec![check("ceph", false, "2 up")] }
            },
        )
        .await;
        assert!(!checks[0].ok);
        assert_eq!(
            n, 3,
            "rounds at 0, 5 and 10 s; one at 15 s would pass the 10 s wait"
        );
        assert!(settled.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn no_wait_checks_once() {
        let mut n = 0;
        let (checks, _) = until_settled(
            Duration::ZERO,
            || false,
            || {
                n += 1;
                async { vec![check("ceph", false, "2 up")] }
            },
        )
        .await;
        assert_eq!((n, checks.len()), (1, 1));
    }
}
