//! The `prefdissect` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use prefdissect::config::FitConfig;
use prefdissect::load::Selection;
use prefdissect::{Result, bench, demo, run, simulate};

/// Batch compute engine for dissecting what LLM judges and humans prefer.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Fit every judge × group × fold of a data set in the authors' format.
    Fit {
        /// Data directory: resolved.jsonl, query_aware_idxs.json, labels/<judge>.json.
        #[arg(long)]
        data: PathBuf,
        /// Output directory (created; files in it are replaced atomically).
        #[arg(long)]
        out: PathBuf,
        /// Settings file (configs/*.json); flags override it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Judges to fit (comma-separated file stems); default all.
        #[arg(long, value_delimiter = ',')]
        judges: Option<Vec<String>>,
        /// Groups to fit (comma-separated); default all 16.
        #[arg(long, value_delimiter = ',')]
        groups: Option<Vec<String>>,
        #[command(flatten)]
        settings: FitConfig,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Write a paper-shaped synthetic data set with known true weights.
    Simulate {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Simulate + fit all 5,280 MAP models into ./prefdissect-demo and print a table per judge.
    Demo {
        /// Where to put the data and the fit.
        #[arg(long, default_value = "prefdissect-demo")]
        dir: PathBuf,
        /// Simulator seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Compare posterior means with the authors' numpyro runs on the dev data (z-scores).
    Fidelity {
        /// The dev data directory (with numpyro/*.json).
        #[arg(long, default_value = "../shared/data/dev")]
        dev: PathBuf,
        /// Chains per fit.
        #[arg(long, default_value_t = 4)]
        chains: usize,
        /// Warm-up iterations.
        #[arg(long, default_value_t = 500)]
        warmup: usize,
        /// Draws per chain.
        #[arg(long, default_value_t = 2000)]
        draws: usize,
        /// Leapfrog steps per iteration.
        #[arg(long, default_value_t = 5)]
        leapfrog_steps: usize,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Only the first N (judge, group) pairs of each file.
        #[arg(long)]
        limit: Option<usize>,
        /// Also write the full report (every weight's Δ and z) as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Time the full MAP job and the fused kernel against an SGEMM and the burn reference.
    Bench {
        /// Timed runs of the full job (median reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Simulator seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Folds.
        #[arg(long, default_value_t = 10)]
        folds: usize,
        /// Skip the (slow) burn plain-ops reference pass.
        #[arg(long)]
        no_reference: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: Command) -> Result<()> {
    match command {
        Command::Fit {
            data,
            out,
            config,
            judges,
            groups,
            settings: flags,
            quiet,
        } => {
            let base = match &config {
                Some(path) => FitConfig::read(path)?,
                None => FitConfig::default(),
            };
            let req = run::FitRequest {
                data,
                out: out.clone(),
                selection: Selection { judges, groups },
                config: base.overridden_by(&flags),
                progress: !quiet,
            };
            let outcome = run::fit(&req)?;
            let s = &outcome.summary;
            eprintln!(
                "fitted {} models ({} judges × {} groups × {} folds, {}) on {} in {:.3} s; wrote {}",
                s["counts"]["fits"],
                s["counts"]["judges"],
                s["counts"]["groups"],
                s["settings"]["folds"],
                s["settings"]["estimator"].as_str().unwrap_or("?"),
                s["backend"].as_str().unwrap_or("?"),
                s["timings_s"]["solve"].as_f64().unwrap_or(0.0),
                out.display()
            );
            for w in &outcome.warnings {
                eprintln!("warning: {w}");
            }
            Ok(())
        }
        Command::Simulate { out, seed } => {
            let sim = simulate::simulate(seed);
            simulate::write_simulated(&sim, &out, seed)?;
            eprintln!(
                "wrote a simulated data set ({} samples, {} groups, {} judges) to {}",
                sim.records.len(),
                sim.groups.len(),
                sim.labels.len(),
                out.display()
            );
            Ok(())
        }
        Command::Demo { dir, seed } => {
            let (rows, summary) = demo::demo(&dir, seed)?;
            println!("{}", demo::render(&rows));
            println!(
                "{} MAP fits in {:.3} s ({}); data in {}/data, fit in {}/fit",
                summary["counts"]["fits"],
                summary["timings_s"]["solve"].as_f64().unwrap_or(0.0),
                summary["backend"].as_str().unwrap_or("?"),
                dir.display(),
                dir.display()
            );
            Ok(())
        }
        Command::Fidelity {
            dev,
            chains,
            warmup,
            draws,
            leapfrog_steps,
            seed,
            limit,
            json,
        } => {
            let params = prefdissect::solve::hmc::HmcParams::new()
                .chains(chains)
                .warmup(warmup)
                .draws(draws)
                .leapfrog_steps(leapfrog_steps)
                .seed(seed)
                .check()?;
            let report = prefdissect::fidelity::compare(&dev, &params, limit)?;
            print!("{}", prefdissect::fidelity::render(&report));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&report).expect("json");
                prefdissect::report::write_atomic(&path, text.as_bytes())?;
            }
            Ok(())
        }
        Command::Bench {
            runs,
            seed,
            folds,
            no_reference,
        } => {
            let report = bench::run(&bench::BenchRequest {
                runs,
                seed,
                folds,
                reference: !no_reference,
            })?;
            println!("{}", serde_json::to_string_pretty(&report).expect("json"));
            Ok(())
        }
    }
}
