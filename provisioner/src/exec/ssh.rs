//! The SSH transport (russh): one connection per host, a channel per command, host keys
//! pinned on first use in a known_hosts file of hadrill's own.
//!
//! A host whose key differs from its pin stops the run with [`TransportError::HostKeyChanged`].
//! Commands run as root: directly when the login user is root, else through `sudo -n`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use russh::keys::known_hosts::{known_host_keys_path, learn_known_hosts_path};
use russh::keys::ssh_key::HashAlg;
use russh::keys::{PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{client, ChannelMsg, Disconnect};
use tokio::sync::Mutex;

use super::{Output, Transport, TransportError};
use crate::model::Node;
use crate::plan::quote;

/// How to reach one host.
#[derive(Clone, Debug)]
pub struct Target {
    /// Host name, for messages.
    pub name: String,
    /// Address.
    pub address: String,
    /// sshd port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Private key file.
    pub key: PathBuf,
    /// Where host keys are pinned.
    pub known_hosts: PathBuf,
}

impl Target {
    /// The target of a model node; without a key in the inventory, the user's default key.
    pub fn of_node(node: &Node, known_hosts: &Path) -> Target {
        let key = node.ssh.key.clone().unwrap_or_else(default_key);
        Target {
            name: node.name.clone(),
            address: node.address.to_string(),
            port: node.ssh.port,
            user: node.ssh.user.clone(),
            key,
            known_hosts: known_hosts.to_owned(),
        }
    }
}

/// `~/.ssh/id_ed25519`, else `~/.ssh/id_rsa`.
fn default_key() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    let ed = home.join(".ssh/id_ed25519");
    if ed.exists() {
        ed
    } else {
        home.join(".ssh/id_rsa")
    }
}

/// Time to connect, exchange keys and log in.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// One host over SSH; the connection is made on first use and remade when it breaks.
pub struct Ssh {
    target: Target,
    session: Mutex<Option<Arc<client::Handle<Pin>>>>,
}

