//! The binary's handlers of `rerank train`, `rerank select` and `manipulate simulate`: their
//! flags (clap `Args`) and what each does with them.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::Result;
use crate::base::atomic::write_atomic;
use crate::base::device::{BackendChoice, tensor_device};
use crate::base::error::Error;
use crate::rerank::io::{TextTable, read_candidates, read_pairs};
use crate::rerank::model::Reranker;
use crate::rerank::params::{RerankParams, ValidRerankParams};
use crate::rerank::select::{Pick, select};
use crate::rerank::text_features::Featurizer;
use crate::rerank::train::{PairSet, pair_accuracy, train};

/// Reranker settings shared by `rerank train` and `manipulate simulate`.
#[derive(Args)]
pub struct RerankSettings {
    /// Hash buckets of the word/bigram bag.
    #[arg(long, default_value_t = 1024)]
    pub buckets: usize,
    /// Embedding width.
    #[arg(long, default_value_t = 8)]
    pub embed: usize,
    /// Hidden units.
    #[arg(long, default_value_t = 16)]
    pub hidden: usize,
    /// Full-batch Adam steps.
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 0.02)]
    pub learning_rate: f64,
    /// L2 penalty per model.
    #[arg(long, default_value_t = 1e-4)]
    pub l2: f64,
    /// Seed of the initial weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the tensors run.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
}

impl RerankSettings {
    /// The settings checked into their validated type.
    pub fn params(&self) -> Result<ValidRerankParams> {
        RerankParams::new()
            .buckets(self.buckets)
            .embed(self.embed)
            .hidden(self.hidden)
            .steps(self.steps)
            .learning_rate(self.learning_rate)
            .l2(self.l2)
            .seed(self.seed)
            .check()
    }
}

/// `rerank` subcommands.
#[derive(Subcommand)]
pub enum RerankCommand {
    /// Train rerankers on DPO-ready pairs (`manipulate pairs --texts` output), all in one
    /// batched run.
    Train(TrainArgs),
    /// Pick the best (or worst) of N candidates per prompt with trained rerankers.
    Select(SelectArgs),
}

/// Flags of `rerank train`.
#[derive(Args)]
pub struct TrainArgs {
    /// `NAME=FILE` (or `FILE`, named by its stem): one model per pairs file; repeat the flag.
    #[arg(long = "pairs", required = true)]
    pub pairs: Vec<String>,
    /// Model directory to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Share of prompts whose pairs are held out to measure accuracy.
    #[arg(long, default_value_t = 0.1)]
    pub holdout: f64,
    // No doc comment: clap would print it in --help.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub settings: RerankSettings,
}

/// Flags of `rerank select`.
#[derive(Args)]
pub struct SelectArgs {
    /// Model directory (`rerank train --out`).
    #[arg(long)]
    pub model: PathBuf,
    /// JSON Lines: `{"prompt": …, "responses": [ … ]}` per prompt.
    #[arg(long)]
    pub candidates: PathBuf,
    /// Models to use (repeat) [default: all in the directory].
    #[arg(long = "reranker")]
    pub rerankers: Vec<String>,
    /// Take each model's best or worst candidate.
    #[arg(long, value_enum, default_value = "best")]
    pub pick: Pick,
    /// Where the tensors run.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
    /// Write the picks (JSON Lines) here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn prompt_held_out(prompt: &str, share: f64) -> bool {
    let h = crate::base::fingerprint::fnv(0xcbf2_9ce4_8422_2325, prompt.as_bytes());
    ((h >> 11) as f64 / (1u64 << 53) as f64) < share
}

impl RerankCommand {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        match self {
            RerankCommand::Train(a) => a.run(),
            RerankCommand::Select(a) => a.run(),
        }
    }
}

