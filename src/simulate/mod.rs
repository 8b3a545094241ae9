//! A paper-shaped synthetic data set in the authors' formats, with known true weights.
//!
//! The real annotations are not public in this form, so users (and our tests, demo and
//! benchmarks) need data whose answer is known: 5,240 samples; the 11 scenario groups (9 × 400,
//! 2 × 820) partition them and the 5 query-specific groups (1,418 / 459 / 401 / 388 / 121)
//! overlap them, as in the paper; sparse, correlated sign features (40–85% zeros), with the
//! query-specific properties non-zero only inside their group; ~3% of samples with the 999
//! accuracy sentinel; and 33 judges whose labels are Bernoulli(σ(w·x)) with the weights of the
//! sample's scenario, which are written to `truth/true_weights.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::base::atomic::write_atomic;
use crate::base::error::Result;
use crate::base::features::{
    ACCURACY_SENTINEL, FEATURE_SOURCES, FeatureSource, PAPER_K, QUERY_GROUPS, SCENARIO_GROUPS,
};
use crate::base::rng::Rng;
use crate::load::{Group, groups_to_json};

/// The paper's 33 judges, `human` first.
pub const PAPER_JUDGES: [&str; 33] = [
    "human",
    "gpt-3.5-turbo-1106",
    "gpt-4-1106-preview",
    "llama-2-13b-chat",
    "llama-2-13b",
    "llama-2-70b-chat",
    "llama-2-70b",
    "llama-2-7b-chat",
    "llama-2-7b",
    "mistral-7b-instruct-v0.1",
    "mistral-7b-instruct-v0.2",
    "mistral-7b",
    "mistral-8x7b-instruct-v0.1",
    "mistral-8x7b",
    "qwen-14b-chat",
    "qwen-14b",
    "qwen-72b-chat",
    "qwen-72b",
    "qwen-7b-chat",
    "qwen-7b",
    "tulu-2-dpo-13b",
    "tulu-2-dpo-70b",
    "tulu-2-dpo-7b",
    "vicuna-13b-v1.5",
    "vicuna-7b-v1.5",
    "wizardLM-13b-v1.2",
    "wizardLM-70b-v1.0",
    "yi-34b-chat",
    "yi-34b",
    "yi-6b-chat",
    "yi-6b",
    "zephyr-7b-alpha",
    "zephyr-7b-beta",
];

/// Samples in the paper's data set.
pub const N_SAMPLES: usize = 5240;
/// Sizes of the 11 scenario groups, in [`SCENARIO_GROUPS`] order.
const SCENARIO_SIZES: [usize; 11] = [400, 400, 400, 400, 400, 400, 400, 820, 400, 820, 400];
/// Sizes of the 5 query-specific groups, in [`QUERY_GROUPS`] order.
const QUERY_SIZES: [usize; 5] = [1418, 459, 401, 388, 121];
/// Feature that only occurs in each query-specific group (same order as [`QUERY_GROUPS`]).
const QUERY_FEATURE: [usize; 5] = [25, 23, 27, 26, 24];

/// Consensus weights every judge shares (errors, relevance and clarity matter most).
pub(crate) const CONSENSUS: [f64; PAPER_K] = [
    0.4, 0.2, 0.1, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0, 0.2, 0.2, 0.1, 0.0, 0.2, -0.1, 0.2, 0.5, 0.8, 0.1,
    0.5, 0.3, 0.6, 1.2, 0.3, 0.1, 0.8, 0.4, 0.5, 0.3,
];

