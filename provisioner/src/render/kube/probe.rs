//! `60-hadrill-probe.yaml`: what the lab's probes reach through the VIP and the ingress.
//!
//! - The app: `whoami` replicas spread over the nodes, at `/` (the API/ingress probe).
//! - The Ceph writer: one busybox pod with a `rook-ceph-block` volume. It writes a heartbeat
//!   and fsyncs it every `probes.interval`, and serves on port 8080 `/ceph` (and the ingress
//!   path [`CEPH_PROBE_PATH`]), answering 200 only while the last write finished within
//!   2 × `probes.timeout`, else 503. For the kubernetes profile the lab's Ceph probe reads
//!   `http://VIP:ingress_port/hadrill-ceph`: through keepalived's VIP, HAProxy, traefik and the
//!   pod, to a write that only completes while the pool accepts I/O.
//!
//! The server is busybox `nc -ll -e` with a shell handler: busybox `httpd` can only run
//! scripts under `/cgi-bin/`, and traefik's Ingress provider cannot rewrite paths.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource,
    PodSpec, TopologySpreadConstraint, Volume, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::k8s::{
    app, config_map, config_map_volume, deployment, empty_dir, env, http_probe, ingress, meta,
    mount, namespace, port, selector, service, Docs, Labels,
};
use super::rook::STORAGE_CLASS;
use crate::model::ClusterModel;
use crate::render::secs;

/// The probe's namespace.
pub(super) const NAMESPACE: &str = "hadrill";
/// The ingress path of the probe app.
pub const APP_PATH: &str = "/";
/// The ingress path of the Ceph writer's status (the Ceph probe's URL path on the VIP).
pub const CEPH_PROBE_PATH: &str = "/hadrill-ceph";
/// The Ceph writer's HTTP port.
pub(super) const CEPH_WRITER_PORT: u16 = 8080;
/// The app's image.
pub(super) const APP_IMAGE: &str = "docker.io/traefik/whoami:v1.10";
/// The Ceph writer's image.
pub(super) const WRITER_IMAGE: &str = "docker.io/library/busybox:1.36";
const APP_PORT: u16 = 80;

/// The manifest.
pub(super) fn manifest(model: &ClusterModel) -> String {
    let mut docs = Docs::default();
    docs.push(&namespace(NAMESPACE, &Labels::new()));
    docs.push(&deployment(
        "whoami",
        NAMESPACE,
        &app("whoami"),
        model.kube.app_replicas,
        whoami(),
        false,
    ));
    docs.push(&service(
        "whoami",
        NAMESPACE,
        &app("whoami"),
        &[("http", APP_PORT)],
        false,
    ));
    docs.push(&ingress("whoami", NAMESPACE, APP_PATH, "whoami", APP_PORT));
    docs.push(&writer_claim());
    docs.push(&config_map(
        "ceph-writer",
        NAMESPACE,
        &app("ceph-writer"),
        vec![
            ("writer", include_str!("ceph-writer.sh").to_owned()),
            ("handler", include_str!("ceph-handler.sh").to_owned()),
        ],
    ));
    docs.push(&deployment(
        "ceph-writer",
        NAMESPACE,
        &app("ceph-writer"),
        1,
        writer(model),
        true,
    ));
    docs.push(&service(
        "ceph-writer",
        NAMESPACE,
        &app("ceph-writer"),
        &[("http", CEPH_WRITER_PORT)],
        false,
    ));
    docs.push(&ingress(
        "ceph-writer",
        NAMESPACE,
        CEPH_PROBE_PATH,
        "ceph-writer",
        CEPH_WRITER_PORT,
    ));
    docs.finish()
}

/// whoami, one replica per node where it can (a node down must not take them all).
fn whoami() -> PodSpec {
    let container = Container {
        name: "whoami".to_owned(),
        image: Some(APP_IMAGE.to_owned()),
        ports: Some(vec![port("http", APP_PORT)]),
        readiness_probe: Some(http_probe("/", "http")),
        ..Container::default()
    };
    PodSpec {
        topology_spread_constraints: Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".to_owned(),
            // DoNotSchedule would keep an evicted replica pending while its node is down.
            when_unsatisfiable: "ScheduleAnyway".to_owned(),
            label_selector: Some(selector(&app("whoami"))),
            ..TopologySpreadConstraint::default()
        }]),
        containers: vec![container],
        ..PodSpec::default()
    }
}

