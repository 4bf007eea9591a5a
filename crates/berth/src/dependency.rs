//! `berth dependency list|update|build CHART`: a chart's dependencies from repositories and
//! registries, as Helm's commands of the same names (the work is `berth_chart::pull::dependency`).

use crate::render::PullFlags;
use berth_chart::pull::dependency;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DependencyArgs {
    #[command(subcommand)]
    command: DependencyCommand,
}

#[derive(Subcommand, Debug)]
enum DependencyCommand {
    /// List the dependencies of CHART and whether charts/ holds them.
    List {
        /// The chart folder.
        chart: PathBuf,
    },
    /// Resolve the dependencies anew, pull them into charts/ and write Chart.lock.
    Update(Pull),
    /// Pull the versions Chart.lock names into charts/ (as update when there is no lock).
    Build(Pull),
}

#[derive(Args, Debug)]
struct Pull {
    /// The chart folder.
    chart: PathBuf,
    /// Read named repositories' indexes from Helm's cache (what `helm repo update` wrote)
    /// instead of afresh.
    #[arg(long)]
    skip_refresh: bool,
    #[command(flatten)]
    pull: PullFlags,
}

impl Pull {
    fn options(&self) -> berth_chart::pull::PullOptions {
        berth_chart::pull::PullOptions {
            refresh: !self.skip_refresh,
            ..self.pull.options(None)
        }
    }
}

pub fn run(args: DependencyArgs) -> anyhow::Result<()> {
    match args.command {
        DependencyCommand::List { chart } => {
            let rows = dependency::list(&chart)?;
            let mut table = vec![["NAME", "VERSION", "REPOSITORY", "STATUS"].map(String::from)];
            table.extend(
                rows.into_iter()
                    .map(|r| [r.name, r.version, r.repository, r.status]),
            );
            for row in &table {
                let widths = (0..4).map(|i| table.iter().map(|r| r[i].len()).max().unwrap_or(0));
                let cells: Vec<String> = row
                    .iter()
                    .zip(widths)
                    .map(|(c, w)| format!("{c:w$}"))
                    .collect();
                println!("{}", cells.join("  ").trim_end());
            }
            Ok(())
        }
        DependencyCommand::Update(p) => report(dependency::update(&p.chart, &p.options())?),
        DependencyCommand::Build(p) => report(dependency::build(&p.chart, &p.options())?),
    }
}

fn report(locked: dependency::Locked) -> anyhow::Result<()> {
    eprintln!("Saving {} charts", locked.written.len());
    for (name, version, repository) in &locked.dependencies {
        if !repository.is_empty() {
            eprintln!("  {name} {version} from {repository}");
        }
    }
    eprintln!("Chart.lock: {}", locked.digest);
    Ok(())
}