/// A simulated data set in memory.
pub struct Simulated {
    /// `resolved.jsonl` records.
    pub records: Vec<Value>,
    /// Groups (scenarios then query-specific).
    pub groups: Vec<Group>,
    /// Judge name → labels ("A"/"B").
    pub labels: Vec<(String, Vec<&'static str>)>,
    /// Group → judge → true weights.
    pub truth: BTreeMap<String, BTreeMap<String, Vec<f64>>>,
}

/// Simulates the data set for `seed`.
pub fn simulate(seed: u64) -> Simulated {
    let mut rng = Rng::new(seed);
    // Groups: scenarios partition a shuffled index list; query groups are random subsets.
    let mut order: Vec<usize> = (0..N_SAMPLES).collect();
    rng.shuffle(&mut order);
    let mut scenario_of = vec![0usize; N_SAMPLES];
    let mut groups = Vec::new();
    let mut start = 0;
    for (g, (&name, &size)) in SCENARIO_GROUPS.iter().zip(&SCENARIO_SIZES).enumerate() {
        let mut samples = order[start..start + size].to_vec();
        samples.sort_unstable();
        for &s in &samples {
            scenario_of[s] = g;
        }
        groups.push(Group {
            name: name.into(),
            samples,
        });
        start += size;
    }
    let mut in_query = vec![[false; 5]; N_SAMPLES];
    for (q, (&name, &size)) in QUERY_GROUPS.iter().zip(&QUERY_SIZES).enumerate() {
        let mut all: Vec<usize> = (0..N_SAMPLES).collect();
        rng.shuffle(&mut all);
        let mut samples = all[..size].to_vec();
        samples.sort_unstable();
        for &s in &samples {
            in_query[s][q] = true;
        }
        groups.push(Group {
            name: name.into(),
            samples,
        });
    }

    // Features: each property has its own rate of non-zeros and a loading on a latent
    // "overall quality" difference, which correlates the signs as real annotations are.
    let rate: Vec<f64> = (0..PAPER_K).map(|_| 0.15 + 0.45 * rng.uniform()).collect();
    let loading: Vec<f64> = (0..PAPER_K).map(|_| 0.8 * rng.uniform()).collect();
    let mut signs = vec![[0i8; PAPER_K]; N_SAMPLES];
    let mut unchecked = vec![false; N_SAMPLES];
    for s in 0..N_SAMPLES {
        let quality = rng.normal();
        for k in 0..PAPER_K {
            let occurs = match QUERY_FEATURE.iter().position(|&f| f == k) {
                Some(q) if k != 24 => in_query[s][q] && rng.uniform() < 0.7,
                Some(q) => rng.uniform() < if in_query[s][q] { 0.7 } else { rate[k] },
                None => rng.uniform() < rate[k],
            };
            if occurs {
                let v = loading[k] * quality + rng.normal();
                signs[s][k] = if v >= 0.0 { 1 } else { -1 };
            }
        }
        unchecked[s] = rng.uniform() < 0.03;
        if unchecked[s] {
            for k in 20..23 {
                signs[s][k] = 0;
            }
        }
    }

    // True weights: consensus + judge's own taste + a scenario tilt.
    let judge_dev: Vec<Vec<f64>> = PAPER_JUDGES
        .iter()
        .map(|_| (0..PAPER_K).map(|_| 0.35 * rng.normal()).collect())
        .collect();
    let scen_dev: Vec<Vec<f64>> = SCENARIO_GROUPS
        .iter()
        .map(|_| (0..PAPER_K).map(|_| 0.25 * rng.normal()).collect())
        .collect();
    let mut truth: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    let mut w_scen = vec![vec![[0f64; PAPER_K]; SCENARIO_GROUPS.len()]; PAPER_JUDGES.len()];
    for (j, judge) in PAPER_JUDGES.iter().enumerate() {
        for (g, scen) in SCENARIO_GROUPS.iter().enumerate() {
            for k in 0..PAPER_K {
                w_scen[j][g][k] = CONSENSUS[k] + judge_dev[j][k] + scen_dev[g][k];
            }
            truth
                .entry(scen.to_string())
                .or_default()
                .insert(judge.to_string(), w_scen[j][g].to_vec());
        }
        // A query group mixes scenarios: its truth is the judge's scenario-free taste.
        for q in QUERY_GROUPS {
            let base: Vec<f64> = (0..PAPER_K)
                .map(|k| CONSENSUS[k] + judge_dev[j][k])
                .collect();
            truth
                .entry(q.to_string())
                .or_default()
                .insert(judge.to_string(), base);
        }
    }
    let labels = PAPER_JUDGES
        .iter()
        .enumerate()
        .map(|(j, judge)| {
            let l = (0..N_SAMPLES)
                .map(|s| {
                    let w = &w_scen[j][scenario_of[s]];
                    let z: f64 = (0..PAPER_K).map(|k| w[k] * signs[s][k] as f64).sum();
                    if rng.uniform() < crate::base::logistic::sigmoid(z) {
                        "A"
                    } else {
                        "B"
                    }
                })
                .collect();
            (judge.to_string(), l)
        })
        .collect();
    let records = (0..N_SAMPLES)
        .map(|s| record(&signs[s], unchecked[s], &in_query[s]))
        .collect();
    Simulated {
        records,
        groups,
        labels,
        truth,
    }
}

/// One `resolved.jsonl` record with the authors' structure (ratings filled in plausibly).
fn record(signs: &[i8; PAPER_K], unchecked: bool, in_query: &[bool; 5]) -> Value {
    let mut cmp = serde_json::Map::new();
    let mut accuracy = serde_json::Map::new();
    for (k, source) in FEATURE_SOURCES.iter().enumerate() {
        let v = signs[k] as i64;
        let entry = |v: i64| {
            json!({"comparison": v, "diff": v, "norm_diff": v as f64 / 3.0,
                   "meta": {"Response 1": 1 + v.max(0), "Response 2": 1 - v.min(0)}})
        };
        match *source {
            FeatureSource::Key(key) => {
                cmp.insert(key.into(), entry(v));
            }
            FeatureSource::Flipped(key) => {
                cmp.insert(key.into(), entry(-v));
            }
            FeatureSource::Accuracy(sev) => {
                accuracy.insert(sev.into(), json!(v));
            }
        }
    }
    let acc = if unchecked {
        json!({"comparison": ACCURACY_SENTINEL, "diff": {}, "norm_diff": {}, "meta": null})
    } else {
        let acc = Value::Object(accuracy);
        json!({"comparison": acc, "diff": acc, "norm_diff": acc, "meta": null})
    };
    cmp.insert("accuracy".into(), acc);
    let yes_no = |b: bool| if b { "Yes" } else { "No" };
    let list = |b: bool, what: &str| if b { json!([what]) } else { json!([]) };
    json!({
        "query_info": {
            "clear intent": yes_no(!in_query[1]),
            "explicitly express feelings": yes_no(in_query[4]),
            "explicit constraints": list(in_query[0], "simulated constraint"),
            "explicit subjective stances": list(in_query[3], "simulated stance"),
            "explicit mistakes or biases": list(in_query[2], "simulated mistake"),
        },
        "comparison": Value::Object(cmp),
    })
}

/// Writes a simulated data set to `dir` in the authors' formats (+ `truth/true_weights.json`).
pub fn write_simulated(sim: &Simulated, dir: &Path, seed: u64) -> Result<()> {
    let mut resolved = String::new();
    for r in &sim.records {
        resolved.push_str(&r.to_string());
        resolved.push('\n');
    }
    write_atomic(&dir.join("resolved.jsonl"), resolved.as_bytes())?;
    let groups = groups_to_json(&sim.groups, sim.records.len());
    write_atomic(
        &dir.join("query_aware_idxs.json"),
        groups.to_string().as_bytes(),
    )?;
    for (judge, labels) in &sim.labels {
        let path = dir.join("labels").join(format!("{judge}.json"));
        write_atomic(&path, json!(labels).to_string().as_bytes())?;
    }
    let truth = json!({
        "seed": seed,
        "note": "labels of a sample are Bernoulli(sigmoid(w . x)) with the weights of its scenario \
                 group; a query-specific group's entry is the judge's scenario-free weights",
        "features": crate::base::features::FEATURE_NAMES,
        "weights": sim.truth,
    });
    write_atomic(
        &dir.join("truth/true_weights.json"),
        serde_json::to_string_pretty(&truth)
            .expect("json")
            .as_bytes(),
    )?;
    Ok(())
}
