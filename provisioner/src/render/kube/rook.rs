//! `20-rook-cluster.yaml`: the Ceph cluster rook runs (its CRDs and operator come from
//! upstream first, see [`super::upstream`]): the `rook-config-override` with the model's Ceph
//! timers, the CephCluster, the replicated CephBlockPool and the default `rook-ceph-block`
//! storage class. rook's custom resources are small typed structs here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::k8s::{config_map, labels, meta, Docs, Labels};
use crate::model::ClusterModel;
use crate::render::secs;

/// rook's namespace (made by upstream's `common.yaml`).
pub(super) const NAMESPACE: &str = "rook-ceph";
/// The storage class every rendered volume claim names.
pub(super) const STORAGE_CLASS: &str = "rook-ceph-block";
/// rook's API group and version.
const ROOK_API: &str = "ceph.rook.io/v1";

/// A rook CephCluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CephCluster {
    pub(super) api_version: String,
    pub(super) kind: String,
    pub(super) metadata: ObjectMeta,
    pub(super) spec: CephClusterSpec,
}

/// What rook makes of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CephClusterSpec {
    pub(super) ceph_version: CephVersion,
    pub(super) data_dir_host_path: String,
    pub(super) mon: Daemons,
    pub(super) mgr: Daemons,
    pub(super) dashboard: Enabled,
    pub(super) priority_class_names: BTreeMap<String, String>,
    pub(super) storage: Storage,
}

/// The Ceph image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CephVersion {
    pub(super) image: String,
    pub(super) allow_unsupported: bool,
}

/// How many of a daemon, and whether two may share a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Daemons {
    pub(super) count: u32,
    pub(super) allow_multiple_per_node: bool,
}

/// An on/off switch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Enabled {
    pub(super) enabled: bool,
}

/// Which devices of which nodes become OSDs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Storage {
    pub(super) use_all_nodes: bool,
    pub(super) use_all_devices: bool,
    pub(super) nodes: Vec<StorageNode>,
}

/// One storage node (its name is its `kubernetes.io/hostname`) and its devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StorageNode {
    pub(super) name: String,
    pub(super) devices: Vec<Device>,
}

/// One OSD device: `sdb`, or a full path such as `/dev/disk/by-id/...`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Device {
    pub(super) name: String,
}

/// A rook CephBlockPool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CephBlockPool {
    pub(super) api_version: String,
    pub(super) kind: String,
    pub(super) metadata: ObjectMeta,
    pub(super) spec: BlockPoolSpec,
}

/// A replicated pool spread over hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct BlockPoolSpec {
    pub(super) failure_domain: String,
    pub(super) replicated: Replicated,
    /// `ceph osd pool set` properties; values are strings.
    pub(super) parameters: BTreeMap<String, String>,
}

/// Replication of a pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Replicated {
    pub(super) size: u32,
    pub(super) require_safe_replica_size: bool,
}

/// The manifest.
pub(super) fn manifest(model: &ClusterModel) -> String {
    let mut docs = Docs::default();
    docs.push(&config_map(
        "rook-config-override",
        NAMESPACE,
        &Labels::new(),
        vec![("config", config_override(model))],
    ));
    docs.push(&cluster(model));
    docs.push(&pool(model));
    docs.push(&storage_class(model));
    docs.finish()
}

/// Ceph settings every rook daemon reads at start (rook's `rook-config-override`): the
/// model's failure-detection timers, so that the simulation and the cluster agree. A config
/// map works with every rook release, where `spec.cephConfig` needs a recent one.
pub(super) fn config_override(model: &ClusterModel) -> String {
    let c = &model.ceph;
    let mut s = String::from("[global]\n");
    let settings = [
        ("osd_heartbeat_interval", secs(c.osd_heartbeat_interval)),
        ("osd_heartbeat_grace", secs(c.osd_heartbeat_grace)),
        (
            "mon_osd_min_down_reporters",
            c.min_down_reporters.to_string(),
        ),
        ("osd_mon_report_interval", secs(c.osd_mon_report_interval)),
        ("paxos_propose_interval", secs(c.paxos_propose_interval)),
        ("mon_osd_down_out_interval", secs(c.down_out_interval)),
        ("mon_lease", secs(c.mon_lease)),
        ("mon_election_timeout", secs(c.mon_election_timeout)),
        ("osd_memory_target", c.osd_memory_target.to_string()),
        // The model's grace is the grace: not lengthened for OSDs the monitors find laggy.
        ("mon_osd_adjust_heartbeat_grace", "false".to_owned()),
        ("mon_osd_adjust_down_out_interval", "false".to_owned()),
    ];
    for (k, v) in settings {
        let _ = writeln!(s, "{k} = {v}");
    }
    s
}

