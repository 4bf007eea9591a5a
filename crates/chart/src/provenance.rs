//! Provenance: Helm's signed charts (`helm package --sign`, `helm verify`, `--verify`).
//!
//! A chart archive `NAME-VERSION.tgz` is signed by a `.prov` file beside it: an OpenPGP
//! cleartext-signed message whose text is the chart's `Chart.yaml`, a line `...`, then
//! `files: {NAME-VERSION.tgz: sha256:HEX}`. Verifying checks the signature against a keyring
//! (a key that signed it must be there), then the archive's SHA-256 against the signed one,
//! as Helm's `pkg/provenance` does. OpenPGP itself is rpgp's.

use crate::pull::digest_of;
use berth_manifest::{Error, ErrorKind};
use pgp::composed::{CleartextSignedMessage, PublicOrSecret, SignedPublicKey};
use pgp::types::KeyDetails;
use std::path::{Path, PathBuf};

/// Public keys to check signatures with (Helm's `--keyring`).
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    shown: String,
}

/// What a successful check found (what `helm verify` prints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// The signing key's user IDs.
    pub signed_by: Vec<String>,
    /// The signing key's primary fingerprint, upper-case hex.
    pub fingerprint: String,
    /// `sha256:HEX` of the archive, as signed.
    pub file_hash: String,
    /// The archive's name in the provenance file.
    pub file_name: String,
}

impl Verification {
    /// Helm's `helm verify` lines.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for id in &self.signed_by {
            out.push_str(&format!("Signed by: {id}\n"));
        }
        out.push_str(&format!(
            "Using Key With Fingerprint: {}\nChart Hash Verified: {}\n",
            self.fingerprint, self.file_hash
        ));
        out
    }
}

/// Helm's default keyring: `$GNUPGHOME/pubring.gpg`, else `~/.gnupg/pubring.gpg`.
pub fn default_keyring() -> PathBuf {
    let home = std::env::var_os("GNUPGHOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".gnupg")))
        .unwrap_or_else(|| PathBuf::from(".gnupg"));
    home.join("pubring.gpg")
}

fn error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Provenance, message)
}

impl Keyring {
    /// Reads a keyring file: OpenPGP keys, binary (`gpg --export`) or ASCII-armored; secret
    /// keys count by their public part.
    pub fn load(path: &Path) -> Result<Keyring, Error> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| {
            error(format!("cannot read the keyring {shown}: {e}"))
                .hint("give --keyring FILE: public keys as `gpg --export KEYID > FILE` writes them")
        })?;
        let unreadable = |e: pgp::errors::Error| {
            error(format!("{shown} is not an OpenPGP keyring: {e}"))
                .hint("export keys with `gpg --export KEYID > FILE` (GnuPG's own pubring.kbx is not a keyring file)")
        };
        let (keys, _) = PublicOrSecret::from_reader_many(&bytes[..]).map_err(unreadable)?;
        let mut out = Vec::new();
        for key in keys {
            out.push(match key.map_err(unreadable)? {
                PublicOrSecret::Public(k) => k,
                PublicOrSecret::Secret(k) => k.to_public_key(),
            });
        }
        if out.is_empty() {
            return Err(error(format!("the keyring {shown} holds no key"))
                .hint("export the signer's public key into it: `gpg --export KEYID > FILE`"));
        }
        Ok(Keyring { keys: out, shown })
    }
}

/// Checks `archive` (named `file_name`, as the signer named it) against the provenance text
/// `prov` (read from `shown`) with the keys of `keyring`.
pub fn verify(
    archive: &[u8],
    file_name: &str,
    prov: &str,
    shown: &str,
    keyring: &Keyring,
) -> Result<Verification, Error> {
    let (msg, _) = CleartextSignedMessage::from_string(prov).map_err(|e| {
        error(format!("{shown} is not a signed provenance file: {e}"))
            .hint("make it with `helm package --sign` (or `helm pull --prov` for a published one)")
    })?;
    let (signed_by, fingerprint) = check_signature(&msg, shown, keyring)?;
    let text = msg.signed_text().replace("\r\n", "\n");
    let signed = signed_sums(&text, shown)?;
    let Some(expected) = signed.get(file_name) else {
        let listed: Vec<&str> = signed.keys().map(String::as_str).collect();
        return Err(error(format!(
            "{shown} signs no file named {file_name:?} (it signs {})",
            listed.join(", ")
        ))
        .hint("the archive was renamed: give it the name it was signed under"));
    };
    let actual = digest_of(archive);
    if *expected != actual {
        return Err(error(format!(
            "{file_name} is not the chart that was signed: its sha256 is {actual}, the provenance file {shown} signs {expected}"
        ))
        .note("nothing was rendered or applied")
        .hint("the archive changed after signing: fetch it again from its source, or ask its publisher"));
    }
    Ok(Verification {
        signed_by,
        fingerprint,
        file_hash: actual,
        file_name: file_name.to_string(),
    })
}