impl Ssh {
    /// A transport to `target` (nothing is connected yet).
    pub fn new(target: Target) -> Ssh {
        Ssh {
            target,
            session: Mutex::new(None),
        }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn err(&self, message: impl std::fmt::Display) -> TransportError {
        TransportError::Connect {
            host: self.target.name.clone(),
            message: message.to_string(),
        }
    }

    async fn session(&self) -> Result<Arc<client::Handle<Pin>>, TransportError> {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref().filter(|s| !s.is_closed()) {
            return Ok(Arc::clone(s));
        }
        let s = Arc::new(
            tokio::time::timeout(CONNECT_TIMEOUT, self.connect())
                .await
                .map_err(|_| {
                    self.err(format!(
                        "no SSH session within {}s",
                        CONNECT_TIMEOUT.as_secs()
                    ))
                })??,
        );
        *slot = Some(Arc::clone(&s));
        Ok(s)
    }

    async fn connect(&self) -> Result<client::Handle<Pin>, TransportError> {
        let t = &self.target;
        let config = Arc::new(client::Config {
            // Keepalives find a dead peer; an inactivity timeout would also end quiet commands.
            keepalive_interval: Some(Duration::from_secs(10)),
            keepalive_max: 3,
            ..Default::default()
        });
        let pin = Pin { target: t.clone() };
        let addr = (t.address.as_str(), t.port);
        let mut session = client::connect(config, addr, pin)
            .await
            .map_err(|e| match e {
                PinError::Refused(e) => e,
                PinError::Other(m) => self.err(m),
            })?;
        let key = russh::keys::load_secret_key(&t.key, None)
            .map_err(|e| self.err(format!("cannot load the key {}: {e}", t.key.display())))?;
        let hash = session
            .best_supported_rsa_hash()
            .await
            .map_err(|e| self.err(e))?
            .flatten();
        let auth = session
            .authenticate_publickey(&t.user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(|e| self.err(e))?;
        if !auth.success() {
            return Err(self.err(format!(
                "{}@{}: the key {} was refused",
                t.user,
                t.address,
                t.key.display()
            )));
        }
        Ok(session)
    }

    async fn exec(
        &self,
        session: &client::Handle<Pin>,
        cmd: &str,
        stdin: &[u8],
    ) -> Result<Output, russh::Error> {
        let mut ch = session.channel_open_session().await?;
        ch.exec(true, cmd).await?;
        if !stdin.is_empty() {
            ch.data(stdin).await?;
        }
        ch.eof().await?;
        let mut out = Output::default();
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => out.stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    out.signal = Some(format!("{signal_name:?}"));
                }
                ChannelMsg::Failure => {
                    out.signal = Some("exec refused".into());
                    break;
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Starts `cmd` and returns its stdin and stdout as one stream: for a long-running agent
    /// that answers requests (the Ceph probe), on the host's connection.
    pub async fn stream(
        &self,
        cmd: &str,
    ) -> Result<russh::ChannelStream<client::Msg>, TransportError> {
        let session = self.session().await?;
        let broken = |e: russh::Error| TransportError::Session {
            host: self.target.name.clone(),
            message: e.to_string(),
        };
        let ch = session.channel_open_session().await.map_err(broken)?;
        ch.exec(true, cmd).await.map_err(broken)?;
        Ok(ch.into_stream())
    }

    /// Closes the connection, if any.
    pub async fn close(&self) {
        if let Some(s) = self.session.lock().await.take() {
            let _ = s.disconnect(Disconnect::ByApplication, "", "en").await;
        }
    }
}

impl Transport for Ssh {
    async fn run(
        &self,
        cmd: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, TransportError> {
        let cmd = if self.target.user == "root" {
            cmd.to_owned()
        } else {
            format!("sudo -n sh -c {}", quote(cmd))
        };
        let session = self.session().await?;
        let run = self.exec(&session, &cmd, stdin);
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => {
                // The session broke: forget it so the next command reconnects.
                self.session.lock().await.take();
                Err(TransportError::Session {
                    host: self.target.name.clone(),
                    message: e.to_string(),
                })
            }
            Err(_) => Err(TransportError::Timeout {
                host: self.target.name.clone(),
                after: timeout,
            }),
        }
    }
}

/// Why the host-key check refused a server.
#[derive(Debug)]
pub enum PinError {
    /// [`check_pin`] refused the key (changed) or could not read or write the pin file.
    Refused(TransportError),
    /// Anything else.
    Other(String),
}

impl From<russh::Error> for PinError {
    fn from(e: russh::Error) -> Self {
        PinError::Other(e.to_string())
    }
}

/// Trust on first use, during key exchange: [`check_pin`] on the key the server offers.
pub struct Pin {
    target: Target,
}

impl client::Handler for Pin {
    type Error = PinError;

    async fn check_server_key(&mut self, k: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        check_pin(&self.target, &k.public_key()).map_err(PinError::Refused)?;
        Ok(true)
    }
}

/// What [`check_pin`] found in the pin file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pinned {
    /// The host had no pin: this key is now pinned.
    Learned,
    /// The key is the pinned one.
    Matched,
}

/// The host-key rule, on `target.known_hosts` alone (no connection): the first key seen for
/// `[address]:port` is pinned; the same key later passes; any other key is refused with
/// [`TransportError::HostKeyChanged`] naming the host and the pin file.
pub fn check_pin(target: &Target, key: &PublicKey) -> Result<Pinned, TransportError> {
    let t = target;
    let file_error = |e: russh::keys::Error| TransportError::Connect {
        host: t.name.clone(),
        message: format!("{}: {e}", t.known_hosts.display()),
    };
    let pinned = known_host_keys_path(&t.address, t.port, &t.known_hosts).map_err(file_error)?;
    if pinned.is_empty() {
        learn_known_hosts_path(&t.address, t.port, key, &t.known_hosts).map_err(file_error)?;
        tracing::info!(host = %t.name, fingerprint = %key.fingerprint(HashAlg::Sha256), "pinned host key");
        return Ok(Pinned::Learned);
    }
    // Compare key material only: a pinned key of another algorithm does not count as a match.
    if pinned.iter().any(|(_, p)| p.key_data() == key.key_data()) {
        return Ok(Pinned::Matched);
    }
    Err(TransportError::HostKeyChanged {
        host: t.name.clone(),
        offered: key.fingerprint(HashAlg::Sha256).to_string(),
        known_hosts: t.known_hosts.display().to_string(),
    })
}

/// Makes an ed25519 key pair for a lab: the private key at `path` (mode 0600, never leaves
/// the workstation) and `path.pub`; returns the public line.
pub fn generate_key(path: &Path, comment: &str) -> Result<String, String> {
    use russh::keys::ssh_key::LineEnding;
    use russh::keys::{Algorithm, PrivateKey};
    let mut rng = russh::keys::key::safe_rng();
    let mut key = PrivateKey::random(&mut rng, Algorithm::Ed25519).map_err(|e| e.to_string())?;
    key.set_comment(comment);
    key.write_openssh_file(path, LineEnding::LF)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let line = key.public_key().to_openssh().map_err(|e| e.to_string())?;
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    std::fs::write(&pub_path, format!("{line}\n"))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(line)
}
