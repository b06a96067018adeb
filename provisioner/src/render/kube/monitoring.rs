//! `50-monitoring.yaml`: node-exporter on every node, Prometheus (scraping the node exporters,
//! rook's `rook-ceph-mgr` metrics and the API servers) and Grafana, provisioned with Prometheus
//! as its data source and two dashboards of our own (`dashboards`), served at `/grafana`.

use k8s_openapi::api::core::v1::{Container, PodSpec, VolumeMount};
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::json;

use super::dashboards;
use super::flannel::pretty;
use super::k8s::{
    app, cluster_role, cluster_role_binding, config_map, config_map_volume, daemon_set, deployment,
    empty_dir, env, host_path, http_probe, ingress, mount, namespace, port, read, service,
    service_account, tolerate_everything, yaml, Docs, Labels,
};
use super::rook;
use crate::model::ClusterModel;

/// The monitoring namespace.
pub(super) const NAMESPACE: &str = "monitoring";
/// The node-exporter image (not in the model's versions: a pure observer).
pub(super) const NODE_EXPORTER_IMAGE: &str = "quay.io/prometheus/node-exporter:v1.8.2";
/// Port of rook's mgr `prometheus` module (service `rook-ceph-mgr`).
pub(super) const CEPH_MGR_METRICS_PORT: u16 = 9283;
/// node-exporter's port; the model holds it, since the host binds it.
const NODE_EXPORTER_PORT: u16 = crate::model::Kube::NODE_EXPORTER_PORT;
const PROMETHEUS_PORT: u16 = 9090;
const GRAFANA_PORT: u16 = 3000;
/// Where Grafana is served through the ingress.
pub(super) const GRAFANA_PATH: &str = "/grafana";

/// The manifest.
pub(super) fn manifest(model: &ClusterModel) -> String {
    let mut docs = Docs::default();
    docs.push(&namespace(NAMESPACE, &Labels::new()));
    docs.push(&daemon_set(
        "node-exporter",
        NAMESPACE,
        &app("node-exporter"),
        node_exporter(),
    ));
    docs.push(&service(
        "node-exporter",
        NAMESPACE,
        &app("node-exporter"),
        &[("metrics", NODE_EXPORTER_PORT)],
        true,
    ));
    push_prometheus(&mut docs, model);
    push_grafana(&mut docs, model);
    docs.finish()
}

fn push_prometheus(docs: &mut Docs, model: &ClusterModel) {
    docs.push(&service_account("prometheus", NAMESPACE));
    // The API servers' own metrics are a URL, not a resource.
    let metrics = PolicyRule {
        non_resource_urls: Some(vec!["/metrics".to_owned()]),
        verbs: vec!["get".to_owned()],
        ..PolicyRule::default()
    };
    docs.push(&cluster_role(
        "prometheus",
        vec![
            read(
                &[""],
                &["nodes", "nodes/metrics", "services", "endpoints", "pods"],
            ),
            read(&["discovery.k8s.io"], &["endpointslices"]),
            metrics,
        ],
    ));
    docs.push(&cluster_role_binding("prometheus", NAMESPACE));
    docs.push(&config_map(
        "prometheus",
        NAMESPACE,
        &app("prometheus"),
        vec![("prometheus.yml", prometheus_yml())],
    ));
    docs.push(&deployment(
        "prometheus",
        NAMESPACE,
        &app("prometheus"),
        1,
        prometheus(model),
        false,
    ));
    docs.push(&service(
        "prometheus",
        NAMESPACE,
        &app("prometheus"),
        &[("http", PROMETHEUS_PORT)],
        false,
    ));
}

fn push_grafana(docs: &mut Docs, model: &ClusterModel) {
    docs.push(&config_map(
        "grafana-datasources",
        NAMESPACE,
        &app("grafana"),
        vec![("prometheus.yaml", grafana_datasources())],
    ));
    docs.push(&config_map(
        "grafana-dashboard-providers",
        NAMESPACE,
        &app("grafana"),
        vec![("hadrill.yaml", grafana_providers())],
    ));
    docs.push(&config_map(
        "grafana-dashboards",
        NAMESPACE,
        &app("grafana"),
        vec![
            ("ceph.json", pretty(&dashboards::ceph())),
            ("nodes.json", pretty(&dashboards::nodes())),
        ],
    ));
    docs.push(&deployment(
        "grafana",
        NAMESPACE,
        &app("grafana"),
        1,
        grafana(model),
        false,
    ));
    docs.push(&service(
        "grafana",
        NAMESPACE,
        &app("grafana"),
        &[("http", GRAFANA_PORT)],
        false,
    ));
    docs.push(&ingress(
        "grafana",
        NAMESPACE,
        GRAFANA_PATH,
        "grafana",
        GRAFANA_PORT,
    ));
}

