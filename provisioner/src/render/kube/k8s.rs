//! Small builders over k8s-openapi's types, so that each add-on reads as a list of objects
//! rather than a wall of `..Default::default()`. Pure: no IO, nothing read from the host.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec, DeploymentStrategy,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, HostPathVolumeSource, Namespace, ObjectFieldSelector, PodSpec, PodTemplateSpec,
    Probe, Service, ServiceAccount, ServicePort, ServiceSpec, Toleration, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

/// The ingress class every rendered Ingress names (traefik's, made the default in 30-traefik).
pub(super) const INGRESS_CLASS: &str = "traefik";

/// Labels or a selector: ordered, so that one model gives one text.
pub(super) type Labels = BTreeMap<String, String>;

/// `app: NAME`, the one label every rendered workload carries and selects on.
pub(super) fn app(name: &str) -> Labels {
    labels(&[("app", name)])
}

/// A label map from pairs.
pub(super) fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The documents of one multi-document manifest, serialized as they are pushed.
#[derive(Default)]
pub(super) struct Docs(Vec<String>);

impl Docs {
    /// Appends one object as a document.
    pub(super) fn push<T: Serialize>(&mut self, object: &T) {
        self.0.push(yaml(object));
    }

    /// The manifest: documents separated by `---`.
    pub(super) fn finish(self) -> String {
        self.0.join("---\n")
    }
}

/// One typed value as YAML.
pub(super) fn yaml<T: Serialize>(value: &T) -> String {
    serde_saphyr::to_string(value).expect("a typed value with string keys serializes to YAML")
}

/// Metadata with a name, an optional namespace and labels (omitted when empty).
pub(super) fn meta(name: &str, namespace: Option<&str>, labels: &Labels) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: (!labels.is_empty()).then(|| labels.clone()),
        ..ObjectMeta::default()
    }
}

/// A namespace.
pub(super) fn namespace(name: &str, labels: &Labels) -> Namespace {
    Namespace {
        metadata: meta(name, None, labels),
        ..Namespace::default()
    }
}

/// A service account.
pub(super) fn service_account(name: &str, namespace: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(name, Some(namespace), &Labels::new()),
        ..ServiceAccount::default()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// One RBAC rule over API resources.
pub(super) fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(strings(groups)),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        ..PolicyRule::default()
    }
}

/// Read access (get, list, watch) to resources of some API groups.
pub(super) fn read(groups: &[&str], resources: &[&str]) -> PolicyRule {
    rule(groups, resources, &["get", "list", "watch"])
}

/// A cluster role.
pub(super) fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: meta(name, None, &Labels::new()),
        rules: Some(rules),
        ..ClusterRole::default()
    }
}

/// Binds the cluster role NAME to the service account NAME of a namespace.
pub(super) fn cluster_role_binding(name: &str, namespace: &str) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(name, None, &Labels::new()),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "ClusterRole".to_owned(),
            name: name.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: name.to_owned(),
            namespace: Some(namespace.to_owned()),
            ..Subject::default()
        }]),
    }
}

/// A config map of text files.
pub(super) fn config_map(
    name: &str,
    namespace: &str,
    labels: &Labels,
    data: Vec<(&str, String)>,
) -> ConfigMap {
    ConfigMap {
        metadata: meta(name, Some(namespace), labels),
        data: Some(data.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
        ..ConfigMap::default()
    }
}

/// An environment variable with a literal value.
pub(super) fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        ..EnvVar::default()
    }
}

/// An environment variable from a field of the pod (`spec.nodeName`, `metadata.name`, ...).
pub(super) fn env_field(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: field_path.to_owned(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// A named TCP container port.
pub(super) fn port(name: &str, container_port: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: i32::from(container_port),
        ..ContainerPort::default()
    }
}

/// Mounts volume NAME at PATH.
pub(super) fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

/// A host-path volume, with a `type` check when given.
pub(super) fn host_path(name: &str, path: &str, type_: Option<&str>) -> Volume {
    Volume {
        name: name.to_owned(),
        host_path: Some(HostPathVolumeSource {
            path: path.to_owned(),
            type_: type_.map(str::to_owned),
        }),
        ..Volume::default()
    }
}

/// A volume holding the files of a config map, with a file mode when given.
pub(super) fn config_map_volume(name: &str, config_map: &str, mode: Option<i32>) -> Volume {
    Volume {
        name: name.to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map.to_owned(),
            default_mode: mode,
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// A scratch volume that lives as long as the pod (in memory when asked).
pub(super) fn empty_dir(name: &str, memory: bool) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: memory.then(|| "Memory".to_owned()),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// An HTTP GET probe of PATH on a named container port.
pub(super) fn http_probe(path: &str, port_name: &str) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(port_name.to_owned()),
            ..HTTPGetAction::default()
        }),
        ..Probe::default()
    }
}

