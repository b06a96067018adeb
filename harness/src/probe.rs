//! Probes of a real lab: a client's view, through the VIP, into the same record the
//! simulation fills.
//!
//! Every `probes.interval` each service gets a new request, whatever the earlier ones are
//! doing (requests overlap as a client's do); each is a [`Sample`] stamped with its send time
//! on the drill's clock. `api` (bare): etcd's `/health` and a write, through HAProxy on the
//! VIP, on a fresh connection. `ingress`: an HTTP GET through HAProxy :80. `ceph`: a write to
//! the pool by the Ceph probe agent on a node, driven over SSH; when an agent stops answering
//! (its node is down or cut off) the next probe goes to the next node's agent, as a client
//! with several gateways would.
//!
//! **Boundary:** probes only observe: they never change what a fault did, and judging is
//! `verdict`'s.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use provisioner::exec::ssh::Ssh;
use provisioner::model::{ClusterModel, Profile};
use provisioner::plan::quote;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::record::{Sample, Service, AGENT_GRACE};

/// Samples gathered but not yet handed to the record.
type Buffer = Arc<Mutex<Vec<(Service, Sample)>>>;

/// Probes running in the background.
pub struct Probes {
    buffer: Buffer,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
    timeout: Duration,
    start: Instant,
}

/// Most probes of one service in flight at once (a timeout's worth of intervals, and some).
pub const IN_FLIGHT_MAX: usize = 64;

impl Probes {
    /// Starts probing every service of the model's profile. Agents are warmed up first; the
    /// drill's clock ([`Probes::started`]) starts with the first probe.
    pub fn start(
        rt: &tokio::runtime::Handle,
        model: &ClusterModel,
        hosts: &BTreeMap<String, Arc<Ssh>>,
        kube: Option<kube::Client>,
    ) -> Probes {
        let agents = (model.profile == Profile::Bare).then(|| {
            let agents = Arc::new(Agents::new(model, hosts, rt.clone()));
            rt.block_on(agents.warm_up(Duration::from_secs(20)));
            agents
        });
        let start = crate::wall::now();
        let buffer: Buffer = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let every = model.probes.interval;
        let timeout = model.probes.timeout;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(0)
            .build()
            .expect("a plain HTTP client builds");
        let api = Arc::new(Http {
            client: client.clone(),
            base: format!("http://{}:{}", model.vip, model.haproxy.api_port),
            kube,
        });
        let ingress = Arc::new(Http {
            client,
            base: format!("http://{}:{}", model.vip, model.haproxy.ingress_port),
            kube: None,
        });
        let ingress_for_ceph = Arc::clone(&ingress);
        let ctx = Ctx {
            buffer: Arc::clone(&buffer),
            stop: Arc::clone(&stop),
            start,
            every,
            deadline: deadline(timeout),
        };
        let mut tasks = vec![
            rt.spawn(ctx.clone().run(Service::Api, move |n| {
                let api = Arc::clone(&api);
                async move { api.api(n).await }
            })),
            rt.spawn(ctx.clone().run(Service::Ingress, move |_| {
                let ingress = Arc::clone(&ingress);
                async move { ingress.get("/").await }
            })),
        ];
        if model.profile == Profile::Kubernetes {
            // The PVC-backed writer answers through the ingress whether its last write to
            // its RBD volume finished in time.
            let writer = Arc::clone(&ingress_for_ceph);
            tasks.push(rt.spawn(ctx.run(Service::Ceph, move |_| {
                let writer = Arc::clone(&writer);
                async move { writer.get(provisioner::render::kube::CEPH_PROBE_PATH).await }
            })));
        } else if let Some(agents) = agents {
            tasks.push(rt.spawn(ctx.run(Service::Ceph, move |n| {
                let agents = Arc::clone(&agents);
                async move { agents.probe(n, timeout).await }
            })));
        }
        Probes {
            buffer,
            stop,
            tasks,
            timeout,
            start,
        }
    }

