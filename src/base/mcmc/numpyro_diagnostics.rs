//! The diagnostics of [`Definition::Numpyro`](super::Definition::Numpyro): numpyro's
//! `split_gelman_rubin` and `effective_sample_size` (numpyro 0.22, `numpyro/diagnostics.py`)
//! on the raw draws, the R-hat and ESS the paper's authors' numpyro summaries print. The plain
//! functions here are the reference (every autocovariance lag computed, as numpyro's FFT does);
//! [`NumpyroDiagnostics`] is the fast path a posterior job uses, held to them by tests, and
//! they to numpyro's own values by `tests/data/numpyro_reference.json`.
//!
//! One deliberate difference: where numpyro's τ (the integrated autocorrelation time) falls
//! below 1/log₁₀ S (antithetic chains; numpyro would report an ESS above S·log₁₀ S, or a
//! negative one), it is held at that bound, as Stan and ArviZ hold theirs.

use super::diagnostics::{Diagnostics, lagged_dots};

/// numpyro's `_compute_chain_variance_stats`: the within-chain variance W (each chain's
/// variance with ddof 1, averaged) and the estimator V̂ = W·(N−1)/N + the chain means'
/// variance (ddof 1); with one chain both are W·(N−1)/N.
fn variance_stats(chains: &[&[f64]]) -> (f64, f64) {
    let n = chains[0].len();
    let means: Vec<f64> = chains
        .iter()
        .map(|c| c.iter().sum::<f64>() / n as f64)
        .collect();
    let vars: Vec<f64> = chains
        .iter()
        .zip(&means)
        .map(|(c, mu)| c.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / (n as f64 - 1.0))
        .collect();
    stats_from(&means, &vars, n)
}

/// √(V̂/W); chains that never move (W = 0) give 1 when they agree and ∞ when they do not, as
/// the rank-normalised R-hat does, where numpyro would divide by zero.
fn rhat_of(w: f64, v: f64) -> f64 {
    if w == 0.0 {
        return if v == 0.0 { 1.0 } else { f64::INFINITY };
    }
    (v / w).sqrt()
}

/// S/τ with τ held at least 1/log₁₀ S (see the module's doc); NaN where τ is (non-finite
/// draws), which `max` would otherwise turn into the bound.
fn ess_of(total: f64, tau: f64) -> f64 {
    if tau.is_nan() {
        return f64::NAN;
    }
    total / tau.max(1.0 / total.log10())
}

/// numpyro's `split_gelman_rubin`: R-hat of the chains' first and last halves (the middle
/// draw of an odd-length chain left out), at least 4 draws a chain.
pub fn split_gelman_rubin(chains: &[&[f64]]) -> f64 {
    let h = chains[0].len() / 2;
    let halves: Vec<&[f64]> = chains
        .iter()
        .map(|c| &c[..h])
        .chain(chains.iter().map(|c| &c[c.len() - h..]))
        .collect();
    let (w, v) = variance_stats(&halves);
    rhat_of(w, v)
}

/// numpyro's `effective_sample_size` (unsplit chains, biased autocovariances averaged over
/// chains, Geyer's initial positive pairs made monotone by a running minimum); NaN under 4
/// draws a chain, S when the draws never vary.
pub fn effective_sample_size(chains: &[&[f64]]) -> f64 {
    let (m, n) = (chains.len(), chains[0].len());
    if n < 4 {
        return f64::NAN;
    }
    let total = (m * n) as f64;
    let (w, v) = variance_stats(chains);
    if v == 0.0 {
        return total;
    }
    let centred: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| {
            let mu = c.iter().sum::<f64>() / n as f64;
            c.iter().map(|x| x - mu).collect()
        })
        .collect();
    let gamma = |t: usize| {
        centred
            .iter()
            .map(|c| (0..n - t).map(|j| c[j] * c[j + t]).sum::<f64>() / n as f64)
            .sum::<f64>()
            / m as f64
    };
    let rho: Vec<f64> = (0..n)
        .map(|t| {
            if t == 0 {
                1.0
            } else {
                1.0 - (w - gamma(t)) / v
            }
        })
        .collect();
    let pairs: Vec<f64> = (0..n / 2).map(|j| rho[2 * j] + rho[2 * j + 1]).collect();
    let mut sum = pairs[0];
    let mut running = f64::INFINITY;
    for &p in &pairs[1..] {
        running = running.min(p.max(0.0));
        sum += running;
    }
    ess_of(total, -1.0 + 2.0 * sum)
}

/// Mean, sd, MCSE (sd/√ESS), split R-hat and ESS of one quantity by numpyro's definitions,
/// the plain way; `ess_bulk` holds numpyro's ESS.
pub fn diagnose_numpyro(chains: &[&[f64]]) -> Diagnostics {
    let all: Vec<f64> = chains.iter().flat_map(|c| c.iter().copied()).collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let sd = (all.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)).sqrt();
    let ess = effective_sample_size(chains);
    Diagnostics {
        mean,
        sd,
        mcse: sd / ess.sqrt(),
        rhat: split_gelman_rubin(chains),
        ess_bulk: ess,
    }
}

