//! MCMC convergence diagnostics as Stan and ArviZ compute them (Vehtari et al. 2021): rank-
//! normalised split R-hat, bulk effective sample size, and the Monte-Carlo standard error of the
//! mean (from the ESS of the split raw draws). A posterior job reports these per weight with
//! `"diagnostics": "rank-normalised"` ([`Definition`](super::Definition)); the warning rule and the
//! [`Diagnostics`] record here serve both definitions.

/// A fit flagged when any weight's R-hat exceeds this (Vehtari et al. 2021), or the larger
/// [`rhat_resolution`] where the run's draws cannot resolve 1.01.
pub const RHAT_WARN: f64 = 1.01;

/// Chance of a false alarm per weight that [`rhat_resolution`] allows: with 29 weights, up to two
/// R-hats each (rank-normalised: bulk and tail; numpyro's: one) and 5,280 fits, at most about
/// one false alarm in three runs.
pub const RHAT_FALSE_ALARM: f64 = 1e-6;

/// The largest R-hat that converged chains still show with probability 1 − [`RHAT_FALSE_ALARM`],
/// given `chains` chains (split in two, J = 2·chains) and the weight's bulk ESS.
///
/// Under convergence the between-chain variance of J chains with n_e = ESS/J effective draws
/// each is σ²/n_e · χ²(J−1)/(J−1) (Gelman & Rubin 1992's decomposition), so
/// R̂² − 1 ≈ χ²(J−1)/((J−1)·n_e) − 1/n and R̂ − 1 reaches q/(2·n_e) with q the χ²(J−1)/(J−1)
/// quantile (Wilson–Hilferty). E.g. 4 chains and ESS 1,000 give 1.024: such a run cannot tell
/// 1.01 from noise, and warning on it would fire on every fit (Vats & Knudson 2021 make the
/// same point: the threshold must follow the effective sample size).
pub fn rhat_resolution(chains: usize, ess: f64) -> f64 {
    let j = (2 * chains) as f64;
    if chains < 1 || ess.is_nan() || ess <= 0.0 {
        return f64::NAN;
    }
    let k = j - 1.0;
    let z = normal_quantile_upper(RHAT_FALSE_ALARM);
    let c = 2.0 / (9.0 * k);
    let q = (1.0 - c + z * c.sqrt()).powi(3); // χ²(k)/k quantile, Wilson–Hilferty
    1.0 + q / (2.0 * ess / j)
}

/// The R-hat above which a weight is reported: 1.01, or [`rhat_resolution`] when larger.
///
/// The resolution is taken at an ESS of at least [`ESS_WARN`]: chains that do not mix have a
/// small ESS, which must not buy them a lenient R-hat (their ESS is reported anyway).
pub fn rhat_threshold(chains: usize, ess: f64) -> f64 {
    rhat_resolution(chains, ess.max(ESS_WARN)).max(RHAT_WARN)
}

/// z with P(Z > z) = p for small p (Abramowitz & Stegun 26.2.23, |error| < 4.5e-4).
fn normal_quantile_upper(p: f64) -> f64 {
    let t = (-2.0 * p.ln()).sqrt();
    t - (2.515517 + 0.802853 * t + 0.010328 * t * t)
        / (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t)
}
/// A fit flagged when any weight's ESS (bulk ESS, or numpyro's) is below this.
pub const ESS_WARN: f64 = 400.0;

/// Diagnostics of one scalar quantity over several chains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Diagnostics {
    /// Mean over all draws.
    pub mean: f64,
    /// Standard deviation over all draws.
    pub sd: f64,
    /// Monte-Carlo standard error of `mean`: sd / √ESS of the split raw draws (rank-normalised)
    /// or of numpyro's ESS (numpyro's definition).
    pub mcse: f64,
    /// Split R-hat: for rank-normalised, the max of the bulk and folded (tail) versions; for
    /// numpyro's, of the raw draws.
    pub rhat: f64,
    /// ESS: bulk ESS of the rank-normalised split chains, or numpyro's of the raw chains.
    pub ess_bulk: f64,
}

/// All diagnostics for `chains` (each a slice of equally many draws; at least 4 draws a chain).
pub fn diagnose(chains: &[&[f64]]) -> Diagnostics {
    let all: Vec<f64> = chains.iter().flat_map(|c| c.iter().copied()).collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let sd = (all.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)).sqrt();
    let split_raw = split(chains);
    let ess_mean = ess(&as_slices(&split_raw));
    let ranked = rank_normalise(&split_raw);
    let ess_bulk = ess(&as_slices(&ranked));
    let median = crate::base::stats::median(all.clone());
    let folded: Vec<Vec<f64>> = split_raw
        .iter()
        .map(|c| c.iter().map(|v| (v - median).abs()).collect())
        .collect();
    let rhat_bulk = rhat(&as_slices(&ranked));
    let rhat_tail = rhat(&as_slices(&rank_normalise(&folded)));
    Diagnostics {
        mean,
        sd,
        mcse: sd / ess_mean.sqrt(),
        rhat: rhat_bulk.max(rhat_tail),
        ess_bulk,
    }
}

