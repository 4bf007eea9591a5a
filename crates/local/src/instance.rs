//! One run of a replica, whatever runs it: a process (its own process group) or a container on
//! the engine. The supervisor, probes, logs and Services see only this.

use crate::container;
use crate::engine::Engine;
use crate::supervisor::LogSink;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::task::{AbortHandle, JoinHandle};

/// A started replica.
pub(crate) enum Instance {
    Process(Child),
    Container {
        engine: Arc<Engine>,
        id: String,
        pid: u32,
        /// The Service listeners inside its network namespace.
        listeners: Vec<AbortHandle>,
        /// The pod whose network it shares, released when it is gone.
        pod: Option<(Arc<crate::container::PodNets>, (String, u32))>,
    },
}

/// How a failed liveness probe ends an instance, and where an exec probe runs.
#[derive(Clone)]
pub(crate) enum Target {
    /// A process group.
    Group(u32),
    Container(Arc<Engine>, String),
}

impl Target {
    /// Ends it at once.
    pub async fn kill(&self) {
        match self {
            Target::Group(pid) => {
                let _ = killpg(Pid::from_raw(*pid as i32), Signal::SIGKILL);
            }
            Target::Container(engine, id) => container::kill(engine, id).await,
        }
    }
}

impl Instance {
    /// The process id (of the container's first process, as the host sees it).
    pub fn pid(&self) -> u32 {
        match self {
            Instance::Process(c) => c.id().unwrap_or(0),
            Instance::Container { pid, .. } => *pid,
        }
    }

    pub fn target(&self) -> Target {
        match self {
            Instance::Process(_) => Target::Group(self.pid()),
            Instance::Container { engine, id, .. } => Target::Container(engine.clone(), id.clone()),
        }
    }

    /// Follows its output into `sink`; the tasks end with the output.
    pub fn follow_logs(&mut self, sink: LogSink) -> Vec<JoinHandle<()>> {
        match self {
            Instance::Process(child) => process_logs(child, sink),
            Instance::Container { engine, id, .. } => {
                use futures::StreamExt;
                let mut lines = Box::pin(container::log_lines(engine, id));
                vec![tokio::spawn(async move {
                    while let Some((stream, line)) = lines.next().await {
                        sink.line(stream, line, true);
                    }
                    sink.flush();
                })]
            }
        }
    }

    /// Waits until it exits.
    pub async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        match self {
            Instance::Process(child) => child.wait().await,
            Instance::Container { engine, id, .. } => container::wait(engine, id).await,
        }
    }

    /// Stops it: SIGTERM, then SIGKILL after `grace`; then [`Instance::cleanup`].
    pub async fn stop(&mut self, grace: Duration) {
        match self {
            Instance::Process(child) => {
                if let Some(pid) = child.id() {
                    let pg = Pid::from_raw(pid as i32);
                    let _ = killpg(pg, Signal::SIGTERM);
                    if tokio::time::timeout(grace, child.wait()).await.is_err() {
                        let _ = killpg(pg, Signal::SIGKILL);
                        let _ = child.wait().await;
                    }
                }
            }
            Instance::Container { engine, id, .. } => container::stop(engine, id, grace).await,
        }
        self.cleanup().await;
    }

    /// After it ended: anything a process left in its group goes too; a container is removed
    /// (its logs were followed to the end first) with its Service listeners.
    pub async fn cleanup(&mut self) {
        match self {
            Instance::Process(child) => {
                if let Some(pid) = child.id() {
                    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                }
            }
            Instance::Container {
                engine,
                id,
                listeners,
                pod,
                ..
            } => {
                listeners.iter().for_each(AbortHandle::abort);
                container::remove(engine, id).await;
                if let Some((nets, key)) = pod.take() {
                    nets.release(&key).await;
                }
            }
        }
    }
}

fn process_logs(child: &mut Child, sink: LogSink) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    let streams: Vec<(Box<dyn tokio::io::AsyncRead + Unpin + Send>, &str)> = [
        child.stdout.take().map(|s| {
            (
                Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                "stdout",
            )
        }),
        child.stderr.take().map(|s| {
            (
                Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                "stderr",
            )
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (stream, name) in streams {
        let this = sink.clone();
        tasks.push(tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                // Flush whenever the process has nothing more for us right now.
                let idle = lines.get_ref().buffer().is_empty();
                this.line(name, line, idle);
            }
            this.flush();
        }));
    }
    tasks
}
