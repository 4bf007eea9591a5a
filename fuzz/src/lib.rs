//! See `entries.rs`.
pub mod entries;