/// node-exporter in the host's network and PID namespaces, reading the host's /proc, /sys, /.
fn node_exporter() -> PodSpec {
    let mut root = mount("root", "/host/root", true);
    root.mount_propagation = Some("HostToContainer".to_owned());
    let container = Container {
        name: "node-exporter".to_owned(),
        image: Some(NODE_EXPORTER_IMAGE.to_owned()),
        args: Some(vec![
            "--path.procfs=/host/proc".to_owned(),
            "--path.sysfs=/host/sys".to_owned(),
            "--path.rootfs=/host/root".to_owned(),
            format!("--web.listen-address=:{NODE_EXPORTER_PORT}"),
        ]),
        ports: Some(vec![port("metrics", NODE_EXPORTER_PORT)]),
        volume_mounts: Some(vec![
            mount("proc", "/host/proc", true),
            mount("sys", "/host/sys", true),
            root,
        ]),
        ..Container::default()
    };
    PodSpec {
        host_network: Some(true),
        host_pid: Some(true),
        tolerations: Some(tolerate_everything()),
        containers: vec![container],
        volumes: Some(vec![
            host_path("proc", "/proc", None),
            host_path("sys", "/sys", None),
            host_path("root", "/", None),
        ]),
        ..PodSpec::default()
    }
}

/// Discovery of the endpoints of one namespace.
fn endpoints_in(namespace: &str) -> serde_json::Value {
    json!([{"role": "endpoints", "namespaces": {"names": [namespace]}}])
}

