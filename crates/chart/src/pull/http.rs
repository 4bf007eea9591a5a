//! HTTP for pulls: one `ureq` agent with Helm's TLS flags, answers read whole (bounded).

use super::{fetch_error, Tls};
use crate::{Error, ErrorKind};
use std::io::Read;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey};

/// The most a pull reads from one answer (Helm's own limit for an archive is 20 MiB; an index
/// of a big repository is larger).
const MAX_BODY: u64 = 256 << 20;

/// An answer, read whole.
pub(super) struct Answer {
    pub status: u16,
    pub www_authenticate: Option<String>,
    pub body: Vec<u8>,
}

pub(super) struct Client {
    agent: ureq::Agent,
}

impl Client {
    pub fn new(opts: &Tls) -> Result<Client, Error> {
        use ureq::tls::{RootCerts, TlsConfig};
        let mut tls = TlsConfig::builder().disable_verification(opts.insecure_skip_tls_verify);
        if let Some(ca) = &opts.ca_file {
            let certs = certificates(ca, "--ca-file")?;
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        if let (Some(cert), Some(key)) = (&opts.cert_file, &opts.key_file) {
            let chain = certificates(cert, "--cert-file")?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, private_key(key)?)));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls.build())
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build()
            .new_agent();
        Ok(Client { agent })
    }

    /// GET `url` with these headers.
    pub fn get(&self, url: &str, headers: &[(&str, String)]) -> Result<Answer, Error> {
        let mut req = self.agent.get(url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let mut resp = req.call().map_err(|e| unreachable(url, e))?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let www_authenticate = header("www-authenticate");
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(MAX_BODY)
            .read_to_end(&mut body)
            .map_err(|e| Error::new(ErrorKind::Io, format!("reading {url}: {e}")))?;
        Ok(Answer {
            status,
            www_authenticate,
            body,
        })
    }
}

/// The PEM file given with `flag`, read whole.
fn pem(path: &std::path::Path, flag: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read {flag} {}: {e}", path.display()),
        )
        .hint(format!("give {flag} the path of a PEM file"))
    })
}

/// The certificates of a PEM file (`--ca-file`, `--cert-file`).
fn certificates(path: &std::path::Path, flag: &str) -> Result<Vec<Certificate<'static>>, Error> {
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem(path, flag)?)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(fetch_error(format!(
            "{flag} {} holds no PEM certificate",
            path.display()
        ))
        .hint(match flag {
            "--ca-file" => "give the PEM file of the certificate authority that signed the server's certificate",
            _ => "give the PEM file of the client certificate the server trusts",
        }));
    }
    Ok(certs)
}

/// The private key of `--key-file` (PKCS#8, PKCS#1 or SEC1 PEM).
fn private_key(path: &std::path::Path) -> Result<PrivateKey<'static>, Error> {
    ureq::tls::parse_pem(&pem(path, "--key-file")?)
        .find_map(|item| match item {
            Ok(PemItem::PrivateKey(k)) => Some(k),
            _ => None,
        })
        .ok_or_else(|| {
            fetch_error(format!(
                "--key-file {} holds no PEM private key",
                path.display()
            ))
            .hint("give the PEM private key of the --cert-file certificate")
        })
}

/// A server that could not be reached: an I/O error, so that a cached pull can stand in.
fn unreachable(url: &str, e: ureq::Error) -> Error {
    let message = e.to_string();
    let err = Error::new(ErrorKind::Io, format!("cannot reach {url}: {message}"));
    // rustls' alerts come through as I/O errors: read them from the message.
    if message.contains("CertificateRequired") {
        err.hint("the server asks for a client certificate: give --cert-file and --key-file")
    } else if matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_))
        || message.contains("fatal alert")
        || message.contains("certificate")
    {
        err.hint("for a registry without TLS pass --plain-http; for a certificate of your own CA, --ca-file (or --insecure-skip-tls-verify); a server that asks for a client certificate needs --cert-file and --key-file")
    } else {
        err.hint("check the address and that the server runs; a chart pulled before at the same --version is used offline")
    }
}

/// An answer's status as an error about `what`.
pub(super) fn status_error(what: &str, url: &str, a: &Answer) -> Error {
    let text = String::from_utf8_lossy(&a.body);
    let text: String = text.chars().take(300).collect();
    let err = fetch_error(format!("{what}: {url} answered {}", a.status))
        .note(format!("server: {}", text.trim()));
    match a.status {
        401 | 403 => err.hint("give credentials: --username/--password, or `helm registry login` (berth reads Helm's and Docker's config)"),
        404 => err.hint("check the chart's name, path and --version"),
        _ => err,
    }
}
