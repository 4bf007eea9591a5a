//! The pod's network holder: a container that only sleeps, whose network namespace the pod's
//! containers join (Kubernetes' "pause" container). Its image is made here, never pulled: one
//! static executable of a few dozen bytes, written as machine code for this CPU, that waits
//! for signals forever (it is stopped with SIGKILL).

use crate::engine::Engine;
use bollard::query_parameters as q;
use futures::StreamExt;

/// The image's name; the tag changes when the program does.
pub const IMAGE: &str = "localhost/berth/pause:1";

/// The program: `for (;;) pause();` (x86-64), `for (;;) ppoll(0, 0, 0, 0);` (aarch64).
fn code() -> Result<(u16, Vec<u8>), crate::Error> {
    match std::env::consts::ARCH {
        // mov eax, 34 (pause); syscall; jmp back to the mov
        "x86_64" => Ok((0x3e, vec![0xb8, 34, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7])),
        "aarch64" => {
            let words: [u32; 7] = [
                0xd280_0000, // mov x0, #0
                0xd280_0001, // mov x1, #0
                0xd280_0002, // mov x2, #0
                0xd280_0003, // mov x3, #0
                0xd280_0928, // mov x8, #73 (ppoll)
                0xd400_0001, // svc #0
                0x17ff_fffa, // b back to the first mov
            ];
            Ok((0xb7, words.iter().flat_map(|w| w.to_le_bytes()).collect()))
        }
        other => Err(crate::error::engine(format!(
            "pods with several containers need berth's pause program, which has no code for {other} yet"
        ))),
    }
}

/// A static ELF executable: one header, one loadable segment holding itself and the code.
pub fn executable() -> Result<Vec<u8>, crate::Error> {
    let (machine, code) = code()?;
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let total = HEADERS + code.len() as u64;
    let mut e = Vec::with_capacity(total as usize);
    e.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&machine.to_le_bytes());
    e.extend_from_slice(&1u32.to_le_bytes()); // version
    e.extend_from_slice(&(BASE + HEADERS).to_le_bytes()); // entry
    e.extend_from_slice(&64u64.to_le_bytes()); // program headers
    e.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    e.extend_from_slice(&0u32.to_le_bytes()); // flags
    for half in [64u16, 56, 1, 0, 0, 0] {
        e.extend_from_slice(&half.to_le_bytes());
    }
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // read + execute
    for word in [0, BASE, BASE, total, total, 0x1000] {
        e.extend_from_slice(&word.to_le_bytes());
    }
    e.extend_from_slice(&code);
    Ok(e)
}

/// Makes the image unless the engine has it.
pub async fn ensure_image(engine: &Engine) -> Result<(), crate::Error> {
    let failed = |e: &dyn std::fmt::Display| {
        crate::error::engine(format!("cannot make the pause image: {e}"))
    };
    if engine.docker.inspect_image(IMAGE).await.is_ok() {
        return Ok(());
    }
    let program = executable()?;
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(program.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, "pause", program.as_slice())
        .map_err(|e| failed(&e))?;
    let body = tar.into_inner().map_err(|e| failed(&e))?;
    // The whole reference as `repo`: Podman's compatible service ignores `tag` on import.
    let options = q::CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(IMAGE.into()),
        ..Default::default()
    };
    let mut steps =
        engine
            .docker
            .create_image(Some(options), Some(bollard::body_full(body.into())), None);
    while let Some(step) = steps.next().await {
        let step = step.map_err(|e| failed(&e))?;
        if let Some(e) = step.error_detail.and_then(|d| d.message) {
            return Err(failed(&e));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pause_program_runs_and_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pause");
        std::fs::write(&path, super::executable().unwrap()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = std::process::Command::new(&path).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(child.try_wait().unwrap().is_none(), "it should still wait");
        child.kill().unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
    }
}
