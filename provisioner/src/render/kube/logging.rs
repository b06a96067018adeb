//! `40-logging.yaml`: Elasticsearch (one node, its data on `rook-ceph-block`), Kibana behind
//! the ingress at `/kibana`, and Filebeat on every node shipping `/var/log/containers`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSecurityContext, PodSpec,
    SecurityContext, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

use super::k8s::{
    app, cluster_role, cluster_role_binding, config_map, config_map_volume, daemon_set, deployment,
    env, env_field, host_path, http_probe, ingress, meta, mount, namespace, port, read, selector,
    service, service_account, template, tolerate_everything, yaml, Docs, Labels,
};
use super::rook::STORAGE_CLASS;
use crate::model::ClusterModel;

/// The logging namespace.
pub(super) const NAMESPACE: &str = "logging";
/// Elasticsearch's HTTP port.
const ES_PORT: u16 = 9200;
/// Kibana's port.
const KIBANA_PORT: u16 = 5601;
/// Where Kibana is served through the ingress.
pub(super) const KIBANA_PATH: &str = "/kibana";

/// The manifest.
pub(super) fn manifest(model: &ClusterModel) -> String {
    let mut docs = Docs::default();
    docs.push(&namespace(NAMESPACE, &Labels::new()));
    docs.push(&service(
        "elasticsearch",
        NAMESPACE,
        &app("elasticsearch"),
        &[("http", ES_PORT)],
        true,
    ));
    docs.push(&elasticsearch(model));
    docs.push(&deployment(
        "kibana",
        NAMESPACE,
        &app("kibana"),
        1,
        kibana(model),
        false,
    ));
    docs.push(&service(
        "kibana",
        NAMESPACE,
        &app("kibana"),
        &[("http", KIBANA_PORT)],
        false,
    ));
    docs.push(&ingress(
        "kibana",
        NAMESPACE,
        KIBANA_PATH,
        "kibana",
        KIBANA_PORT,
    ));
    docs.push(&service_account("filebeat", NAMESPACE));
    docs.push(&cluster_role(
        "filebeat",
        vec![
            read(&[""], &["namespaces", "pods", "nodes"]),
            read(&["apps"], &["replicasets"]),
            read(&["batch"], &["jobs"]),
        ],
    ));
    docs.push(&cluster_role_binding("filebeat", NAMESPACE));
    docs.push(&config_map(
        "filebeat",
        NAMESPACE,
        &app("filebeat"),
        vec![("filebeat.yml", filebeat_yml())],
    ));
    docs.push(&daemon_set(
        "filebeat",
        NAMESPACE,
        &app("filebeat"),
        filebeat(model),
    ));
    docs.finish()
}

fn elastic_image(model: &ClusterModel, product: &str) -> String {
    format!("docker.elastic.co/{product}:{}", model.versions.elastic)
}