fn as_slices(v: &[Vec<f64>]) -> Vec<&[f64]> {
    v.iter().map(|c| c.as_slice()).collect()
}

/// Each chain cut into its first and second half (the middle draw dropped when odd).
pub fn split(chains: &[&[f64]]) -> Vec<Vec<f64>> {
    let mut out = Vec::with_capacity(2 * chains.len());
    for c in chains {
        let half = c.len() / 2;
        out.push(c[..half].to_vec());
        out.push(c[c.len() - half..].to_vec());
    }
    out
}

/// Classic R-hat of (already split) chains: √(((N−1)/N·W + B/N) / W).
#[inline(always)]
pub fn rhat(chains: &[&[f64]]) -> f64 {
    let m = chains.len() as f64;
    let n = chains[0].len() as f64;
    let means: Vec<f64> = chain_sums(chains, |_, v| v)
        .into_iter()
        .map(|s| s / n)
        .collect();
    let grand = means.iter().sum::<f64>() / m;
    let b = n / (m - 1.0) * means.iter().map(|x| (x - grand) * (x - grand)).sum::<f64>();
    let w = chain_sums(chains, |c, v| (v - means[c]) * (v - means[c]))
        .into_iter()
        .map(|s| s / (n - 1.0))
        .sum::<f64>()
        / m;
    if w == 0.0 {
        return if b == 0.0 { 1.0 } else { f64::INFINITY };
    }
    (((n - 1.0) / n * w + b / n) / w).sqrt()
}

/// Σ f(c, v) over the values v of each chain c, each chain's sum in its own order, so the bits
/// of `chain.iter().map(..).sum()`; chains of equal length are summed side by side, eight at a
/// time: one running sum waits on each addition, eight overlap.
#[inline(always)]
fn chain_sums(chains: &[&[f64]], f: impl Fn(usize, f64) -> f64) -> Vec<f64> {
    const TOGETHER: usize = 8;
    let mut out = Vec::with_capacity(chains.len());
    let n = chains[0].len();
    for (g, group) in chains.chunks(TOGETHER).enumerate() {
        let c0 = g * TOGETHER;
        if group.iter().any(|c| c.len() != n) {
            for (i, c) in group.iter().enumerate() {
                out.push(c.iter().map(|&v| f(c0 + i, v)).sum::<f64>());
            }
            continue;
        }
        // −0.0, as `Sum for f64` starts: x + (−0.0) is x for every x, +0.0 included.
        let mut acc = [-0.0f64; TOGETHER];
        for d in 0..n {
            for (i, c) in group.iter().enumerate() {
                acc[i] += f(c0 + i, c[d]);
            }
        }
        out.extend_from_slice(&acc[..group.len()]);
    }
    out
}

/// `LAGS` autocovariance sums at once, lags t0, t0 + 1, …: entry i is the bits of
/// Σⱼ c[j]·c[j + t0 + i] over j < n − t0 − i, summed as four interleaved partial sums (the
/// order [`ess`] has always used); one pass over the chain serves all lags, and their sums
/// overlap instead of each waiting on its own additions. A lag ≥ n gives 0.
#[inline(always)]
pub(super) fn lagged_dots<const LAGS: usize>(c: &[f64], t0: usize) -> [f64; LAGS] {
    let n = c.len();
    let len = |i: usize| n.saturating_sub(t0 + i);
    let chunks = |i: usize| len(i) / 4;
    let mut acc = [[0f64; 4]; LAGS];
    // Chunks every lag has (the longest lag has fewest), all lags together.
    let common = chunks(LAGS - 1);
    for q in 0..common {
        let x = &c[4 * q..4 * q + 4];
        for (i, a) in acc.iter_mut().enumerate() {
            let y = &c[t0 + i + 4 * q..t0 + i + 4 * q + 4];
            for j in 0..4 {
                a[j] += x[j] * y[j];
            }
        }
    }
    let mut out = [0f64; LAGS];
    for (i, a) in acc.iter_mut().enumerate() {
        let t = t0 + i;
        for q in common..chunks(i) {
            for j in 0..4 {
                a[j] += c[4 * q + j] * c[t + 4 * q + j];
            }
        }
        let tail: f64 = (4 * chunks(i)..len(i)).map(|j| c[j] * c[t + j]).sum();
        out[i] = (a[0] + a[1]) + (a[2] + a[3]) + tail;
    }
    out
}