    /// When the first probe went out: the drill's clock starts here.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// Samples sent long enough before `now` on the drill's clock that every probe sent before
    /// them has answered or hit its deadline, in time order (so nothing arrives out of order).
    pub fn drain(&self, now: Duration) -> Vec<(Service, Sample)> {
        let settled = now.saturating_sub(deadline(self.timeout) + Duration::from_millis(500));
        let mut buf = self.buffer.lock().expect("not poisoned");
        let (mut out, keep): (Vec<_>, Vec<_>) = buf.drain(..).partition(|(_, s)| s.at <= settled);
        *buf = keep;
        out.sort_by_key(|(svc, s)| (s.at, *svc));
        out
    }

    /// Stops sending, waits for the probes in flight, and hands over the rest.
    pub async fn stop(self) -> Vec<(Service, Sample)> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            let _ = t.await;
        }
        let mut out: Vec<_> = self
            .buffer
            .lock()
            .expect("not poisoned")
            .drain(..)
            .collect();
        out.sort_by_key(|(svc, s)| (s.at, *svc));
        out
    }
}

/// Every probe ends within this: its timeout and a second for the transport.
fn deadline(timeout: Duration) -> Duration {
    timeout + Duration::from_secs(1)
}

/// What every probe loop shares.
#[derive(Clone)]
struct Ctx {
    buffer: Buffer,
    stop: Arc<AtomicBool>,
    start: Instant,
    every: Duration,
    deadline: Duration,
}

type Outcome = Result<(), Cow<'static, str>>;

impl Ctx {
    /// Sends a probe every interval until stopped; each answers into the buffer.
    async fn run<F, Fut>(self, service: Service, probe: F)
    where
        F: Fn(u64) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Outcome> + Send + 'static,
    {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let mut inflight: Vec<JoinHandle<()>> = Vec::new();
        let mut n = 0u64;
        while !self.stop.load(Ordering::SeqCst) {
            tick.tick().await;
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            n += 1;
            inflight.retain(|h| !h.is_finished());
            if in_flight.load(Ordering::SeqCst) >= IN_FLIGHT_MAX {
                continue;
            }
            let sent = crate::wall::now();
            let at = sent.duration_since(self.start);
            let fut = tokio::time::timeout(self.deadline, probe(n));
            let buffer = Arc::clone(&self.buffer);
            let counter = Arc::clone(&in_flight);
            counter.fetch_add(1, Ordering::SeqCst);
            inflight.push(tokio::spawn(async move {
                let result = fut
                    .await
                    .unwrap_or(Err(Cow::Borrowed("no answer within the probe deadline")));
                let latency = sent.elapsed();
                let sample = Sample {
                    at,
                    ok: result.is_ok(),
                    latency,
                    cause: result.err().unwrap_or(Cow::Borrowed("")),
                };
                buffer.lock().expect("not poisoned").push((service, sample));
                counter.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for h in inflight {
            let _ = h.await;
        }
    }
}

/// HTTP through the VIP; with a kube client, the Kubernetes API.
struct Http {
    client: reqwest::Client,
    base: String,
    kube: Option<kube::Client>,
}

fn cause(e: &reqwest::Error) -> Cow<'static, str> {
    if e.is_timeout() {
        Cow::Borrowed("timeout")
    } else if e.is_connect() {
        Cow::Borrowed("cannot connect")
    } else {
        Cow::Owned(format!("{e}"))
    }
}

impl Http {
    async fn get(&self, path: &str) -> Outcome {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| cause(&e))?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(Cow::Owned(format!("HTTP {}", r.status().as_u16())))
        }
    }

    /// bare: etcd `/health` (needs a quorum), then a write, both through HAProxy on the VIP.
    /// kubernetes: `/readyz` and a ConfigMap write with the kube crate (its kubeconfig names
    /// the VIP as the server).
    async fn api(&self, n: u64) -> Outcome {
        if let Some(k) = &self.kube {
            return kube_api(k, n).await;
        }
        let r = self
            .client
            .get(format!("{}/health", self.base))
            .send()
            .await
            .map_err(|e| cause(&e))?;
        let body = r.text().await.map_err(|e| cause(&e))?;
        if !body.contains("\"health\":\"true\"") {
            return Err(Cow::Borrowed("etcd /health not true"));
        }
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let put = serde_json::json!({ "key": b64("hadrill/probe"), "value": b64(&n.to_string()) });
        let r = self
            .client
            .post(format!("{}/v3/kv/put", self.base))
            .json(&put)
            .send()
            .await
            .map_err(|e| cause(&e))?;
        let status = r.status();
        let text = r.text().await.map_err(|e| cause(&e))?;
        if status.is_success() && text.contains("revision") {
            Ok(())
        } else if text.contains("leader") {
            Err(Cow::Borrowed("etcd write: leader changed or lost"))
        } else {
            Err(Cow::Owned(format!("etcd write: HTTP {}", status.as_u16())))
        }
    }
}

async fn kube_api(client: &kube::Client, n: u64) -> Outcome {
    use k8s_openapi::api::core::v1::ConfigMap;
    let req = http::Request::get("/readyz")
        .body(Vec::new())
        .expect("a static request");
    client
        .request_text(req)
        .await
        .map_err(|e| Cow::Owned(format!("/readyz: {e}")))?;
    let cms: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), "hadrill");
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("hadrill-probe".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("n".to_owned(), n.to_string())])),
        ..Default::default()
    };
    let params = kube::api::PatchParams::apply("hadrill").force();
    cms.patch("hadrill-probe", &params, &kube::api::Patch::Apply(&cm))
        .await
        .map(|_| ())
        .map_err(|e| Cow::Owned(format!("configmap write: {e}")))
}

