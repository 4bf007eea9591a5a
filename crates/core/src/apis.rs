//! Kubernetes API versions that were deprecated and removed (1.16 to 1.32), with what replaces
//! them: so an old manifest is refused naming the version to use, before anything is applied.
//!
//! Source: the Kubernetes deprecated API migration guide
//! (<https://kubernetes.io/docs/reference/using-api/deprecation-guide/>).

use std::fmt;

/// A Kubernetes release, major and minor (`1.28`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
}

impl KubeVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        KubeVersion { major, minor }
    }

    /// From the `major` and `minor` of `/version` (`"1"`, `"28+"`).
    pub fn from_parts(major: &str, minor: &str) -> Option<Self> {
        let digits = |s: &str| -> Option<u32> {
            s.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        };
        Some(KubeVersion::new(digits(major)?, digits(minor)?))
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// One kind in one API version that Kubernetes deprecated and then removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetiredApi {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub deprecated_in: KubeVersion,
    pub removed_in: KubeVersion,
    /// The apiVersion to use instead; `None` when the kind is gone altogether.
    pub replacement: Option<&'static str>,
}

/// Whether a cluster of some release still serves an API version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiStatus {
    Removed(RetiredApi),
    Deprecated(RetiredApi),
}

impl RetiredApi {
    /// Looks up `apiVersion` and `kind`; `None` when they were never retired.
    pub fn find(api_version: &str, kind: &str) -> Option<RetiredApi> {
        RETIRED
            .iter()
            .find(|r| r.api_version == api_version && r.kind == kind)
            .copied()
    }

    /// What this version is in a cluster of release `cluster`.
    pub fn status(api_version: &str, kind: &str, cluster: KubeVersion) -> Option<ApiStatus> {
        let r = RetiredApi::find(api_version, kind)?;
        if cluster >= r.removed_in {
            Some(ApiStatus::Removed(r))
        } else if cluster >= r.deprecated_in {
            Some(ApiStatus::Deprecated(r))
        } else {
            None
        }
    }

    /// "use apps/v1" or what to do when nothing replaces it.
    pub fn advice(&self) -> String {
        match self.replacement {
            Some(v) => format!("use apiVersion: {v}"),
            None => format!("{} has no replacement API; remove it", self.kind),
        }
    }
}

const fn v(minor: u32) -> KubeVersion {
    KubeVersion::new(1, minor)
}

macro_rules! retired {
    ($( $av:literal [$($kind:literal),+] $dep:literal -> $rem:literal $repl:expr ;)*) => {
        &[$($(RetiredApi {
            api_version: $av,
            kind: $kind,
            deprecated_in: v($dep),
            removed_in: v($rem),
            replacement: $repl,
        },)+)*]
    };
}