/// [`diagnose_numpyro`] for many quantities of one chain shape, the way a posterior job needs
/// it: sums eight wide in two passes over the draws, and the autocovariances only up to the lag
/// where numpyro's running minimum reaches zero (every later pair then adds zero), four lags a
/// pass. The same values as the reference up to round-off (the sums' order differs).
pub struct NumpyroDiagnostics {
    chains: usize,
    draws: usize,
    raw: Vec<f64>,
    centred: Vec<f64>,
    acov: Vec<f64>,
    /// Each chain's mean and variance, then each half's (first halves, then second halves).
    chain_mean: Vec<f64>,
    chain_var: Vec<f64>,
    half_mean: Vec<f64>,
    half_var: Vec<f64>,
}

/// Partial sums kept side by side (one AVX-512 register of doubles).
const WIDE: usize = 8;

impl NumpyroDiagnostics {
    /// A workspace for `chains` chains of `draws` draws (≥ 4).
    pub fn new(chains: usize, draws: usize) -> Self {
        assert!(chains >= 1 && draws >= 4, "at least one chain of 4 draws");
        NumpyroDiagnostics {
            chains,
            draws,
            raw: vec![0.0; chains * draws],
            centred: vec![0.0; chains * draws],
            acov: Vec::new(),
            chain_mean: vec![0.0; chains],
            chain_var: vec![0.0; chains],
            half_mean: vec![0.0; 2 * chains],
            half_var: vec![0.0; 2 * chains],
        }
    }