/// rook's name for a device: `sdb` for `/dev/sdb`, the full path for deeper paths
/// (`/dev/disk/by-id/...`, which rook accepts). rook only makes OSDs on block devices: a
/// file-backed OSD of the bare profile (a path outside /dev) is passed as is and rook skips it.
pub(super) fn device_name(device: &str) -> String {
    match device.strip_prefix("/dev/") {
        Some(short) if !short.contains('/') => short.to_owned(),
        _ => device.to_owned(),
    }
}

/// The CephCluster: one mon per storage host (never two on one host: a host holding two of
/// three mons takes the quorum down with it), one mgr, the model's OSD devices.
pub(super) fn cluster(model: &ClusterModel) -> CephCluster {
    let nodes = model
        .nodes
        .iter()
        .filter(|n| n.storage())
        .map(|n| StorageNode {
            name: n.name.clone(),
            devices: n
                .storage_devices
                .iter()
                .map(|d| Device {
                    name: device_name(d),
                })
                .collect(),
        })
        .collect();
    let priorities = labels(&[
        ("mon", "system-node-critical"),
        ("osd", "system-node-critical"),
        ("mgr", "system-cluster-critical"),
    ]);
    CephCluster {
        api_version: ROOK_API.to_owned(),
        kind: "CephCluster".to_owned(),
        metadata: meta("rook-ceph", Some(NAMESPACE), &Labels::new()),
        spec: CephClusterSpec {
            ceph_version: CephVersion {
                image: model.versions.ceph_image.clone(),
                allow_unsupported: false,
            },
            data_dir_host_path: "/var/lib/rook".to_owned(),
            mon: Daemons {
                count: model.ceph.n_mons,
                allow_multiple_per_node: false,
            },
            mgr: Daemons {
                count: 1,
                allow_multiple_per_node: false,
            },
            dashboard: Enabled { enabled: false },
            priority_class_names: priorities,
            storage: Storage {
                use_all_nodes: false,
                use_all_devices: false,
                nodes,
            },
        },
    }
}

/// The pool the probes write to: size and min_size from the model, one replica per host, a
/// fixed PG count (the autoscaler off, as in the bare profile).
pub(super) fn pool(model: &ClusterModel) -> CephBlockPool {
    let c = &model.ceph;
    let parameters = [
        ("min_size", c.pool_min_size.to_string()),
        ("pg_num", c.pg_num.to_string()),
        ("pg_autoscale_mode", "off".to_owned()),
    ];
    CephBlockPool {
        api_version: ROOK_API.to_owned(),
        kind: "CephBlockPool".to_owned(),
        metadata: meta(&c.pool, Some(NAMESPACE), &Labels::new()),
        spec: BlockPoolSpec {
            failure_domain: "host".to_owned(),
            replicated: Replicated {
                size: c.pool_size,
                require_safe_replica_size: true,
            },
            parameters: parameters
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        },
    }
}