/// The user IDs and fingerprint of the keyring's key that made a signature of `msg`.
fn check_signature(
    msg: &CleartextSignedMessage,
    shown: &str,
    keyring: &Keyring,
) -> Result<(Vec<String>, String), Error> {
    let issuers: Vec<String> = msg
        .signatures()
        .iter()
        .flat_map(|s| s.issuer_key_id())
        .map(|id| hex(id.as_ref()))
        .collect();
    let mut known = false;
    for key in &keyring.keys {
        let primary = std::iter::once((
            key.primary_key.legacy_key_id(),
            msg.verify(&key.primary_key).is_ok(),
        ));
        // A subkey counts only when its primary key bound it (as Go's openpgp reads keys).
        let subs = (key.public_subkeys.iter())
            .filter(|s| s.verify_bindings(&key.primary_key).is_ok())
            .map(|s| (s.key.legacy_key_id(), msg.verify(&s.key).is_ok()));
        for (id, ok) in primary.chain(subs) {
            known |= issuers.contains(&hex(id.as_ref()));
            if ok {
                let ids = key
                    .details
                    .users
                    .iter()
                    .map(|u| String::from_utf8_lossy(u.id.id()).into_owned())
                    .collect();
                return Ok((ids, format!("{:X}", key.primary_key.fingerprint())));
            }
        }
    }
    if known {
        return Err(error(format!("the signature of {shown} does not verify: the signed text was altered, or the signature is broken"))
            .note("nothing was rendered or applied")
            .hint("fetch the chart and its .prov again from their source"));
    }
    Err(error(format!(
        "{shown} is signed by key {}, which is not in the keyring {}",
        issuers.join(", "),
        keyring.shown
    ))
    .note("nothing was rendered or applied")
    .hint("import the publisher's public key into the keyring (`gpg --export KEYID > FILE`), or give --keyring FILE"))
}

/// Upper-case hex, as GnuPG shows key IDs.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The `files:` map of a provenance text: archive name to `sha256:HEX`.
fn signed_sums(
    text: &str,
    shown: &str,
) -> Result<std::collections::BTreeMap<String, String>, Error> {
    let malformed = |why: String| {
        error(format!("{shown} is not a Helm provenance file: {why}"))
            .hint("make it with `helm package --sign`")
    };
    let Some((_, sums)) = text.split_once("\n...\n") else {
        return Err(malformed(
            "its signed text has no `...` line between Chart.yaml and the file sums".into(),
        ));
    };
    #[derive(serde::Deserialize)]
    struct Sums {
        #[serde(default)]
        files: std::collections::BTreeMap<String, String>,
    }
    let sums: Sums = berth_template::parse_as_go(sums, berth_template::go_yaml_options())
        .map_err(|e| malformed(e.to_string()))?;
    if sums.files.is_empty() {
        return Err(malformed("its signed text has no `files:` map".into()));
    }
    Ok(sums.files)
}

/// Checks the chart archive at `path` against `PATH.prov` beside it (`helm verify`), with the
/// keyring at `keyring` (default: [`default_keyring`]).
pub fn verify_file(path: &Path, keyring: Option<&Path>) -> Result<Verification, Error> {
    let shown = path.display().to_string();
    if path.is_dir() {
        return Err(error(format!(
            "{shown} is a chart folder: only a packaged chart carries a signature"
        ))
        .hint("verify the archive it was packaged into (helm package --sign), or drop --verify"));
    }
    let keyring = Keyring::load(&keyring.map_or_else(default_keyring, Path::to_path_buf))?;
    let archive = std::fs::read(path)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {shown}: {e}")))?;
    let prov_path = PathBuf::from(format!("{shown}.prov"));
    let prov = std::fs::read_to_string(&prov_path).map_err(|e| {
        error(format!("cannot read the provenance file {}: {e}", prov_path.display()))
            .hint("a signed chart comes with NAME-VERSION.tgz.prov beside it (helm package --sign, helm pull --prov)")
    })?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    verify(
        &archive,
        &file_name,
        &prov,
        &prov_path.display().to_string(),
        &keyring,
    )
}