impl TrainArgs {
    fn run(self) -> Result<()> {
        let params = self.settings.params()?;
        if !(0.0..0.9).contains(&self.holdout) {
            return Err(Error::Setting {
                name: "holdout",
                message: format!("must be in [0, 0.9), got {}", self.holdout),
            });
        }
        let (device, backend) = tensor_device(self.settings.backend);
        let mut table = TextTable::default();
        let mut sets = Vec::new();
        let mut held = Vec::new();
        for spec in &self.pairs {
            let (name, path) = match spec.split_once('=') {
                Some((n, p)) => (n.to_string(), PathBuf::from(p)),
                None => {
                    let p = PathBuf::from(spec);
                    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or(spec);
                    (stem.to_string(), p)
                }
            };
            if sets.iter().any(|s: &PairSet| s.name == name) {
                return Err(Error::Setting {
                    name: "pairs",
                    message: format!("model name `{name}` given twice"),
                });
            }
            let all = read_pairs(&path, &mut table)?;
            let (test, train): (Vec<_>, Vec<_>) = all
                .into_iter()
                .partition(|&(c, _)| prompt_held_out(&table.texts[c as usize].0, self.holdout));
            eprintln!(
                "{name}: {} training pairs, {} held out, from {}",
                train.len(),
                test.len(),
                path.display()
            );
            sets.push(PairSet { name, pairs: train });
            held.push(test);
        }
        let refs = table.as_refs();
        let featurizer = Featurizer::fit(params.buckets, &refs);
        let matrix = featurizer.matrix(&refs);
        eprintln!(
            "training {} rerankers on {} distinct texts, batched, on {backend}",
            sets.len(),
            matrix.n
        );
        let mut outcome = train(&featurizer, &matrix, &sets, &params, &device, &backend)?;
        let scores = outcome.reranker.score_matrix(&matrix);
        let mut report = Vec::new();
        for (i, s) in sets.iter().enumerate() {
            let acc = pair_accuracy(&scores[i], &held[i]);
            eprintln!(
                "{}: loss {:.4}, training accuracy {:.1}%, held-out accuracy {} ({} pairs)",
                s.name,
                outcome.loss[i],
                100.0 * outcome.train_accuracy[i],
                if acc.is_nan() {
                    "-".to_string()
                } else {
                    format!("{:.1}%", 100.0 * acc)
                },
                held[i].len()
            );
            report.push(serde_json::json!({
                "name": s.name,
                "training_pairs": s.pairs.len(),
                "heldout_pairs": held[i].len(),
                "loss": outcome.loss[i],
                "training_accuracy": outcome.train_accuracy[i],
                "heldout_accuracy": if acc.is_nan() { None } else { Some(acc) },
            }));
        }
        outcome.reranker.manifest.training = serde_json::json!({
            "seconds": outcome.seconds,
            "holdout": self.holdout,
            "models": report,
        });
        outcome.reranker.save(&self.out)?;
        eprintln!(
            "trained in {:.1} s; wrote {}",
            outcome.seconds,
            self.out.display()
        );
        Ok(())
    }
}

impl SelectArgs {
    fn run(self) -> Result<()> {
        let (device, _) = tensor_device(self.backend);
        let reranker = Reranker::load(&self.model, &device)?;
        let models: Vec<usize> = if self.rerankers.is_empty() {
            (0..reranker.manifest.names.len()).collect()
        } else {
            self.rerankers
                .iter()
                .map(|n| {
                    reranker.index_of(n).ok_or_else(|| Error::Setting {
                        name: "reranker",
                        message: format!(
                            "`{n}` is not in {} (has: {})",
                            self.model.display(),
                            reranker.manifest.names.join(", ")
                        ),
                    })
                })
                .collect::<Result<_>>()?
        };
        let candidates = read_candidates(&self.candidates)?;
        let picks = select(&reranker, &candidates, &models, self.pick);
        let mut text = String::new();
        for p in &picks {
            text.push_str(&serde_json::to_string(p).expect("json"));
            text.push('\n');
        }
        match &self.out {
            Some(path) => {
                write_atomic(path, text.as_bytes())?;
                eprintln!(
                    "{} picks ({} prompts × {} models) written to {}",
                    picks.len(),
                    candidates.len(),
                    models.len(),
                    path.display()
                );
            }
            None => print!("{text}"),
        }
        Ok(())
    }
}
