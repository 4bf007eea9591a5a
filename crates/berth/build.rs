//! How the berth binary is linked on Linux, for a quicker start (every short command pays it):
//!
//! - position-dependent: the dynamic loader then has no relative relocations to apply at every
//!   start (about a millisecond of each short command, which is most of a small `berth render`);
//! - GCC's unwinder linked in (`libgcc_eh.a`, as `gcc -static-libgcc` does) rather than loaded
//!   as `libgcc_s.so.1`: that library's constructor asks the processor for its features, a
//!   dozen `cpuid` instructions that a virtual machine traps one by one (0.13 ms a start
//!   measured here), and the loader has one library less to map and resolve. Where GCC has no
//!   such archive, the shared library stays.
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-no-pie");
    if env == "gnu" {
        if let Some(dir) = gcc_archive_dir("libgcc_eh.a") {
            println!("cargo:rustc-link-search=native={}", dir.display());
            // Whole: the unwinder is asked for by the standard library, which the linker
            // reads after this crate's own libraries.
            println!("cargo:rustc-link-lib=static:+whole-archive,+verbatim=libgcc_eh.a");
        }
    }
}

/// The folder of one of GCC's own archives, as the C compiler that links berth reports it.
fn gcc_archive_dir(name: &str) -> Option<std::path::PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let out = std::process::Command::new(cc)
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()?;
    let path = std::path::PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    // An unknown name is printed back bare.
    (path.is_absolute() && path.is_file()).then(|| path.parent().map(Into::into))?
}
