//! A scripted [`Transport`] for the executor's failure paths, which no real lab produces on
//! demand: per host and command pattern, a queue of replies (exit code, output, a delay, a
//! connection error). Every call is logged with its host, command, stdin and the paused tokio
//! clock at its start and end, so tests can assert what ran, in which order and when.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use provisioner::exec::{Output, Transport, TransportError};
use tokio::time::Instant;

/// What one call returns.
#[derive(Clone, Debug)]
pub enum Reply {
    /// The command exits with `code` after `delay`.
    Exit {
        code: u32,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        delay: Duration,
    },
    /// The host cannot be reached.
    Connect(String),
}

impl Reply {
    /// Exit 0, no output.
    pub fn ok() -> Reply {
        Reply::exit(0, "", "")
    }

    /// Exit 0 printing `stdout`.
    pub fn prints(stdout: &str) -> Reply {
        Reply::exit(0, stdout, "")
    }

    /// Exit 1 with `stderr`.
    pub fn fails(stderr: &str) -> Reply {
        Reply::exit(1, "", stderr)
    }

    pub fn exit(code: u32, stdout: &str, stderr: &str) -> Reply {
        Reply::Exit {
            code,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }

    /// The same reply, `d` later.
    pub fn after(self, d: Duration) -> Reply {
        match self {
            Reply::Exit {
                code,
                stdout,
                stderr,
                ..
            } => Reply::Exit {
                code,
                stdout,
                stderr,
                delay: d,
            },
            c @ Reply::Connect(_) => c,
        }
    }
}

/// One command a host was asked to run.
#[derive(Clone, Debug)]
pub struct Call {
    pub host: String,
    pub cmd: String,
    pub stdin: Vec<u8>,
    /// Paused-clock time since the lab was made, when the call started.
    pub start: Duration,
    /// And when it returned.
    pub end: Duration,
}

struct Rule {
    host: String,
    pattern: String,
    replies: VecDeque<Reply>,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    calls: Vec<Call>,
}

/// The script and the call log that every host of one test shares.
#[derive(Clone)]
pub struct Lab {
    t0: Instant,
    state: Arc<Mutex<State>>,
}

/// How many replies one pattern may queue: a script is short, a longer one is a test bug.
const REPLIES_MAX: usize = 64;

impl Lab {
    /// A lab whose clock starts now (the paused tokio clock).
    pub fn new() -> Lab {
        Lab {
            t0: Instant::now(),
            state: Arc::default(),
        }
    }

    /// Commands on `host` that contain `pattern` get these replies in turn; the last one
    /// repeats. The first matching rule (in the order they were added) answers.
    pub fn on(&self, host: &str, pattern: &str, replies: impl IntoIterator<Item = Reply>) {
        let replies: VecDeque<Reply> = replies.into_iter().collect();
        assert!(
            (1..=REPLIES_MAX).contains(&replies.len()),
            "1 to REPLIES_MAX replies per rule"
        );
        self.state.lock().unwrap().rules.push(Rule {
            host: host.to_owned(),
            pattern: pattern.to_owned(),
            replies,
        });
    }

    /// One transport per host name, all on this lab.
    pub fn hosts(&self, names: &[&str]) -> BTreeMap<String, Arc<Fake>> {
        names
            .iter()
            .map(|n| {
                let fake = Fake {
                    host: (*n).to_owned(),
                    lab: self.clone(),
                };
                ((*n).to_owned(), Arc::new(fake))
            })
            .collect()
    }

    /// Every call so far, in the order they started.
    pub fn calls(&self) -> Vec<Call> {
        let mut calls = self.state.lock().unwrap().calls.clone();
        calls.sort_by_key(|c| c.start);
        calls
    }

    /// The calls on `host` whose command contains `pattern`.
    pub fn calls_to(&self, host: &str, pattern: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.host == host && c.cmd.contains(pattern))
            .collect()
    }

    /// When each of those calls started, in whole seconds of the paused clock.
    pub fn starts(&self, host: &str, pattern: &str) -> Vec<u64> {
        self.calls_to(host, pattern)
            .iter()
            .map(|c| c.start.as_secs())
            .collect()
    }

    /// Paused-clock time since the lab was made.
    pub fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    fn reply(&self, host: &str, cmd: &str) -> Reply {
        let mut state = self.state.lock().unwrap();
        let rule = state
            .rules
            .iter_mut()
            .find(|r| r.host == host && cmd.contains(&r.pattern));
        match rule {
            Some(r) if r.replies.len() > 1 => r.replies.pop_front().expect("more than one"),
            Some(r) => r.replies[0].clone(),
            // Not scripted: a loud failure the executor reports, naming the command.
            None => Reply::exit(127, "", &format!("fake: nothing scripted for `{cmd}`")),
        }
    }
}

/// One host of a [`Lab`].
pub struct Fake {
    host: String,
    lab: Lab,
}

impl Transport for Fake {
    async fn run(
        &self,
        cmd: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, TransportError> {
        let start = self.lab.now();
        let reply = self.lab.reply(&self.host, cmd);
        let result = match reply {
            Reply::Exit {
                code,
                stdout,
                stderr,
                delay,
            } => {
                assert!(delay < timeout, "a scripted delay stays within the timeout");
                tokio::time::sleep(delay).await;
                Ok(Output {
                    status: Some(code),
                    signal: None,
                    stdout,
                    stderr,
                })
            }
            Reply::Connect(message) => Err(TransportError::Connect {
                host: self.host.clone(),
                message,
            }),
        };
        let call = Call {
            host: self.host.clone(),
            cmd: cmd.to_owned(),
            stdin: stdin.to_vec(),
            start,
            end: self.lab.now(),
        };
        self.lab.state.lock().unwrap().calls.push(call);
        result
    }
}
