//! Best-of-N (or worst-of-N) selection: each model scores every candidate of a prompt and picks
//! its highest (or lowest) — the training-based lever of the paper's manipulation experiment,
//! without fine-tuning an LLM.

use serde::Serialize;

use super::io::Candidates;
use super::model::Reranker;

/// Which end of a model's ranking to take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Pick {
    /// The highest score (what the model's training labels favour).
    #[default]
    Best,
    /// The lowest score.
    Worst,
}

/// Index of the highest (or lowest) score; the first on ties.
pub fn pick(scores: &[f32], which: Pick) -> usize {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        let better = match which {
            Pick::Best => s > scores[best],
            Pick::Worst => s < scores[best],
        };
        if better {
            best = i;
        }
    }
    best
}

/// One model's choice for one prompt.
#[derive(Clone, Debug, Serialize)]
pub struct Selection {
    /// Line of the candidates file (0-based record index).
    pub prompt_index: usize,
    /// Model name.
    pub model: String,
    /// Index of the picked candidate.
    pub pick: usize,
    /// The model's score of every candidate.
    pub scores: Vec<f32>,
}

/// Every selected model's pick for every prompt, scoring all candidates of all prompts in one
/// batched pass.
pub fn select(
    reranker: &Reranker,
    candidates: &[Candidates],
    models: &[usize],
    which: Pick,
) -> Vec<Selection> {
    let texts: Vec<(&str, &str)> = candidates
        .iter()
        .flat_map(|c| c.responses.iter().map(|r| (c.prompt.as_str(), r.as_str())))
        .collect();
    let all = reranker.score(&texts);
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in candidates.iter().enumerate() {
        let end = start + c.responses.len();
        for &m in models {
            let scores = all[m][start..end].to_vec();
            out.push(Selection {
                prompt_index: i,
                model: reranker.manifest.names[m].clone(),
                pick: pick(&scores, which),
                scores,
            });
        }
        start = end;
    }
    out
}