/// Stan's multi-chain ESS as ArviZ implements it (bit for bit up to the FFT's round-off):
/// autocorrelations combined across chains, Geyer's initial positive and monotone sequences,
/// and the antithetic-chain correction.
#[inline(always)]
pub fn ess(chains: &[&[f64]]) -> f64 {
    /// Autocovariances computed per pass over the chains (a few wasted at the end).
    const LAGS: usize = 4;
    let m = chains.len();
    let n = chains[0].len();
    if n < 4 {
        return f64::NAN; // too short for any autocorrelation estimate
    }
    let means: Vec<f64> = chain_sums(chains, |_, v| v)
        .into_iter()
        .map(|s| s / n as f64)
        .collect();
    // Autocovariance (biased, /N) of every chain at lag t, computed lazily (LAGS lags a pass)
    // from chains centred once.
    let centred: Vec<Vec<f64>> = chains
        .iter()
        .zip(&means)
        .map(|(c, mu)| c.iter().map(|v| v - mu).collect())
        .collect();
    let mut acov_at: Vec<f64> = Vec::new();
    let mut per_chain: Vec<[f64; LAGS]> = vec![[0.0; LAGS]; m];
    let mut acov = |t: usize| -> f64 {
        while acov_at.len() <= t {
            // Plain loops, not iterator adaptors: those stay out-of-line generic code, compiled
            // for baseline x86-64 even inside a caller built for AVX-512.
            let t0 = acov_at.len();
            for (d, c) in per_chain.iter_mut().zip(&centred) {
                *d = lagged_dots::<LAGS>(c, t0);
            }
            for i in 0..LAGS {
                // −0.0 as `Sum for f64` starts.
                let mut sum = -0.0f64;
                for d in &per_chain {
                    sum += d[i] / n as f64;
                }
                acov_at.push(sum / m as f64);
            }
        }
        acov_at[t]
    };
    let acov0 = acov(0);
    let mean_var = acov0 * n as f64 / (n as f64 - 1.0);
    let mut var_plus = mean_var * (n as f64 - 1.0) / n as f64;
    if m > 1 {
        let grand = means.iter().sum::<f64>() / m as f64;
        var_plus += means.iter().map(|x| (x - grand) * (x - grand)).sum::<f64>() / (m as f64 - 1.0);
    }
    if var_plus == 0.0 {
        return (m * n) as f64;
    }
    let mut rho = |t: usize| 1.0 - (mean_var - acov(t)) / var_plus;
    let mut rho_hat = vec![0f64; n + 2];
    rho_hat[0] = 1.0;
    let mut even = 1.0;
    let mut odd = rho(1);
    rho_hat[1] = odd;
    let mut t = 1;
    while t + 3 < n && even + odd > 0.0 {
        even = rho(t + 1);
        odd = rho(t + 2);
        if even + odd >= 0.0 {
            rho_hat[t + 1] = even;
            rho_hat[t + 2] = odd;
        }
        t += 2;
    }
    let max_t = t - 2;
    if even > 0.0 {
        rho_hat[max_t + 1] = even;
    }
    let mut s = 1;
    while s + 2 <= max_t {
        if rho_hat[s + 1] + rho_hat[s + 2] > rho_hat[s - 1] + rho_hat[s] {
            rho_hat[s + 1] = (rho_hat[s - 1] + rho_hat[s]) / 2.0;
            rho_hat[s + 2] = rho_hat[s + 1];
        }
        s += 2;
    }
    let total = (m * n) as f64;
    let tau = -1.0 + 2.0 * rho_hat[..=max_t].iter().sum::<f64>() + rho_hat[max_t + 1];
    total / tau.max(1.0 / total.log10())
}

/// Rank normalisation: pooled fractional ranks (ties averaged) mapped through Φ⁻¹ with
/// Blom's offset, (r − 3/8) / (S + 1/4).
pub fn rank_normalise(chains: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut idx: Vec<(usize, usize)> = chains
        .iter()
        .enumerate()
        .flat_map(|(c, v)| (0..v.len()).map(move |i| (c, i)))
        .collect();
    idx.sort_by(|a, b| chains[a.0][a.1].total_cmp(&chains[b.0][b.1]));
    let s = idx.len() as f64;
    let mut out: Vec<Vec<f64>> = chains.iter().map(|c| vec![0.0; c.len()]).collect();
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && chains[idx[j + 1].0][idx[j + 1].1] == chains[idx[i].0][idx[i].1]
        {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let z = inverse_normal_cdf((rank - 0.375) / (s + 0.25));
        for &(c, k) in &idx[i..=j] {
            out[c][k] = z;
        }
        i = j + 1;
    }
    out
}