/// `prometheus.yml`: the node exporters (by their service's endpoints, labelled with their
/// node), Ceph's mgr exporter (rook's `rook-ceph-mgr` service) and the API servers.
pub(super) fn prometheus_yml() -> String {
    let sa = "/var/run/secrets/kubernetes.io/serviceaccount";
    let node = json!({
        "job_name": "node",
        "kubernetes_sd_configs": endpoints_in(NAMESPACE),
        "relabel_configs": [
            {
                "source_labels": ["__meta_kubernetes_service_name"],
                "regex": "node-exporter",
                "action": "keep"
            },
            {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"}
        ]
    });
    let ceph = json!({
        "job_name": "ceph",
        "honor_labels": true,
        "static_configs": [{"targets": [format!(
            "rook-ceph-mgr.{}.svc:{CEPH_MGR_METRICS_PORT}", rook::NAMESPACE
        )]}]
    });
    let apiserver = json!({
        "job_name": "kube-apiserver",
        "scheme": "https",
        "tls_config": {"ca_file": format!("{sa}/ca.crt")},
        "authorization": {"credentials_file": format!("{sa}/token")},
        "kubernetes_sd_configs": endpoints_in("default"),
        "relabel_configs": [{
            "source_labels": [
                "__meta_kubernetes_service_name",
                "__meta_kubernetes_endpoint_port_name"
            ],
            "regex": "kubernetes;https",
            "action": "keep"
        }]
    });
    yaml(&json!({
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "scrape_configs": [node, ceph, apiserver]
    }))
}

fn prometheus(model: &ClusterModel) -> PodSpec {
    let container = Container {
        name: "prometheus".to_owned(),
        image: Some(format!(
            "quay.io/prometheus/prometheus:{}",
            model.versions.prometheus
        )),
        args: Some(vec![
            "--config.file=/etc/prometheus/prometheus.yml".to_owned(),
            "--storage.tsdb.path=/prometheus".to_owned(),
            "--storage.tsdb.retention.time=2d".to_owned(),
        ]),
        ports: Some(vec![port("http", PROMETHEUS_PORT)]),
        readiness_probe: Some(http_probe("/-/ready", "http")),
        volume_mounts: Some(vec![
            mount("config", "/etc/prometheus", true),
            mount("data", "/prometheus", false),
        ]),
        ..Container::default()
    };
    PodSpec {
        service_account_name: Some("prometheus".to_owned()),
        containers: vec![container],
        volumes: Some(vec![
            config_map_volume("config", "prometheus", None),
            empty_dir("data", false),
        ]),
        ..PodSpec::default()
    }
}

/// Grafana's data source: the Prometheus service, uid `prometheus` (the dashboards name it).
fn grafana_datasources() -> String {
    yaml(&json!({
        "apiVersion": 1,
        "datasources": [{
            "name": "Prometheus",
            "uid": dashboards::DATASOURCE_UID,
            "type": "prometheus",
            "access": "proxy",
            "url": format!("http://prometheus.{NAMESPACE}.svc:{PROMETHEUS_PORT}"),
            "isDefault": true
        }]
    }))
}

/// Grafana's dashboard provider: the JSON files of the `grafana-dashboards` config map.
fn grafana_providers() -> String {
    yaml(&json!({
        "apiVersion": 1,
        "providers": [{
            "name": "hadrill",
            "folder": "hadrill",
            "type": "file",
            "options": {"path": DASHBOARDS_DIR}
        }]
    }))
}

const DASHBOARDS_DIR: &str = "/var/lib/grafana/dashboards";

fn grafana_mounts() -> Vec<VolumeMount> {
    vec![
        mount("datasources", "/etc/grafana/provisioning/datasources", true),
        mount("providers", "/etc/grafana/provisioning/dashboards", true),
        mount("dashboards", DASHBOARDS_DIR, true),
    ]
}

/// Grafana under `/grafana`, anonymous viewers allowed (no password is rendered; the admin
/// account keeps Grafana's first-login default and is meant to be changed on the host).
fn grafana(model: &ClusterModel) -> PodSpec {
    let container = Container {
        name: "grafana".to_owned(),
        image: Some(format!(
            "docker.io/grafana/grafana:{}",
            model.versions.grafana
        )),
        env: Some(vec![
            env(
                "GF_SERVER_ROOT_URL",
                &format!("%(protocol)s://%(domain)s:%(http_port)s{GRAFANA_PATH}/"),
            ),
            env("GF_SERVER_SERVE_FROM_SUB_PATH", "true"),
            env("GF_AUTH_ANONYMOUS_ENABLED", "true"),
            env("GF_AUTH_ANONYMOUS_ORG_ROLE", "Viewer"),
        ]),
        ports: Some(vec![port("http", GRAFANA_PORT)]),
        volume_mounts: Some(grafana_mounts()),
        ..Container::default()
    };
    PodSpec {
        containers: vec![container],
        volumes: Some(vec![
            config_map_volume("datasources", "grafana-datasources", None),
            config_map_volume("providers", "grafana-dashboard-providers", None),
            config_map_volume("dashboards", "grafana-dashboards", None),
        ]),
        ..PodSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
    use k8s_openapi::api::core::v1::ConfigMap;

    use super::super::testing::object;
    use super::*;
    use crate::model::Profile;

    fn seed() -> ClusterModel {
        ClusterModel::seed(Profile::Kubernetes)
    }

    fn data(name: &str, key: &str) -> String {
        let cm: ConfigMap = object(&manifest(&seed()), "ConfigMap", name);
        cm.data.expect("data")[key].clone()
    }

    #[test]
    fn prometheus_scrapes_nodes_ceph_and_apiservers() {
        let config: serde_json::Value =
            serde_saphyr::from_str(&data("prometheus", "prometheus.yml")).expect("yaml");
        let jobs: Vec<&str> = config["scrape_configs"]
            .as_array()
            .expect("jobs")
            .iter()
            .filter_map(|j| j["job_name"].as_str())
            .collect();
        assert_eq!(jobs, ["node", "ceph", "kube-apiserver"]);
        assert_eq!(
            config["scrape_configs"][1]["static_configs"][0]["targets"][0],
            "rook-ceph-mgr.rook-ceph.svc:9283"
        );
    }

    #[test]
    fn node_exporter_on_the_host() {
        let ds: DaemonSet = object(&manifest(&seed()), "DaemonSet", "node-exporter");
        let pod = ds.spec.and_then(|s| s.template.spec).expect("pod");
        assert_eq!((pod.host_network, pod.host_pid), (Some(true), Some(true)));
    }

    #[test]
    fn grafana_is_provisioned() {
        let sources: serde_json::Value =
            serde_saphyr::from_str(&data("grafana-datasources", "prometheus.yaml")).expect("yaml");
        assert_eq!(
            sources["datasources"][0]["url"],
            "http://prometheus.monitoring.svc:9090"
        );
        assert_eq!(sources["datasources"][0]["uid"], dashboards::DATASOURCE_UID);
        for file in ["ceph.json", "nodes.json"] {
            let board: serde_json::Value =
                serde_json::from_str(&data("grafana-dashboards", file)).expect("json");
            assert!(
                board["panels"].as_array().is_some_and(|p| p.len() >= 3),
                "{file}"
            );
        }
        let grafana: Deployment = object(&manifest(&seed()), "Deployment", "grafana");
        let image = grafana
            .spec
            .and_then(|s| s.template.spec)
            .expect("pod")
            .containers[0]
            .image
            .clone();
        assert_eq!(image.as_deref(), Some("docker.io/grafana/grafana:11.1.4"));
    }
}
