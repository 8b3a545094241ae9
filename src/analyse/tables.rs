//! What the paper's tables and the authors' app show, from fitted weights: probability of
//! preferred per property, its mean over the 11 scenarios, judge similarity, top/bottom-k.

use super::fitted::FittedWeights;
use super::{mean_similarity, pearson, probability_of_preferred, top_bottom};
use crate::base::features::{QUERY_GROUPS, SCENARIO_GROUPS};

/// The group label of a mean over the scenario groups.
pub const SCENARIO_MEAN: &str = "scenarios";

/// One judge's probability of preferred for one property in one group (or the scenario mean).
#[derive(Clone, Debug)]
pub struct Probability {
    /// Judge.
    pub judge: String,
    /// Group, or [`SCENARIO_MEAN`].
    pub group: String,
    /// Property index.
    pub feature: usize,
    /// The weight (the mean of the per-scenario weights for a scenario mean).
    pub weight: f64,
    /// 100·σ(w) (the mean of the per-scenario probabilities for a scenario mean, as the paper
    /// averages).
    pub probability: f64,
}

/// The groups a "scenario mean" averages over: the paper's scenario groups present in `fw`, in
/// the paper's order; for weights fitted on a table's own groups (none of the paper's 16),
/// every group, in name order.
pub fn scenarios(fw: &FittedWeights) -> Vec<&str> {
    let paper = |g: &str| SCENARIO_GROUPS.contains(&g) || QUERY_GROUPS.contains(&g);
    if !fw.groups.iter().any(|g| paper(g)) {
        return fw.groups.iter().map(String::as_str).collect();
    }
    SCENARIO_GROUPS
        .iter()
        .copied()
        .filter(|g| fw.groups.iter().any(|h| h == g))
        .collect()
}

/// Every (judge, group, property) probability, then per judge the scenario means (judges
/// fitted in every present scenario group only).
pub fn probabilities(fw: &FittedWeights) -> Vec<Probability> {
    let mut out = Vec::new();
    for group in &fw.groups {
        for judge in &fw.judges {
            if let Some(w) = fw.get(group, judge) {
                for k in 0..w.len() {
                    out.push(Probability {
                        judge: judge.clone(),
                        group: group.clone(),
                        feature: k,
                        weight: w[k],
                        probability: probability_of_preferred(w[k]),
                    });
                }
            }
        }
    }
    let scen = scenarios(fw);
    for judge in &fw.judges {
        let ws: Vec<&[f64]> = scen.iter().filter_map(|g| fw.get(g, judge)).collect();
        if ws.is_empty() || ws.len() != scen.len() {
            continue;
        }
        let n = ws.len() as f64;
        for k in 0..fw.k() {
            out.push(Probability {
                judge: judge.clone(),
                group: SCENARIO_MEAN.into(),
                feature: k,
                weight: ws.iter().map(|w| w[k]).sum::<f64>() / n,
                probability: ws
                    .iter()
                    .map(|w| probability_of_preferred(w[k]))
                    .sum::<f64>()
                    / n,
            });
        }
    }
    out
}

/// Pearson similarity of two judges in one group; NaN when either is not fitted there or has
/// constant weights.
pub fn similarity_in(fw: &FittedWeights, group: &str, a: &str, b: &str) -> f64 {
    match (fw.get(group, a), fw.get(group, b)) {
        (Some(x), Some(y)) => pearson(x, y),
        _ => f64::NAN,
    }
}

/// The paper's similarity: the per-scenario Pearson averaged over the scenario groups where
/// it is defined.
pub fn similarity(fw: &FittedWeights, a: &str, b: &str) -> f64 {
    mean_similarity(scenarios(fw).iter().map(|g| similarity_in(fw, g, a, b)))
}

/// The k most and k least preferred properties of each judge in each group (and the scenario
/// mean): `(judge, group, direction, rank, property, probability)`; `names` are the K
/// property names (each judge and group lists K probabilities in a row).
pub fn top_bottom_k<'a>(
    probs: &[Probability],
    k: usize,
    names: &'a [String],
) -> Vec<(String, String, &'static str, usize, &'a str, f64)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < probs.len() {
        let (judge, group) = (&probs[i].judge, &probs[i].group);
        let block = &probs[i..(i + names.len()).min(probs.len())];
        let values: Vec<f64> = block.iter().map(|p| p.probability).collect();
        let (top, bottom) = top_bottom(&values, k);
        for (direction, list) in [("most", top), ("least", bottom)] {
            for (rank, &f) in list.iter().enumerate() {
                out.push((
                    judge.clone(),
                    group.clone(),
                    direction,
                    rank + 1,
                    names[block[f].feature].as_str(),
                    block[f].probability,
                ));
            }
        }
        i += names.len();
    }
    out
}