    /// Diagnostics of one quantity; `value(c, d)` is draw `d` of chain `c`.
    pub fn diagnose(&mut self, value: impl Fn(usize, usize) -> f32) -> Diagnostics {
        #[cfg(target_arch = "x86_64")]
        {
            use crate::base::simd::{Level, level};
            // SAFETY (both arms): the CPU supports the features the functions are compiled for.
            match level() {
                Level::Avx512 => unsafe { return self.diagnose_avx512(value) },
                Level::Avx2 => unsafe { return self.diagnose_avx2(value) },
                Level::Portable => {}
            }
        }
        self.diagnose_body(value)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
    unsafe fn diagnose_avx512(&mut self, value: impl Fn(usize, usize) -> f32) -> Diagnostics {
        self.diagnose_body(value)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn diagnose_avx2(&mut self, value: impl Fn(usize, usize) -> f32) -> Diagnostics {
        self.diagnose_body(value)
    }

    #[inline(always)]
    fn diagnose_body(&mut self, value: impl Fn(usize, usize) -> f32) -> Diagnostics {
        let (m, n) = (self.chains, self.draws);
        let h = n / 2;
        let total = (m * n) as f64;
        let (chain_mean, chain_var) = (&mut self.chain_mean, &mut self.chain_var);
        let (half_mean, half_var) = (&mut self.half_mean, &mut self.half_var);
        // Pass 1: the draws as f64, each chain's and each half's sum.
        for c in 0..m {
            let row = &mut self.raw[c * n..(c + 1) * n];
            for (d, r) in row.iter_mut().enumerate() {
                *r = value(c, d) as f64;
            }
            chain_mean[c] = wide_sum(row, |v| v) / n as f64;
            half_mean[c] = wide_sum(&row[..h], |v| v) / h as f64;
            half_mean[m + c] = wide_sum(&row[n - h..], |v| v) / h as f64;
        }
        let mean = chain_mean.iter().sum::<f64>() / m as f64;
        // Pass 2: deviations from the grand, chain and half means; the chains centred.
        let squares = |x: &[f64], mu: f64| wide_sum(x, |v| (v - mu) * (v - mu));
        let mut all_sq = 0.0;
        for c in 0..m {
            let row = &self.raw[c * n..(c + 1) * n];
            all_sq += squares(row, mean);
            half_var[c] = squares(&row[..h], half_mean[c]) / (h as f64 - 1.0);
            half_var[m + c] = squares(&row[n - h..], half_mean[m + c]) / (h as f64 - 1.0);
            let out = &mut self.centred[c * n..(c + 1) * n];
            for (o, v) in out.iter_mut().zip(row) {
                *o = v - chain_mean[c];
            }
            chain_var[c] = wide_sum(out, |v| v * v) / (n as f64 - 1.0);
        }
        let sd = (all_sq / (total - 1.0)).sqrt();
        let (hw, hv) = stats_from(half_mean, half_var, h);
        let (w, v) = stats_from(chain_mean, chain_var, n);
        let ess = if v == 0.0 {
            total
        } else {
            self.ess_lazily(w, v, total)
        };
        Diagnostics {
            mean,
            sd,
            mcse: sd / ess.sqrt(),
            rhat: rhat_of(hw, hv),
            ess_bulk: ess,
        }
    }

    /// numpyro's ESS from the centred chains, computing lags four at a time until the running
    /// minimum of the pairs reaches zero.
    #[inline(always)]
    fn ess_lazily(&mut self, w: f64, v: f64, total: f64) -> f64 {
        const LAGS: usize = 4;
        let (m, n) = (self.chains, self.draws);
        self.acov.clear();
        let (centred, acov) = (&self.centred, &mut self.acov);
        let mut rho = |t: usize| -> f64 {
            while acov.len() <= t {
                let t0 = acov.len();
                let mut batch = [0.0f64; LAGS];
                for c in 0..m {
                    let dots = lagged_dots::<LAGS>(&centred[c * n..(c + 1) * n], t0);
                    for (b, d) in batch.iter_mut().zip(dots) {
                        *b += d / n as f64;
                    }
                }
                acov.extend(batch.iter().map(|b| b / m as f64));
            }
            1.0 - (w - acov[t]) / v
        };
        let mut sum = 1.0 + rho(1);
        let mut running = f64::INFINITY;
        for j in 1..n / 2 {
            running = running.min((rho(2 * j) + rho(2 * j + 1)).max(0.0));
            if running == 0.0 {
                break; // every later pair adds zero
            }
            sum += running;
        }
        ess_of(total, -1.0 + 2.0 * sum)
    }
}

/// W and V̂ of [`variance_stats`] from each chain's mean and variance (chains of `len` draws).
#[inline(always)]
fn stats_from(means: &[f64], vars: &[f64], len: usize) -> (f64, f64) {
    let m = means.len() as f64;
    let w = vars.iter().sum::<f64>() / m;
    let v = w * (len as f64 - 1.0) / len as f64;
    if means.len() == 1 {
        return (v, v);
    }
    let grand = means.iter().sum::<f64>() / m;
    let between = means.iter().map(|x| (x - grand) * (x - grand)).sum::<f64>() / (m - 1.0);
    (w, v + between)
}

/// Σ f(x), [`WIDE`] partial sums side by side.
#[inline(always)]
fn wide_sum(x: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; WIDE];
    let chunks = x.chunks_exact(WIDE);
    let tail: f64 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for ch in chunks {
        for (a, &v) in acc.iter_mut().zip(ch) {
            *a += f(v);
        }
    }
    acc.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::rng::Rng;

    fn ar1(rng: &mut Rng, m: usize, n: usize, phi: f64, repeat: f64) -> Vec<Vec<f32>> {
        (0..m)
            .map(|_| {
                let mut x = 0.0f64;
                (0..n)
                    .map(|_| {
                        if rng.uniform() >= repeat {
                            x = phi * x + rng.normal();
                        }
                        x as f32
                    })
                    .collect()
            })
            .collect()
    }

    /// The fast path gives the reference's values (every lag computed) for mixing, sticky,
    /// antithetic and odd-length chains, one chain or many.
    #[test]
    fn fast_path_equals_the_reference() {
        let mut rng = Rng::new(11);
        for (m, n, phi, repeat) in [
            (4, 600, 0.5, 0.0),
            (4, 400, 0.95, 0.2),
            (4, 300, -0.7, 0.0),
            (3, 201, 0.3, 0.5),
            (1, 100, 0.6, 0.0),
            (16, 8, 0.2, 0.0),
        ] {
            let chains = ar1(&mut rng, m, n, phi, repeat);
            let as_f64: Vec<Vec<f64>> = chains
                .iter()
                .map(|c| c.iter().map(|&v| v as f64).collect())
                .collect();
            let refs: Vec<&[f64]> = as_f64.iter().map(|c| c.as_slice()).collect();
            let want = diagnose_numpyro(&refs);
            let got = NumpyroDiagnostics::new(m, n).diagnose(|c, d| chains[c][d]);
            for (a, b, what) in [
                (got.mean, want.mean, "mean"),
                (got.sd, want.sd, "sd"),
                (got.mcse, want.mcse, "mcse"),
                (got.rhat, want.rhat, "rhat"),
                (got.ess_bulk, want.ess_bulk, "ess"),
            ] {
                assert!(
                    (a - b).abs() <= 1e-10 * b.abs().max(1e-300),
                    "{m}×{n} φ {phi} {what}: {a} vs {b}"
                );
            }
        }
    }

    /// Draws that never move: R-hat 1, ESS the draw count, no NaN.
    #[test]
    fn constant_draws_are_converged() {
        let d = NumpyroDiagnostics::new(4, 10).diagnose(|_, _| 0.25);
        assert_eq!((d.rhat, d.ess_bulk, d.sd), (1.0, 40.0, 0.0));
    }

    /// A NaN draw gives NaN diagnostics, not the ESS bound.
    #[test]
    fn a_nan_draw_is_not_a_large_ess() {
        let mut rng = Rng::new(4);
        let chains = ar1(&mut rng, 4, 50, 0.3, 0.0);
        let d = NumpyroDiagnostics::new(4, 50).diagnose(|c, i| {
            if (c, i) == (2, 7) {
                f32::NAN
            } else {
                chains[c][i]
            }
        });
        assert!(d.ess_bulk.is_nan() && d.rhat.is_nan(), "{d:?}");
    }
}
