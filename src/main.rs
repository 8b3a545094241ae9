//! The `prefdissect` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod rerank_commands;

use prefdissect::config::{Estimator, EstimatorSettings, FitConfig};
use prefdissect::load::Selection;
use prefdissect::{Result, demo, run, simulate};

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
        /// Where the solvers run: `auto` (the CPU for now, see README), `cpu`, or `wgpu`
        /// (Vulkan; falls back to the CPU with a warning when no adapter comes up).
        #[arg(long, value_enum, default_value = "auto")]
        backend: prefdissect::device::BackendChoice,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Bootstrap CIs for every judge × group model (and the probabilities and similarities
    /// read from them) in one batched job.
    Bootstrap {
        /// Data directory: resolved.jsonl, query_aware_idxs.json, labels/<judge>.json.
        #[arg(long)]
        data: PathBuf,
        /// Output directory: bootstrap_ci.csv, bootstrap_ci.json, summary.json.
        #[arg(long)]
        out: PathBuf,
        /// Replicates per model.
        #[arg(long)]
        replicates: usize,
        /// Settings file (configs/*.json) for the estimator; flags override it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Judges (comma-separated file stems); default all.
        #[arg(long, value_delimiter = ',')]
        judges: Option<Vec<String>>,
        /// Groups (comma-separated); default all 16.
        #[arg(long, value_delimiter = ',')]
        groups: Option<Vec<String>>,
        /// Resample rows with independent Poisson(1) counts instead of multinomially.
        #[arg(long)]
        poisson: bool,
        /// Resampling scheme (`--poisson` is short for `--resampling poisson`).
        #[arg(
            long,
            value_enum,
            default_value = "multinomial",
            conflicts_with = "poisson"
        )]
        resampling: prefdissect::bootstrap::Resampling,
        /// Coverage of the intervals.
        #[arg(long, default_value_t = 0.95)]
        level: f64,
        /// Also compute BCa intervals (acceleration from a delete-a-group jackknife).
        #[arg(long)]
        bca: bool,
        /// Groups of that jackknife.
        #[arg(long, default_value_t = 20)]
        jackknife_groups: usize,
        /// Memory for the kept replicates and those in flight (e.g. 512MiB, 4GiB).
        #[arg(long, default_value = "1GiB", value_parser = prefdissect::bootstrap::parse_size)]
        memory_budget: u64,
        /// Continue from the checkpoint an interrupted run left in OUT.
        #[arg(long)]
        resume: bool,
        /// Where the solvers run: `auto` (the CPU for now), `cpu`, or `wgpu`.
        #[arg(long, value_enum, default_value = "auto")]
        backend: prefdissect::device::BackendChoice,
        #[command(flatten)]
        settings: FitConfig,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Tables from fitted weights (a fit output or the paper's released files): probability of
    /// preferred, judge similarity, most/least preferred properties.
    Analyze(commands::AnalyzeArgs),
    /// Exact Shapley values of judges' models for samples (baseline: no property differs).
    Shap(commands::ShapArgs),
    /// A new judge's labels from its log-probabilities of "A"/"B" in both orders (the paper's
    /// rule: score_A = logp_AB(A) + logp_BA(B), score_B = logp_AB(B) + logp_BA(A)).
    Labels(commands::LabelsArgs),
    /// One self-contained HTML page: dissection chart, similarity heatmap, tables, a SHAP
    /// waterfall.
    Report(commands::ReportArgs),
    /// The paper's manipulation experiments: prompts, judge-labelled pairs, and the simulated
    /// end-to-end reranker experiment.
    Manipulate {
        #[command(subcommand)]
        what: Manipulate,
    },
    /// Small preference-aligned response rerankers: train (batched) and pick best-of-N.
    Rerank {
        #[command(subcommand)]
        what: rerank_commands::RerankCommand,
    },
    /// Check the bootstrap on simulated data: bootstrap sd vs the true sampling sd over fresh
    /// data sets, and interval coverage per property.
    Calibrate(commands::CalibrateArgs),
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
        /// Where the fits run.
        #[arg(long, value_enum, default_value = "auto")]
        backend: prefdissect::device::BackendChoice,
    },
    /// Compare posterior means with the authors' numpyro runs on the dev data (z-scores).
    Fidelity {
        /// The dev data directory (with numpyro/*.json).
        #[arg(long, default_value = "../shared/data/dev")]
        dev: PathBuf,
        /// Sampler settings file (configs/paper.json, configs/fast.json); the flags below
        /// override it [default: the paper's settings].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Chains per fit.
        #[arg(long)]
        chains: Option<usize>,
        /// Warm-up iterations.
        #[arg(long)]
        warmup: Option<usize>,
        /// Draws per chain.
        #[arg(long)]
        draws: Option<usize>,
        /// Leapfrog steps per iteration.
        #[arg(long)]
        leapfrog_steps: Option<usize>,
        /// Seed.
        #[arg(long)]
        seed: Option<u64>,
        /// What moves an HMC trajectory (`surrogate` or `exact`).
        #[arg(long, value_enum)]
        trajectory: Option<prefdissect::solve::hmc::Trajectory>,
        /// Only the first N (judge, group) pairs of each file.
        #[arg(long)]
        limit: Option<usize>,
        /// Also write the full report (every weight's Δ and z) as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Where our fits run (`wgpu` checks the GPU path against the authors' runs).
        #[arg(long, value_enum, default_value = "cpu")]
        backend: prefdissect::device::BackendChoice,
    },
    /// Time the full MAP job and the fused kernel against an SGEMM and the burn reference
    /// (or, with --rerank, the batched rerankers; with --table, the same jobs per backend).
    Bench(commands::BenchArgs),
}

