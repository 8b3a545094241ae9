//! The calibration study's result: per weight, per property and overall, and its text table.

use serde::Serialize;

use super::calibrate::CalibrationParams;
use super::intervals::quantile;
use crate::base::features::FEATURE_NAMES;

/// One weight's calibration.
#[derive(Clone, Debug, Serialize)]
pub struct WeightCalibration {
    /// Judge index.
    pub judge: usize,
    /// Group index.
    pub group: usize,
    /// Property.
    pub feature: &'static str,
    /// The simulation's true weight.
    pub true_weight: f64,
    /// Mean of the MAP over refits (what the percentile interval aims at).
    pub estimator_mean: f64,
    /// Sd of the MAP over refits: the true sampling sd.
    pub true_sd: f64,
    /// Mean over refits of the bootstrap sd.
    pub boot_sd: f64,
    /// `boot_sd / true_sd`.
    pub ratio: f64,
    /// Share of refits whose MAP is non-zero.
    pub nonzero: f64,
    /// Share of refits whose interval covers `estimator_mean`.
    pub coverage_of_mean: f64,
    /// Share of refits whose interval covers `true_weight` (below nominal where the L1
    /// shrinkage bias is large compared with the sd).
    pub coverage_of_truth: f64,
    /// Share of refits whose BCa interval (20-group jackknife) covers `estimator_mean`.
    pub bca_coverage_of_mean: f64,
}

/// Per-feature summary over judges and groups.
#[derive(Clone, Debug, Serialize)]
pub struct FeatureCalibration {
    /// Property.
    pub feature: &'static str,
    /// Weights with a MAP non-zero in ≥ 95% of refits.
    pub eligible: usize,
    /// Median ratio over them.
    pub median_ratio: f64,
    /// Mean coverage of the estimator's mean over them.
    pub coverage_of_mean: f64,
    /// Mean coverage of the true weight over them.
    pub coverage_of_truth: f64,
    /// The other weights (often exactly zero).
    pub zero_heavy: usize,
    /// Median ratio over those.
    pub zero_heavy_median_ratio: f64,
    /// Mean coverage of the estimator's mean over those.
    pub zero_heavy_coverage_of_mean: f64,
}

/// The study's result.
#[derive(Clone, Debug, Serialize)]
pub struct CalibrationReport {
    /// Fresh data sets.
    pub refits: usize,
    /// Replicates per data set.
    pub replicates: usize,
    /// Interval coverage asked for.
    pub level: f64,
    /// Weights with a MAP non-zero in ≥ 95% of refits.
    pub eligible: usize,
    /// Median ratio over them.
    pub median_ratio: f64,
    /// Share of their ratios in [0.8, 1.25].
    pub share_in_band: f64,
    /// 2.5% and 97.5% quantiles of their ratios.
    pub ratio_range_95: (f64, f64),
    /// Mean coverage (of the estimator's mean) over them.
    pub coverage_of_mean: f64,
    /// Mean coverage of the true weight over them.
    pub coverage_of_truth: f64,
    /// Mean BCa coverage of the estimator's mean over them.
    pub bca_coverage_of_mean: f64,
    /// Weights that are not eligible.
    pub zero_heavy: usize,
    /// Mean percentile / BCa coverage of the estimator's mean over those.
    pub zero_heavy_coverage: (f64, f64),
    /// Median ratio over those.
    pub zero_heavy_median_ratio: f64,
    /// The judge-vs-judge similarity.
    pub similarity: SimilarityCalibration,
    /// Per feature.
    pub features: Vec<FeatureCalibration>,
    /// Every weight.
    pub weights: Vec<WeightCalibration>,
}

/// Calibration of the judge-vs-judge similarity (Pearson averaged over the groups), whose
/// replicates are shifted: noise attenuates a correlation, more so in a replicate.
#[derive(Clone, Debug, Serialize)]
pub struct SimilarityCalibration {
    /// Judge pairs.
    pub pairs: usize,
    /// Mean over pairs of (mean point estimate − true similarity): the estimator's bias.
    pub estimator_bias: f64,
    /// Mean over pairs and refits of (bootstrap mean − point): the bootstrap's bias estimate.
    pub bootstrap_bias: f64,
    /// Median over pairs of bootstrap sd / true sd.
    pub median_ratio: f64,
    /// Coverage of the estimator's mean by the percentile interval.
    pub percentile_covers_mean: f64,
    /// Coverage of the estimator's mean by the basic interval.
    pub basic_covers_mean: f64,
    /// Coverage of the true similarity by the percentile interval.
    pub percentile_covers_truth: f64,
    /// Coverage of the true similarity by the basic interval.
    pub basic_covers_truth: f64,
    /// Share of refits whose percentile interval misses their own point estimate.
    pub percentile_misses_point: f64,
}

