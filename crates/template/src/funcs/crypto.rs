//! Sprig: keys, certificates and passwords (`genPrivateKey`, `genCA`, `genSelfSignedCert`,
//! `genSignedCert` and their `WithKey` forms, `buildCustomCert`, `htpasswd`, `bcrypt`,
//! `derivePassword`, `encryptAES`, `decryptAES`). Keys and certificates are PEM, as Sprig
//! writes them (RSA keys in PKCS#1, EC keys in SEC1).

use super::*;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};

type Res<T> = Result<T, FuncError>;

/// The functions that make a new 2048-bit RSA key on every call (the `WithKey` forms take
/// one; `genPrivateKey`'s type is known only when it runs).
pub(crate) const RSA_KEY_MAKERS: &[&str] = &["genCA", "genSelfSignedCert", "genSignedCert"];

fn err(e: impl std::fmt::Display) -> FuncError {
    FuncError::Msg(e.to_string())
}

/// A private key as PEM (Sprig's encoding) and as PKCS#8 DER (for signing).
struct Key {
    pem: String,
    pkcs8: Vec<u8>,
    alg: &'static rcgen::SignatureAlgorithm,
}

fn rsa_key(bits: usize) -> Res<Key> {
    let k = berth_primes::generate(bits).map_err(err)?;
    rsa_from(k)
}

fn rsa_from(k: rsa::RsaPrivateKey) -> Res<Key> {
    Ok(Key {
        pem: k.to_pkcs1_pem(LineEnding::LF).map_err(err)?.to_string(),
        pkcs8: k.to_pkcs8_der().map_err(err)?.as_bytes().to_vec(),
        alg: &rcgen::PKCS_RSA_SHA256,
    })
}

fn ecdsa_key() -> Res<Key> {
    let k = p256::SecretKey::random(&mut rand_core::OsRng);
    ec_from(k)
}

fn ec_from(k: p256::SecretKey) -> Res<Key> {
    Ok(Key {
        pem: k
            .to_sec1_pem(p256::pkcs8::LineEnding::LF)
            .map_err(err)?
            .to_string(),
        pkcs8: k.to_pkcs8_der().map_err(err)?.as_bytes().to_vec(),
        alg: &rcgen::PKCS_ECDSA_P256_SHA256,
    })
}

fn ed25519_key() -> Res<Key> {
    let k = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let doc = k.to_pkcs8_der().map_err(err)?;
    Ok(Key {
        pem: k.to_pkcs8_pem(LineEnding::LF).map_err(err)?.to_string(),
        pkcs8: doc.as_bytes().to_vec(),
        alg: &rcgen::PKCS_ED25519,
    })
}

/// Reads a PEM private key of any type Sprig writes.
fn parse_key(pem: &str) -> Res<Key> {
    let bad = || FuncError::Msg("error decoding key: no PEM private key found".into());
    if pem.contains("RSA PRIVATE KEY") {
        return rsa_from(rsa::RsaPrivateKey::from_pkcs1_pem(pem).map_err(|_| bad())?);
    }
    if pem.contains("EC PRIVATE KEY") {
        return ec_from(p256::SecretKey::from_sec1_pem(pem).map_err(|_| bad())?);
    }
    if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
        return rsa_from(k);
    }
    if let Ok(k) = p256::SecretKey::from_pkcs8_pem(pem) {
        return ec_from(k);
    }
    if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
        let doc = k.to_pkcs8_der().map_err(err)?;
        return Ok(Key {
            pem: pem.to_string(),
            pkcs8: doc.as_bytes().to_vec(),
            alg: &rcgen::PKCS_ED25519,
        });
    }
    Err(bad())
}

fn key_pair(k: &Key) -> Res<KeyPair> {
    KeyPair::from_pkcs8_der_and_sign_algo(&k.pkcs8.as_slice().into(), k.alg).map_err(err)
}

fn gen_private_key(typ: &str) -> Res<String> {
    Ok(match typ {
        "" | "rsa" => rsa_key(4096)?.pem,
        "ecdsa" => ecdsa_key()?.pem,
        "ed25519" => ed25519_key()?.pem,
        "dsa" => dsa_key()?,
        other => format!("Unknown type {other}"),
    })
}

fn dsa_key() -> Res<String> {
    use dsa::pkcs8::EncodePrivateKey as _;
    let comps = dsa::Components::generate(&mut rand_core::OsRng, dsa::KeySize::DSA_2048_256);
    let k = dsa::SigningKey::generate(&mut rand_core::OsRng, comps);
    Ok(k.to_pkcs8_pem(LineEnding::LF).map_err(err)?.to_string())
}

/// The certificate value templates read: `.Cert` and `.Key`.
fn certificate(cert: String, key: String) -> Value {
    Value::map(BTreeMap::from([
        ("Cert".to_string(), Value::from(cert)),
        ("Key".to_string(), Value::from(key)),
    ]))
}

