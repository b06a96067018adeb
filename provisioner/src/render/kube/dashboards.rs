//! Two small Grafana dashboards of our own, as JSON built with `json!`: Ceph (health, OSDs up
//! and in, PG states, pool IOPS, OSD latency from the mgr's `ceph_*` metrics) and the nodes
//! (CPU, memory, disk latency from node-exporter's `node_*` metrics).

use serde_json::{json, Value};

/// The uid of the provisioned Prometheus data source.
pub(super) const DATASOURCE_UID: &str = "prometheus";

/// A query: PromQL and its legend.
struct Query<'a>(&'a str, &'a str);

/// One panel at grid cell (x, y) of size (w, h).
fn panel(
    id: u32,
    kind: &str,
    title: &str,
    at: [u32; 4],
    unit: &str,
    queries: &[Query<'_>],
) -> Value {
    let targets: Vec<Value> = queries
        .iter()
        .zip('A'..)
        .map(|(q, ref_id)| {
            json!({
                "refId": ref_id.to_string(),
                "expr": q.0,
                "legendFormat": q.1,
                "datasource": {"type": "prometheus", "uid": DATASOURCE_UID}
            })
        })
        .collect();
    json!({
        "id": id,
        "type": kind,
        "title": title,
        "gridPos": {"x": at[0], "y": at[1], "w": at[2], "h": at[3]},
        "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": targets
    })
}

fn dashboard(uid: &str, title: &str, panels: Vec<Value>) -> Value {
    json!({
        "uid": uid,
        "title": title,
        "tags": ["hadrill"],
        "schemaVersion": 39,
        "version": 1,
        "editable": false,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "panels": panels
    })
}

/// Ceph's health as a stat: 0, 1, 2 shown as HEALTH_OK, _WARN, _ERR.
fn health() -> Value {
    let mut health = panel(
        1,
        "stat",
        "Health",
        [0, 0, 6, 4],
        "none",
        &[Query("ceph_health_status", "health")],
    );
    health["fieldConfig"]["defaults"]["mappings"] = json!([{
        "type": "value",
        "options": {
            "0": {"text": "HEALTH_OK", "color": "green"},
            "1": {"text": "HEALTH_WARN", "color": "orange"},
            "2": {"text": "HEALTH_ERR", "color": "red"}
        }
    }]);
    health
}

/// Placement groups by state: all active+clean is healthy.
fn pg_states() -> Value {
    panel(
        4,
        "timeseries",
        "PG states",
        [0, 4, 12, 8],
        "none",
        &[
            Query("sum(ceph_pg_total)", "total"),
            Query("sum(ceph_pg_active)", "active"),
            Query("sum(ceph_pg_clean)", "clean"),
            Query("sum(ceph_pg_peering)", "peering"),
            Query("sum(ceph_pg_degraded)", "degraded"),
            Query("sum(ceph_pg_undersized)", "undersized"),
        ],
    )
}

/// Operations per second of each pool, named by the pool metadata.
fn pool_iops() -> Value {
    let ops = |counter: &str| {
        format!("rate(ceph_pool_{counter}[1m]) * on (pool_id) group_left (name) ceph_pool_metadata")
    };
    let (wr, rd) = (ops("wr"), ops("rd"));
    panel(
        5,
        "timeseries",
        "Pool IOPS",
        [12, 4, 12, 8],
        "iops",
        &[Query(&wr, "{{name}} write"), Query(&rd, "{{name}} read")],
    )
}

/// The Ceph dashboard.
pub(super) fn ceph() -> Value {
    let osds =
        |id, title, x, expr| panel(id, "stat", title, [x, 0, 6, 4], "none", &[Query(expr, "")]);
    let panels = vec![
        health(),
        osds(2, "OSDs up", 6, "sum(ceph_osd_up)"),
        osds(3, "OSDs in", 12, "sum(ceph_osd_in)"),
        pg_states(),
        pool_iops(),
        panel(
            6,
            "timeseries",
            "OSD latency",
            [0, 12, 24, 8],
            "ms",
            &[
                Query("ceph_osd_commit_latency_ms", "{{ceph_daemon}} commit"),
                Query("ceph_osd_apply_latency_ms", "{{ceph_daemon}} apply"),
            ],
        ),
    ];
    dashboard("hadrill-ceph", "hadrill: Ceph", panels)
}

/// The node dashboard.
pub(super) fn nodes() -> Value {
    let latency = |op: &str| {
        format!(
            "rate(node_disk_{op}_time_seconds_total[1m]) / \
             rate(node_disk_{op}s_completed_total[1m])"
        )
    };
    let (read, write) = (latency("read"), latency("write"));
    let panels = vec![
        panel(
            1,
            "timeseries",
            "CPU busy",
            [0, 0, 12, 8],
            "percentunit",
            &[Query(
                "1 - avg by (node) (rate(node_cpu_seconds_total{mode=\"idle\"}[1m]))",
                "{{node}}",
            )],
        ),
        panel(
            2,
            "timeseries",
            "Memory used",
            [12, 0, 12, 8],
            "percentunit",
            &[Query(
                "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
                "{{node}}",
            )],
        ),
        panel(
            3,
            "timeseries",
            "Disk IO latency",
            [0, 8, 24, 8],
            "s",
            &[
                Query(&read, "{{node}} {{device}} read"),
                Query(&write, "{{node}} {{device}} write"),
            ],
        ),
    ];
    dashboard("hadrill-nodes", "hadrill: nodes", panels)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every query of a dashboard, and the panel titles.
    fn check(board: &Value, titles: &[&str], metric_prefix: &str) {
        let panels = board["panels"].as_array().expect("panels");
        let got: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
        assert_eq!(got, titles);
        for p in panels {
            for t in p["targets"].as_array().expect("targets") {
                let expr = t["expr"].as_str().expect("expr");
                assert!(expr.contains(metric_prefix), "{expr}");
            }
        }
        let ids: Vec<u64> = panels.iter().filter_map(|p| p["id"].as_u64()).collect();
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(ids, unique);
    }

    #[test]
    fn ceph_dashboard() {
        check(
            &ceph(),
            &[
                "Health",
                "OSDs up",
                "OSDs in",
                "PG states",
                "Pool IOPS",
                "OSD latency",
            ],
            "ceph_",
        );
    }

    #[test]
    fn node_dashboard() {
        check(
            &nodes(),
            &["CPU busy", "Memory used", "Disk IO latency"],
            "node_",
        );
    }
}