#[derive(Subcommand)]
enum Manipulate {
    /// System messages asking a model to show a judge's k most ("align") and k least
    /// ("against") preferred properties (JSON on stdout or --out).
    Prompts {
        /// A `fit` output directory, or a directory of `model_<group>_fitted_paras.jsonl` files.
        #[arg(long)]
        fit: PathBuf,
        /// The judge.
        #[arg(long)]
        judge: String,
        /// Use this group's weights [default: the mean over the scenario groups].
        #[arg(long)]
        group: Option<String>,
        /// Properties per direction.
        #[arg(long, default_value_t = 3)]
        k: usize,
        /// Write the JSON here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Label every pair with the judge's model, keep the confident ones, invert for "against".
    Pairs {
        /// Data directory (resolved.jsonl, query_aware_idxs.json).
        #[arg(long)]
        data: PathBuf,
        /// A `fit` output directory, or a directory of `model_<group>_fitted_paras.jsonl` files.
        #[arg(long)]
        fit: PathBuf,
        /// The judge.
        #[arg(long)]
        judge: String,
        /// Drop pairs whose predicted probability is within 0.5 ± margin.
        #[arg(long, default_value_t = 0.15)]
        margin: f64,
        /// Chosen = the judge's preferred response (align) or the other (against).
        #[arg(long, value_enum, default_value = "align")]
        direction: prefdissect::manipulate::pairs::Direction,
        /// Use this group's weights for every sample [default: each sample's scenario group].
        #[arg(long)]
        group: Option<String>,
        /// The authors' source records (prompt, response_a, response_b), one per sample: write
        /// DPO-ready {prompt, chosen, rejected} lines.
        #[arg(long)]
        texts: Option<PathBuf>,
        /// Output JSON Lines.
        #[arg(long)]
        out: PathBuf,
    },
    /// End-to-end experiment without an LLM: judges label simulated candidates, one batched
    /// run trains an aligned and an against reranker per judge, and their picks' win rates
    /// against a baseline are measured under every judge.
    Simulate(rerank_commands::SimulateArgs),
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
            backend,
            quiet,
        } => {
            let req = run::FitRequest {
                data,
                out: out.clone(),
                selection: Selection { judges, groups },
                config: FitConfig::load(config.as_deref(), &flags)?,
                progress: !quiet,
                backend,
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
        Command::Bootstrap {
            data,
            out,
            replicates,
            config,
            judges,
            groups,
            poisson,
            resampling,
            level,
            bca,
            jackknife_groups,
            memory_budget,
            resume,
            backend,
            settings: flags,
            quiet,
        } => {
            let config = FitConfig::load(config.as_deref(), &flags)?;
            let resampling = if poisson {
                prefdissect::bootstrap::Resampling::Poisson
            } else {
                resampling
            };
            let params = prefdissect::bootstrap::BootstrapParams::new()
                .replicates(replicates)
                .resampling(resampling)
                .level(level)
                .bca(bca)
                .jackknife_groups(jackknife_groups)
                .memory_budget(memory_budget)
                .seed(config.seed.unwrap_or(0))
                .check()?;
            let req = prefdissect::bootstrap::BootstrapRequest {
                data,
                out: out.clone(),
                selection: Selection { judges, groups },
                config,
                params,
                resume,
                progress: !quiet,
                stop_after_chunks: None,
                backend,
            };
            let outcome = prefdissect::bootstrap::bootstrap(&req)?;
            let s = &outcome.summary;
            eprintln!(
                "bootstrapped {} models × {} replicates ({} fits, {}) in {:.2} s ({:.0} replicate fits/s); wrote {}",
                s["counts"]["models"],
                s["counts"]["replicates"],
                s["counts"]["replicate_fits"],
                s["settings"]["estimator"]["estimator"]
                    .as_str()
                    .unwrap_or("?"),
                s["timings_s"]["total_this_call"].as_f64().unwrap_or(0.0),
                s["throughput"]["replicate_fits_per_s"]
                    .as_f64()
                    .unwrap_or(0.0),
                out.display()
            );
            for w in &outcome.warnings {
                eprintln!("warning: {w}");
            }
            Ok(())
        }
        Command::Analyze(args) => args.run(),
        Command::Shap(args) => args.run(),
        Command::Labels(args) => args.run(),
        Command::Report(args) => args.run(),
        Command::Manipulate { what } => manipulate(what),
        Command::Rerank { what } => what.run(),
        Command::Calibrate(args) => args.run(),
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
        Command::Demo { dir, seed, backend } => {
            let (rows, summary) = demo::demo(&dir, seed, backend)?;
            println!("{}", demo::render(&rows));
            println!(
                "{} MAP fits in {:.3} s ({}); data in {}/data, fit in {}/fit; open {}/report.html",
                summary["counts"]["fits"],
                summary["timings_s"]["solve"].as_f64().unwrap_or(0.0),
                summary["backend"].as_str().unwrap_or("?"),
                dir.display(),
                dir.display(),
                dir.display()
            );
            Ok(())
        }
        Command::Fidelity {
            dev,
            config,
            chains,
            warmup,
            draws,
            leapfrog_steps,
            seed,
            trajectory,
            limit,
            json,
            backend,
        } => {
            let flags = FitConfig {
                chains,
                warmup,
                draws,
                leapfrog_steps,
                seed,
                trajectory,
                ..FitConfig::default()
            };
            let settings = FitConfig::load(config.as_deref(), &flags)?;
            let params = match settings.estimator_settings(Estimator::PosteriorMean)? {
                EstimatorSettings::Posterior(p) => p,
                EstimatorSettings::Map(_) => {
                    return Err(prefdissect::error::Error::Setting {
                        name: "estimator",
                        message: "fidelity compares posterior means; the config asks for the MAP"
                            .into(),
                    });
                }
            };
            // 68 fits: never enough for `auto` to start a GPU.
            let (engine, selected) = prefdissect::solve::EngineBackend::select(backend, 0);
            if let Some(w) = &selected.warning {
                eprintln!("warning: {w}");
            }
            let report = prefdissect::fidelity::compare_on(&dev, &params, limit, &engine)?;
            print!("{}", prefdissect::fidelity::render(&report));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&report).expect("json");
                prefdissect::report::write_atomic(&path, text.as_bytes())?;
            }
            Ok(())
        }
        Command::Bench(args) => args.run(),
    }
}

