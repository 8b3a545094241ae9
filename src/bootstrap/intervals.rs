//! From a statistic's bootstrap replicates to its summary: mean, sd, percentile interval and,
//! optionally, the BCa interval (Efron 1987) with the acceleration from a jackknife.

use serde::Serialize;

use crate::analyse::diagnostics::inverse_normal_cdf;

/// What the output reports for one statistic.
#[derive(Clone, Debug, Serialize)]
pub struct Interval {
    /// The statistic on the data as they are.
    pub point: f64,
    /// Mean over replicates.
    pub boot_mean: f64,
    /// Standard deviation over replicates (the bootstrap standard error).
    pub boot_sd: f64,
    /// Lower end of the percentile interval.
    pub ci_low: f64,
    /// Upper end of the percentile interval.
    pub ci_high: f64,
    /// Lower end of the basic (reverse-percentile) interval, 2·point − upper quantile. Where
    /// resampling shifts a statistic (the similarity of noisy weights is attenuated in every
    /// replicate), the percentile interval shifts with it and can miss the point estimate; the
    /// basic interval reflects the shift back.
    pub basic_low: f64,
    /// Upper end of the basic interval, 2·point − lower quantile.
    pub basic_high: f64,
    /// Lower end of the BCa interval (when asked for and defined).
    pub bca_low: Option<f64>,
    /// Upper end of the BCa interval.
    pub bca_high: Option<f64>,
    /// Fraction of replicates exactly equal to 0: an L1 MAP sits at zero with positive
    /// probability, where percentile intervals are known to behave unlike the smooth case.
    pub zero_fraction: f64,
    /// Replicates that gave a number (a similarity is undefined when a judge's weights are
    /// all equal).
    pub replicates: usize,
}

/// Linear-interpolation quantile of sorted values (numpy's default, "type 7").
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Standard normal CDF, via the complementary error function (W. J. Cody's rational
/// approximation as in Numerical Recipes' `erfcc`, relative error < 1.2e-7).
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let erfc = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// BCa acceleration from delete-a-group jackknife estimates: Σd³ / (6 (Σd²)^{3/2}) with
/// d = mean − θ₍ⱼ₎. Zero when the jackknife does not move the statistic.
pub fn acceleration(jackknife: &[f64]) -> f64 {
    let n = jackknife.len() as f64;
    let mean = jackknife.iter().sum::<f64>() / n;
    let (mut s2, mut s3) = (0.0, 0.0);
    for &t in jackknife {
        let d = mean - t;
        s2 += d * d;
        s3 += d * d * d;
    }
    if s2 <= 0.0 {
        0.0
    } else {
        s3 / (6.0 * s2.powf(1.5))
    }
}

/// Summarises `replicates` (NaNs are dropped) of a statistic whose value on the data is
/// `point`. With `jackknife` the BCa interval is added.
pub fn summarise(
    point: f64,
    replicates: &[f64],
    level: f64,
    jackknife: Option<&[f64]>,
) -> Interval {
    let mut kept: Vec<f64> = replicates.iter().copied().filter(|v| !v.is_nan()).collect();
    kept.sort_unstable_by(f64::total_cmp);
    summarise_sorted(point, &kept, level, jackknife)
}

/// [`summarise`] of replicates already sorted, without NaNs. A monotone increasing transform
/// of sorted values is sorted too, so a statistic and, say, its probability share one sort.
pub fn summarise_sorted(
    point: f64,
    kept: &[f64],
    level: f64,
    jackknife: Option<&[f64]>,
) -> Interval {
    let r = kept.len();
    let mean = kept.iter().sum::<f64>() / r as f64;
    let sd = (kept.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (r as f64 - 1.0)).sqrt();
    let alpha = 1.0 - level;
    let (mut bca_low, mut bca_high) = (None, None);
    if let Some(jack) = jackknife
        && r >= 2
        && point.is_finite()
    {
        // Bias correction: the share of replicates below the point estimate (ties count
        // half, which matters where an L1 MAP sits exactly at 0), kept off 0 and 1.
        let below = kept.iter().filter(|&&v| v < point).count() as f64;
        let ties = kept.iter().filter(|&&v| v == point).count() as f64;
        let share = ((below + 0.5 * ties) / r as f64).clamp(0.5 / r as f64, 1.0 - 0.5 / r as f64);
        let z0 = inverse_normal_cdf(share);
        let a = acceleration(jack);
        let adjusted = |q: f64| {
            let z = inverse_normal_cdf(q);
            normal_cdf(z0 + (z0 + z) / (1.0 - a * (z0 + z)))
        };
        bca_low = Some(quantile(kept, adjusted(alpha / 2.0)));
        bca_high = Some(quantile(kept, adjusted(1.0 - alpha / 2.0)));
    }
    Interval {
        point,
        boot_mean: mean,
        boot_sd: sd,
        ci_low: quantile(kept, alpha / 2.0),
        ci_high: quantile(kept, 1.0 - alpha / 2.0),
        basic_low: 2.0 * point - quantile(kept, 1.0 - alpha / 2.0),
        basic_high: 2.0 * point - quantile(kept, alpha / 2.0),
        bca_low,
        bca_high,
        zero_fraction: kept.iter().filter(|&&v| v == 0.0).count() as f64 / r.max(1) as f64,
        replicates: r,
    }
}