/// Tolerates every taint: node agents (CNI, log shipper, node exporter) run on every node.
pub(super) fn tolerate_everything() -> Vec<Toleration> {
    vec![Toleration {
        operator: Some("Exists".to_owned()),
        ..Toleration::default()
    }]
}

/// Tolerates the control-plane taint, for when the control plane is not schedulable.
pub(super) fn tolerate_control_plane() -> Vec<Toleration> {
    vec![Toleration {
        key: Some("node-role.kubernetes.io/control-plane".to_owned()),
        operator: Some("Exists".to_owned()),
        effect: Some("NoSchedule".to_owned()),
        ..Toleration::default()
    }]
}

/// A selector on exactly these labels.
pub(super) fn selector(labels: &Labels) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels.clone()),
        ..LabelSelector::default()
    }
}

/// A pod template carrying these labels.
pub(super) fn template(labels: &Labels, spec: PodSpec) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        }),
        spec: Some(spec),
    }
}

/// A daemon set whose pods carry (and are selected by) these labels.
pub(super) fn daemon_set(name: &str, namespace: &str, labels: &Labels, pod: PodSpec) -> DaemonSet {
    DaemonSet {
        metadata: meta(name, Some(namespace), labels),
        spec: Some(DaemonSetSpec {
            selector: selector(labels),
            template: template(labels, pod),
            ..DaemonSetSpec::default()
        }),
        ..DaemonSet::default()
    }
}

/// A deployment whose pods carry (and are selected by) these labels. `recreate` stops the old
/// pod before starting the new one (a ReadWriteOnce volume cannot be mounted by both).
pub(super) fn deployment(
    name: &str,
    namespace: &str,
    labels: &Labels,
    replicas: u32,
    pod: PodSpec,
    recreate: bool,
) -> Deployment {
    Deployment {
        metadata: meta(name, Some(namespace), labels),
        spec: Some(DeploymentSpec {
            replicas: Some(i32::try_from(replicas).unwrap_or(i32::MAX)),
            selector: selector(labels),
            strategy: recreate.then(|| DeploymentStrategy {
                type_: Some("Recreate".to_owned()),
                ..DeploymentStrategy::default()
            }),
            template: template(labels, pod),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// A service selecting these labels, one port per (name, port), each to the container port
/// of the same name; headless (no cluster IP) when asked.
pub(super) fn service(
    name: &str,
    namespace: &str,
    labels: &Labels,
    ports: &[(&str, u16)],
    headless: bool,
) -> Service {
    Service {
        metadata: meta(name, Some(namespace), labels),
        spec: Some(ServiceSpec {
            cluster_ip: headless.then(|| "None".to_owned()),
            selector: Some(labels.clone()),
            ports: Some(
                ports
                    .iter()
                    .map(|(port_name, number)| ServicePort {
                        name: Some((*port_name).to_owned()),
                        port: i32::from(*number),
                        target_port: Some(IntOrString::String((*port_name).to_owned())),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// An Ingress of class traefik routing the path prefix PATH to a service port.
pub(super) fn ingress(
    name: &str,
    namespace: &str,
    path: &str,
    service: &str,
    port: u16,
) -> Ingress {
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: service.to_owned(),
            port: Some(ServiceBackendPort {
                number: Some(i32::from(port)),
                ..ServiceBackendPort::default()
            }),
        }),
        ..IngressBackend::default()
    };
    Ingress {
        metadata: meta(name, Some(namespace), &app(name)),
        spec: Some(IngressSpec {
            ingress_class_name: Some(INGRESS_CLASS.to_owned()),
            rules: Some(vec![IngressRule {
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some(path.to_owned()),
                        path_type: "Prefix".to_owned(),
                        backend,
                    }],
                }),
                ..IngressRule::default()
            }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}
