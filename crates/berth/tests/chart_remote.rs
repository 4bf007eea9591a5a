//! Charts from where Helm users keep them, end to end against real servers the test starts on
//! loopback: Debian's `docker-registry` as the OCI registry and a static HTTP server (Python's)
//! as the chart repository, both filled by helm itself (`helm package`, `helm push`, `helm repo
//! index`). What berth renders from them is compared with what `helm template` renders from the
//! same reference. Needs helm (`BERTH_HELM`) and `docker-registry` (`BERTH_DOCKER_REGISTRY`),
//! which `./scripts/test.sh` installs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn helm() -> String {
    std::env::var("BERTH_HELM").expect("BERTH_HELM: ./scripts/test.sh sets it")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server that is stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Debian's docker-registry on a free port, storing in `dir`; with `htpasswd`, Basic auth.
fn registry(dir: &Path, htpasswd: Option<&str>) -> (Server, u16) {
    let port = free_port();
    let auth = match htpasswd {
        Some(line) => {
            std::fs::write(dir.join("htpasswd"), format!("{line}\n")).unwrap();
            format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                dir.join("htpasswd").display()
            )
        }
        None => String::new(),
    };
    let config = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
        dir.join("data").display()
    );
    std::fs::write(dir.join("config.yml"), config).unwrap();
    let bin = std::env::var("BERTH_DOCKER_REGISTRY")
        .expect("BERTH_DOCKER_REGISTRY: ./scripts/test.sh installs docker-registry");
    let mut cmd = Command::new(bin);
    cmd.args(["serve", &dir.join("config.yml").display().to_string()]);
    (serve(cmd, port), port)
}

/// Starts `cmd` quietly and waits until `port` takes connections.
fn serve(mut cmd: Command, port: u16) -> Server {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port);
    Server(child)
}

/// A static HTTP server over `dir`.
fn static_server(dir: &Path) -> (Server, u16) {
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "http.server",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
    ])
    .current_dir(dir);
    (serve(cmd, port), port)
}

/// Helm's files for one test: its own config and caches, nothing of the machine's.
struct Tmp {
    dir: tempfile::TempDir,
}

