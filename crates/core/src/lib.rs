//! The model shared by berth's renderer, backends and server.

pub mod apis;
pub mod backend;
mod cron;
pub mod diagnostic;
pub mod events;
pub mod health;
pub mod history;
pub mod logs;
pub mod pod;
pub mod timeline;
pub mod units;
pub mod view;
mod workload;

pub use apis::{ApiStatus, KubeVersion, RetiredApi};
pub use cron::{CronError, Schedule};
pub use workload::*;

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Kubernetes API group and kind: the identity of a type, independent of version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupKind {
    /// Empty for the core group.
    pub group: String,
    pub kind: String,
}

impl GroupKind {
    /// From an `apiVersion` (`apps/v1`, `v1`) and a kind.
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let group = match api_version.split_once('/') {
            Some((g, _)) => g.to_string(),
            None => String::new(),
        };
        GroupKind {
            group,
            kind: kind.to_string(),
        }
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

/// Names one object: what duplicates are checked on and what the backends act on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    pub group_kind: GroupKind,
    /// `None` for cluster-scoped objects and objects that take the default namespace.
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.group_kind, self.name)?;
        if let Some(ns) = &self.namespace {
            write!(f, " (namespace {ns})")?;
        }
        Ok(())
    }
}

/// Where objects of a kind go in an apply: dependencies first, as `kubectl` users expect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ApplyPhase {
    Namespaces,
    CustomResourceDefinitions,
    Rbac,
    Config,
    Storage,
    Services,
    Workloads,
    Ingress,
    Rest,
}

impl ApplyPhase {
    /// The phase of a kind.
    pub fn of(gk: &GroupKind) -> ApplyPhase {
        match gk.kind.as_str() {
            "Namespace" => ApplyPhase::Namespaces,
            "CustomResourceDefinition" => ApplyPhase::CustomResourceDefinitions,
            "ServiceAccount" | "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => {
                ApplyPhase::Rbac
            }
            "ConfigMap" | "Secret" => ApplyPhase::Config,
            "PersistentVolume" | "PersistentVolumeClaim" | "StorageClass" => ApplyPhase::Storage,
            "Service" => ApplyPhase::Services,
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" | "CronJob"
            | "Pod" => ApplyPhase::Workloads,
            "Ingress" => ApplyPhase::Ingress,
            _ => ApplyPhase::Rest,
        }
    }

    /// Finer order inside a phase (ConfigMaps before Secrets, Jobs after long-running workloads).
    pub fn rank(gk: &GroupKind) -> u8 {
        match gk.kind.as_str() {
            "ServiceAccount" => 0,
            "ClusterRole" => 1,
            "Role" => 2,
            "ClusterRoleBinding" => 3,
            "RoleBinding" => 4,
            "ConfigMap" => 0,
            "Secret" => 1,
            "StorageClass" => 0,
            "PersistentVolume" => 1,
            "PersistentVolumeClaim" => 2,
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Pod" => 0,
            "Job" => 1,
            "CronJob" => 2,
            _ => 0,
        }
    }
}

/// `1 object`, `3 objects`: a count with its noun in the right number (regular plurals).
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
