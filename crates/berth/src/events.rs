//! `berth events [SERVICE]`: what happened, from the running `berth up`'s timeline, or with
//! `--context` from the cluster's Events and the set's releases.

use crate::cluster::SetFlags;
use crate::status::Format;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Only this service's events.
    service: Option<String>,
    /// The deploy folder a `berth up` runs for.
    #[arg(short = 'C', long = "dir", default_value = ".")]
    dir: PathBuf,
    #[command(flatten)]
    cluster: SetFlags,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Format,
}

pub fn events(args: EventsArgs) -> anyhow::Result<()> {
    let service = args.service.as_deref();
    let events = if args.cluster.given() {
        crate::cluster::runtime()?.block_on(async {
            let (cluster, set) = args.cluster.connect().await?;
            let got = berth_kube::events::of_set(&cluster.client, &cluster.context, &set, service);
            anyhow::Ok(got.await.map_err(|e| cluster.locate(e))?)
        })?
    } else {
        let client = crate::control::client_if_running(&args.dir)
            .ok_or_else(|| anyhow::anyhow!(crate::control::not_running(&args.dir)))?;
        client.timeline(service)?
    };
    let mut out = anstream::stdout();
    if args.output == Format::Json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&events)?);
    } else {
        events.iter().for_each(|e| drop(writeln!(out, "{e}")));
    }
    Ok(())
}
