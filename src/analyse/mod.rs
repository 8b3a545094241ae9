//! Step 4 of the pipeline: from per-fold weights to what the paper reports (`tables`), read
//! from the authors' format (`fitted`) as well as from a fit in memory.
//!
//! The paper's number for a (judge, group) is the mean of its fold estimates; a property's
//! "probability of preferred" is 100·σ(w_k), the chance that a response better only in that
//! property wins.

pub mod explain;
pub mod fitted;
pub mod heldout;
pub mod shap;
pub mod tables;

use crate::base::features::MAX_K;
use crate::design::BatchDesign;

/// The fold-averaged weights of one (judge, group).
#[derive(Clone, Debug)]
pub struct JudgeGroupWeights {
    /// Index into the data set's judges.
    pub judge: usize,
    /// Index into the design's groups.
    pub group: usize,
    /// Mean over folds of the fitted weights.
    pub weights: [f64; MAX_K],
}

/// Averages each (judge, group)'s fits over folds; `per_fit[i]` belongs to `design.fits[i]`.
/// Result order: group-major, then judge (the order the design lists fits).
pub fn fold_average(design: &BatchDesign, per_fit: &[[f64; MAX_K]]) -> Vec<JudgeGroupWeights> {
    let mut out: Vec<JudgeGroupWeights> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    for (fit, w) in design.fits.iter().zip(per_fit) {
        let pos = out
            .iter()
            .rposition(|e| e.judge == fit.judge && e.group == fit.group);
        let i = match pos {
            Some(i) => i,
            None => {
                out.push(JudgeGroupWeights {
                    judge: fit.judge,
                    group: fit.group,
                    weights: [0.0; MAX_K],
                });
                counts.push(0);
                out.len() - 1
            }
        };
        for k in 0..MAX_K {
            out[i].weights[k] += w[k];
        }
        counts[i] += 1;
    }
    for (e, &n) in out.iter_mut().zip(&counts) {
        for v in &mut e.weights {
            *v /= n as f64;
        }
    }
    out
}

/// 100·σ(w): the paper's "probability of preferred" of a property.
pub fn probability_of_preferred(w: f64) -> f64 {
    100.0 * crate::base::logistic::sigmoid(w)
}

/// Indices of the `k` largest and `k` smallest values (largest first; smallest first).
pub fn top_bottom(values: &[f64], k: usize) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    let top = idx.iter().take(k).copied().collect();
    let bottom = idx.iter().rev().take(k).copied().collect();
    (top, bottom)
}

/// The paper's similarity of two judges from their Pearson r per scenario: the mean of the
/// defined ones (r is undefined where a judge's weights are constant); NaN if none is.
pub fn mean_similarity(rs: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for r in rs.filter(|r| r.is_finite()) {
        sum += r;
        n += 1;
    }
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Pearson correlation (NaN when either side is constant).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}
