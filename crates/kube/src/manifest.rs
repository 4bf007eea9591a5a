//! One object to apply: its body as rendered and where it came from, with what plan, hooks,
//! CRDs, source mode and release records read of it.

use crate::error::Error;
use berth_core::diagnostic::Location;
use serde_json::Value as Json;
use std::fmt;

/// One object to apply: its body and where it came from.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub origin: Origin,
    pub body: Json,
}

/// Where an object came from: its template's file and line, and the release revision it was
/// read back from (a rollback).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub location: Location,
    pub revision: Option<u32>,
}

impl Origin {
    /// An object of a template at `file:line`.
    pub fn file(file: &str, line: usize) -> Origin {
        Origin {
            location: Location::new(file, line, 0),
            revision: None,
        }
    }

    /// Says where an error's object came from.
    pub fn locate(&self, e: Error) -> Error {
        let e = e.located(self.location.clone());
        match self.revision {
            Some(n) => e.note(format!("as recorded in revision {n}")),
            None => e,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.revision {
            Some(n) => write!(f, "revision {n}: {}", self.location),
            None => write!(f, "{}", self.location),
        }
    }
}

impl Manifest {
    /// From a rendered object of a deploy folder or chart.
    pub fn from_rendered(o: &berth_manifest::Object) -> Manifest {
        Manifest {
            origin: Origin::file(&o.origin.file, o.origin.line.max(1)),
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
