//! Errors that point at a file and line, say what is wrong, and what to do.

pub use berth_core::diagnostic::Location;

/// What went wrong, for callers that branch on it (and tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The folder or a file could not be read.
    Io,
    /// A variables file (`variables*.yaml`, `-f`) is not valid YAML or not a map.
    Variables,
    /// A `-v KEY=VALUE` argument is malformed.
    SetArgument,
    /// Template syntax.
    TemplateParse,
    /// Template execution (missing variable, bad function call, ...).
    TemplateExec,
    /// The rendered text is not valid YAML.
    Yaml,
    /// A document is not a valid Kubernetes object (not a map, no kind, no name, ...).
    Object,
    /// Two documents describe the same object.
    Duplicate,
    /// A Helm chart is malformed (`Chart.yaml`, a missing dependency, an unreadable archive).
    Chart,
    /// Values break the chart's `values.schema.json`.
    Schema,
    /// A chart could not be pulled from a registry or repository (refused, not found, a
    /// digest that does not match).
    Fetch,
    /// A signed chart does not verify (`--verify`): no provenance file, a signer not in the
    /// keyring, a broken signature, or an archive that is not the one signed.
    Provenance,
}

/// A diagnostic in the style of cargo and ripgrep.
pub type Error = berth_core::diagnostic::Diagnostic<ErrorKind>;
