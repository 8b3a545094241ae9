//! The commands: one file per subcommand of `prefdissect`, each holding its clap arguments and
//! its run, so `src/main.rs` only parses and dispatches. Commands sit above everything else in
//! the crate (the pipeline, the features and the basics); nothing below imports them.

pub mod analyze;
pub mod bench;
pub mod bootstrap;
pub mod calibrate;
pub mod convert;
pub mod demo;
pub mod fidelity;
pub mod fit;
mod fit_job;
pub mod labels;
pub mod manipulate;
pub mod merge;
pub mod report;
pub mod rerank;
pub mod resolve;
pub mod shap;
pub mod simulate;

use clap::Subcommand;

use crate::Result;

/// Every subcommand of `prefdissect`.
#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Fit every judge × group × fold of a data set (a pairs table or the authors' directory).
    Fit(fit::FitArgs),
    /// Write any accepted input (the authors' directory, a pairs table) as a Parquet or CSV
    /// pairs table.
    Convert(convert::ConvertArgs),
    /// The authors' resolve step: GPT-4-Turbo's annotations of each pair (the authors'
    /// annotation files) to the data directory `fit --data` reads.
    Resolve(resolve::ResolveArgs),
    /// The outputs of a sharded job (`fit --shard K/N`, `bootstrap --shard K/N`) from all its
    /// shards' directories: the files of the unsharded run, byte for byte.
    Merge(merge::MergeArgs),
    /// Bootstrap CIs for every judge × group model (and the probabilities and similarities
    /// read from them) in one batched job.
    Bootstrap(bootstrap::BootstrapArgs),
    /// Tables from fitted weights (a fit output or the paper's released files): probability of
    /// preferred, judge similarity, most/least preferred properties.
    Analyze(analyze::AnalyzeArgs),
    /// Exact Shapley values of judges' models for samples (baseline: no property differs).
    Shap(shap::ShapArgs),
    /// A new judge's labels from its log-probabilities of "A"/"B" in both orders (the paper's
    /// rule: score_A = logp_AB(A) + logp_BA(B), score_B = logp_AB(B) + logp_BA(A)).
    Labels(labels::LabelsArgs),
    /// One self-contained HTML page: dissection chart, similarity heatmap, tables, a SHAP
    /// waterfall.
    Report(report::ReportArgs),
    /// The paper's manipulation experiments: prompts, judge-labelled pairs, and the simulated
    /// end-to-end reranker experiment.
    Manipulate {
        // No doc comment: clap would print it in --help.
        #[allow(missing_docs)]
        #[command(subcommand)]
        what: manipulate::Manipulate,
    },
    /// Small preference-aligned response rerankers: train (batched) and pick best-of-N.
    Rerank {
        // No doc comment: clap would print it in --help.
        #[allow(missing_docs)]
        #[command(subcommand)]
        what: rerank::RerankCommand,
    },
    /// Check the bootstrap on simulated data: bootstrap sd vs the true sampling sd over fresh
    /// data sets, and interval coverage per property.
    Calibrate(calibrate::CalibrateArgs),
    /// Write a paper-shaped synthetic data set with known true weights.
    Simulate(simulate::SimulateArgs),
    /// Simulate data, fit all 5,280 models (posterior mean on fast settings, and the MAP), bootstrap,
    /// analyse and report into ./prefdissect-demo, and print a table per judge.
    Demo(demo::DemoArgs),
    /// Compare posterior means with the authors' numpyro runs on the dev data (z-scores).
    Fidelity(fidelity::FidelityArgs),
    /// Time the full MAP job and the fused kernel against an SGEMM and the burn reference
    /// (or, with --rerank, the batched rerankers; with --table, the same jobs per backend).
    Bench(bench::BenchArgs),
}

impl Command {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        match self {
            Command::Fit(args) => args.run(),
            Command::Convert(args) => args.run(),
            Command::Resolve(args) => args.run(),
            Command::Merge(args) => args.run(),
            Command::Bootstrap(args) => args.run(),
            Command::Analyze(args) => args.run(),
            Command::Shap(args) => args.run(),
            Command::Labels(args) => args.run(),
            Command::Report(args) => args.run(),
            Command::Manipulate { what } => what.run(),
            Command::Rerank { what } => what.run(),
            Command::Calibrate(args) => args.run(),
            Command::Simulate(args) => args.run(),
            Command::Demo(args) => args.run(),
            Command::Fidelity(args) => args.run(),
            Command::Bench(args) => args.run(),
        }
    }
}