/// A 10 GiB ReadWriteOnce claim on Ceph, one per Elasticsearch pod.
fn data_claim() -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: Some(STORAGE_CLASS.to_owned()),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity("10Gi".to_owned()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// One single-node Elasticsearch without security (the lab is a closed network). mmap is
/// off, so the nodes need no `vm.max_map_count` change.
fn elasticsearch(model: &ClusterModel) -> StatefulSet {
    let labels = app("elasticsearch");
    let container = Container {
        name: "elasticsearch".to_owned(),
        image: Some(elastic_image(model, "elasticsearch/elasticsearch")),
        env: Some(vec![
            env("discovery.type", "single-node"),
            env("xpack.security.enabled", "false"),
            env("node.store.allow_mmap", "false"),
            env("ES_JAVA_OPTS", "-Xms512m -Xmx512m"),
        ]),
        ports: Some(vec![port("http", ES_PORT)]),
        readiness_probe: Some(http_probe("/_cluster/health?local=true", "http")),
        volume_mounts: Some(vec![mount("data", "/usr/share/elasticsearch/data", false)]),
        ..Container::default()
    };
    let pod = PodSpec {
        // The image runs as uid 1000; the claim's files must be its group's.
        security_context: Some(PodSecurityContext {
            fs_group: Some(1000),
            ..PodSecurityContext::default()
        }),
        containers: vec![container],
        ..PodSpec::default()
    };
    StatefulSet {
        metadata: meta("elasticsearch", Some(NAMESPACE), &labels),
        spec: Some(StatefulSetSpec {
            replicas: Some(1),
            service_name: Some("elasticsearch".to_owned()),
            selector: selector(&labels),
            template: template(&labels, pod),
            volume_claim_templates: Some(vec![data_claim()]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}

/// Kibana, served under `/kibana` so that the probe app keeps `/`.
fn kibana(model: &ClusterModel) -> PodSpec {
    let container = Container {
        name: "kibana".to_owned(),
        image: Some(elastic_image(model, "kibana/kibana")),
        env: Some(vec![
            env(
                "ELASTICSEARCH_HOSTS",
                &format!("http://elasticsearch.{NAMESPACE}.svc:{ES_PORT}"),
            ),
            env("SERVER_BASEPATH", KIBANA_PATH),
            env("SERVER_REWRITEBASEPATH", "true"),
        ]),
        ports: Some(vec![port("http", KIBANA_PORT)]),
        readiness_probe: Some(http_probe(&format!("{KIBANA_PATH}/api/status"), "http")),
        ..Container::default()
    };
    PodSpec {
        containers: vec![container],
        ..PodSpec::default()
    }
}

/// `filebeat.yml`: every container log of the node (the kubelet's symlinks in
/// `/var/log/containers`, parsed as CRI logs), with pod metadata, to Elasticsearch.
pub(super) fn filebeat_yml() -> String {
    let config = json!({
        "filebeat.inputs": [{
            "type": "filestream",
            "id": "kubernetes-containers",
            "paths": ["/var/log/containers/*.log"],
            "prospector.scanner.symlinks": true,
            "parsers": [{"container": {"stream": "all", "format": "auto"}}],
            "processors": [{"add_kubernetes_metadata": {
                "host": "${NODE_NAME}",
                "matchers": [{"logs_path": {"logs_path": "/var/log/containers/"}}]
            }}]
        }],
        "output.elasticsearch": {
            "hosts": [format!("http://elasticsearch.{NAMESPACE}.svc:{ES_PORT}")]
        }
    });
    yaml(&config)
}

/// Filebeat on every node, root (it reads every pod's log files).
fn filebeat(model: &ClusterModel) -> PodSpec {
    let container = Container {
        name: "filebeat".to_owned(),
        image: Some(elastic_image(model, "beats/filebeat")),
        args: Some(vec![
            "-c".to_owned(),
            "/etc/filebeat/filebeat.yml".to_owned(),
            "-e".to_owned(),
        ]),
        env: Some(vec![env_field("NODE_NAME", "spec.nodeName")]),
        security_context: Some(SecurityContext {
            run_as_user: Some(0),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            mount("config", "/etc/filebeat", true),
            mount("data", "/usr/share/filebeat/data", false),
            mount("varlog", "/var/log", true),
        ]),
        ..Container::default()
    };
    PodSpec {
        service_account_name: Some("filebeat".to_owned()),
        tolerations: Some(tolerate_everything()),
        containers: vec![container],
        volumes: Some(vec![
            config_map_volume("config", "filebeat", Some(0o644)),
            host_path("data", "/var/lib/filebeat-data", Some("DirectoryOrCreate")),
            host_path("varlog", "/var/log", None),
        ]),
        ..PodSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::api::networking::v1::Ingress;

    use super::super::testing::object;
    use super::*;
    use crate::model::Profile;

    fn seed() -> ClusterModel {
        ClusterModel::seed(Profile::Kubernetes)
    }

    #[test]
    fn elasticsearch_keeps_its_data_on_ceph() {
        let es: StatefulSet = object(&manifest(&seed()), "StatefulSet", "elasticsearch");
        let spec = es.spec.expect("spec");
        assert_eq!(spec.replicas, Some(1));
        let claim = spec.volume_claim_templates.expect("claims").remove(0);
        let claim = claim.spec.expect("claim spec");
        assert_eq!(claim.storage_class_name.as_deref(), Some(STORAGE_CLASS));
        let size = &claim.resources.and_then(|r| r.requests).expect("requests")["storage"];
        assert_eq!(size, &Quantity("10Gi".to_owned()));
        let env = spec.template.spec.expect("pod").containers[0]
            .env
            .clone()
            .expect("env");
        assert!(env.contains(&super::env("discovery.type", "single-node")));
        assert!(env.contains(&super::env("xpack.security.enabled", "false")));
    }

    #[test]
    fn kibana_under_its_own_path() {
        let ing: Ingress = object(&manifest(&seed()), "Ingress", "kibana");
        let rule = &ing.spec.and_then(|s| s.rules).expect("rules")[0];
        let path = &rule.http.as_ref().expect("http").paths[0];
        assert_eq!(path.path.as_deref(), Some(KIBANA_PATH));
        let kibana: Deployment = object(&manifest(&seed()), "Deployment", "kibana");
        let image = kibana
            .spec
            .and_then(|s| s.template.spec)
            .expect("pod")
            .containers[0]
            .image
            .clone();
        assert_eq!(
            image.as_deref(),
            Some("docker.elastic.co/kibana/kibana:8.15.0")
        );
    }

    #[test]
    fn filebeat_reads_container_logs_into_elasticsearch() {
        let cm: ConfigMap = object(&manifest(&seed()), "ConfigMap", "filebeat");
        let text = &cm.data.expect("data")["filebeat.yml"];
        let config: serde_json::Value = serde_saphyr::from_str(text).expect("yaml");
        assert_eq!(
            config["filebeat.inputs"][0]["paths"][0],
            "/var/log/containers/*.log"
        );
        assert_eq!(
            config["output.elasticsearch"]["hosts"][0],
            "http://elasticsearch.logging.svc:9200"
        );
    }
}