/// The writer's 1 GiB Ceph volume.
fn writer_claim() -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: meta("ceph-writer", Some(NAMESPACE), &app("ceph-writer")),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: Some(STORAGE_CLASS.to_owned()),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity("1Gi".to_owned()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// How long after the last finished write `/ceph` still says 200: 2 × the probe timeout, in
/// centiseconds (the handler's clock is `/proc/uptime`).
pub(super) fn fresh_cs(model: &ClusterModel) -> u128 {
    (2 * model.probes.timeout).as_millis() / 10
}

/// The writer pod. No readiness probe: a stalled pool must show as 503 from this pod, not as
/// an ingress without endpoints.
fn writer(model: &ClusterModel) -> PodSpec {
    let container = Container {
        name: "ceph-writer".to_owned(),
        image: Some(WRITER_IMAGE.to_owned()),
        command: Some(vec!["/bin/sh".to_owned(), "/hadrill/writer".to_owned()]),
        env: Some(vec![
            env("HADRILL_INTERVAL", &secs(model.probes.interval)),
            env("HADRILL_FRESH_CS", &fresh_cs(model).to_string()),
            env("HADRILL_PORT", &CEPH_WRITER_PORT.to_string()),
        ]),
        ports: Some(vec![port("http", CEPH_WRITER_PORT)]),
        volume_mounts: Some(vec![
            mount("data", "/data", false),
            mount("scripts", "/hadrill", true),
            mount("state", "/run/hadrill", false),
        ]),
        ..Container::default()
    };
    let data = Volume {
        name: "data".to_owned(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: "ceph-writer".to_owned(),
            ..PersistentVolumeClaimVolumeSource::default()
        }),
        ..Volume::default()
    };
    PodSpec {
        // Nothing to flush on the way out: a drained node should not wait 30 s for it.
        termination_grace_period_seconds: Some(2),
        containers: vec![container],
        volumes: Some(vec![
            data,
            config_map_volume("scripts", "ceph-writer", Some(0o755)),
            empty_dir("state", true),
        ]),
        ..PodSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::networking::v1::Ingress;

    use super::super::testing::object;
    use super::*;
    use crate::model::Profile;

    fn seed() -> ClusterModel {
        ClusterModel::seed(Profile::Kubernetes)
    }

    /// The Ingress NAME routes PATH to SERVICE:PORT with class traefik.
    fn check_ingress(name: &str, path: &str, service: &str, port: u16) {
        let ing: Ingress = object(&manifest(&seed()), "Ingress", name);
        let spec = ing.spec.expect("spec");
        assert_eq!(spec.ingress_class_name.as_deref(), Some("traefik"));
        let rule = &spec.rules.expect("rules")[0];
        let p = &rule.http.as_ref().expect("http").paths[0];
        assert_eq!(p.path.as_deref(), Some(path));
        let backend = p.backend.service.as_ref().expect("service");
        assert_eq!(backend.name, service);
        let number = backend.port.as_ref().and_then(|p| p.number);
        assert_eq!(number, Some(i32::from(port)));
    }

    #[test]
    fn ingress_paths() {
        check_ingress("whoami", "/", "whoami", APP_PORT);
        check_ingress(
            "ceph-writer",
            CEPH_PROBE_PATH,
            "ceph-writer",
            CEPH_WRITER_PORT,
        );
    }

    #[test]
    fn app_replicas_spread_over_nodes() {
        let mut m = seed();
        m.kube.app_replicas = 5;
        let d: Deployment = object(&manifest(&m), "Deployment", "whoami");
        let spec = d.spec.expect("spec");
        assert_eq!(spec.replicas, Some(5));
        let spread = spec.template.spec.expect("pod").topology_spread_constraints;
        let spread = &spread.expect("spread")[0];
        assert_eq!(spread.topology_key, "kubernetes.io/hostname");
        assert_eq!(spread.label_selector, Some(selector(&app("whoami"))));
    }

    #[test]
    fn writer_timing_from_the_probes() {
        let mut m = seed();
        m.probes.interval = std::time::Duration::from_millis(500);
        m.probes.timeout = std::time::Duration::from_millis(1500);
        let d: Deployment = object(&manifest(&m), "Deployment", "ceph-writer");
        let spec = d.spec.expect("spec");
        assert_eq!(spec.replicas, Some(1));
        let pod = spec.template.spec.expect("pod");
        let env = pod.containers[0].env.clone().expect("env");
        assert!(env.contains(&super::env("HADRILL_INTERVAL", "0.5")));
        assert!(env.contains(&super::env("HADRILL_FRESH_CS", "300")));
        let claim: PersistentVolumeClaim =
            object(&manifest(&m), "PersistentVolumeClaim", "ceph-writer");
        let claim = claim.spec.expect("spec");
        assert_eq!(claim.storage_class_name.as_deref(), Some(STORAGE_CLASS));
    }

    #[test]
    fn scripts_answer_the_probe_paths() {
        let handler = include_str!("ceph-handler.sh");
        assert!(handler.contains("/hadrill-ceph |") && handler.contains("/ceph |"));
        assert!(handler.contains("503 Service Unavailable") && handler.contains("200 OK"));
        let writer = include_str!("ceph-writer.sh");
        assert!(writer.contains("conv=fsync") && writer.contains("/hadrill/handler"));
    }
}
