//! One object to apply: its body as rendered and where it came from, with what plan, hooks,
//! CRDs, source mode and release records read of it.

use serde_json::Value as Json;

/// One object to apply: its body and where it came from.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// `web.yaml:12`, or `revision 3` for a rollback.
    pub origin: String,
    pub body: Json,
}

impl Manifest {
    /// From a rendered object of a deploy folder or chart.
    pub fn from_rendered(o: &berth_manifest::Object) -> Manifest {
        Manifest {
            origin: format!("{}:{}", o.origin.file, o.origin.line.max(1)),
            body: o.body.clone(),
        }
    }

    fn text(&self, field: &str) -> &str {
        self.body.get(field).and_then(Json::as_str).unwrap_or("")
    }

    pub fn api_version(&self) -> &str {
        self.text("apiVersion")
    }

    pub fn kind(&self) -> &str {
        self.text("kind")
    }

    /// `metadata.name` (empty when missing).
    pub fn name(&self) -> &str {
        self.body
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap_or("")
    }

    /// `metadata.annotations[key]`, if it is a string.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.body
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Json::as_str)
    }
}