/// The Ceph probe agents, one per storage node, used in turn when one stops answering.
struct Agents {
    nodes: Vec<String>,
    hosts: BTreeMap<String, Arc<Ssh>>,
    current: AtomicUsize,
    cmd: String,
    live: Arc<Mutex<BTreeMap<String, Slot>>>,
    rt: tokio::runtime::Handle,
    next: AtomicU64,
}

type Request = (u64, oneshot::Sender<Outcome>);

/// An agent being started, or running (requests go in on its sender).
enum Slot {
    Starting,
    Ready(mpsc::Sender<Request>),
}

impl Agents {
    fn new(
        model: &ClusterModel,
        hosts: &BTreeMap<String, Arc<Ssh>>,
        rt: tokio::runtime::Handle,
    ) -> Agents {
        Agents {
            nodes: model
                .nodes
                .iter()
                .filter(|n| n.storage())
                .map(|n| n.name.clone())
                .collect(),
            hosts: hosts.clone(),
            current: AtomicUsize::new(0),
            cmd: format!(
                "exec python3 {} {} {}",
                provisioner::render::CEPH_PROBE,
                quote(&model.ceph.pool),
                model.probes.timeout.as_secs_f64()
            ),
            live: Arc::new(Mutex::new(BTreeMap::new())),
            rt,
            next: AtomicU64::new(0),
        }
    }

