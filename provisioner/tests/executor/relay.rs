//! Relays: a secret read on one host reaches the other host's stdin only. Each test captures
//! every log line at TRACE level and looks for the secret in logs, command lines and errors.

use std::cell::RefCell;
use std::sync::Once;
use std::time::Duration;

use provisioner::exec::{Error, Outcome, Summary};
use provisioner::plan::{self, Action, Plan, Relay, RelayTo, Step};

use crate::fake::{Lab, Reply};
use crate::run;

const KEYRING: &str = "/etc/ceph/ceph.client.admin.keyring";
const SECRET: &str = "[client.admin]\n\tkey = AQBsZWNyZXQtbm90LWZvci1sb2dzAA==\n";
/// The part of the secret that must never show (the keyring's header is not secret).
const KEY: &str = "AQBsZWNyZXQtbm90LWZvci1sb2dzAA==";

thread_local! {
    /// This thread's log lines: each test runs its paused runtime on a thread of its own.
    static LINES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes into [`LINES`] of the thread that logs.
struct ThreadLines;

impl std::io::Write for ThreadLines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        LINES.with(|l| l.borrow_mut().extend_from_slice(b));
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test, at TRACE level. One global subscriber for the whole binary:
/// a per-test `set_default` races with tracing's per-callsite cache when tests run in
/// parallel, and a line could go unseen.
struct Logs;

impl Logs {
    fn capture() -> Logs {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(|| ThreadLines)
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        });
        LINES.with(|l| l.borrow_mut().clear());
        Logs
    }

    fn text(&self) -> String {
        LINES.with(|l| String::from_utf8_lossy(&l.borrow()).into_owned())
    }
}

/// Checks that the capture saw the executor (so an absent secret means something) and that
/// neither the logs, nor a command line, nor `err` shows any of `secrets`.
fn assert_no_leak(logs: &Logs, lab: &Lab, err: Option<&Error>, secrets: &[&str]) {
    let text = logs.text();
    assert!(
        text.contains("step done"),
        "the capture saw the executor: {text}"
    );
    let shown = err.map(|e| format!("{e} {e:?} {:?}", std::error::Error::source(e)));
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} is in the logs: {text}");
        for c in lab.calls() {
            assert!(
                !c.cmd.contains(secret),
                "{secret} is on a command line: {}",
                c.cmd
            );
        }
        if let Some(shown) = &shown {
            assert!(!shown.contains(secret), "{secret} is in the error: {shown}");
        }
    }
}

fn relay_file(from: &str, to: &str) -> Step {
    Step {
        host: to.to_owned(),
        name: "relay keyring".to_owned(),
        check: None,
        apply: Action::Relay(Relay {
            from: from.to_owned(),
            read: format!("cat {KEYRING}"),
            to: RelayTo::File {
                path: KEYRING.to_owned(),
                mode: 0o600,
                owner: "ceph:ceph".to_owned(),
            },
        }),
        verify: None,
        settle: Duration::ZERO,
        after: Vec::new(),
        attempts: 1,
        logs: None,
    }
}

/// Host `a` holds the keyring; `b`'s copy is missing (its sha256 check fails).
fn keyring_on_a(lab: &Lab) {
    let sum = plan::sha256_hex(SECRET.as_bytes());
    lab.on("a", "sha256sum", [Reply::prints(&format!("{sum}\n"))]);
    lab.on("b", "sha256sum -c", [Reply::fails("")]);
    lab.on("a", &format!("cat {KEYRING}"), [Reply::prints(SECRET)]);
}

#[tokio::test(start_paused = true)]
async fn a_relayed_keyring_reaches_the_other_hosts_stdin_only() {
    let logs = Logs::capture();
    let lab = Lab::new();
    keyring_on_a(&lab);
    let write = plan::write_stdin(KEYRING, 0o600, "ceph:ceph");
    lab.on("b", &write, [Reply::ok()]);
    let mut plan = Plan::default();
    plan.add(relay_file("a", "b"));
    let (result, _) = run(&lab, &plan, &["a", "b"]).await;
    assert_eq!(result.unwrap().outcomes[&0], Outcome::Changed);
    let writes = lab.calls_to("b", &write);
    assert_eq!(writes.len(), 1, "one write on b");
    assert_eq!(
        writes[0].stdin,
        SECRET.as_bytes(),
        "the secret, through stdin"
    );
    assert!(
        lab.calls_to("a", "mktemp").is_empty(),
        "nothing written on a"
    );
    assert_no_leak(&logs, &lab, None, &[KEY]);
}

#[tokio::test(start_paused = true)]
async fn a_relay_already_in_place_reads_no_secret() {
    let lab = Lab::new();
    let sum = plan::sha256_hex(SECRET.as_bytes());
    lab.on("a", "sha256sum", [Reply::prints(&format!("{sum}\n"))]);
    let check = plan::file_check(KEYRING, 0o600, "ceph:ceph", &sum);
    lab.on("b", &check, [Reply::ok()]);
    let mut plan = Plan::default();
    plan.add(relay_file("a", "b"));
    let (result, _) = run(&lab, &plan, &["a", "b"]).await;
    assert_eq!(result.unwrap().outcomes[&0], Outcome::Unchanged);
    assert_eq!(lab.calls().len(), 2, "two checksums, no read, no write");
    assert!(lab.calls_to("a", "cat ").is_empty());
}

