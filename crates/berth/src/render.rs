//! `berth render`: the deploy folder as Kubernetes objects, without touching any cluster.

use berth_core::view::Modes;
use berth_render::{ChartOptions, Request, Target};
use clap::{Args, ValueEnum};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Flags shared by every command that renders a deploy folder.
#[derive(Args, Debug, Clone)]
pub struct RenderFlags {
    /// The deploy folder.
    pub dir: PathBuf,
    /// Environment: reads variables.<ENV>.yaml and sets .Environment.
    #[arg(short = 'e', long = "env", value_name = "ENV")]
    pub environment: Option<String>,
    /// Namespace for .Namespace (default: .Variables.namespace, else "default").
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Set a variable: KEY=VALUE or KEY:VALUE; dotted keys nest (images.web=web:1.2).
    /// For a Helm chart, Helm's --set syntax (a.b=c, a[0]=c, a={x,y}).
    #[arg(
        short = 'v',
        long = "var",
        visible_alias = "set",
        value_name = "KEY=VALUE"
    )]
    pub set: Vec<String>,
    /// Extra variables file, merged after variables.yaml and variables.<ENV>.yaml.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub value_files: Vec<PathBuf>,
    #[command(flatten)]
    pub chart: ChartFlags,
}

/// Flags for Helm charts, as `helm template` takes them.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Helm charts")]
pub struct ChartFlags {
    /// Release name (.Release.Name) when DIR is a Helm chart.
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,
    /// Set a value that is always a string (Helm's --set-string).
    #[arg(long = "set-string", value_name = "KEY=VALUE")]
    pub set_string: Vec<String>,
    /// Set a JSON value (Helm's --set-json).
    #[arg(long = "set-json", value_name = "KEY=JSON")]
    pub set_json: Vec<String>,
    /// Set a value to a file's content (Helm's --set-file).
    #[arg(long = "set-file", value_name = "KEY=PATH")]
    pub set_file: Vec<String>,
    /// Kubernetes version for .Capabilities.KubeVersion (default v1.37.0, as helm 4).
    #[arg(long = "kube-version", value_name = "VERSION")]
    pub kube_version: Option<String>,
    /// Extra API versions for .Capabilities.APIVersions (group/version or group/version/Kind).
    #[arg(long = "api-versions", value_name = "API", value_delimiter = ',')]
    pub api_versions: Vec<String>,
    /// Print the CRDs of the chart's crds/ folders too.
    #[arg(long = "include-crds")]
    pub include_crds: bool,
    /// Do not check values against the charts' values.schema.json files (as helm's flag).
    #[arg(long = "skip-schema-validation")]
    pub skip_schema_validation: bool,
    /// Only the output of these templates (templates/x.yaml).
    #[arg(long = "show-only", value_name = "TEMPLATE")]
    pub show_only: Vec<String>,
    /// The chart's version, or a constraint (^1.2) it must satisfy (Helm's --version).
    #[arg(long = "version", value_name = "VERSION")]
    pub version: Option<String>,
    #[command(flatten)]
    pub pull: PullFlags,
}

/// Flags for charts in registries and repositories, as `helm pull` takes them.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Charts in registries and repositories")]
pub struct PullFlags {
    /// The chart repository DIR names a chart of (DIR is then the chart's name).
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
    /// User name for the registry or repository.
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,
    /// Password for the registry or repository.
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// Talk to the OCI registry over plain HTTP.
    #[arg(long)]
    pub plain_http: bool,
    /// Do not check the server's TLS certificate.
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// Check the server's certificate against this CA bundle (PEM).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Identify to the server with this client certificate (PEM); with --key-file.
    #[arg(long, value_name = "FILE", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// The private key (PEM) of --cert-file.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// Send the repository's credentials to every host its index points to (default: only
    /// to the repository's own host).
    #[arg(long)]
    pub pass_credentials: bool,
    /// Use the chart only if its provenance file (NAME-VERSION.tgz.prov) verifies: signed by
    /// a key of the keyring, over this very archive.
    #[arg(long)]
    pub verify: bool,
    /// Public keys for --verify (default: ~/.gnupg/pubring.gpg, as Helm).
    #[arg(long, value_name = "FILE")]
    pub keyring: Option<PathBuf>,
}

