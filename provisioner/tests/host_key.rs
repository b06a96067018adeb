//! Host keys are pinned on first use and a changed key is refused: first on the pin rule
//! itself (`exec::ssh::check_pin` on a pin file), then through the SSH transport against a
//! real SSH server (russh's, on loopback) whose host key is swapped between two connections.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use provisioner::exec::ssh::{check_pin, generate_key, Pinned, Ssh, Target};
use provisioner::exec::{Transport, TransportError};
use russh::keys::{Algorithm, PrivateKey, PublicKey};

/// An empty folder of its own for one test, removed when the guard drops (a panic included).
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("hadrill-hostkey-{name}-"))
        .tempdir()
        .unwrap()
}

fn new_key() -> PrivateKey {
    PrivateKey::random(&mut russh::keys::key::safe_rng(), Algorithm::Ed25519).unwrap()
}

fn target(dir: &Path, port: u16) -> Target {
    Target {
        name: "node-2".to_owned(),
        address: "127.0.0.1".to_owned(),
        port,
        user: "root".to_owned(),
        key: dir.join("id_ed25519"),
        known_hosts: dir.join("known_hosts"),
    }
}

/// The key's base64 body, as a known_hosts line carries it.
fn body(key: &PublicKey) -> String {
    let line = key.to_openssh().unwrap();
    line.split_whitespace().nth(1).unwrap().to_owned()
}

fn pins(t: &Target) -> String {
    std::fs::read_to_string(&t.known_hosts).unwrap_or_default()
}

#[test]
fn first_use_pins_the_same_key_passes_another_is_refused() {
    let scratch = scratch("rule");
    let t = target(scratch.path(), 2222);
    let (first, second) = (new_key(), new_key());
    assert_eq!(pins(&t), "", "no pin file yet");
    assert_eq!(check_pin(&t, first.public_key()).unwrap(), Pinned::Learned);
    let pinned = pins(&t);
    let entries: Vec<&str> = pinned.lines().filter(|l| !l.trim().is_empty()).collect();
    let want = format!("[127.0.0.1]:2222 ssh-ed25519 {}", body(first.public_key()));
    assert_eq!(
        entries,
        [want.as_str()],
        "one pin, under the address and port"
    );

    assert_eq!(check_pin(&t, first.public_key()).unwrap(), Pinned::Matched);
    let err = check_pin(&t, second.public_key()).unwrap_err();
    let TransportError::HostKeyChanged {
        host,
        offered,
        known_hosts,
    } = &err
    else {
        panic!("not a changed key: {err:?}");
    };
    assert_eq!(host, "node-2");
    assert_eq!(Path::new(known_hosts), t.known_hosts);
    let fingerprint = second.public_key().fingerprint(Default::default());
    assert_eq!(offered, &fingerprint.to_string());
    let shown = err.to_string();
    assert!(
        shown.starts_with("node-2: host key changed")
            && shown.contains(&t.known_hosts.display().to_string()),
        "the message names the host and the pin file: {shown}"
    );
    assert_eq!(pins(&t), pinned, "a refused key is not learned");
}

#[test]
fn a_pin_belongs_to_one_address_and_port() {
    let scratch = scratch("port");
    let dir = scratch.path();
    let (a, b) = (new_key(), new_key());
    assert_eq!(
        check_pin(&target(dir, 2222), a.public_key()).unwrap(),
        Pinned::Learned
    );
    let other_port = target(dir, 2223);
    assert_eq!(
        check_pin(&other_port, b.public_key()).unwrap(),
        Pinned::Learned
    );
    assert!(
        check_pin(&other_port, a.public_key()).is_err(),
        "2223 pinned b"
    );
}

/// An SSH server on loopback that refuses every login and offers, on each new connection,
/// the host key last given to it (one host whose key changes, as after a rebuild).
struct Server {
    port: u16,
    host_key: Arc<Mutex<PrivateKey>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(host_key: PrivateKey) -> Server {
        struct RefuseAll;
        impl russh::server::Handler for RefuseAll {
            type Error = russh::Error;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let host_key = Arc::new(Mutex::new(host_key));
        let key = Arc::clone(&host_key);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let config = Arc::new(russh::server::Config {
                    keys: vec![key.lock().unwrap().clone()],
                    auth_rejection_time: Duration::from_millis(10),
                    auth_rejection_time_initial: Some(Duration::ZERO),
                    ..Default::default()
                });
                tokio::spawn(async move {
                    if let Ok(session) = russh::server::run_stream(config, stream, RefuseAll).await
                    {
                        let _ = session.await;
                    }
                });
            }
        });
        Server {
            port,
            host_key,
            task,
        }
    }

    /// What a fresh transport gets from this server: every login is refused, so always an
    /// error; which one says how far it got.
    async fn try_once(&self, dir: &Path, host_key: &PrivateKey) -> TransportError {
        *self.host_key.lock().unwrap() = host_key.clone();
        let ssh = Ssh::new(target(dir, self.port));
        let result = ssh.run("true", b"", Duration::from_secs(10)).await;
        result.expect_err("every login is refused")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn refused_login(err: &TransportError) -> bool {
    matches!(err, TransportError::Connect { message, .. } if message.contains("was refused"))
}

#[tokio::test]
async fn the_transport_refuses_a_host_whose_key_changed() {
    let scratch = scratch("ssh");
    let dir = scratch.path();
    generate_key(&dir.join("id_ed25519"), "hadrill-test").unwrap();
    let (first, second) = (new_key(), new_key());
    let server = Server::start(first.clone()).await;
    let t = target(dir, server.port);

    let err = server.try_once(dir, &first).await;
    assert!(
        refused_login(&err),
        "first use: the key exchange passes, the login is refused: {err}"
    );
    assert!(pins(&t).contains(&body(first.public_key())), "pinned");

    let err = server.try_once(dir, &second).await;
    assert!(
        matches!(&err, TransportError::HostKeyChanged { host, .. } if host == "node-2"),
        "another key on the same host is refused before login: {err}"
    );
    let shown = err.to_string();
    let file = t.known_hosts.display().to_string();
    assert!(
        shown.contains(&file),
        "the message names the pin file: {shown}"
    );
    assert!(
        !pins(&t).contains(&body(second.public_key())),
        "not learned"
    );

    let err = server.try_once(dir, &first).await;
    assert!(
        refused_login(&err),
        "the pinned key again gets past the key check: {err}"
    );
    drop(server);
}
