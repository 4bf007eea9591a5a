//! Ownership per ApplySet (KEP-3659): a parent Secret names the set, every member carries its id.

use base64::Engine;
use berth_core::GroupKind;
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// Label on every member: `applyset.kubernetes.io/part-of=<id>`.
pub const PART_OF: &str = "applyset.kubernetes.io/part-of";
/// Label on the parent: `applyset.kubernetes.io/id=<id>`.
pub const ID: &str = "applyset.kubernetes.io/id";
pub const TOOLING: &str = "applyset.kubernetes.io/tooling";
pub const CONTAINS_GROUP_KINDS: &str = "applyset.kubernetes.io/contains-group-kinds";
pub const ADDITIONAL_NAMESPACES: &str = "applyset.kubernetes.io/additional-namespaces";
/// Label on the parent that lets `berth history` find sets without a folder.
pub const SET_LABEL: &str = "berth.dev/set";
/// Annotation on the parent while continuous sync is paused; the value says why.
pub const SYNC_PAUSED: &str = "berth.dev/sync-paused";
/// Annotation on the parent with the per-container modes (source or image).
pub const MODES: &str = "berth.dev/modes";

/// A deploy set: what berth owns in one namespace under one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplySet {
    /// The set's name (`--name`, default: the folder's name).
    pub name: String,
    pub namespace: String,
}

impl ApplySet {
    /// The parent Secret's name.
    pub fn parent_name(&self) -> String {
        format!("berth-{}", self.name)
    }

    /// The id the KEP specifies: `applyset-<base64url(sha256(<name>.<namespace>.<kind>.<group>))>-v1`.
    pub fn id(&self) -> String {
        let key = format!("{}.{}.Secret.", self.parent_name(), self.namespace);
        let hash = Sha256::digest(key.as_bytes());
        format!(
            "applyset-{}-v1",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash)
        )
    }

    /// The Lease that serializes applies of this set.
    pub fn lease_name(&self) -> String {
        format!("berth-lock-{}", self.name)
    }

    /// The label selector that finds this set's members.
    pub fn selector(&self) -> String {
        format!("{PART_OF}={}", self.id())
    }

    /// The parent Secret as applied: the id label, tooling and the kinds and namespaces it spans.
    pub fn parent(
        &self,
        kinds: &BTreeSet<GroupKind>,
        namespaces: &BTreeSet<String>,
        modes: Option<&str>,
    ) -> Json {
        let kinds: Vec<String> = kinds.iter().map(|gk| gk.to_string()).collect();
        let others: Vec<&str> = namespaces
            .iter()
            .map(String::as_str)
            .filter(|ns| *ns != self.namespace)
            .collect();
        let mut annotations = serde_json::Map::new();
        annotations.insert(
            TOOLING.into(),
            json!(format!("berth/{}", env!("CARGO_PKG_VERSION"))),
        );
        annotations.insert(CONTAINS_GROUP_KINDS.into(), json!(kinds.join(",")));
        if !others.is_empty() {
            annotations.insert(ADDITIONAL_NAMESPACES.into(), json!(others.join(",")));
        }
        if let Some(modes) = modes {
            annotations.insert(MODES.into(), json!(modes));
        }
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.parent_name(),
                "namespace": self.namespace,
                "labels": { ID: self.id(), SET_LABEL: self.name },
                "annotations": annotations,
            },
            "type": "berth.dev/applyset",
        })
    }
}

/// Group-kinds recorded on a live parent (`Deployment.apps,Service`).
/// The live parent Secret of a set: the one place it is read.
#[derive(Clone, Debug)]
pub struct Parent {
    pub body: Json,
}

impl Parent {
    pub fn kinds(&self) -> BTreeSet<GroupKind> {
        recorded_kinds(&self.body)
    }

    pub fn namespaces(&self) -> BTreeSet<String> {
        recorded_namespaces(&self.body)
    }

    /// The containers in source mode, remembered on the set.
    pub fn modes(&self) -> berth_core::view::Modes {
        crate::source::parse_modes(Some(annotation(&self.body, MODES)).filter(|m| !m.is_empty()))
    }

    /// Why continuous sync is paused, if it is.
    pub fn sync_paused(&self) -> Option<String> {
        Some(annotation(&self.body, SYNC_PAUSED).to_string()).filter(|r| !r.is_empty())
    }
}

/// Reads the set's parent Secret; `None` when the set does not exist (yet).
pub async fn read_parent(
    client: &kube::Client,
    set: &ApplySet,
) -> Result<Option<Parent>, crate::Error> {
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), &set.namespace);
    let parent = secrets.get_opt(&set.parent_name()).await.map_err(|e| {
        crate::error::from_kube(
            e,
            &crate::error::Action {
                verb: "get",
                resource: "secrets".into(),
                namespace: Some(&set.namespace),
                object: Some(format!("ApplySet parent Secret/{}", set.parent_name())),
                origin: None,
            },
        )
    })?;
    Ok(parent.map(|s| Parent {
        body: serde_json::to_value(s).unwrap_or_default(),
    }))
}

pub fn recorded_kinds(parent: &Json) -> BTreeSet<GroupKind> {
    annotation(parent, CONTAINS_GROUP_KINDS)
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once('.') {
            Some((kind, group)) => GroupKind {
                group: group.to_string(),
                kind: kind.to_string(),
            },
            None => GroupKind {
                group: String::new(),
                kind: s.to_string(),
            },
        })
        .collect()
}

/// Namespaces recorded on a live parent besides its own.
pub fn recorded_namespaces(parent: &Json) -> BTreeSet<String> {
    annotation(parent, ADDITIONAL_NAMESPACES)
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn annotation<'a>(obj: &'a Json, key: &str) -> &'a str {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Json::as_str)
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_follows_the_kep() {
        // kubectl's computation for parent Secret "berth-demo" in namespace "ns".
        let set = ApplySet {
            name: "demo".into(),
            namespace: "ns".into(),
        };
        let hash = Sha256::digest(b"berth-demo.ns.Secret.");
        let expect = format!(
            "applyset-{}-v1",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash)
        );
        assert_eq!(set.id(), expect);
        assert!(
            set.id().len() <= 63,
            "label values are at most 63 characters"
        );
    }

    #[test]
    fn kinds_round_trip_through_the_annotation() {
        let set = ApplySet {
            name: "demo".into(),
            namespace: "ns".into(),
        };
        let kinds: BTreeSet<GroupKind> = [
            GroupKind::from_api_version("apps/v1", "Deployment"),
            GroupKind::from_api_version("v1", "Service"),
        ]
        .into();
        let parent = set.parent(
            &kinds,
            &["ns".to_string(), "other".to_string()].into(),
            None,
        );
        assert_eq!(recorded_kinds(&parent), kinds);
        assert_eq!(recorded_namespaces(&parent), ["other".to_string()].into());
    }
}
