//! Images made here for the image-mode tests and benches: the static busybox and a few files,
//! imported with `podman import` (never pulled).

use std::process::Command;

/// Builds an image named `name` from the static busybox, `files` (path, text, executable) and
/// Dockerfile-style `changes` (`WORKDIR /x`, `CMD [...]`), with `podman import`.
pub fn make_image(
    name: &str,
    files: &[(&str, &str, bool)],
    changes: &[&str],
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox"))
        .map_err(|e| format!("/bin/busybox (busybox-static): {e}"))?;
    let tools = [
        "sh", "cat", "echo", "httpd", "sleep", "wget", "env", "ls", "id", "hostname", "seq", "nc",
        "mkdir", "rm", "grep", "pidof",
    ];
    for tool in tools {
        std::os::unix::fs::symlink("busybox", bin.join(tool)).unwrap();
    }
    std::fs::create_dir_all(root.path().join("tmp")).unwrap();
    for (path, text, exec) in files {
        let file = root.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
        let mode = if *exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let tar = tempfile::NamedTempFile::new().unwrap();
    let ok = Command::new("tar")
        .args([
            "-C",
            root.path().to_str().unwrap(),
            "-cf",
            tar.path().to_str().unwrap(),
            ".",
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let mut import = Command::new("podman");
    import.arg("import");
    for c in changes {
        import.args(["--change", c]);
    }
    let out = import
        .args([tar.path().to_str().unwrap(), name])
        .output()
        .map_err(|e| format!("podman: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    Ok(())
}

/// A Python image made from this machine's own Python (Debian's `/usr/bin/python3.11`, its
/// libraries and standard library) and the static busybox's `sh`: a stand-in for
/// `python:3.11-slim` that needs no registry.
pub fn make_python_image(name: &str) -> Result<(), String> {
    let ldd = Command::new("ldd")
        .arg("/usr/bin/python3.11")
        .output()
        .map_err(|e| format!("ldd: {e}"))?;
    let mut paths: Vec<String> = String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(|w| w.trim_start_matches('/').to_string())
        .collect();
    paths.extend(
        [
            "usr/bin/python3.11",
            "usr/bin/python3",
            "usr/lib/python3.11",
        ]
        .map(String::from),
    );
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let tar = root.path().join("python.tar");
    let ok = Command::new("tar")
        .args(["-C", "/", "-h", "-cf", tar.to_str().unwrap()])
        .args(["--exclude=usr/lib/python3.11/test", "--exclude=__pycache__"])
        .args([
            "--exclude=usr/lib/python3.11/idlelib",
            "--exclude=usr/lib/python3.11/tkinter",
        ])
        .args(&paths)
        .status()
        .map_err(|e| format!("tar: {e}"))?;
    if !ok.success() {
        return Err("cannot pack this machine's Python (Debian's python3.11)".into());
    }
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    std::fs::copy("/bin/busybox", bin.join("sh"))
        .map_err(|e| format!("/bin/busybox (busybox-static): {e}"))?;
    let ok = Command::new("tar")
        .args([
            "-C",
            root.path().to_str().unwrap(),
            "-rf",
            tar.to_str().unwrap(),
            "bin/sh",
        ])
        .status()
        .map_err(|e| format!("tar: {e}"))?;
    if !ok.success() {
        return Err("cannot add sh to the Python image".into());
    }
    let out = Command::new("podman")
        .args([
            "import",
            "--change",
            "ENV PATH=/usr/bin:/bin",
            tar.to_str().unwrap(),
            name,
        ])
        .output()
        .map_err(|e| format!("podman: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    Ok(())
}
