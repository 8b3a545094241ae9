//! From a statistic's bootstrap replicates to its summary: mean, sd, percentile interval and,
//! optionally, the BCa interval (Efron 1987) with the acceleration from a jackknife.

use serde::Serialize;

use crate::base::mcmc::diagnostics::inverse_normal_cdf;

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
    summarise_monotone(point, &mut kept, level, jackknife, |v| v)
}

/// [`summarise`] of the statistic `f(·)` of replicates without NaNs, for an increasing `f`:
/// its order statistics are `f` of the replicates' own, so a weight and its probability share
/// one pass. Only the order statistics the intervals need are found (`select_nth_unstable`,
/// linear time), not a full sort; `kept` is reordered.
pub fn summarise_monotone(
    point: f64,
    kept: &mut [f64],
    level: f64,
    jackknife: Option<&[f64]>,
    f: impl Fn(f64) -> f64,
) -> Interval {
    let r = kept.len();
    let fpoint = f(point);
    let (mut sum, mut zeros, mut below, mut ties) = (0.0, 0usize, 0usize, 0usize);
    for &v in kept.iter() {
        let fv = f(v);
        sum += fv;
        zeros += (fv == 0.0) as usize;
        below += (fv < fpoint) as usize;
        ties += (fv == fpoint) as usize;
    }
    let mean = sum / r as f64;
    let ss: f64 = kept.iter().map(|&v| (f(v) - mean) * (f(v) - mean)).sum();
    let sd = (ss / (r as f64 - 1.0)).sqrt();
    let alpha = 1.0 - level;
    let mut levels = vec![alpha / 2.0, 1.0 - alpha / 2.0];
    if let Some(jack) = jackknife
        && r >= 2
        && point.is_finite()
    {
        // Bias correction: the share of replicates below the point estimate (ties count
        // half, which matters where an L1 MAP sits exactly at 0), kept off 0 and 1.
        let share = ((below as f64 + 0.5 * ties as f64) / r as f64)
            .clamp(0.5 / r as f64, 1.0 - 0.5 / r as f64);
        let z0 = inverse_normal_cdf(share);
        let fjack: Vec<f64> = jack.iter().map(|&t| f(t)).collect();
        let a = acceleration(&fjack);
        for q in [alpha / 2.0, 1.0 - alpha / 2.0] {
            let z = inverse_normal_cdf(q);
            levels.push(normal_cdf(z0 + (z0 + z) / (1.0 - a * (z0 + z))));
        }
    }
    // Each quantile interpolates two order statistics; select them in increasing order, each
    // in the part of the slice right of the previous one, which earlier selections fixed.
    let at = |q: f64| {
        let h = (r.max(1) - 1) as f64 * q.clamp(0.0, 1.0);
        (h, h.floor() as usize)
    };
    let mut wanted: Vec<usize> = levels
        .iter()
        .flat_map(|&q| {
            let (_, lo) = at(q);
            [lo, (lo + 1).min(r.saturating_sub(1))]
        })
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    if r > 0 {
        let mut start = 0;
        for &i in &wanted {
            if i >= start {
                kept[start..].select_nth_unstable_by(i - start, f64::total_cmp);
                start = i + 1;
            }
        }
    }
    let quant = |q: f64| {
        if r == 0 {
            return f64::NAN;
        }
        let (h, lo) = at(q);
        let hi = (lo + 1).min(r - 1);
        let (a, b) = (f(kept[lo]), f(kept[hi]));
        a + (h - lo as f64) * (b - a)
    };
    let (ci_low, ci_high) = (quant(levels[0]), quant(levels[1]));
    let (bca_low, bca_high) = if levels.len() == 4 {
        (Some(quant(levels[2])), Some(quant(levels[3])))
    } else {
        (None, None)
    };
    Interval {
        point: fpoint,
        boot_mean: mean,
        boot_sd: sd,
        ci_low,
        ci_high,
        basic_low: 2.0 * fpoint - ci_high,
        basic_high: 2.0 * fpoint - ci_low,
        bca_low,
        bca_high,
        zero_fraction: zeros as f64 / r.max(1) as f64,
        replicates: r,
    }
}
