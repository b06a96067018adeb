//! `30-traefik.yaml`: the ingress controller on every node, as the seed has it: a daemon set
//! whose web entrypoint is published on each node's `hostPort` (880), where HAProxy's ingress
//! backend sends the VIP's port 80. traefik's Kubernetes Ingress provider only; no CRDs.

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::api::networking::v1::{IngressClass, IngressClassSpec};

use super::k8s::{
    app, cluster_role, cluster_role_binding, daemon_set, http_probe, labels, meta, namespace, port,
    read, rule, service_account, tolerate_control_plane, Docs, Labels, INGRESS_CLASS,
};
use super::kubeadm::go_duration;
use crate::model::ClusterModel;

/// traefik's namespace.
pub(super) const NAMESPACE: &str = "traefik";
/// The container port of the `web` entrypoint (published as the model's ingress backend port).
pub(super) const WEB_PORT: u16 = 8000;
/// The container port of the `traefik` entrypoint, which serves `/ping`.
pub(super) const PING_PORT: u16 = 8080;

/// The manifest.
pub(super) fn manifest(model: &ClusterModel) -> String {
    let mut docs = Docs::default();
    docs.push(&namespace(NAMESPACE, &Labels::new()));
    docs.push(&service_account("traefik", NAMESPACE));
    docs.push(&cluster_role(
        "traefik",
        vec![
            read(&[""], &["services", "endpoints", "secrets", "nodes"]),
            read(&["discovery.k8s.io"], &["endpointslices"]),
            read(
                &["extensions", "networking.k8s.io"],
                &["ingresses", "ingressclasses"],
            ),
            rule(
                &["extensions", "networking.k8s.io"],
                &["ingresses/status"],
                &["update"],
            ),
        ],
    ));
    docs.push(&cluster_role_binding("traefik", NAMESPACE));
    docs.push(&ingress_class());
    docs.push(&daemon_set(
        "traefik",
        NAMESPACE,
        &app("traefik"),
        pod(model),
    ));
    docs.finish()
}

/// The `traefik` ingress class, the cluster's default.
fn ingress_class() -> IngressClass {
    let mut metadata = meta(INGRESS_CLASS, None, &Labels::new());
    metadata.annotations = Some(labels(&[(
        "ingressclass.kubernetes.io/is-default-class",
        "true",
    )]));
    IngressClass {
        metadata,
        spec: Some(IngressClassSpec {
            controller: Some("traefik.io/ingress-controller".to_owned()),
            ..IngressClassSpec::default()
        }),
    }
}

/// traefik's static configuration, as flags.
pub(super) fn args(model: &ClusterModel) -> Vec<String> {
    vec![
        format!("--entrypoints.web.address=:{WEB_PORT}"),
        format!("--entrypoints.traefik.address=:{PING_PORT}"),
        "--ping=true".to_owned(),
        "--providers.kubernetesingress=true".to_owned(),
        format!(
            "--serverstransport.forwardingtimeouts.dialtimeout={}",
            go_duration(model.traefik.dial_timeout)
        ),
    ]
}

fn pod(model: &ClusterModel) -> PodSpec {
    let mut web = port("web", WEB_PORT);
    web.host_port = Some(i32::from(model.haproxy.ingress_backend_port));
    let container = Container {
        name: "traefik".to_owned(),
        image: Some(format!("docker.io/traefik:{}", model.versions.traefik)),
        args: Some(args(model)),
        ports: Some(vec![web, port("traefik", PING_PORT)]),
        readiness_probe: Some(http_probe("/ping", "traefik")),
        ..Container::default()
    };
    PodSpec {
        service_account_name: Some("traefik".to_owned()),
        tolerations: Some(tolerate_control_plane()),
        containers: vec![container],
        ..PodSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::DaemonSet;

    use super::super::testing::object;
    use super::*;
    use crate::model::Profile;

    fn container(model: &ClusterModel) -> Container {
        let ds: DaemonSet = object(&manifest(model), "DaemonSet", "traefik");
        let pod = ds.spec.and_then(|s| s.template.spec).expect("pod spec");
        pod.containers.into_iter().next().expect("one container")
    }

    #[test]
    fn host_port_is_the_ingress_backend_port() {
        let mut m = ClusterModel::seed(Profile::Kubernetes);
        for backend in [880, 1880] {
            m.haproxy.ingress_backend_port = backend;
            let ports = container(&m).ports.expect("ports");
            let web = ports
                .iter()
                .find(|p| p.name.as_deref() == Some("web"))
                .expect("web");
            assert_eq!(web.host_port, Some(i32::from(backend)));
            assert_eq!(web.container_port, i32::from(WEB_PORT));
        }
    }

    #[test]
    fn ping_readiness_and_dial_timeout() {
        let m = ClusterModel::seed(Profile::Kubernetes);
        let c = container(&m);
        let probe = c
            .readiness_probe
            .and_then(|p| p.http_get)
            .expect("http probe");
        assert_eq!(probe.path.as_deref(), Some("/ping"));
        let args = c.args.expect("args");
        assert!(args.contains(&"--ping=true".to_owned()));
        assert!(args.contains(&"--providers.kubernetesingress=true".to_owned()));
        assert!(args.contains(&"--serverstransport.forwardingtimeouts.dialtimeout=30s".to_owned()));
        assert_eq!(c.image.as_deref(), Some("docker.io/traefik:v3.1.2"));
    }

    #[test]
    fn default_ingress_class() {
        let class: IngressClass = object(
            &manifest(&ClusterModel::seed(Profile::Kubernetes)),
            "IngressClass",
            "traefik",
        );
        let annotations = class.metadata.annotations.expect("annotations");
        assert_eq!(
            annotations["ingressclass.kubernetes.io/is-default-class"],
            "true"
        );
    }
}