pub(super) fn report(
    p: &CalibrationParams,
    weights: Vec<WeightCalibration>,
    similarity: SimilarityCalibration,
) -> CalibrationReport {
    let eligible = |w: &&WeightCalibration| w.nonzero >= 0.95;
    let median = |v: Vec<f64>| crate::base::stats::median(v);
    let mean = |v: &[f64]| {
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let features = FEATURE_NAMES
        .iter()
        .map(|&name| {
            let (good, rest): (Vec<&WeightCalibration>, Vec<&WeightCalibration>) = weights
                .iter()
                .filter(|w| w.feature == name)
                .partition(|w| w.nonzero >= 0.95);
            let col = |ws: &[&WeightCalibration], f: fn(&WeightCalibration) -> f64| -> Vec<f64> {
                ws.iter().map(|w| f(w)).filter(|v| v.is_finite()).collect()
            };
            FeatureCalibration {
                feature: name,
                eligible: good.len(),
                median_ratio: median(col(&good, |w| w.ratio)),
                coverage_of_mean: mean(&col(&good, |w| w.coverage_of_mean)),
                coverage_of_truth: mean(&col(&good, |w| w.coverage_of_truth)),
                zero_heavy: rest.len(),
                zero_heavy_median_ratio: median(col(&rest, |w| w.ratio)),
                zero_heavy_coverage_of_mean: mean(&col(&rest, |w| w.coverage_of_mean)),
            }
        })
        .collect();
    let good: Vec<&WeightCalibration> = weights.iter().filter(eligible).collect();
    let mut ratios: Vec<f64> = good.iter().map(|w| w.ratio).collect();
    ratios.sort_by(f64::total_cmp);
    let in_band = ratios
        .iter()
        .filter(|&&r| (0.8..=1.25).contains(&r))
        .count() as f64;
    let rest_ratios: Vec<f64> = weights
        .iter()
        .filter(|w| w.nonzero < 0.95 && w.ratio.is_finite())
        .map(|w| w.ratio)
        .collect();
    CalibrationReport {
        refits: p.refits,
        replicates: p.replicates,
        level: p.level,
        eligible: good.len(),
        median_ratio: median(ratios.clone()),
        share_in_band: in_band / ratios.len().max(1) as f64,
        ratio_range_95: (quantile(&ratios, 0.025), quantile(&ratios, 0.975)),
        coverage_of_mean: mean(&good.iter().map(|w| w.coverage_of_mean).collect::<Vec<_>>()),
        coverage_of_truth: mean(&good.iter().map(|w| w.coverage_of_truth).collect::<Vec<_>>()),
        bca_coverage_of_mean: mean(
            &good
                .iter()
                .map(|w| w.bca_coverage_of_mean)
                .collect::<Vec<_>>(),
        ),
        zero_heavy_coverage: {
            let rest: Vec<&WeightCalibration> =
                weights.iter().filter(|w| w.nonzero < 0.95).collect();
            (
                mean(&rest.iter().map(|w| w.coverage_of_mean).collect::<Vec<_>>()),
                mean(
                    &rest
                        .iter()
                        .map(|w| w.bca_coverage_of_mean)
                        .collect::<Vec<_>>(),
                ),
            )
        },
        zero_heavy: weights.len() - good.len(),
        zero_heavy_median_ratio: median(rest_ratios),
        similarity,
        features,
        weights,
    }
}

/// The report as a text table.
pub fn render(r: &CalibrationReport) -> String {
    let mut s = format!(
        "{} refits × {} replicates; weights with MAP non-zero in ≥ 95% of refits: {}\n\
         bootstrap sd / true sd: median {:.3}, {:.1}% in [0.8, 1.25], 95% range [{:.3}, {:.3}]\n\
         coverage of {:.0}% percentile intervals: estimator mean {:.1}%, true weight {:.1}%\n\
         BCa (20-group jackknife) coverage of the estimator mean: {:.1}%\n\
         zero-heavy weights (MAP zero in > 5% of refits): {}, median sd ratio {:.3}, coverage \
         of the estimator mean: percentile {:.1}%, BCa {:.1}%\n",
        r.refits,
        r.replicates,
        r.eligible,
        r.median_ratio,
        100.0 * r.share_in_band,
        r.ratio_range_95.0,
        r.ratio_range_95.1,
        100.0 * r.level,
        100.0 * r.coverage_of_mean,
        100.0 * r.coverage_of_truth,
        100.0 * r.bca_coverage_of_mean,
        r.zero_heavy,
        r.zero_heavy_median_ratio,
        100.0 * r.zero_heavy_coverage.0,
        100.0 * r.zero_heavy_coverage.1
    );
    let sim = &r.similarity;
    s.push_str(&format!(
        "similarity ({} judge pairs, Pearson averaged over groups): estimator bias {:+.3}, \
         bootstrap bias estimate {:+.3}, sd ratio {:.3}\n\
         coverage of the estimator mean: percentile {:.1}%, basic {:.1}%; of the true \
         similarity: percentile {:.1}%, basic {:.1}%; percentile interval misses its own point \
         in {:.1}% of refits\n\n",
        sim.pairs,
        sim.estimator_bias,
        sim.bootstrap_bias,
        sim.median_ratio,
        100.0 * sim.percentile_covers_mean,
        100.0 * sim.basic_covers_mean,
        100.0 * sim.percentile_covers_truth,
        100.0 * sim.basic_covers_truth,
        100.0 * sim.percentile_misses_point
    ));
    s.push_str(&format!(
        "{:<26} {:>4} {:>7} {:>8} {:>8} | {:>4} {:>7} {:>8}\n",
        "property", "n", "ratio", "cov.mean", "cov.true", "zero", "ratio", "cov.mean"
    ));
    for f in &r.features {
        s.push_str(&format!(
            "{:<26} {:>4} {:>7.3} {:>7.1}% {:>7.1}% | {:>4} {:>7.3} {:>7.1}%\n",
            f.feature,
            f.eligible,
            f.median_ratio,
            100.0 * f.coverage_of_mean,
            100.0 * f.coverage_of_truth,
            f.zero_heavy,
            f.zero_heavy_median_ratio,
            100.0 * f.zero_heavy_coverage_of_mean
        ));
    }
    s
}