/// A read that fails after printing part of the secret (stderr empty, so a careless error
/// would fall back to stdout).
#[tokio::test(start_paused = true)]
async fn a_failed_read_shows_stderr_only() {
    let logs = Logs::capture();
    let lab = Lab::new();
    let sum = plan::sha256_hex(SECRET.as_bytes());
    lab.on("a", "sha256sum", [Reply::prints(&format!("{sum}\n"))]);
    lab.on("b", "sha256sum -c", [Reply::fails("")]);
    lab.on("a", &format!("cat {KEYRING}"), [Reply::exit(1, SECRET, "")]);
    let mut plan = Plan::default();
    plan.add(relay_file("a", "b"));
    let (result, _) = run(&lab, &plan, &["a", "b"]).await;
    let err = result.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("a: relay keyring: `cat {KEYRING}` exited 1: "),
        "the host that failed to read is named"
    );
    assert!(
        lab.calls_to("b", "mktemp").is_empty(),
        "nothing written on b"
    );
    assert_no_leak(&logs, &lab, Some(&err), &[KEY]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_names_the_command_not_the_secret() {
    let logs = Logs::capture();
    let lab = Lab::new();
    keyring_on_a(&lab);
    lab.on("b", "mktemp", [Reply::fails("No space left on device")]);
    let mut plan = Plan::default();
    plan.add(relay_file("a", "b"));
    let (result, _) = run(&lab, &plan, &["a", "b"]).await;
    let err = result.unwrap_err();
    let shown = err.to_string();
    assert!(shown.starts_with("b: relay keyring: `mkdir -p"), "{shown}");
    assert!(
        shown.ends_with("exited 1: No space left on device"),
        "{shown}"
    );
    assert_no_leak(&logs, &lab, Some(&err), &[KEY]);
}

const TOKEN: &str = "abcdef.0123456789abcdef";
const CERT_KEY: &str = "7c2e9a0b4d1f6e3a8b5c0d9e2f1a4b7c6d3e0f9a8b7c6d5e4f3a2b1c0d9e8f7a";

fn join_line(control_plane: bool) -> String {
    let mut line = format!(
        "kubeadm join 10.0.0.100:6445 --token {TOKEN} \\\n    \
         --discovery-token-ca-cert-hash sha256:{}",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    if control_plane {
        line.push_str(&format!(" --control-plane --certificate-key {CERT_KEY}"));
    }
    line.push('\n');
    line
}

fn join(control_plane: bool) -> Step {
    Step {
        host: "b".to_owned(),
        name: "kubeadm join".to_owned(),
        check: Some("test -f /etc/kubernetes/kubelet.conf".to_owned()),
        apply: Action::Relay(Relay {
            from: "a".to_owned(),
            read: "kubeadm token create --print-join-command".to_owned(),
            to: RelayTo::KubeadmJoin {
                control_plane,
                advertise: "10.0.0.12".to_owned(),
                bind_port: 6443,
                schedulable: false,
            },
        }),
        verify: None,
        settle: Duration::ZERO,
        after: Vec::new(),
        attempts: 1,
        logs: None,
    }
}

/// Runs a control-plane join on `b` whose read on `a` prints `line`.
async fn join_from(line: &str) -> (Result<Summary, Error>, Lab, Logs) {
    let logs = Logs::capture();
    let lab = Lab::new();
    lab.on("b", "kubelet.conf", [Reply::fails("")]);
    lab.on("a", "--print-join-command", [Reply::prints(line)]);
    lab.on("b", "kubeadm join --config", [Reply::ok()]);
    let mut plan = Plan::default();
    plan.add(join(true));
    let (result, _) = run(&lab, &plan, &["a", "b"]).await;
    (result, lab, logs)
}

#[tokio::test(start_paused = true)]
async fn a_join_line_becomes_a_config_on_stdin_never_a_command_line() {
    let (result, lab, logs) = join_from(&join_line(true)).await;
    assert_eq!(result.unwrap().n_changed(), 1);
    let joins = lab.calls_to("b", "kubeadm join --config");
    assert_eq!(joins.len(), 1);
    let config = String::from_utf8(joins[0].stdin.clone()).unwrap();
    assert!(
        config.contains(TOKEN) && config.contains(CERT_KEY),
        "{config}"
    );
    assert_no_leak(&logs, &lab, None, &[TOKEN, CERT_KEY]);
}

#[tokio::test(start_paused = true)]
async fn a_join_line_of_the_wrong_kind_is_refused_without_showing_it() {
    let (result, lab, logs) = join_from(&join_line(false)).await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Relay { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "b: kubeadm join: b joins the control plane but the join line has no --control-plane"
    );
    assert!(lab.calls_to("b", "kubeadm join --config").is_empty());
    assert_no_leak(&logs, &lab, Some(&err), &[TOKEN]);
}
