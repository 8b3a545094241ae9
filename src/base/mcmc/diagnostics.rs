//! MCMC convergence diagnostics as Stan and ArviZ compute them (Vehtari et al. 2021): rank-
//! normalised split R-hat, bulk effective sample size, and the Monte-Carlo standard error of the
//! mean. The posterior-mean estimator reports these per weight, and the fidelity check against
//! numpyro needs MCSEs computed the same way numpyro's own summaries are.

/// A fit flagged when any weight's R-hat exceeds this (Vehtari et al. 2021), or the larger
/// [`rhat_resolution`] where the run's draws cannot resolve 1.01.
pub const RHAT_WARN: f64 = 1.01;

/// Chance of a false alarm per weight that [`rhat_resolution`] allows: with 29 weights, two
/// R-hats (bulk and tail) each and 5,280 fits, about one false alarm in three runs.
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
/// A fit flagged when any weight's bulk ESS is below this.
pub const ESS_WARN: f64 = 400.0;

/// Diagnostics of one scalar quantity over several chains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Diagnostics {
    /// Mean over all draws.
    pub mean: f64,
    /// Standard deviation over all draws.
    pub sd: f64,
    /// Monte-Carlo standard error of `mean` (sd / √ESS of the split raw draws).
    pub mcse: f64,
    /// Rank-normalised split R-hat: max of the bulk and the folded (tail) versions.
    pub rhat: f64,
    /// Bulk ESS: ESS of the rank-normalised split chains.
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
pub fn rhat(chains: &[&[f64]]) -> f64 {
    let m = chains.len() as f64;
    let n = chains[0].len() as f64;
    let means: Vec<f64> = chains.iter().map(|c| c.iter().sum::<f64>() / n).collect();
    let grand = means.iter().sum::<f64>() / m;
    let b = n / (m - 1.0) * means.iter().map(|x| (x - grand) * (x - grand)).sum::<f64>();
    let w = chains
        .iter()
        .zip(&means)
        .map(|(c, mu)| c.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / (n - 1.0))
        .sum::<f64>()
        / m;
    if w == 0.0 {
        return if b == 0.0 { 1.0 } else { f64::INFINITY };
    }
    (((n - 1.0) / n * w + b / n) / w).sqrt()
}

/// Σ a[i]·b[i] in four interleaved partial sums.
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