    /// Starts every agent and waits (a little) for them: a drill's first probe should not
    /// pay for an SSH session and a Ceph client's start.
    async fn warm_up(&self, wait: Duration) {
        let start = crate::wall::now();
        let mut answered = vec![false; self.nodes.len()];
        while start.elapsed() < wait && answered.iter().any(|a| !a) {
            for (k, n) in self.nodes.iter().enumerate() {
                if answered[k] {
                    continue;
                }
                let Some(tx) = self.ready(n) else { continue };
                let (reply, got) = oneshot::channel();
                let id = self.next.fetch_add(1, Ordering::SeqCst);
                if tx.send((id, reply)).await.is_ok() {
                    answered[k] = tokio::time::timeout(Duration::from_secs(5), got)
                        .await
                        .is_ok();
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The agent on `node` if it runs; else starts it in the background and says None.
    fn ready(&self, node: &str) -> Option<mpsc::Sender<Request>> {
        let mut live = self.live.lock().expect("not poisoned");
        match live.get(node) {
            Some(Slot::Ready(tx)) if !tx.is_closed() => return Some(tx.clone()),
            Some(Slot::Starting) => return None,
            _ => {}
        }
        live.insert(node.to_owned(), Slot::Starting);
        let (host, cmd, live2, name) = (
            self.hosts.get(node).cloned(),
            self.cmd.clone(),
            Arc::clone(&self.live),
            node.to_owned(),
        );
        self.rt.spawn(async move {
            let started = match host {
                Some(h) => tokio::time::timeout(Duration::from_secs(10), h.stream(&cmd))
                    .await
                    .ok()
                    .and_then(Result::ok),
                None => None,
            };
            let mut live = live2.lock().expect("not poisoned");
            match started {
                Some(stream) => {
                    let (tx, rx) = mpsc::channel(IN_FLIGHT_MAX);
                    tokio::spawn(serve(stream, rx));
                    live.insert(name, Slot::Ready(tx));
                }
                None => {
                    live.remove(&name);
                }
            }
        });
        None
    }

    fn rotate(&self, from: usize) {
        let next = (from + 1) % self.nodes.len();
        let _ = self
            .current
            .compare_exchange(from, next, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// One write through the current agent. An agent that does not answer at all (its node
    /// is down or cut off) hands the next probes to the next one; a Ceph error or timeout is
    /// Ceph's answer and changes nothing.
    async fn probe(&self, _n: u64, timeout: Duration) -> Outcome {
        if self.nodes.is_empty() {
            return Err(Cow::Borrowed("no storage node"));
        }
        let mut chosen = None;
        for _ in 0..self.nodes.len() {
            let k = self.current.load(Ordering::SeqCst) % self.nodes.len();
            match self.ready(&self.nodes[k]) {
                Some(tx) => {
                    chosen = Some((k, tx));
                    break;
                }
                None => self.rotate(k),
            }
        }
        let Some((k, tx)) = chosen else {
            return Err(Cow::Borrowed("no Ceph probe agent is running"));
        };
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let (reply, wait) = oneshot::channel();
        if tx.send((id, reply)).await.is_err() {
            self.rotate(k);
            return Err(Cow::Owned(format!("the agent on {} ended", self.nodes[k])));
        }
        match tokio::time::timeout(timeout + AGENT_GRACE, wait).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) | Err(_) => {
                self.rotate(k);
                Err(Cow::Owned(format!(
                    "no answer from the agent on {}",
                    self.nodes[k]
                )))
            }
        }
    }
}

/// Feeds an agent's stdin and matches its answer lines to the waiting probes.
async fn serve(stream: russh::ChannelStream<russh::client::Msg>, mut rx: mpsc::Receiver<Request>) {
    let (read, mut write) = tokio::io::split(stream);
    let waiting: Arc<Mutex<BTreeMap<u64, oneshot::Sender<Outcome>>>> =
        Arc::new(Mutex::new(BTreeMap::new()));
    let w = Arc::clone(&waiting);
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut it = line.split_whitespace();
            let (Some(id), Some(status)) =
                (it.next().and_then(|x| x.parse::<u64>().ok()), it.next())
            else {
                continue;
            };
            let _ms = it.next();
            let why: Vec<&str> = it.collect();
            let outcome = if status == "ok" {
                Ok(())
            } else {
                Err(Cow::Owned(format!("ceph write: {}", why.join(" "))))
            };
            if let Some(tx) = w.lock().expect("not poisoned").remove(&id) {
                let _ = tx.send(outcome);
            }
        }
    });
    while let Some((id, reply)) = rx.recv().await {
        waiting.lock().expect("not poisoned").insert(id, reply);
        if write.write_all(format!("{id}\n").as_bytes()).await.is_err() {
            break;
        }
        if reader.is_finished() {
            break;
        }
    }
    reader.abort();
}
