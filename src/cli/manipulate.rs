//! The `manipulate` commands: prompts from a judge's preferences, judge-labelled pairs, and the
//! simulated end-to-end reranker experiment.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::rerank::RerankSettings;
use crate::Result;
use crate::base::device::tensor_device;
use crate::base::error::Error;
use crate::load::Selection;

/// The `manipulate` subcommands.
#[derive(Subcommand)]
pub enum Manipulate {
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
        /// Properties per direction [default: 3, or half the properties when fewer than 6].
        #[arg(long)]
        k: Option<usize>,
        /// Write the JSON here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Label every pair with the judge's model, keep the confident ones, invert for "against".
    Pairs {
        /// The data: a pairs table (.parquet or .csv), or the authors' directory.
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
        direction: crate::manipulate::pairs::Direction,
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
    Simulate(SimulateArgs),
}

impl Manipulate {
    /// Runs the chosen experiment.
    pub fn run(self) -> Result<()> {
        let what = self;
        use crate::analyse::fitted::FittedWeights;
        use crate::manipulate::{pairs, prompts};
        match what {
            Manipulate::Prompts {
                fit,
                judge,
                group,
                k,
                out,
            } => {
                let fw = FittedWeights::read(&fit)?;
                let k = k.unwrap_or_else(|| (fw.k() / 2).clamp(1, 3));
                let p = prompts::prompts(&fw, &judge, group.as_deref(), k)?;
                let text = serde_json::to_string_pretty(&p).expect("json") + "\n";
                match out {
                    Some(path) => crate::base::atomic::write_atomic(&path, text.as_bytes())?,
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
                let data = crate::load::Dataset::load(
                    &data,
                    &Selection {
                        judges: Some(Vec::new()),
                        groups: None,
                    },
                )?;
                let (kept, labelled) =
                    pairs::label_pairs(&data, &fw, &judge, group.as_deref(), margin, direction)?;
                let text = pairs::render(&kept, texts.as_deref())?;
                crate::base::atomic::write_atomic(&out, text.as_bytes())?;
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
}

/// Flags of `manipulate simulate`.
#[derive(Args)]
pub struct SimulateArgs {
    /// Judges' weights: a `fit` output or a directory of `model_<group>_fitted_paras.jsonl`
    /// files [default: the simulator's true weights for the paper's 33 judges].
    #[arg(long)]
    pub fit: Option<PathBuf>,
    /// Use this group's weights [default: the mean over the scenario groups].
    #[arg(long)]
    pub group: Option<String>,
    /// Only these judges (comma-separated) [default: all].
    #[arg(long, value_delimiter = ',')]
    pub judges: Vec<String>,
    /// Simulated prompts (half train the rerankers, half test them).
    #[arg(long, default_value_t = 400)]
    pub prompts: usize,
    /// Candidates per prompt.
    #[arg(long, default_value_t = 8)]
    pub candidates: usize,
    /// Drop judge labels within 0.5 ± margin.
    #[arg(long, default_value_t = 0.15)]
    pub margin: f64,
    /// How unreliably a simulated text shows its ratings: each phrase is left out with this
    /// probability, and a stray one slips in with half of it.
    #[arg(long, default_value_t = 0.2)]
    pub text_noise: f64,
    /// Seed of the simulated prompts (and of the simulator's weights without --fit).
    #[arg(long = "data-seed", default_value_t = 0)]
    pub data_seed: u64,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    // No doc comment: clap would print it in --help.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub settings: RerankSettings,
}

impl SimulateArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        use crate::manipulate::experiment::{
            ExperimentRequest, judge_models, run_experiment, simulated_judge_models,
        };
        use crate::manipulate::experiment_report::{table, write_outputs};
        let params = self.settings.params()?;
        let (device, backend) = tensor_device(self.settings.backend);
        let mut judges = match &self.fit {
            Some(dir) => judge_models(
                &crate::analyse::fitted::FittedWeights::read(dir)?,
                self.group.as_deref(),
            )?,
            None => simulated_judge_models(self.data_seed),
        };
        if !self.judges.is_empty() {
            for j in &self.judges {
                if !judges.iter().any(|(n, _)| n == j) {
                    return Err(Error::Setting {
                        name: "judges",
                        message: format!("no weights for judge `{j}`"),
                    });
                }
            }
            judges.retain(|(n, _)| self.judges.contains(n));
        }
        eprintln!(
            "{} judges × 2 directions = {} rerankers, trained in one batch on {backend}",
            judges.len(),
            2 * judges.len()
        );
        let req = ExperimentRequest {
            judges,
            prompts: self.prompts,
            candidates: self.candidates,
            margin: self.margin,
            text_noise: self.text_noise,
            params: params.clone(),
            seed: self.data_seed,
        };
        let outcome = run_experiment(&req, &device, &backend)?;
        for why in &outcome.skipped {
            eprintln!("warning: {why}");
        }
        print!("{}", table(&outcome));
        let settings = serde_json::json!({
            "fit": self.fit,
            "group": self.group,
            "prompts": self.prompts,
            "candidates": self.candidates,
            "margin": self.margin,
            "text_noise": self.text_noise,
            "data_seed": self.data_seed,
            "reranker": params,
        });
        write_outputs(&outcome, &self.out, settings)?;
        eprintln!("wrote {}", self.out.display());
        Ok(())
    }
}