/// Stan's multi-chain ESS as ArviZ implements it (bit for bit up to the FFT's round-off):
/// autocorrelations combined across chains, Geyer's initial positive and monotone sequences,
/// and the antithetic-chain correction.
pub fn ess(chains: &[&[f64]]) -> f64 {
    let m = chains.len();
    let n = chains[0].len();
    if n < 4 {
        return f64::NAN; // too short for any autocorrelation estimate
    }
    let means: Vec<f64> = chains
        .iter()
        .map(|c| c.iter().sum::<f64>() / n as f64)
        .collect();
    // Autocovariance (biased, /N) of every chain at lag t, computed lazily, from chains
    // centred once; four partial sums, as one running sum would wait on each addition.
    let centred: Vec<Vec<f64>> = chains
        .iter()
        .zip(&means)
        .map(|(c, mu)| c.iter().map(|v| v - mu).collect())
        .collect();
    let acov = |t: usize| -> f64 {
        centred
            .iter()
            .map(|c| lagged_dot(&c[..n - t], &c[t..]) / n as f64)
            .sum::<f64>()
            / m as f64
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
    let rho = |t: usize| 1.0 - (mean_var - acov(t)) / var_plus;
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

/// [`diagnose`] for many quantities with the same chain shape, computed faster and to the same
/// result: one integer sort per quantity (draws are f32), the folded ranks by merging outwards
/// from the median instead of a second sort, and Φ⁻¹ of every possible (half-)rank tabulated
/// once. Summarising 5,280 fits × 29 weights × 8,000 draws is otherwise a large part of a run.
pub struct FastDiagnostics {
    chains: usize,
    draws: usize,
    /// Φ⁻¹((m/2 − 3/8)/(S + 1/4)) for m = 2·(average rank), m in 0..=2S.
    table: Vec<f64>,
    keys: Vec<u64>,
    scratch: Vec<u64>,
    run_start: Vec<u32>,
    merged_dist: Vec<f64>,
    merged_order: Vec<u32>,
    sorted: Vec<f64>,
    order: Vec<u32>,
    /// Split-chain values, flat: draw d of chain c is entry c·draws + d, so split chain 2c
    /// (the first half of chain c) and 2c + 1 are consecutive runs of draws/2.
    bulk: Vec<f64>,
    folded: Vec<f64>,
    raw: Vec<f64>,
}

impl FastDiagnostics {
    /// A workspace for `chains` chains of `draws` draws (an even number, ≥ 4).
    pub fn new(chains: usize, draws: usize) -> Self {
        assert!(
            draws >= 4 && draws.is_multiple_of(2),
            "even number of draws ≥ 4"
        );
        let s = chains * draws;
        let table = (0..=2 * s)
            .map(|m| inverse_normal_cdf((m as f64 / 2.0 - 0.375) / (s as f64 + 0.25)))
            .collect();
        FastDiagnostics {
            chains,
            draws,
            table,
            keys: Vec::with_capacity(s),
            scratch: vec![0; s],
            run_start: vec![0; s],
            merged_dist: vec![0.0; s],
            merged_order: vec![0; s],
            sorted: vec![0.0; s],
            order: vec![0; s],
            bulk: vec![0.0; s],
            folded: vec![0.0; s],
            raw: vec![0.0; s],
        }
    }

    /// Diagnostics of one quantity; `value(c, d)` is draw `d` of chain `c`.
    pub fn diagnose(&mut self, value: impl Fn(usize, usize) -> f32) -> Diagnostics {
        let (m, n) = (self.chains, self.draws);
        let s = m * n;
        let half = n / 2;
        self.keys.clear();
        let (mut sum, mut count) = (0.0f64, 0.0f64);
        for c in 0..m {
            for d in 0..n {
                let v = value(c, d);
                self.raw[c * n + d] = v as f64;
                sum += v as f64;
                count += 1.0;
                let bits = v.to_bits();
                let key = if bits >> 31 == 1 {
                    !bits
                } else {
                    bits | 0x8000_0000
                };
                self.keys.push(((key as u64) << 32) | (c * n + d) as u64);
            }
        }
        // The keys' low halves (the indices) rise in push order, so a stable sort on the high
        // halves is the full sort of the keys.
        sort_by_high_half(&mut self.keys, &mut self.scratch);
        for (i, &k) in self.keys.iter().enumerate() {
            let idx = (k & 0xffff_ffff) as usize;
            self.order[i] = idx as u32;
            self.sorted[i] = self.raw[idx];
        }
        let mean = sum / count;
        let sd = (self
            .raw
            .iter()
            .map(|v| (v - mean) * (v - mean))
            .sum::<f64>()
            / (count - 1.0))
            .sqrt();
        let median = if s % 2 == 1 {
            self.sorted[s / 2]
        } else {
            0.5 * (self.sorted[s / 2 - 1] + self.sorted[s / 2])
        };
        // Bulk ranks: runs of equal values share their average rank.
        average_ranks(&self.sorted, &self.table, &mut self.run_start, |i, z| {
            self.bulk[self.order[i] as usize] = z
        });
        // Folded ranks of |x − median|: merge the two sides, nearest to the median first
        // (without branches: which side comes next is a coin toss the CPU cannot predict).
        let split_at = self.sorted.partition_point(|&v| v < median);
        let (mut lo, mut hi) = (split_at, split_at); // left side: lo-1 downwards
        for slot in 0..s {
            let dist_lo = if lo > 0 {
                median - self.sorted[lo.saturating_sub(1)]
            } else {
                f64::INFINITY
            };
            let dist_hi = if hi < s {
                self.sorted[hi.min(s - 1)] - median
            } else {
                f64::INFINITY
            };
            let take_lo = dist_lo <= dist_hi;
            let at = if take_lo {
                lo.saturating_sub(1)
            } else {
                hi.min(s - 1)
            };
            self.merged_dist[slot] = if take_lo { dist_lo } else { dist_hi };
            self.merged_order[slot] = self.order[at];
            lo -= take_lo as usize;
            hi += !take_lo as usize;
        }
        average_ranks(
            &self.merged_dist,
            &self.table,
            &mut self.run_start,
            |i, z| self.folded[self.merged_order[i] as usize] = z,
        );
        fn halves(v: &[f64], half: usize) -> Vec<&[f64]> {
            v.chunks(half).collect()
        }
        let ess_mean = ess(&halves(&self.raw, half));
        let bulk = halves(&self.bulk, half);
        Diagnostics {
            mean,
            sd,
            mcse: sd / ess_mean.sqrt(),
            rhat: rhat(&bulk).max(rhat(&halves(&self.folded, half))),
            ess_bulk: ess(&bulk),
        }
    }
}

/// Calls `set(i, z)` for every position of the ascending `sorted` with z = `table[a + b + 2]`,
/// where a..=b is the run of values equal to `sorted[i]` (so z is Φ⁻¹ of the run's average
/// rank). Two branch-free passes: run starts forwards, run ends backwards.
fn average_ranks(
    sorted: &[f64],
    table: &[f64],
    run_start: &mut [u32],
    mut set: impl FnMut(usize, f64),
) {
    let s = sorted.len();
    if s == 0 {
        return;
    }
    let mut start = 0u32;
    run_start[0] = 0;
    for i in 1..s {
        start = if sorted[i] == sorted[i - 1] {
            start
        } else {
            i as u32
        };
        run_start[i] = start;
    }
    let mut end = s - 1;
    for i in (0..s).rev() {
        end = if i + 1 < s && sorted[i + 1] == sorted[i] {
            end
        } else {
            i
        };
        set(i, table[run_start[i] as usize + end + 2]);
    }
}

/// Sorts `keys` stably by their high 32 bits: a least-significant-digit radix sort in three
/// passes of 11, 11 and 10 bits (all three histograms from one read). On a fit's 8,000 draws it
/// is several times faster than a comparison sort, whose branches on random data mispredict.
fn sort_by_high_half(keys: &mut [u64], scratch: &mut Vec<u64>) {
    const SHIFTS: [u32; 3] = [32, 43, 54];
    const BUCKETS: usize = 1 << 11;
    scratch.resize(keys.len(), 0);
    let mut counts = [[0usize; BUCKETS]; 3];
    for &k in keys.iter() {
        for (c, shift) in counts.iter_mut().zip(SHIFTS) {
            c[((k >> shift) as usize) & (BUCKETS - 1)] += 1;
        }
    }
    let (mut from, mut to): (&mut [u64], &mut [u64]) = (keys, scratch.as_mut_slice());
    for (c, shift) in counts.iter_mut().zip(SHIFTS) {
        let mut at = 0;
        for slot in c.iter_mut() {
            let n = *slot;
            *slot = at;
            at += n;
        }
        for &k in from.iter() {
            let b = ((k >> shift) as usize) & (BUCKETS - 1);
            to[c[b]] = k;
            c[b] += 1;
        }
        std::mem::swap(&mut from, &mut to);
    }
    // Three passes leave the result in `scratch`.
    to.copy_from_slice(from);
}

#[cfg(test)]
mod radix_tests {
    use super::sort_by_high_half;
    use crate::base::rng::Rng;

    /// The radix sort gives the comparison sort's order on keys whose low halves rise, with
    /// many ties (the draws of a chain that rejects repeat its value).
    #[test]
    fn radix_sort_is_the_full_sort() {
        let mut rng = Rng::new(3);
        for n in [0, 1, 7, 1000, 8000] {
            let keys: Vec<u64> = (0..n)
                .map(|i| {
                    let v = if rng.uniform() < 0.3 {
                        5
                    } else {
                        rng.next_u64() as u32
                    };
                    ((v as u64) << 32) | i as u64
                })
                .collect();
            let mut expected = keys.clone();
            expected.sort_unstable();
            let mut got = keys.clone();
            sort_by_high_half(&mut got, &mut Vec::new());
            assert_eq!(got, expected, "n = {n}");
        }
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