fn params(cn: &str, ips: &Value, dns: &Value, days: i64) -> Res<CertificateParams> {
    let mut p = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    p.distinguished_name = name;
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now;
    p.not_after = now + time::Duration::days(days);
    let serial = text::random_bytes(16)?;
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    for ip in as_list(ips).unwrap_or_default() {
        let s = strval(&ip);
        let addr = s
            .parse()
            .map_err(|_| FuncError::Msg(format!("error parsing ip: {s}")))?;
        p.subject_alt_names.push(SanType::IpAddress(addr));
    }
    for d in as_list(dns).unwrap_or_default() {
        let s = strval(&d);
        p.subject_alt_names
            .push(SanType::DnsName(s.try_into().map_err(err)?));
    }
    Ok(p)
}

fn gen_ca(cn: &str, days: i64, key: Option<&str>) -> FResult {
    let k = match key {
        Some(pem) => parse_key(pem)?,
        None => rsa_key(2048)?,
    };
    let mut p = params(cn, &Value::Nil, &Value::Nil, days)?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    let cert = p.self_signed(&key_pair(&k)?).map_err(err)?;
    Ok(certificate(cert.pem(), k.pem))
}

fn leaf(p: &mut CertificateParams) {
    p.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
}

fn gen_self_signed(a: &[Value], key: Option<&str>) -> FResult {
    let k = match key {
        Some(pem) => parse_key(pem)?,
        None => rsa_key(2048)?,
    };
    let mut p = params(s(&a[0]), &a[1], &a[2], int(&a[3]))?;
    leaf(&mut p);
    let cert = p.self_signed(&key_pair(&k)?).map_err(err)?;
    Ok(certificate(cert.pem(), k.pem))
}

fn field(v: &Value, name: &str) -> String {
    match v {
        Value::Map(m) => m.borrow().get(name).map(strval).unwrap_or_default(),
        Value::Object(o) => o.field(name).map(|v| strval(&v)).unwrap_or_default(),
        _ => String::new(),
    }
}

fn gen_signed(a: &[Value], key: Option<&str>) -> FResult {
    let (ca_cert, ca_key) = (field(&a[4], "Cert"), field(&a[4], "Key"));
    let ca = parse_key(&ca_key).map_err(|_| FuncError::Msg("error parsing the CA's key".into()))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, key_pair(&ca)?)
        .map_err(|e| FuncError::Msg(format!("error parsing the CA's certificate: {e}")))?;
    let k = match key {
        Some(pem) => parse_key(pem)?,
        None => rsa_key(2048)?,
    };
    let mut p = params(s(&a[0]), &a[1], &a[2], int(&a[3]))?;
    leaf(&mut p);
    let cert = p.signed_by(&key_pair(&k)?, &issuer).map_err(err)?;
    Ok(certificate(cert.pem(), k.pem))
}

fn build_custom_cert(cert: &str, key: &str) -> FResult {
    use base64::Engine;
    let dec = |s: &str, what: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| FuncError::Msg(format!("unable to decode base64 {what}")))
    };
    let (c, k) = (dec(cert, "certificate")?, dec(key, "private key")?);
    if !c.contains("BEGIN CERTIFICATE") {
        return msg("unable to decode certificate");
    }
    parse_key(&k)?;
    Ok(certificate(c, k))
}

fn bcrypt_hash(pw: &str) -> Res<String> {
    let h = bcrypt::hash_with_result(pw, 10).map_err(err)?;
    Ok(h.format_for_version(bcrypt::Version::TwoA))
}

const MASTER_SEED: &[u8] = b"com.lyndir.masterpassword";

fn password_templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

fn template_chars(c: char) -> &'static [u8] {
    match c {
        'V' => b"AEIOU",
        'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        'v' => b"aeiou",
        'c' => b"bcdfghjklmnpqrstvwxyz",
        'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        'n' => b"0123456789",
        'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// The Master Password algorithm, as Sprig's `derivePassword`.
fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    use hmac::Mac;
    let Some(templates) = password_templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let mut salt = MASTER_SEED.to_vec();
    salt.extend((user.len() as u32).to_be_bytes());
    salt.extend(user.as_bytes());
    let mut key = [0u8; 64];
    let Ok(params) = scrypt::Params::new(15, 8, 2, 64) else {
        return "failed to derive password".into();
    };
    if scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key).is_err() {
        return "failed to derive password".into();
    }
    let mut msg = MASTER_SEED.to_vec();
    msg.extend((site.len() as u32).to_be_bytes());
    msg.extend(site.as_bytes());
    msg.extend(counter.to_be_bytes());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(&msg);
    let seed = mac.finalize().into_bytes();
    let template = templates[seed[0] as usize % templates.len()];
    template
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let chars = template_chars(c);
            chars[seed[i + 1] as usize % chars.len()] as char
        })
        .collect()
}

fn aes_key(password: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let n = password.len().min(32);
    key[..n].copy_from_slice(&password.as_bytes()[..n]);
    key
}