/// `rook-ceph-block`, the default class: RBD images in the pool through rook's CSI driver.
pub(super) fn storage_class(model: &ClusterModel) -> StorageClass {
    let mut metadata = meta(STORAGE_CLASS, None, &Labels::new());
    metadata.annotations = Some(labels(&[(
        "storageclass.kubernetes.io/is-default-class",
        "true",
    )]));
    let provisioner = "rook-csi-rbd-provisioner";
    let parameters = labels(&[
        ("clusterID", NAMESPACE),
        ("pool", &model.ceph.pool),
        ("imageFormat", "2"),
        ("imageFeatures", "layering"),
        ("csi.storage.k8s.io/provisioner-secret-name", provisioner),
        ("csi.storage.k8s.io/provisioner-secret-namespace", NAMESPACE),
        (
            "csi.storage.k8s.io/controller-expand-secret-name",
            provisioner,
        ),
        (
            "csi.storage.k8s.io/controller-expand-secret-namespace",
            NAMESPACE,
        ),
        (
            "csi.storage.k8s.io/node-stage-secret-name",
            "rook-csi-rbd-node",
        ),
        ("csi.storage.k8s.io/node-stage-secret-namespace", NAMESPACE),
        ("csi.storage.k8s.io/fstype", "ext4"),
    ]);
    StorageClass {
        metadata,
        provisioner: format!("{NAMESPACE}.rbd.csi.ceph.com"),
        parameters: Some(parameters),
        reclaim_policy: Some("Delete".to_owned()),
        allow_volume_expansion: Some(true),
        ..StorageClass::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::object;
    use super::*;
    use crate::model::Profile;

    fn seed() -> ClusterModel {
        ClusterModel::seed(Profile::Kubernetes)
    }

    /// The storage nodes and devices of the rendered CephCluster.
    fn check_devices(model: &ClusterModel, expected: &[(&str, &[&str])]) {
        let c: CephCluster = object(&manifest(model), "CephCluster", "rook-ceph");
        let got: Vec<(String, Vec<String>)> = c
            .spec
            .storage
            .nodes
            .into_iter()
            .map(|n| (n.name, n.devices.into_iter().map(|d| d.name).collect()))
            .collect();
        let expected: Vec<(String, Vec<String>)> = expected
            .iter()
            .map(|(n, ds)| {
                (
                    (*n).to_owned(),
                    ds.iter().map(|d| (*d).to_owned()).collect(),
                )
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn every_device_of_every_storage_node() {
        check_devices(
            &seed(),
            &[
                ("node-1", &["sdb"]),
                ("node-2", &["sdb"]),
                ("node-3", &["sdb"]),
            ],
        );
        let mut m = seed();
        m.nodes[0].storage_devices = vec!["/dev/sdb".to_owned(), "/dev/vdc".to_owned()];
        m.nodes[1].storage_devices = vec!["/dev/disk/by-id/ata-X".to_owned()];
        m.nodes[2].storage_devices.clear();
        check_devices(
            &m,
            &[
                ("node-1", &["sdb", "vdc"]),
                ("node-2", &["/dev/disk/by-id/ata-X"]),
            ],
        );
    }

    #[test]
    fn mons_one_per_host_and_the_models_image() {
        let mut m = seed();
        m.ceph.n_mons = 5;
        let c: CephCluster = object(&manifest(&m), "CephCluster", "rook-ceph");
        assert_eq!(c.spec.mon.count, 5);
        assert!(!c.spec.mon.allow_multiple_per_node);
        assert_eq!(c.spec.mgr.count, 1);
        assert_eq!(c.spec.ceph_version.image, "quay.io/ceph/ceph:v18.2.4");
        assert!(!c.spec.storage.use_all_nodes);
    }

    #[test]
    fn pool_size_and_min_size_from_the_model() {
        let mut m = seed();
        m.ceph.pool = "probe-pool".to_owned();
        m.ceph.pool_size = 2;
        m.ceph.pool_min_size = 1;
        let p: CephBlockPool = object(&manifest(&m), "CephBlockPool", "probe-pool");
        assert_eq!(p.spec.replicated.size, 2);
        assert_eq!(p.spec.parameters["min_size"], "1");
        assert_eq!(p.spec.parameters["pg_num"], "32");
        assert_eq!(p.spec.failure_domain, "host");
        let sc: StorageClass = object(&manifest(&m), "StorageClass", STORAGE_CLASS);
        let params = sc.parameters.expect("parameters");
        assert_eq!(params["pool"], "probe-pool");
        assert_eq!(params["clusterID"], NAMESPACE);
        assert_eq!(sc.provisioner, "rook-ceph.rbd.csi.ceph.com");
        let default = sc.metadata.annotations.expect("annotations");
        assert_eq!(
            default["storageclass.kubernetes.io/is-default-class"],
            "true"
        );
    }

    #[test]
    fn ceph_timers_in_the_override() {
        let mut m = seed();
        m.ceph.osd_heartbeat_grace = std::time::Duration::from_millis(7500);
        let text = config_override(&m);
        for line in [
            "[global]",
            "osd_heartbeat_interval = 6",
            "osd_heartbeat_grace = 7.5",
            "mon_osd_min_down_reporters = 2",
            "mon_osd_down_out_interval = 600",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
    }
}
