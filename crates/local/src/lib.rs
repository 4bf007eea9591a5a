//! The local backend: a rendered deploy folder as supervised processes on this machine.
//!
//! Deployments and StatefulSets with a `berth.dev/run` entry become `replicas` processes, each
//! in its own process group, restarted with back-off and stopped with SIGTERM then SIGKILL.
//! Every Service port becomes a loopback listener that spreads connections over the ready
//! replicas. The live [`Status`] is also written to `.berth/up.json` beside the folder.

pub mod backend;
pub mod container;
pub mod engine;
mod error;
pub use error::{Error, ErrorKind};
mod happenings;
mod holder;
mod idle;
mod ingress;
pub mod log_file;
pub use berth_core::logs;
mod instance;
mod pause;
mod plan;
mod pod_net;
mod probe;
mod proxy;
pub mod request;
mod rerun;
mod run_file;
mod running;
pub mod session;
pub mod source;
mod state;
mod state_dir;
mod supervisor;
pub mod usage;

pub use holder::port_holder;
pub use plan::{IngressRule, Plan, PlannedWorkload};
pub use rerun::rerun;
pub use run_file::{apply_run_file, DEFAULT_RUN_FILE};
use running::{free_port, service_variables};
pub use running::{Applied, Running, StartOptions};
pub use state::{
    ContainerStatus, Phase, ReplicaStatus, ServiceStatus, Shared, Status, WorkloadStatus,
};
use state_dir::engine_marker;
pub use state_dir::{
    load_modes, pid_alive, read_status, remove_token, running_api, running_status, save_modes,
    save_token, state_dir, state_file,
};
