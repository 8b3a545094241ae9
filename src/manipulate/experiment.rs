//! `manipulate simulate`: the paper's training-based manipulation, end to end and without an
//! LLM. Judges label pairs of simulated candidates (the first half of the prompts) with their
//! dissection models; one batched run trains an "align" and an "against" reranker per judge on
//! the confident labels; on the other half each reranker picks a candidate, and the pick's win
//! rate against a fixed baseline is measured under the judge's model — the analogue of the
//! paper's win-rate shifts — and under every other judge (the transfer matrix).

use serde::Serialize;

use super::candidates::{SimPrompt, sign_features, simulate_prompts};
use super::pairs::{Direction, check_margin};
use crate::analyse::fitted::FittedWeights;
use crate::analyse::tables::scenarios;
use crate::base::error::{Error, Result};
use crate::base::features::{PAPER_K, SCENARIO_GROUPS};
use crate::base::logistic::sigmoid;
use crate::rerank::io::TextTable;
use crate::rerank::model::Reranker;
use crate::rerank::params::ValidRerankParams;
use crate::rerank::select::{Pick, pick};
use crate::rerank::text_features::Featurizer;
use crate::rerank::train::{PairSet, pair_accuracy, train};

/// A judge's dissection model.
pub type JudgeModel = (String, [f64; PAPER_K]);

/// Judges' weights from fitted files: `group`'s, or the mean over the scenario groups present.
pub fn judge_models(fw: &FittedWeights, group: Option<&str>) -> Result<Vec<JudgeModel>> {
    // The simulated candidates are described by the paper's properties.
    if fw.k() != PAPER_K {
        return Err(Error::Setting {
            name: "fit",
            message: format!(
                "the weights in {} are for {} properties; the simulated experiment's candidates \
                 have the paper's {PAPER_K}",
                fw.dir.display(),
                fw.k()
            ),
        });
    }
    let groups: Vec<&str> = match group {
        Some(g) => {
            if !fw.groups.iter().any(|h| h == g) {
                return Err(Error::UnknownGroup {
                    group: g.into(),
                    path: fw.dir.clone(),
                    known: fw.groups.join(", "),
                });
            }
            vec![g]
        }
        None => scenarios(fw),
    };
    if groups.is_empty() {
        return Err(Error::Setting {
            name: "group",
            message: format!(
                "{} holds no scenario groups; name one with --group (known: {})",
                fw.dir.display(),
                fw.groups.join(", ")
            ),
        });
    }
    Ok(fw
        .judges
        .iter()
        .filter_map(|j| {
            let ws: Vec<&[f64]> = groups.iter().filter_map(|g| fw.get(g, j)).collect();
            (!ws.is_empty()).then(|| {
                let w =
                    std::array::from_fn(|k| ws.iter().map(|w| w[k]).sum::<f64>() / ws.len() as f64);
                (j.clone(), w)
            })
        })
        .collect())
}

/// The simulator's true weights (mean over the scenarios), for runs without fitted weights.
pub fn simulated_judge_models(seed: u64) -> Vec<JudgeModel> {
    let sim = crate::simulate::simulate(seed);
    crate::simulate::PAPER_JUDGES
        .iter()
        .map(|j| {
            let ws: Vec<&Vec<f64>> = SCENARIO_GROUPS
                .iter()
                .filter_map(|g| sim.truth.get(*g).and_then(|m| m.get(*j)))
                .collect();
            let w = std::array::from_fn(|k| ws.iter().map(|w| w[k]).sum::<f64>() / ws.len() as f64);
            (j.to_string(), w)
        })
        .collect()
}

/// Settings of the experiment.
#[derive(Clone, Debug)]
pub struct ExperimentRequest {
    /// The judges.
    pub judges: Vec<JudgeModel>,
    /// Prompts in all (the first half trains, the second half tests).
    pub prompts: usize,
    /// Candidates per prompt.
    pub candidates: usize,
    /// Labels within 0.5 ± margin are dropped.
    pub margin: f64,
    /// How unreliably a simulated text shows its ratings (see [`simulate_prompts`]).
    pub text_noise: f64,
    /// Reranker settings.
    pub params: ValidRerankParams,
    /// Seed of the simulated prompts.
    pub seed: u64,
}

/// One judge's line of the result.
#[derive(Clone, Debug, Serialize)]
pub struct JudgeRow {
    /// Judge.
    pub judge: String,
    /// Confident training pairs kept (of the labelled ones).
    pub pairs_kept: usize,
    /// Pairs labelled.
    pub pairs_labelled: usize,
    /// Win rate (%) of the aligned reranker's pick against the baseline, under this judge.
    pub aligned: f64,
    /// Win rate (%) of a uniformly random candidate (the exact expectation).
    pub random: f64,
    /// Win rate (%) of the "against" reranker's pick.
    pub against: f64,
    /// Win rate (%) of the candidate the judge itself would pick (the ceiling).
    pub oracle: f64,
    /// Held-out pairwise accuracy of the aligned reranker against the judge's labels.
    pub heldout_accuracy_align: f64,
    /// Held-out pairwise accuracy of the against reranker against the inverted labels.
    pub heldout_accuracy_against: f64,
}

