//! Links the berth binary as a position-dependent executable: the dynamic loader then has no
//! relative relocations to apply at every start (about a millisecond of each short command,
//! which is most of a small `berth render`).
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
