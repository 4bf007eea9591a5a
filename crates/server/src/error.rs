//! Errors of the server and its client, as one [`Diagnostic`](berth_core::diagnostic::Diagnostic).

/// What went wrong, for callers that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The API of a running berth did not answer.
    Unreachable,
    /// The API answered with an error; the message is its own.
    Refused,
    /// No token could be made (no randomness from the operating system).
    Token,
    /// An address to serve on could not be bound.
    Listen,
}

/// An error of the server or its client.
pub type Error = berth_core::diagnostic::Diagnostic<ErrorKind>;