impl PullFlags {
    /// The library's options from these flags and `--version`.
    pub fn options(&self, version: Option<String>) -> berth_chart::pull::PullOptions {
        berth_chart::pull::PullOptions {
            version,
            repo: self.repo.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            plain_http: self.plain_http,
            tls: berth_chart::pull::Tls {
                insecure_skip_tls_verify: self.insecure_skip_tls_verify,
                ca_file: self.ca_file.clone(),
                cert_file: self.cert_file.clone(),
                key_file: self.key_file.clone(),
            },
            cache_dir: None,
            pass_credentials: self.pass_credentials,
            refresh: false,
            verify: self.verify,
            keyring: self.keyring.clone(),
        }
    }
}

impl RenderFlags {
    /// A folder's flags with no variables given (what `shell` and `status` render).
    pub fn folder(dir: &Path, environment: Option<String>, namespace: Option<String>) -> Self {
        let (set, value_files, chart) = Default::default();
        let dir = dir.to_path_buf();
        RenderFlags {
            dir,
            environment,
            namespace,
            set,
            value_files,
            chart,
        }
    }

    /// When DIR names a chart in a registry (`oci://...`) or a repository (`--repo URL`,
    /// `REPO/NAME`), pulls it (or finds it in the cache) and points DIR at its archive; says
    /// what it pulled on stderr.
    pub fn pull_remote_chart(&mut self) -> Result<(), berth_manifest::Error> {
        use berth_chart::pull::{pull, ChartRef};
        let opts = self.chart.pull.options(self.chart.version.clone());
        let Some(reference) = ChartRef::parse(&self.dir.to_string_lossy(), &opts)? else {
            if opts.verify {
                let verified =
                    berth_chart::provenance::verify_file(&self.dir, opts.keyring.as_deref())?;
                say_verified(&verified);
            }
            return Ok(());
        };
        let pulled = pull(&reference, &opts)?;
        eprintln!(
            "{} {} {} ({}){}",
            if pulled.cached { "using" } else { "pulled" },
            self.dir.display(),
            pulled.version,
            pulled.digest,
            if pulled.cached {
                ", from the cache"
            } else {
                ""
            }
        );
        if let Some(verified) = &pulled.verified {
            say_verified(verified);
        }
        self.dir = pulled.path;
        Ok(())
    }

    /// The render request these flags make.
    pub fn request(&self) -> Request {
        Request {
            dir: self.dir.clone(),
            environment: self.environment.clone(),
            namespace: self.namespace.clone(),
            set: self.set.clone(),
            value_files: self.value_files.clone(),
            release: self.chart.release.clone(),
            chart: self.chart.options(),
        }
    }
}

/// One line on stderr: whose signature `--verify` checked.
fn say_verified(v: &berth_chart::provenance::Verification) {
    eprintln!(
        "verified {}: signed by {} (key {})",
        v.file_name,
        v.signed_by.join(", "),
        v.fingerprint
    );
}

impl ChartFlags {
    /// The library's chart options from these flags.
    pub fn options(&self) -> ChartOptions {
        ChartOptions {
            set_string: self.set_string.clone(),
            set_json: self.set_json.clone(),
            set_file: self.set_file.clone(),
            kube_version: self.kube_version.clone(),
            api_versions: self.api_versions.clone(),
            include_crds: self.include_crds,
            skip_schema_validation: self.skip_schema_validation,
            show_only: self.show_only.clone(),
            version: self.version.clone(),
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    #[command(flatten)]
    pub(crate) flags: RenderFlags,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    output: Format,
    /// Write one file per object (<kind>--<name>.yaml) into this folder instead of printing.
    #[arg(long, value_name = "OUT")]
    output_dir: Option<PathBuf>,
}

/// An error of the render command.
#[derive(Debug)]
pub enum RenderError {
    Manifest(berth_manifest::Error),
    Output(String),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Manifest(e) => write!(f, "{e}"),
            RenderError::Output(e) => write!(f, "{e}"),
        }
    }
}