/// What the experiment produced.
pub struct ExperimentOutcome {
    /// One row per judge.
    pub rows: Vec<JudgeRow>,
    /// `transfer[a][b]`: win rate (%) of judge a's aligned pick, under judge b.
    pub transfer: Vec<Vec<f64>>,
    /// The trained rerankers (`judge/align`, `judge/against`).
    pub reranker: Reranker,
    /// The held-out prompts (for `rerank select`).
    pub test_prompts: Vec<SimPrompt>,
    /// Seconds training took.
    pub train_seconds: f64,
    /// Judges left out, each with why (no confident pair at the margin) and what margin would
    /// keep pairs; the CLI prints them as warnings.
    pub skipped: Vec<String>,
}

fn p_prefers(w: &[f64; PAPER_K], f: &[f64; PAPER_K]) -> f64 {
    sigmoid((0..PAPER_K).map(|k| w[k] * f[k]).sum())
}

/// Every candidate pair (i < j) of every prompt, with the judge's P(candidate i preferred), as
/// (prompt, i, j, p).
fn pair_probabilities<'a>(
    prompts: &'a [SimPrompt],
    w: &'a [f64; PAPER_K],
) -> impl Iterator<Item = (usize, usize, usize, f64)> + 'a {
    prompts.iter().enumerate().flat_map(move |(s, sp)| {
        let c = &sp.candidates;
        (0..c.len()).flat_map(move |i| {
            (i + 1..c.len()).map(move |j| (s, i, j, p_prefers(w, &sign_features(&c[i], &c[j]))))
        })
    })
}

/// Confident judge-labelled pairs over all candidate pairs of `prompts`, as (chosen, rejected)
/// text indices (`index(prompt, candidate)` gives a candidate's); and how many were labelled.
pub fn judge_pairs(
    prompts: &[SimPrompt],
    w: &[f64; PAPER_K],
    margin: f64,
    direction: Direction,
    mut index: impl FnMut(usize, usize) -> u32,
) -> (Vec<(u32, u32)>, usize) {
    let mut kept = Vec::new();
    let mut labelled = 0;
    for (s, i, j, p) in pair_probabilities(prompts, w) {
        labelled += 1;
        if let Some(first) = direction.first_chosen(p, margin) {
            let (a, b) = (index(s, i), index(s, j));
            kept.push(if first { (a, b) } else { (b, a) });
        }
    }
    (kept, labelled)
}

/// The largest |P(A) − 0.5| a judge's model gives any candidate pair of `prompts`: the margin
/// below which it keeps pairs.
pub fn most_confident(prompts: &[SimPrompt], w: &[f64; PAPER_K]) -> f64 {
    pair_probabilities(prompts, w).fold(0.0, |most, (.., p)| most.max((p - 0.5).abs()))
}

/// Every judge's "align" and "against" training pairs over `prompts` (model names
/// `judge/align`, `judge/against`), their texts interned into `table`; each with the number of
/// pairs labelled.
pub fn pair_sets(
    prompts: &[SimPrompt],
    judges: &[JudgeModel],
    margin: f64,
    table: &mut TextTable,
) -> Vec<(PairSet, usize)> {
    let mut sets = Vec::new();
    for (judge, w) in judges {
        for direction in [Direction::Align, Direction::Against] {
            let (pairs, labelled) = judge_pairs(prompts, w, margin, direction, |p, c| {
                table.intern(&prompts[p].prompt, &prompts[p].candidates[c].text)
            });
            let name = format!("{judge}/{}", direction_name(direction));
            sets.push((PairSet { name, pairs }, labelled));
        }
    }
    sets
}

