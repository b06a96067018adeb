//! `10-flannel.yaml`: the pod network, shaped as upstream's `kube-flannel.yml` (namespace,
//! RBAC, the `kube-flannel-cfg` config map, the `kube-flannel-ds` daemon set with its two
//! install init containers), with the pod CIDR and image version from the model.

use k8s_openapi::api::core::v1::{
    Capabilities, Container, PodSpec, ResourceRequirements, SecurityContext, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::json;

use super::k8s::{
    cluster_role, cluster_role_binding, config_map, config_map_volume, daemon_set, env, env_field,
    host_path, labels, mount, namespace, rule, service_account, tolerate_everything, Docs, Labels,
};
use crate::model::ClusterModel;

/// flannel's namespace.
pub(super) const NAMESPACE: &str = "kube-flannel";
/// The CNI plugin image that goes with flannel v0.25.x (upstream's manifest pins the pair).
pub(super) const CNI_PLUGIN_IMAGE: &str = "docker.io/flannel/flannel-cni-plugin:v1.5.1-flannel2";

fn flannel_labels() -> Labels {
    labels(&[("app", "flannel"), ("k8s-app", "flannel"), ("tier", "node")])
}

/// The manifest.
pub(super) fn manifest(model: &ClusterModel) -> String {
    let mut docs = Docs::default();
    docs.push(&namespace(
        NAMESPACE,
        &labels(&[
            ("k8s-app", "flannel"),
            ("pod-security.kubernetes.io/enforce", "privileged"),
        ]),
    ));
    docs.push(&service_account("flannel", NAMESPACE));
    docs.push(&cluster_role(
        "flannel",
        vec![
            rule(&[""], &["pods"], &["get"]),
            rule(&[""], &["nodes"], &["get", "list", "watch"]),
            rule(&[""], &["nodes/status"], &["patch"]),
        ],
    ));
    docs.push(&cluster_role_binding("flannel", NAMESPACE));
    docs.push(&config_map(
        "kube-flannel-cfg",
        NAMESPACE,
        &flannel_labels(),
        vec![
            ("cni-conf.json", cni_conf()),
            ("net-conf.json", net_conf(model)),
        ],
    ));
    docs.push(&daemon_set(
        "kube-flannel-ds",
        NAMESPACE,
        &flannel_labels(),
        pod(model),
    ));
    docs.finish()
}

/// The CNI chain: flannel, then portmap (hostPort, which traefik's port 880 needs).
fn cni_conf() -> String {
    let conf = json!({
        "name": "cbr0",
        "cniVersion": "0.3.1",
        "plugins": [
            {"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}},
            {"type": "portmap", "capabilities": {"portMappings": true}}
        ]
    });
    pretty(&conf)
}

/// flanneld's network: the model's pod CIDR over VXLAN.
fn net_conf(model: &ClusterModel) -> String {
    pretty(&json!({"Network": model.kube.pod_cidr, "Backend": {"Type": "vxlan"}}))
}

/// Pretty JSON with a final newline.
pub(super) fn pretty(value: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("a JSON value serializes");
    s.push('\n');
    s
}

fn image(model: &ClusterModel) -> String {
    format!("docker.io/flannel/flannel:{}", model.versions.flannel)
}

/// Copies a file from the image to the host, as upstream's init containers do.
fn install(name: &str, image: String, from: &str, to: &str, mounts: Vec<VolumeMount>) -> Container {
    Container {
        name: name.to_owned(),
        image: Some(image),
        command: Some(vec!["cp".to_owned()]),
        args: Some(vec!["-f".to_owned(), from.to_owned(), to.to_owned()]),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

fn flanneld(model: &ClusterModel) -> Container {
    let request = [
        ("cpu".to_owned(), Quantity("100m".to_owned())),
        ("memory".to_owned(), Quantity("50Mi".to_owned())),
    ];
    Container {
        name: "kube-flannel".to_owned(),
        image: Some(image(model)),
        command: Some(vec!["/opt/bin/flanneld".to_owned()]),
        args: Some(vec!["--ip-masq".to_owned(), "--kube-subnet-mgr".to_owned()]),
        env: Some(vec![
            env_field("POD_NAME", "metadata.name"),
            env_field("POD_NAMESPACE", "metadata.namespace"),
            env("EVENT_QUEUE_DEPTH", "5000"),
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(request.into_iter().collect()),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            privileged: Some(false),
            capabilities: Some(Capabilities {
                add: Some(vec!["NET_ADMIN".to_owned(), "NET_RAW".to_owned()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            mount("run", "/run/flannel", false),
            mount("flannel-cfg", "/etc/kube-flannel/", false),
            mount("xtables-lock", "/run/xtables.lock", false),
        ]),
        ..Container::default()
    }
}

fn pod(model: &ClusterModel) -> PodSpec {
    PodSpec {
        host_network: Some(true),
        priority_class_name: Some("system-node-critical".to_owned()),
        service_account_name: Some("flannel".to_owned()),
        node_selector: Some(labels(&[("kubernetes.io/os", "linux")])),
        tolerations: Some(tolerate_everything()),
        init_containers: Some(vec![
            install(
                "install-cni-plugin",
                CNI_PLUGIN_IMAGE.to_owned(),
                "/flannel",
                "/opt/cni/bin/flannel",
                vec![mount("cni-plugin", "/opt/cni/bin", false)],
            ),
            install(
                "install-cni",
                image(model),
                "/etc/kube-flannel/cni-conf.json",
                "/etc/cni/net.d/10-flannel.conflist",
                vec![
                    mount("cni", "/etc/cni/net.d", false),
                    mount("flannel-cfg", "/etc/kube-flannel/", false),
                ],
            ),
        ]),
        containers: vec![flanneld(model)],
        volumes: Some(vec![
            host_path("run", "/run/flannel", None),
            host_path("cni-plugin", "/opt/cni/bin", None),
            host_path("cni", "/etc/cni/net.d", None),
            config_map_volume("flannel-cfg", "kube-flannel-cfg", None),
            host_path("xtables-lock", "/run/xtables.lock", Some("FileOrCreate")),
        ]),
        ..PodSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::DaemonSet;
    use k8s_openapi::api::core::v1::ConfigMap;

    use super::super::testing::object;
    use super::*;
    use crate::model::Profile;

    #[test]
    fn network_is_the_models_pod_cidr() {
        let mut m = ClusterModel::seed(Profile::Kubernetes);
        m.kube.pod_cidr = "10.99.0.0/16".to_owned();
        let cm: ConfigMap = object(&manifest(&m), "ConfigMap", "kube-flannel-cfg");
        let data = cm.data.expect("data");
        let net: serde_json::Value = serde_json::from_str(&data["net-conf.json"]).expect("json");
        assert_eq!(
            net,
            json!({"Network": "10.99.0.0/16", "Backend": {"Type": "vxlan"}})
        );
        let cni: serde_json::Value = serde_json::from_str(&data["cni-conf.json"]).expect("json");
        assert_eq!(cni["plugins"][1]["type"], "portmap");
    }

    #[test]
    fn daemon_set_as_upstream() {
        let m = ClusterModel::seed(Profile::Kubernetes);
        let ds: DaemonSet = object(&manifest(&m), "DaemonSet", "kube-flannel-ds");
        let pod = ds.spec.and_then(|s| s.template.spec).expect("pod");
        assert_eq!(pod.host_network, Some(true));
        let init: Vec<String> = pod
            .init_containers
            .expect("init")
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(init, ["install-cni-plugin", "install-cni"]);
        assert_eq!(
            pod.containers[0].image.as_deref(),
            Some("docker.io/flannel/flannel:v0.25.6")
        );
        assert_eq!(pod.tolerations, Some(tolerate_everything()));
    }
}