fn encrypt_aes(password: &str, plain: &str) -> Res<String> {
    use aes::cipher::{BlockEncryptMut, KeyIvInit};
    use base64::Engine;
    if plain.is_empty() {
        return Ok(String::new());
    }
    let iv = text::random_bytes(16)?;
    let enc = cbc::Encryptor::<aes::Aes256>::new(&aes_key(password).into(), iv.as_slice().into());
    let n = plain.len();
    let mut buf = plain.as_bytes().to_vec();
    buf.resize(n + 16 - n % 16, 0);
    let ct = enc
        .encrypt_padded_mut::<aes::cipher::block_padding::Pkcs7>(&mut buf, n)
        .map_err(err)?;
    let mut out = iv;
    out.extend_from_slice(ct);
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

fn decrypt_aes(password: &str, crypt: &str) -> Res<String> {
    use aes::cipher::{BlockDecryptMut, KeyIvInit};
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .decode(crypt)
        .map_err(err)?;
    if data.len() < 16 || data.len() % 16 != 0 {
        return msg("blocksize must be multipe of decoded message length");
    }
    let (iv, ct) = data.split_at(16);
    let dec = cbc::Decryptor::<aes::Aes256>::new(&aes_key(password).into(), iv.into());
    let mut buf = ct.to_vec();
    let plain = dec
        .decrypt_padded_mut::<aes::cipher::block_padding::NoPadding>(&mut buf)
        .map_err(err)?;
    let pad = *plain.last().unwrap_or(&0) as usize;
    let plain = &plain[..plain.len().saturating_sub(pad)];
    Ok(String::from_utf8_lossy(plain).to_string())
}

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("genPrivateKey", &[Str], None, |_, a| {
        gen_private_key(s(&a[0])).map(Value::from)
    });
    f("genCA", &[Str, Int], None, |_, a| {
        gen_ca(s(&a[0]), int(&a[1]), None)
    });
    f("genCAWithKey", &[Str, Int, Str], None, |_, a| {
        gen_ca(s(&a[0]), int(&a[1]), Some(s(&a[2])))
    });
    f("genSelfSignedCert", &[Str, Any, Any, Int], None, |_, a| {
        gen_self_signed(&a, None)
    });
    f(
        "genSelfSignedCertWithKey",
        &[Str, Any, Any, Int, Str],
        None,
        |_, a| gen_self_signed(&a, Some(s(&a[4]))),
    );
    f("genSignedCert", &[Str, Any, Any, Int, Any], None, |_, a| {
        gen_signed(&a, None)
    });
    f(
        "genSignedCertWithKey",
        &[Str, Any, Any, Int, Any, Str],
        None,
        |_, a| gen_signed(&a, Some(s(&a[5]))),
    );
    f("buildCustomCert", &[Str, Str], None, |_, a| {
        build_custom_cert(s(&a[0]), s(&a[1]))
    });
    f("bcrypt", &[Str], None, |_, a| {
        bcrypt_hash(s(&a[0])).map(Value::from)
    });
    f("htpasswd", &[Str, Str], None, |_, a| {
        let user = s(&a[0]);
        if user.contains(':') {
            return Ok(Value::from(format!("invalid username: {user}")));
        }
        Ok(Value::from(format!("{user}:{}", bcrypt_hash(s(&a[1]))?)))
    });
    f(
        "derivePassword",
        &[Int, Str, Str, Str, Str],
        None,
        |_, a| {
            Ok(Value::from(derive_password(
                int(&a[0]) as u32,
                s(&a[1]),
                s(&a[2]),
                s(&a[3]),
                s(&a[4]),
            )))
        },
    );
    f("encryptAES", &[Str, Str], None, |_, a| {
        encrypt_aes(s(&a[0]), s(&a[1])).map(Value::from)
    });
    f("decryptAES", &[Str, Str], None, |_, a| {
        decrypt_aes(s(&a[0]), s(&a[1])).map(Value::from)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_round_trip_and_bcrypt() {
        let c = encrypt_aes("secretkey", "plaintext").unwrap();
        assert_eq!(decrypt_aes("secretkey", &c).unwrap(), "plaintext");
        let h = bcrypt_hash("pw").unwrap();
        assert!(h.starts_with("$2a$10$"), "{h}");
        assert!(bcrypt::verify("pw", &h).unwrap());
    }

    #[test]
    fn certificates_chain() {
        let ca = gen_ca("test-ca", 30, None).unwrap();
        let args = [
            Value::from("web"),
            Value::list(vec![Value::from("10.0.0.1")]),
            Value::list(vec![Value::from("web.local")]),
            Value::Int(30),
            ca.clone(),
        ];
        let leaf = gen_signed(&args, None).unwrap();
        assert!(field(&leaf, "Cert").starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(field(&leaf, "Key").starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let ec = gen_private_key("ecdsa").unwrap();
        assert!(ec.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        let with_key = gen_ca("x", 1, Some(&ec)).unwrap();
        assert_eq!(field(&with_key, "Key"), ec);
    }
}