/// Runs the experiment.
pub fn run_experiment(
    req: &ExperimentRequest,
    device: &burn::tensor::Device,
    backend: &str,
) -> Result<ExperimentOutcome> {
    if req.prompts < 4 || req.candidates < 2 {
        return Err(Error::Setting {
            name: "prompts",
            message: "need at least 4 prompts and 2 candidates per prompt".into(),
        });
    }
    check_margin(req.margin)?;
    if !(0.0..=1.0).contains(&req.text_noise) {
        return Err(Error::Setting {
            name: "text-noise",
            message: format!("must be in [0, 1], got {}", req.text_noise),
        });
    }
    let all = simulate_prompts(req.prompts, req.candidates, req.text_noise, req.seed);
    let (train_prompts, test_prompts) = all.split_at(req.prompts / 2);

    let mut table = TextTable::default();
    for sp in train_prompts {
        for c in &sp.candidates {
            table.intern(&sp.prompt, &c.text);
        }
    }
    let labelled = pair_sets(train_prompts, &req.judges, req.margin, &mut table);
    // A judge whose model is flat (the MAP can zero every weight) labels no pair confidently:
    // it is left out with a warning, and the run fails only when no judge is left. Sets
    // alternate align, against per judge, and both keep the same pairs, inverted.
    let mut skipped = Vec::new();
    let mut judges = Vec::new();
    let mut kept_sets = Vec::new();
    let mut sets = labelled.into_iter();
    for (judge, w) in &req.judges {
        let (align, against) = (sets.next().expect("align"), sets.next().expect("against"));
        if align.0.pairs.is_empty() {
            let most = most_confident(train_prompts, w);
            skipped.push(format!(
                "`{judge}` is left out: its model labels no pair with |P(A) - 0.5| > {} (its \
                 most confident pair: {most:.4}; a margin below that keeps pairs)",
                req.margin
            ));
        } else {
            judges.push((judge.clone(), *w));
            kept_sets.extend([align, against]);
        }
    }
    if judges.is_empty() {
        return Err(Error::Setting {
            name: "margin",
            message: format!(
                "no judge keeps a pair at margin {}; lower it ({})",
                req.margin,
                skipped.join("; ")
            ),
        });
    }
    let labelled = kept_sets;
    // Sets alternate align, against per judge; both keep the same count.
    let counts: Vec<(usize, usize)> = labelled
        .iter()
        .step_by(2)
        .map(|(set, n)| (set.pairs.len(), *n))
        .collect();
    let sets: Vec<PairSet> = labelled.into_iter().map(|(set, _)| set).collect();
    let refs = table.as_refs();
    let featurizer = Featurizer::fit(req.params.buckets, &refs);
    let matrix = featurizer.matrix(&refs);
    let trained = train(&featurizer, &matrix, &sets, &req.params, device, backend)?;
    let reranker = trained.reranker;

    // Held-out: every distinct test text scored once by every model.
    let mut test_table = TextTable::default();
    let ids: Vec<Vec<u32>> = test_prompts
        .iter()
        .map(|sp| {
            sp.candidates
                .iter()
                .map(|c| test_table.intern(&sp.prompt, &c.text))
                .collect()
        })
        .collect();
    let scores = reranker.score(&test_table.as_refs());
    let n = req.candidates;
    let picks: Vec<Vec<usize>> = scores
        .iter()
        .map(|s| {
            ids.iter()
                .map(|row| {
                    let cs: Vec<f32> = row.iter().map(|&t| s[t as usize]).collect();
                    pick(&cs, Pick::Best)
                })
                .collect()
        })
        .collect();
    let win = |choose: &dyn Fn(usize, &SimPrompt) -> f64| -> f64 {
        100.0
            * test_prompts
                .iter()
                .enumerate()
                .map(|(i, sp)| choose(i, sp))
                .sum::<f64>()
            / test_prompts.len() as f64
    };
    let vs_base = |w: &[f64; PAPER_K], sp: &SimPrompt, c: usize| {
        p_prefers(w, &sign_features(&sp.candidates[c], &sp.baseline))
    };
    let mut rows = Vec::new();
    let mut transfer = Vec::new();
    for (j, (judge, w)) in judges.iter().enumerate() {
        let (align_m, against_m) = (2 * j, 2 * j + 1);
        let aligned = win(&|i, sp| vs_base(w, sp, picks[align_m][i]));
        let against = win(&|i, sp| vs_base(w, sp, picks[against_m][i]));
        let random = win(&|_, sp| (0..n).map(|c| vs_base(w, sp, c)).sum::<f64>() / n as f64);
        let oracle = win(&|_, sp| (0..n).map(|c| vs_base(w, sp, c)).fold(0.0, f64::max));
        let test_pairs = |d| judge_pairs(test_prompts, w, req.margin, d, |p, c| ids[p][c]).0;
        let (align_pairs, against_pairs) =
            (test_pairs(Direction::Align), test_pairs(Direction::Against));
        rows.push(JudgeRow {
            judge: judge.clone(),
            pairs_kept: counts[j].0,
            pairs_labelled: counts[j].1,
            aligned,
            random,
            against,
            oracle,
            heldout_accuracy_align: pair_accuracy(&scores[align_m], &align_pairs),
            heldout_accuracy_against: pair_accuracy(&scores[against_m], &against_pairs),
        });
        transfer.push(
            judges
                .iter()
                .map(|(_, wb)| win(&|i, sp| vs_base(wb, sp, picks[align_m][i])))
                .collect(),
        );
    }
    Ok(ExperimentOutcome {
        rows,
        transfer,
        reranker,
        test_prompts: test_prompts.to_vec(),
        train_seconds: trained.seconds,
        skipped,
    })
}

/// `align` or `against`, as model names spell it.
pub fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Align => "align",
        Direction::Against => "against",
    }
}