impl Tmp {
    fn new() -> Tmp {
        Tmp {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn env(&self, c: &mut Command) {
        c.env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env(
                "HELM_REPOSITORY_CONFIG",
                self.path("config/helm/repositories.yaml"),
            )
            .env("HELM_REPOSITORY_CACHE", self.path("cache/helm/repository"))
            .env(
                "HELM_REGISTRY_CONFIG",
                self.path("config/helm/registry/config.json"),
            )
            .env("BERTH_CACHE_DIR", self.path("berth-cache"))
            .env_remove("KUBECONFIG");
    }
    fn helm(&self, args: &[&str]) -> Output {
        let mut c = Command::new(helm());
        self.env(&mut c);
        let out = c.args(args).output().unwrap();
        assert!(out.status.success(), "helm {args:?}: {}", text(&out));
        out
    }
    fn berth(&self, args: &[&str]) -> Output {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("berth"));
        self.env(&mut c);
        c.args(args).output().unwrap()
    }
    /// The example chart packaged at `version` in `dir`.
    fn package(&self, version: &str, dir: &str) -> PathBuf {
        self.package_with(version, dir, &[])
    }
    /// The example chart packaged at `version` in `dir`, with more `helm package` flags.
    fn package_with(&self, version: &str, dir: &str, flags: &[&str]) -> PathBuf {
        let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/guestbook");
        let out = self.path(dir);
        std::fs::create_dir_all(&out).unwrap();
        let d = out.display().to_string();
        let args = [
            "package",
            chart.to_str().unwrap(),
            "--version",
            version,
            "-d",
            &d,
        ];
        self.helm(&[&args[..], flags].concat());
        out.join(format!("guestbook-{version}.tgz"))
    }
}

/// A chart repository of the example chart at 0.1.0 and 0.2.0, indexed by helm and served
/// statically; its URL.
fn repository(tmp: &Tmp) -> (Server, String) {
    for v in ["0.1.0", "0.2.0"] {
        tmp.package(v, "repo");
    }
    let (server, port) = static_server(&tmp.path("repo"));
    let url = format!("http://127.0.0.1:{port}");
    let dir = tmp.path("repo").display().to_string();
    tmp.helm(&["repo", "index", &dir, "--url", &url]);
    (server, url)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The documents of a render, without comments and blank lines.
fn documents(out: &Output) -> Vec<String> {
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("\n---")
        .map(|d| {
            d.lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && *l != "---")
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|d| !d.is_empty())
        .collect()
}

/// berth and helm render the same reference alike.
fn same_as_helm(tmp: &Tmp, args: &[&str]) -> Output {
    let t = Instant::now();
    let berth = tmp.berth(&[&["render"][..], args].concat());
    let berth_time = t.elapsed();
    assert!(
        berth.status.success(),
        "berth render {args:?}: {}",
        text(&berth)
    );
    let t = Instant::now();
    let helm = tmp.helm(&[&["template"][..], args].concat());
    eprintln!(
        "{args:?}: berth {berth_time:.2?} ({}), helm {:.2?}",
        String::from_utf8_lossy(&berth.stderr).trim(),
        t.elapsed()
    );
    assert_eq!(documents(&berth), documents(&helm), "{args:?}");
    assert!(!documents(&berth).is_empty());
    berth
}

#[test]
#[ignore = "needs helm (BERTH_HELM) and docker-registry (BERTH_DOCKER_REGISTRY): ./scripts/test.sh"]
fn charts_from_an_oci_registry_render_as_helm_renders_them() {
    let tmp = Tmp::new();
    std::fs::create_dir_all(tmp.path("registry")).unwrap();
    let (server, port) = registry(&tmp.path("registry"), None);
    for v in ["0.1.0", "0.2.0", "0.3.0-rc.1"] {
        let archive = tmp.package(v, "pkg");
        let to = format!("oci://127.0.0.1:{port}/charts");
        tmp.helm(&["push", archive.to_str().unwrap(), &to, "--plain-http"]);
    }
    let chart = format!("oci://127.0.0.1:{port}/charts/guestbook");
    let common = [chart.as_str(), "--plain-http"];
    // A constraint, the latest stable version, an exact version, a tag in the reference.
    let out = same_as_helm(&tmp, &[&common[..], &["--version", "^0.1"]].concat());
    assert!(text(&out).contains("pulled"), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(" 0.1.0 "),
        "{}",
        text(&out)
    );
    let out = same_as_helm(&tmp, &common);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(" 0.2.0 "),
        "latest stable: {}",
        text(&out)
    );
    same_as_helm(&tmp, &[&common[..], &["--version", "0.3.0-rc.1"]].concat());
    let tagged = format!("{chart}:0.1.0");
    let out = tmp.berth(&["render", &tagged, "--plain-http"]);
    assert!(out.status.success(), "{}", text(&out));

    // No such version: the tags are listed.
    let out = tmp.berth(&["render", &chart, "--plain-http", "--version", ">5"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("tags: 0.1.0, 0.2.0, 0.3.0-rc.1"),
        "{}",
        text(&out)
    );

    // Every command that takes a chart pulls it: a plan against an API server.
    let fake = berth_fakekube::FakeKube::start();
    std::fs::write(tmp.path("kubeconfig"), fake.kubeconfig("t")).unwrap();
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("berth"));
    tmp.env(&mut c);
    let out = c
        .env("KUBECONFIG", tmp.path("kubeconfig"))
        .args([
            "plan",
            &chart,
            "--plain-http",
            "--version",
            "0.1.0",
            "--release",
            "gb",
            "-n",
            "apps",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("create Deployment.apps/api"),
        "{}",
        text(&out)
    );

    // Offline: a pinned version is served from the cache; a range cannot be resolved anew
    // but what it resolved to last time is used.
    drop(server);
    let t = Instant::now();
    let out = tmp.berth(&["render", &chart, "--plain-http", "--version", "0.1.0"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("from the cache"), "{}", text(&out));
    eprintln!("cached render with the registry gone: {:.2?}", t.elapsed());
    let out = tmp.berth(&["render", &chart, "--plain-http", "--version", "0.2.0"]);
    assert!(out.status.success(), "pulled before: {}", text(&out));
    let out = tmp.berth(&["render", &chart, "--plain-http", "--version", "0.9.0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("cannot reach"), "{}", text(&out));
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`:
/// `ca.pem`, `server.pem`/`server-key.pem`, `client.pem`/`client-key.pem`.
fn certificates(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose as Eku, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    // Each with a name of its own: a leaf named as its issuer reads as self-signed.
    let named = |sans: Vec<String>, name: &str| {
        let mut p = CertificateParams::new(sans).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p
    };
    let mut ca = named(Vec::new(), "berth test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    for (name, san, eku) in [
        ("server", "127.0.0.1", Eku::ServerAuth),
        ("client", "berth-test-client", Eku::ClientAuth),
    ] {
        let mut params = named(vec![san.to_string()], san);
        params.extended_key_usages = vec![eku];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
    }
}

/// A static HTTPS server over `dir` that asks every client for a certificate signed by the CA
/// in `certs` (Python's ssl, so OpenSSL checks what berth presents).
fn mutual_tls_server(dir: &Path, certs: &Path) -> (Server, u16) {
    let port = free_port();
    let pem = |f: &str| certs.join(f).display().to_string();
    let script = format!(
        "import http.server, ssl\n\
         ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
         ctx.load_cert_chain({server:?}, {key:?})\n\
         ctx.verify_mode = ssl.CERT_REQUIRED\n\
         ctx.load_verify_locations({ca:?})\n\
         srv = http.server.ThreadingHTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)\n\
         srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n\
         srv.serve_forever()\n",
        server = pem("server.pem"),
        key = pem("server-key.pem"),
        ca = pem("ca.pem"),
    );
    let mut cmd = Command::new("python3");
    cmd.args(["-c", &script]).current_dir(dir);
    (serve(cmd, port), port)
}

/// `dependency update` reads a named repository's index afresh, as Helm refreshes its cache
/// first; with `--skip-refresh` it takes the cached one, which here is stale.
#[test]
#[ignore = "needs helm (BERTH_HELM): ./scripts/test.sh"]
fn dependency_update_reads_a_named_repository_afresh_unless_skip_refresh() {
    let tmp = Tmp::new();
    tmp.package("0.1.0", "repo");
    let (_server, port) = static_server(&tmp.path("repo"));
    let url = format!("http://127.0.0.1:{port}");
    let dir = tmp.path("repo").display().to_string();
    tmp.helm(&["repo", "index", &dir, "--url", &url]);
    // Helm's cache keeps the index as it is now (0.1.0); then the repository gets 0.2.0.
    tmp.helm(&["repo", "add", "local", &url]);
    tmp.package("0.2.0", "repo");
    tmp.helm(&["repo", "index", &dir, "--url", &url]);
    let chart_yaml = "apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n  - name: guestbook\n    version: \">=0.1.0\"\n    repository: \"@local\"\n";
    // berth first each time: helm's own refresh rewrites the cache.
    for (flags, expected) in [(&["--skip-refresh"][..], "0.1.0"), (&[][..], "0.2.0")] {
        for (tool, name) in [("berth", "ours"), ("helm", "theirs")] {
            let chart = tmp.path(&format!("{name}{}", flags.len()));
            std::fs::create_dir_all(chart.join("templates")).unwrap();
            std::fs::write(chart.join("Chart.yaml"), chart_yaml).unwrap();
            let args = [
                &["dependency", "update", chart.to_str().unwrap()][..],
                flags,
            ]
            .concat();
            if tool == "berth" {
                let out = tmp.berth(&args);
                assert!(out.status.success(), "{args:?}: {}", text(&out));
            } else {
                tmp.helm(&args);
            }
            let archive = chart.join(format!("charts/guestbook-{expected}.tgz"));
            assert!(
                archive.is_file(),
                "{tool} {args:?}: no {}",
                archive.display()
            );
        }
    }
}

#[test]
#[ignore = "needs helm (BERTH_HELM): ./scripts/test.sh"]
fn a_repository_that_asks_for_a_client_certificate_gets_it() {
    let tmp = Tmp::new();
    std::fs::create_dir_all(tmp.path("certs")).unwrap();
    certificates(&tmp.path("certs"));
    tmp.package("0.1.0", "repo");
    let (_server, port) = mutual_tls_server(&tmp.path("repo"), &tmp.path("certs"));
    let url = format!("https://127.0.0.1:{port}");
    let dir = tmp.path("repo").display().to_string();
    tmp.helm(&["repo", "index", &dir, "--url", &url]);
    let cert = |f: &str| tmp.path("certs").join(f).display().to_string();
    let (ca, client, key) = (cert("ca.pem"), cert("client.pem"), cert("client-key.pem"));
    let chart = [
        "guestbook",
        "--repo",
        &url,
        "--version",
        "0.1.0",
        "--ca-file",
        &ca,
    ];
    // Without a client certificate the server ends the handshake: a clear error.
    let out = tmp.berth(&[&["render"][..], &chart].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("--cert-file and --key-file"),
        "{}",
        text(&out)
    );
    // With it; one without the other is a usage error; a file that holds no key is refused
    // before anything is sent (the cache emptied, so that the server is asked again).
    let flags = ["--cert-file", &client, "--key-file", &key];
    same_as_helm(&tmp, &[&chart[..], &flags].concat());
    let out = tmp.berth(&[&["render"][..], &chart, &["--cert-file", &client]].concat());
    assert_eq!(
        out.status.code(),
        Some(2),
        "--key-file is required: {}",
        text(&out)
    );
    std::fs::remove_dir_all(tmp.path("berth-cache")).unwrap();
    let no_key = ["--cert-file", &client, "--key-file", &ca];
    let out = tmp.berth(&[&["render"][..], &chart, &no_key].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("holds no PEM private key"),
        "{}",
        text(&out)
    );
}

#[test]
#[ignore = "needs helm (BERTH_HELM) and docker-registry (BERTH_DOCKER_REGISTRY): ./scripts/test.sh"]
fn a_registry_that_asks_for_credentials_gets_them() {
    let tmp = Tmp::new();
    std::fs::create_dir_all(tmp.path("registry")).unwrap();
    // bcrypt, as htpasswd makes it: Sprig's htpasswd through berth itself.
    std::fs::create_dir_all(tmp.path("pw")).unwrap();
    let template = "kind: ConfigMap\napiVersion: v1\nmetadata: {name: pw}\ndata:\n  line: {{ htpasswd \"robot\" \"s3cret\" | quote }}\n";
    std::fs::write(tmp.path("pw/x.yaml"), template).unwrap();
    let out = tmp.berth(&["render", tmp.path("pw").to_str().unwrap(), "-o", "json"]);
    let objects: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    let line = objects[0]["data"]["line"].as_str().unwrap().to_string();
    assert!(line.starts_with("robot:$2"), "{line}");
    let (_server, port) = registry(&tmp.path("registry"), Some(&line));
    let host = format!("127.0.0.1:{port}");
    let archive = tmp.package("1.0.0", "pkg");
    tmp.helm(&[
        "registry",
        "login",
        &host,
        "--plain-http",
        "-u",
        "robot",
        "-p",
        "s3cret",
    ]);
    tmp.helm(&[
        "push",
        archive.to_str().unwrap(),
        &format!("oci://{host}/charts"),
        "--plain-http",
    ]);
    let chart = format!("oci://{host}/charts/guestbook");
    // From helm's registry config (`helm registry login`).
    same_as_helm(&tmp, &[&chart, "--plain-http", "--version", "1.0.0"]);
    std::fs::remove_file(tmp.path("config/helm/registry/config.json")).unwrap();
    std::fs::remove_dir_all(tmp.path("berth-cache")).unwrap();
    // None: refused, with what to do.
    let out = tmp.berth(&["render", &chart, "--plain-http", "--version", "1.0.0"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("401"), "{}", text(&out));
    assert!(text(&out).contains("--username"), "{}", text(&out));
    // From the flags.
    let out = tmp.berth(&[
        "render",
        &chart,
        "--plain-http",
        "--version",
        "1.0.0",
        "--username",
        "robot",
        "--password",
        "s3cret",
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
#[ignore = "needs helm (BERTH_HELM): ./scripts/test.sh"]
fn charts_from_a_repository_render_as_helm_renders_them() {
    let tmp = Tmp::new();
    let (_server, url) = repository(&tmp);
    // --repo URL, with a constraint and without.
    let out = same_as_helm(&tmp, &["guestbook", "--repo", &url, "--version", "~0.1"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(" 0.1.0 "),
        "{}",
        text(&out)
    );
    let out = same_as_helm(&tmp, &["guestbook", "--repo", &url]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(" 0.2.0 "),
        "{}",
        text(&out)
    );
    // REPO/NAME, from Helm's repositories.yaml.
    tmp.helm(&["repo", "add", "local", &url]);
    same_as_helm(&tmp, &["local/guestbook", "--version", "0.2.0"]);
    let out = tmp.berth(&["render", "local/nothing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("chart \"nothing\" is not in repository local"),
        "{}",
        text(&out)
    );

    // An archive that is not what the index says is refused and not kept.
    std::fs::remove_dir_all(tmp.path("berth-cache")).unwrap();
    let index = tmp.path("repo/index.yaml");
    let text_of_index = std::fs::read_to_string(&index).unwrap();
    let archive = tmp.path("repo/guestbook-0.1.0.tgz");
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&archive, bytes).unwrap();
    let out = tmp.berth(&["render", "guestbook", "--repo", &url, "--version", "0.1.0"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the archive's digest is sha256:"),
        "{}",
        text(&out)
    );
    assert!(text_of_index.contains("digest:"));
    let kept = std::fs::read_dir(tmp.path("berth-cache/charts/archives"))
        .unwrap()
        .count();
    assert_eq!(kept, 0, "nothing kept");
}

#[test]
#[ignore = "needs helm (BERTH_HELM) and docker-registry (BERTH_DOCKER_REGISTRY): ./scripts/test.sh"]
fn dependencies_are_updated_built_and_locked_as_helm_does() {
    let tmp = Tmp::new();
    let (_server, url) = repository(&tmp);
    let chart_yaml = format!(
        "apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n  - name: guestbook\n    version: \">=0.1.0 <0.2.0\"\n    repository: {url}\n    condition: guestbook.enabled\n    import-values:\n      - child: z\n        parent: a\n"
    );
    let (ours, helms) = (tmp.path("umbrella"), tmp.path("umbrella-helm"));
    for dir in [&ours, &helms] {
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(dir.join("Chart.yaml"), &chart_yaml).unwrap();
    }
    let list = |expected: &str| {
        let out = tmp.berth(&["dependency", "list", ours.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        let line = String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap_or("")
            .to_string();
        assert!(
            line.starts_with("guestbook") && line.ends_with(expected),
            "{}",
            text(&out)
        );
    };
    list("missing");
    let out = tmp.berth(&["dependency", "update", ours.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    tmp.helm(&["dependency", "update", helms.to_str().unwrap()]);
    list("ok");
    // The same lock (but for its time) and the same archive as helm's.
    let lock = |dir: &Path| {
        let text = std::fs::read_to_string(dir.join("Chart.lock")).unwrap();
        text.lines()
            .filter(|l| !l.starts_with("generated:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(lock(&ours), lock(&helms));
    let archive = "charts/guestbook-0.1.0.tgz";
    assert_eq!(
        std::fs::read(ours.join(archive)).unwrap(),
        std::fs::read(helms.join(archive)).unwrap()
    );
    same_as_helm(&tmp, &[ours.to_str().unwrap()]);

    // build: from the lock; helm's lock is berth's too.
    std::fs::remove_dir_all(ours.join("charts")).unwrap();
    std::fs::copy(helms.join("Chart.lock"), ours.join("Chart.lock")).unwrap();
    let out = tmp.berth(&["dependency", "build", ours.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    list("ok");
    // A lock that no longer fits Chart.yaml is refused, with what to do.
    let changed = chart_yaml.replace("<0.2.0", "<0.3.0");
    std::fs::write(ours.join("Chart.yaml"), changed).unwrap();
    let out = tmp.berth(&["dependency", "build", ours.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("out of sync"), "{}", text(&out));
    assert!(
        text(&out).contains("berth dependency update"),
        "{}",
        text(&out)
    );
    let out = tmp.berth(&["dependency", "update", ours.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(ours.join("charts/guestbook-0.2.0.tgz").is_file());
    assert!(
        !ours.join(archive).exists(),
        "the outdated archive is removed"
    );

    // A dependency from an OCI registry.
    std::fs::create_dir_all(tmp.path("registry")).unwrap();
    let (_registry, rport) = registry(&tmp.path("registry"), None);
    let pushed = tmp.path("repo/guestbook-0.2.0.tgz");
    tmp.helm(&[
        "push",
        pushed.to_str().unwrap(),
        &format!("oci://127.0.0.1:{rport}/charts"),
        "--plain-http",
    ]);
    let oci = format!(
        "apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n  - name: guestbook\n    version: ^0.2\n    repository: oci://127.0.0.1:{rport}/charts\n"
    );
    std::fs::write(ours.join("Chart.yaml"), oci).unwrap();
    std::fs::remove_dir_all(ours.join("charts")).unwrap();
    let out = tmp.berth(&[
        "dependency",
        "update",
        ours.to_str().unwrap(),
        "--plain-http",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(ours.join("charts/guestbook-0.2.0.tgz").is_file());
    assert!(lock(&ours).contains("version: 0.2.0"), "{}", lock(&ours));
}

/// `gpg` with the GnuPG home `dir`, without prompts; its stdout.
fn gpg(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(dir)
        .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
        .args(args)
        .output()
        .expect("gpg: ./scripts/test.sh installs gnupg");
    assert!(out.status.success(), "gpg {args:?}: {}", text(&out));
    out.stdout
}

/// A GnuPG signing key made in `home` (a fresh GNUPGHOME) for `name`, with a signing subkey;
/// its public and secret keyrings as `gpg --export` writes them (what Helm's `--keyring`
/// reads).
fn signing_key(tmp: &Tmp, home: &str, name: &str) -> (PathBuf, PathBuf) {
    let dir = tmp.path(home);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    gpg(&dir, &["--quick-gen-key", name, "rsa2048", "sign", "never"]);
    let primary = String::from_utf8(gpg(&dir, &["--list-keys", "--with-colons"])).unwrap();
    let fingerprint = (primary.lines())
        .find_map(|l| l.strip_prefix("fpr:::::::::"))
        .map(|f| f.trim_end_matches(':').to_string())
        .unwrap();
    gpg(
        &dir,
        &["--quick-add-key", &fingerprint, "rsa2048", "sign", "never"],
    );
    let (public, secret) = (dir.join("pub.gpg"), dir.join("sec.gpg"));
    std::fs::write(&public, gpg(&dir, &["--export"])).unwrap();
    std::fs::write(&secret, gpg(&dir, &["--export-secret-keys"])).unwrap();
    (public, secret)
}

/// `prov` signed again by the signing subkey of the key in `home` (helm signs with the primary).
fn sign_with_subkey(tmp: &Tmp, home: &str, prov: &Path, to: &Path) {
    let dir = tmp.path(home);
    let keys = String::from_utf8(gpg(
        &dir,
        &["--list-keys", "--with-colons", "--with-subkey-fingerprints"],
    ))
    .unwrap();
    let subkey = (keys.lines())
        .filter_map(|l| l.strip_prefix("fpr:::::::::"))
        .nth(1)
        .map(|f| format!("{}!", f.trim_end_matches(':')))
        .unwrap();
    let plain = gpg(&dir, &["--decrypt", prov.to_str().unwrap()]);
    let plain_file = dir.join("plain.txt");
    std::fs::write(&plain_file, plain).unwrap();
    let (to, plain_file) = (to.to_str().unwrap(), plain_file.to_str().unwrap());
    gpg(
        &dir,
        &["--local-user", &subkey, "--clearsign", "-o", to, plain_file],
    );
}

#[test]
#[ignore = "needs helm (BERTH_HELM), gpg and docker-registry (BERTH_DOCKER_REGISTRY): ./scripts/test.sh"]
fn signed_charts_verify_as_helm_verifies_them() {
    let tmp = Tmp::new();
    let (public, secret) = signing_key(&tmp, "gpg", "Berth Test <test@berth.dev>");
    let (other, _) = signing_key(&tmp, "gpg-other", "Someone Else <else@berth.dev>");
    let (public, other) = (public.to_str().unwrap(), other.to_str().unwrap());
    let sign = [
        "--sign",
        "--key",
        "Berth Test",
        "--keyring",
        secret.to_str().unwrap(),
    ];
    let signed = tmp.package_with("0.1.0", "repo", &sign);
    tmp.package("0.2.0", "repo");
    let archive = signed.to_str().unwrap();

    // A local archive: `berth verify` says what `helm verify` says; a render checks first.
    let by_helm = tmp.helm(&["verify", archive, "--keyring", public]);
    let berth = tmp.berth(&["verify", archive, "--keyring", public]);
    assert!(berth.status.success(), "{}", text(&berth));
    assert_eq!(
        String::from_utf8_lossy(&berth.stdout),
        String::from_utf8_lossy(&by_helm.stdout)
    );
    let helm_refuses = |args: &[&str]| {
        let mut c = Command::new(helm());
        tmp.env(&mut c);
        let out = c.args(args).output().unwrap();
        assert!(!out.status.success(), "helm {args:?} verified");
    };
    let out = same_as_helm(&tmp, &[archive, "--verify", "--keyring", public]);
    assert!(
        text(&out).contains("verified guestbook-0.1.0.tgz: signed by Berth Test"),
        "{}",
        text(&out)
    );

    // Signed by the signing subkey: both name the primary key.
    let by_subkey = tmp.path("by-subkey");
    std::fs::create_dir_all(&by_subkey).unwrap();
    std::fs::copy(&signed, by_subkey.join("guestbook-0.1.0.tgz")).unwrap();
    let prov = PathBuf::from(format!("{archive}.prov"));
    sign_with_subkey(
        &tmp,
        "gpg",
        &prov,
        &by_subkey.join("guestbook-0.1.0.tgz.prov"),
    );
    let copy = by_subkey.join("guestbook-0.1.0.tgz");
    let copy = copy.to_str().unwrap();
    let by_helm = tmp.helm(&["verify", copy, "--keyring", public]);
    let berth = tmp.berth(&["verify", copy, "--keyring", public]);
    assert!(berth.status.success(), "{}", text(&berth));
    assert_eq!(berth.stdout, by_helm.stdout);

    // Refused, as helm refuses: a signer not in the keyring, an archive that is not the one
    // signed, a chart folder, a keyring that is not there.
    let refused = |args: &[&str], says: &str| {
        let out = tmp.berth(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
        assert!(out.stdout.is_empty(), "nothing rendered: {}", text(&out));
    };
    helm_refuses(&["verify", archive, "--keyring", other]);
    refused(
        &["render", archive, "--verify", "--keyring", other],
        "which is not in the keyring",
    );
    let altered = tmp.path("altered");
    std::fs::create_dir_all(&altered).unwrap();
    let copy = altered.join("guestbook-0.1.0.tgz");
    let mut bytes = std::fs::read(&signed).unwrap();
    bytes.extend_from_slice(&[0; 16]);
    std::fs::write(&copy, bytes).unwrap();
    std::fs::copy(
        format!("{archive}.prov"),
        altered.join("guestbook-0.1.0.tgz.prov"),
    )
    .unwrap();
    let copy = copy.to_str().unwrap();
    helm_refuses(&["verify", copy, "--keyring", public]);
    refused(
        &["render", copy, "--verify", "--keyring", public],
        "is not the chart that was signed",
    );
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/guestbook");
    refused(
        &[
            "render",
            folder.to_str().unwrap(),
            "--verify",
            "--keyring",
            public,
        ],
        "is a chart folder",
    );
    refused(
        &["verify", archive, "--keyring", "/nonexistent/pubring.gpg"],
        "cannot read the keyring",
    );

    // A repository serves the provenance file beside the archive; an unsigned version has none.
    let (server, port) = static_server(&tmp.path("repo"));
    let url = format!("http://127.0.0.1:{port}");
    tmp.helm(&[
        "repo",
        "index",
        tmp.path("repo").to_str().unwrap(),
        "--url",
        &url,
    ]);
    let from_repo = ["guestbook", "--repo", &url, "--verify", "--keyring", public];
    same_as_helm(&tmp, &[&from_repo[..], &["--version", "0.1.0"]].concat());
    refused(
        &[&["render"][..], &from_repo, &["--version", "0.2.0"]].concat(),
        "has no provenance file",
    );
    // `dependency update --verify`: every archive verified before charts/ changes.
    let umbrella = tmp.path("umbrella");
    std::fs::create_dir_all(&umbrella).unwrap();
    let chart_yaml = |version: &str| {
        format!("apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n  - name: guestbook\n    version: {version}\n    repository: {url}\n")
    };
    std::fs::write(umbrella.join("Chart.yaml"), chart_yaml("0.1.0")).unwrap();
    let update = [
        "dependency",
        "update",
        umbrella.to_str().unwrap(),
        "--verify",
        "--keyring",
        public,
    ];
    let out = tmp.berth(&update);
    assert!(out.status.success(), "{}", text(&out));
    assert!(umbrella.join("charts/guestbook-0.1.0.tgz").is_file());
    std::fs::write(umbrella.join("Chart.yaml"), chart_yaml("0.2.0")).unwrap();
    let out = tmp.berth(&update);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("has no provenance file"),
        "{}",
        text(&out)
    );
    assert!(
        umbrella.join("charts/guestbook-0.1.0.tgz").is_file(),
        "charts/ as it was"
    );
    assert!(!umbrella.join("charts/guestbook-0.2.0.tgz").exists());

    // Kept with the archive: verified again offline.
    drop(server);
    let out = tmp.berth(&[&["render"][..], &from_repo, &["--version", "0.1.0"]].concat());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("from the cache") && text(&out).contains("verified"),
        "{}",
        text(&out)
    );

    // A registry: `helm push` sends the provenance file as a layer of its own (the cache is
    // emptied: it holds this very archive and its provenance already).
    std::fs::remove_dir_all(tmp.path("berth-cache")).unwrap();
    std::fs::create_dir_all(tmp.path("registry")).unwrap();
    let (_registry, port) = registry(&tmp.path("registry"), None);
    let to = format!("oci://127.0.0.1:{port}/charts");
    tmp.helm(&["push", archive, &to, "--plain-http"]);
    let chart = format!("{to}/guestbook");
    let from_registry = [
        chart.as_str(),
        "--plain-http",
        "--version",
        "0.1.0",
        "--verify",
    ];
    same_as_helm(&tmp, &[&from_registry[..], &["--keyring", public]].concat());
    refused(
        &[&["render"][..], &from_registry, &["--keyring", other]].concat(),
        "which is not in the keyring",
    );
}
