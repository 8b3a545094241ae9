//! The reranker benchmark: the manipulation experiment's reranker set (every judge × both
//! directions) trained in one batch, and the same set trained one model at a time through the
//! same code, alternating in one process; medians, their ratio, the useful GFLOP/s, and the
//! largest score difference between the two (they should agree to f32 round-off).

use std::time::Instant;

use burn::tensor::Device;
use serde_json::{Value, json};

use crate::base::error::{Error, Result};
use crate::base::peak::sgemm_gflops;
use crate::base::stats::median;
use crate::manipulate::candidates::simulate_prompts;
use crate::manipulate::experiment::{pair_sets, simulated_judge_models};
use crate::rerank::io::TextTable;
use crate::rerank::params::ValidRerankParams;
use crate::rerank::text_features::{Featurizer, N_STATS, TextMatrix};
use crate::rerank::train::{PairSet, train};

/// What to time.
#[derive(Clone, Debug)]
pub struct RerankBenchRequest {
    /// Timed runs of each mode.
    pub runs: usize,
    /// Training prompts (8 candidates each).
    pub prompts: usize,
    /// Reranker settings (steps, sizes).
    pub params: ValidRerankParams,
    /// Seed of the simulated judges and prompts.
    pub seed: u64,
}

/// Useful floating-point work of one training step: the bag matmul forward and its weight
/// gradient, and the two MLP layers forward and backward.
pub fn step_flops(texts: usize, models: usize, p: &ValidRerankParams) -> f64 {
    let (t, m) = (texts as f64, models as f64);
    let bag = 2.0 * 2.0 * t * p.buckets as f64 * m * p.embed as f64;
    let mlp = 3.0 * 2.0 * m * t * ((p.embed + N_STATS) as f64 * p.hidden as f64 + p.hidden as f64);
    bag + mlp
}

/// The experiment's training data for the first `judges` simulated judges × both directions
/// over `prompts` prompts of 8 candidates.
pub fn training_set(
    judges: usize,
    prompts: usize,
    seed: u64,
    buckets: usize,
) -> (Featurizer, TextMatrix, Vec<PairSet>) {
    let prompts = simulate_prompts(prompts, 8, 0.2, seed);
    let judges: Vec<_> = simulated_judge_models(seed)
        .into_iter()
        .take(judges)
        .collect();
    let mut table = TextTable::default();
    let sets = pair_sets(&prompts, &judges, 0.15, &mut table)
        .into_iter()
        .map(|(set, _)| set)
        .collect();
    let refs = table.as_refs();
    let featurizer = Featurizer::fit(buckets, &refs);
    let matrix = featurizer.matrix(&refs);
    (featurizer, matrix, sets)
}

/// Batched training alone (for the backend table): `runs` timed runs after a warm-up, and the
/// useful FLOPs of one run.
pub fn run_batched_only(
    judges: usize,
    params: &ValidRerankParams,
    runs: usize,
    seed: u64,
    device: &Device,
    backend: &str,
) -> Result<(Vec<f64>, f64)> {
    let (featurizer, matrix, sets) = training_set(judges, 200, seed, params.buckets);
    train(&featurizer, &matrix, &sets, params, device, backend)?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        train(&featurizer, &matrix, &sets, params, device, backend)?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok((
        times,
        step_flops(matrix.n, sets.len(), params) * params.steps as f64,
    ))
}

/// Runs the benchmark on `device`.
pub fn run(req: &RerankBenchRequest, device: &Device, backend: &str) -> Result<Value> {
    if req.runs == 0 {
        return Err(Error::Setting {
            name: "runs",
            message: "must be at least 1".into(),
        });
    }
    let (featurizer, matrix, sets) = training_set(33, req.prompts, req.seed, req.params.buckets);
    let mut batched_s = Vec::new();
    let mut sequential_s = Vec::new();
    let mut max_diff = 0f64;
    for run in 0..req.runs {
        let t = Instant::now();
        let batched = train(&featurizer, &matrix, &sets, &req.params, device, backend)?;
        batched_s.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let alone: Vec<_> = sets
            .iter()
            .map(|s| {
                train(
                    &featurizer,
                    &matrix,
                    std::slice::from_ref(s),
                    &req.params,
                    device,
                    backend,
                )
            })
            .collect::<Result<_>>()?;
        sequential_s.push(t.elapsed().as_secs_f64());
        if run == 0 {
            let all = batched.reranker.score_matrix(&matrix);
            for (i, a) in alone.iter().enumerate() {
                let s = &a.reranker.score_matrix(&matrix)[0];
                for (x, y) in all[i].iter().zip(s) {
                    max_diff = max_diff.max((x - y).abs() as f64);
                }
            }
        }
    }
    let (b, s) = (median(batched_s.clone()), median(sequential_s.clone()));
    let flops = step_flops(matrix.n, sets.len(), &req.params) * req.params.steps as f64;
    let sgemm = sgemm_gflops(2048);
    Ok(json!({
        "backend": backend,
        "models": sets.len(),
        "texts": matrix.n,
        "pairs_per_model_median": median(sets.iter().map(|s| s.pairs.len() as f64).collect()),
        "steps": req.params.steps,
        "runs": req.runs,
        "batched_median_s": b,
        "batched_runs_s": batched_s,
        "one_at_a_time_median_s": s,
        "one_at_a_time_runs_s": sequential_s,
        "speedup": s / b,
        "batched_gflops": flops / b / 1e9,
        "one_at_a_time_gflops": flops / s / 1e9,
        "sgemm_gflops": sgemm,
        "batched_fraction_of_sgemm": flops / b / 1e9 / sgemm,
        "max_abs_score_difference": max_diff,
    }))
}