pub fn run(args: RenderArgs) -> Result<(), RenderError> {
    let request = args.flags.request();
    if request.is_chart() {
        return run_chart(&args, &request);
    }
    // Small pages until the folder proves large (its render then turns huge pages back on).
    // Charts keep them: even small ones render values, schemas and subcharts on several
    // threads, and were 5-10% slower without.
    crate::alloc::huge_pages(false);
    berth_template::on_large_input(|| crate::alloc::huge_pages(true));
    if let Some(dir) = &args.output_dir {
        let rendered = request
            .render_folder_text()
            .map_err(RenderError::Manifest)?;
        return berth_render::output::write_dir(dir, &rendered)
            .map_err(|e| RenderError::Output(format!("cannot write to {}: {e}", dir.display())));
    }
    // Each branch prints while what it rendered is alive, and the process ends before that
    // would be freed (1,000 objects took 0.15 ms to free).
    match args.output {
        Format::Yaml => {
            let rendered = request
                .render_folder_text()
                .map_err(RenderError::Manifest)?;
            print_and_end(&berth_render::output::to_yaml_stream(&rendered))
        }
        Format::Json => {
            let out = request.render(&Modes::default(), &Target::Local);
            let rendered = out.map_err(RenderError::Manifest)?.rendered;
            let all: Vec<&serde_json::Value> = rendered.objects.iter().map(|o| &o.body).collect();
            let mut s = serde_json::to_string_pretty(&all).expect("JSON values serialize");
            s.push('\n');
            print_and_end(&s)
        }
    }
}

fn print_and_end(text: &str) -> Result<(), RenderError> {
    write_stdout(text)?;
    end_process()
}

/// Ends `berth render` once its output is written and flushed: the process would next free
/// thousands of small allocations one by one and hand memory back to the system (together 6%
/// of a 1,000-document render in a profile), none of which anyone sees.
fn end_process() -> ! {
    // SAFETY: `_exit` only ends the process; stdout was flushed, stderr is unbuffered and no
    // file of ours is left half-written (`--output-dir` writes return before this).
    unsafe { nix::libc::_exit(0) }
}

fn run_chart(args: &RenderArgs, request: &Request) -> Result<(), RenderError> {
    let out = request
        .render_chart(&Target::Local)
        .map_err(RenderError::Manifest)?;
    let text = match args.output {
        Format::Yaml => out.to_yaml_stream(),
        Format::Json => {
            let crds = out.crds.iter().filter(|_| out.include_crds);
            let all: Vec<serde_json::Value> = crds
                .chain(&out.manifests)
                .chain(&out.hooks)
                .map(|m| m.body())
                .collect();
            let mut s = serde_json::to_string_pretty(&all).expect("JSON values serialize");
            s.push('\n');
            s
        }
    };
    print_and_end(&text)
}

fn write_stdout(text: &str) -> Result<(), RenderError> {
    widen_pipe(text.len());
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| RenderError::Output(format!("cannot write output: {e}"))),
    }
}

/// Lets a pipe on stdout take the whole output at once (up to 1 MiB, the unprivileged limit)
/// rather than 64 KiB at a time, each waiting for the reader to drain it. Nothing happens for
/// a file or a terminal, or where the kernel refuses.
fn widen_pipe(len: usize) {
    use std::os::fd::AsRawFd;
    let fd = std::io::stdout().as_raw_fd();
    let size = len.clamp(64 * 1024, 1 << 20) as nix::libc::c_int;
    // SAFETY: F_SETPIPE_SZ on our own stdout changes only its buffer size; errors are ignored.
    unsafe { nix::libc::fcntl(fd, nix::libc::F_SETPIPE_SZ, size) };
}
