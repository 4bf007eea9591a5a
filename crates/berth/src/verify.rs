//! `berth verify CHART.tgz`: checks a packaged chart against its provenance file, as `helm
//! verify` (the work is `berth_chart::provenance`).

use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The chart archive (NAME-VERSION.tgz, with NAME-VERSION.tgz.prov beside it).
    chart: PathBuf,
    /// Public keys to check the signature with (default: ~/.gnupg/pubring.gpg, as Helm).
    #[arg(long, value_name = "FILE")]
    keyring: Option<PathBuf>,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let verified = berth_chart::provenance::verify_file(&args.chart, args.keyring.as_deref())?;
    print!("{}", verified.report());
    Ok(())
}