fn manipulate(what: Manipulate) -> Result<()> {
    use prefdissect::analyse::fitted::FittedWeights;
    use prefdissect::manipulate::{pairs, prompts};
    match what {
        Manipulate::Prompts {
            fit,
            judge,
            group,
            k,
            out,
        } => {
            let fw = FittedWeights::read(&fit)?;
            let p = prompts::prompts(&fw, &judge, group.as_deref(), k)?;
            let text = serde_json::to_string_pretty(&p).expect("json") + "\n";
            match out {
                Some(path) => prefdissect::report::write_atomic(&path, text.as_bytes())?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Manipulate::Pairs {
            data,
            fit,
            judge,
            margin,
            direction,
            group,
            texts,
            out,
        } => {
            let fw = FittedWeights::read(&fit)?;
            let data = prefdissect::load::Dataset::load(
                &data,
                &Selection {
                    judges: Some(Vec::new()),
                    groups: None,
                },
            )?;
            let (kept, labelled) =
                pairs::label_pairs(&data, &fw, &judge, group.as_deref(), margin, direction)?;
            let text = pairs::render(&kept, texts.as_deref())?;
            prefdissect::report::write_atomic(&out, text.as_bytes())?;
            eprintln!(
                "{judge}, {direction:?}: kept {} of {labelled} pairs (|P(A) - 0.5| > {margin}); wrote {}",
                kept.len(),
                out.display()
            );
            Ok(())
        }
        Manipulate::Simulate(args) => args.run(),
    }
}