/// Φ⁻¹(p) by Acklam's rational approximation (relative error < 1.2e-9: ample for ranks).
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let p_low = 0.024_25;
    if p < p_low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - p_low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

#[cfg(test)]
mod resolution_tests {
    use super::*;
    use crate::base::rng::Rng;

    /// Stationary AR(1) chains (ρ = 0.5, started in the stationary law) are converged by
    /// construction but autocorrelated, as a sampler's are: at 300 draws a chain (ESS ≈ 400),
    /// 1.01 flags many of their weights, the resolution threshold (almost) none.
    #[test]
    fn converged_chains_stay_under_the_resolution_threshold() {
        let mut rng = Rng::new(7);
        let (chains, draws, weights, rho) = (4, 300, 2000, 0.5f64);
        let innovation = (1.0 - rho * rho).sqrt();
        let (mut over_fixed, mut over_resolution) = (0, 0);
        for _ in 0..weights {
            let c: Vec<Vec<f64>> = (0..chains)
                .map(|_| {
                    let mut x = rng.normal();
                    (0..draws)
                        .map(|_| {
                            x = rho * x + innovation * rng.normal();
                            x
                        })
                        .collect()
                })
                .collect();
            let refs: Vec<&[f64]> = c.iter().map(|v| v.as_slice()).collect();
            let d = diagnose(&refs);
            over_fixed += (d.rhat > RHAT_WARN) as usize;
            over_resolution += (d.rhat > rhat_threshold(chains, d.ess_bulk)) as usize;
        }
        assert!(
            over_fixed > 50,
            "1.01 flagged only {over_fixed} of {weights}"
        );
        assert!(
            over_resolution <= 1,
            "{over_resolution} of {weights} flagged"
        );
        // 1.01 is the threshold again once the draws resolve it, never anything lower.
        assert!(rhat_resolution(4, 1200.0) > 1.01);
        assert_eq!(rhat_threshold(4, 1e6), RHAT_WARN);
        assert!(rhat_resolution(4, 1e5) < 1.001);
        assert!(rhat_resolution(4, 0.0).is_nan());
    }

    /// A chain stuck elsewhere is still caught, however small its ESS.
    #[test]
    fn a_displaced_chain_is_flagged() {
        let mut rng = Rng::new(8);
        let c: Vec<Vec<f64>> = (0..4)
            .map(|i| {
                (0..300)
                    .map(|_| rng.normal() + if i == 0 { 3.0 } else { 0.0 })
                    .collect()
            })
            .collect();
        let refs: Vec<&[f64]> = c.iter().map(|v| v.as_slice()).collect();
        let d = diagnose(&refs);
        assert!(d.rhat > rhat_threshold(4, d.ess_bulk), "{d:?}");
    }
}

#[cfg(test)]
mod sum_tests {
    use super::{chain_sums, lagged_dots};
    use crate::base::rng::Rng;

    /// The four partial sums `ess` has always used for one lag, as it wrote them.
    fn lagged_dot(a: &[f64], b: &[f64]) -> f64 {
        let mut acc = [0f64; 4];
        let (a4, a_rest) = a.as_chunks::<4>();
        let (b4, b_rest) = b[..a.len()].as_chunks::<4>();
        for (x, y) in a4.iter().zip(b4) {
            for j in 0..4 {
                acc[j] += x[j] * y[j];
            }
        }
        let tail: f64 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
        (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
    }

    /// Several lags in one pass, and chains summed side by side, give the bits of one lag and
    /// one chain at a time, at every length's remainder mod 4 and lags past the end.
    #[test]
    fn batched_sums_are_the_one_at_a_time_bits() {
        let mut rng = Rng::new(4);
        for n in [4, 5, 6, 7, 13, 300, 1001] {
            let c: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
            for t0 in [0, 1, 2, n - 2, n - 1, n] {
                let got = lagged_dots::<4>(&c, t0);
                for (i, g) in got.iter().enumerate() {
                    let t = t0 + i;
                    let want = if t < n {
                        lagged_dot(&c[..n - t], &c[t..])
                    } else {
                        0.0
                    };
                    assert_eq!(g.to_bits(), want.to_bits(), "n {n}, lag {t}");
                }
            }
            let chains: Vec<Vec<f64>> = (0..11)
                .map(|_| (0..n).map(|_| rng.normal()).collect())
                .collect();
            let refs: Vec<&[f64]> = chains.iter().map(|c| c.as_slice()).collect();
            let got = chain_sums(&refs, |c, v| v * v + c as f64);
            for (c, (g, chain)) in got.iter().zip(&chains).enumerate() {
                let want: f64 = chain.iter().map(|&v| v * v + c as f64).sum();
                assert_eq!(g.to_bits(), want.to_bits(), "n {n}, chain {c}");
            }
        }
    }
}