/// Every retired kind-version, 1.16 to 1.32.
pub const RETIRED: &[RetiredApi] = retired! {
    "extensions/v1beta1" ["Deployment", "DaemonSet", "ReplicaSet"] 9 -> 16 Some("apps/v1");
    "apps/v1beta1" ["Deployment", "StatefulSet", "ReplicaSet", "ControllerRevision"] 9 -> 16 Some("apps/v1");
    "apps/v1beta2" ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ControllerRevision"] 9 -> 16 Some("apps/v1");
    "extensions/v1beta1" ["NetworkPolicy"] 9 -> 16 Some("networking.k8s.io/v1");
    "extensions/v1beta1" ["PodSecurityPolicy"] 10 -> 16 Some("policy/v1beta1");
    "extensions/v1beta1" ["Ingress"] 14 -> 22 Some("networking.k8s.io/v1");
    "networking.k8s.io/v1beta1" ["Ingress", "IngressClass"] 19 -> 22 Some("networking.k8s.io/v1");
    "admissionregistration.k8s.io/v1beta1" ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"] 16 -> 22 Some("admissionregistration.k8s.io/v1");
    "apiextensions.k8s.io/v1beta1" ["CustomResourceDefinition"] 16 -> 22 Some("apiextensions.k8s.io/v1");
    "apiregistration.k8s.io/v1beta1" ["APIService"] 19 -> 22 Some("apiregistration.k8s.io/v1");
    "authentication.k8s.io/v1beta1" ["TokenReview"] 19 -> 22 Some("authentication.k8s.io/v1");
    "authorization.k8s.io/v1beta1" ["SubjectAccessReview", "LocalSubjectAccessReview", "SelfSubjectAccessReview"] 19 -> 22 Some("authorization.k8s.io/v1");
    "certificates.k8s.io/v1beta1" ["CertificateSigningRequest"] 19 -> 22 Some("certificates.k8s.io/v1");
    "coordination.k8s.io/v1beta1" ["Lease"] 19 -> 22 Some("coordination.k8s.io/v1");
    "rbac.authorization.k8s.io/v1beta1" ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"] 17 -> 22 Some("rbac.authorization.k8s.io/v1");
    "rbac.authorization.k8s.io/v1alpha1" ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"] 17 -> 22 Some("rbac.authorization.k8s.io/v1");
    "scheduling.k8s.io/v1beta1" ["PriorityClass"] 14 -> 22 Some("scheduling.k8s.io/v1");
    "storage.k8s.io/v1beta1" ["CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"] 19 -> 22 Some("storage.k8s.io/v1");
    "batch/v1beta1" ["CronJob"] 21 -> 25 Some("batch/v1");
    "discovery.k8s.io/v1beta1" ["EndpointSlice"] 21 -> 25 Some("discovery.k8s.io/v1");
    "events.k8s.io/v1beta1" ["Event"] 19 -> 25 Some("events.k8s.io/v1");
    "autoscaling/v2beta1" ["HorizontalPodAutoscaler"] 22 -> 25 Some("autoscaling/v2");
    "policy/v1beta1" ["PodDisruptionBudget"] 21 -> 25 Some("policy/v1");
    "policy/v1beta1" ["PodSecurityPolicy"] 21 -> 25 None;
    "node.k8s.io/v1beta1" ["RuntimeClass"] 20 -> 25 Some("node.k8s.io/v1");
    "flowcontrol.apiserver.k8s.io/v1beta1" ["FlowSchema", "PriorityLevelConfiguration"] 23 -> 26 Some("flowcontrol.apiserver.k8s.io/v1beta3");
    "autoscaling/v2beta2" ["HorizontalPodAutoscaler"] 23 -> 26 Some("autoscaling/v2");
    "storage.k8s.io/v1beta1" ["CSIStorageCapacity"] 24 -> 27 Some("storage.k8s.io/v1");
    "flowcontrol.apiserver.k8s.io/v1beta2" ["FlowSchema", "PriorityLevelConfiguration"] 26 -> 29 Some("flowcontrol.apiserver.k8s.io/v1");
    "flowcontrol.apiserver.k8s.io/v1beta3" ["FlowSchema", "PriorityLevelConfiguration"] 29 -> 32 Some("flowcontrol.apiserver.k8s.io/v1");
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_deprecated_and_current() {
        let k128 = KubeVersion::from_parts("1", "28+").unwrap();
        assert_eq!(k128, v(28));
        match RetiredApi::status("extensions/v1beta1", "Deployment", k128) {
            Some(ApiStatus::Removed(r)) => {
                assert_eq!(r.removed_in, v(16));
                assert_eq!(r.advice(), "use apiVersion: apps/v1");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            RetiredApi::status("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", k128),
            Some(ApiStatus::Deprecated(_))
        ));
        assert_eq!(
            RetiredApi::status("batch/v1beta1", "CronJob", v(24)),
            Some(ApiStatus::Deprecated(
                RetiredApi::find("batch/v1beta1", "CronJob").unwrap()
            ))
        );
        assert_eq!(RetiredApi::status("apps/v1", "Deployment", k128), None);
        assert!(RetiredApi::find("policy/v1beta1", "PodSecurityPolicy")
            .unwrap()
            .advice()
            .contains("no replacement"));
    }
}
