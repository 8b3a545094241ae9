//! Posterior means with zero-variance control variates: the same draws, a far smaller
//! Monte-Carlo error.
//!
//! Any h(w) whose posterior mean is known to be 0 can be subtracted from the draws, w − βᵀh,
//! without changing the expectation; with β the regression of w on h, the variance falls by the
//! share of w's variance that h explains (Assaraf & Caffarel 1999; Mira, Solgi & Imparato 2013).
//! By Stein's identity ∫ ∂ⱼ(φ·π) = 0, so ∂ⱼφ + φ·sⱼ has mean 0 for any φ with φ·π continuous
//! and vanishing at infinity (sⱼ = ∂ⱼ log π). Used here:
//!
//! - φ = 1: the score sⱼ = ∂ⱼ log π = −(∂ⱼ loss + λ·sign wⱼ). For a Gaussian posterior
//!   N(μ, Σ), w = μ − Σ·s exactly, so the weights the data pin down lose nearly all their
//!   Monte-Carlo error.
//! - φ = |wⱼ| (continuous, so φ·π is too): kⱼ = sign wⱼ + |wⱼ|·sⱼ. For the weights the data say
//!   little about, whose posterior is close to the Laplace prior itself, wⱼ = −kⱼ/λ − sⱼ/λ²
//!   exactly under the prior alone.
//! - φ = wⱼ and φ = wⱼ²/2: 1 + wⱼ·sⱼ and wⱼ + ½wⱼ²·sⱼ, for skewed posteriors.
//!
//! Weight j is regressed on the 29 scores and its 3 own terms (32 regressors), over all chains'
//! draws of the fit. The Monte-Carlo error is that of the corrected series, from its effective
//! sample size like any chain average, less the 32 draws spent on the coefficients
//! (√(var / (ESS − 32))). Checked against 4 × 20,000-draw runs (`benches/cv_calibration.sh`):
//! with fast.json's 4 × 300 draws, z = Δ / combined MCSE has sd 1.02–1.05 over every weight of
//! 160–320 fits (4 × 200 draws: 1.05; 4 × 100: 1.10–1.13). Coefficients fitted on
//! half of the chains and applied to the other half (cross-fitting) were tried: better
//! calibrated on average, but now and then a chain's excursion outside the other half's range
//! made them useless (MCSE 0.26).

use super::sampler::ChainOutput;
use crate::base::features::{MAX_K, PAPER_K};
use crate::base::mcmc::diagnostics::ess;
use ndarray::{Array2, s};
use regression::coefficients;

mod regression;
mod simd;

/// Own terms per weight: kink (φ = |wⱼ|), φ = wⱼ and φ = wⱼ²/2.
const OWN: usize = 3;

/// Where a fit of `nf` weights keeps its regressors in the per-draw matrix: `nf` scores,
/// `nf` × [`OWN`] own terms (weight-major), `nf` weights.
#[derive(Clone, Copy)]
struct Layout {
    nf: usize,
}

impl Layout {
    /// Regressors per weight: the nf scores and the weight's own terms.
    fn p(self) -> usize {
        self.nf + OWN
    }
    /// Columns of the per-draw matrix.
    fn cols(self) -> usize {
        self.nf * (2 + OWN)
    }
    /// First own-term column.
    fn k0(self) -> usize {
        self.nf
    }
    /// First weight column.
    fn w0(self) -> usize {
        self.nf * (1 + OWN)
    }
}

/// A fit's control-variate estimates.
#[derive(Clone, Debug)]
pub struct CvMeans {
    /// Posterior mean per weight.
    pub mean: [f64; MAX_K],
    /// Its Monte-Carlo standard error.
    pub mcse: [f64; MAX_K],
}

/// The control-variate estimate of every weight's posterior mean from one fit's chains (all of
/// the same length, with scores recorded). `None` when there are too few draws to fit the
/// coefficients (fewer than 4 per coefficient) or the regressors are degenerate.
pub fn cv_means(chains: &[ChainOutput]) -> Option<CvMeans> {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::base::simd::{Level, level};
        // SAFETY (both arms): the CPU supports the features the functions are compiled for.
        match level() {
            Level::Avx512 => unsafe { return cv_means_avx512(chains) },
            Level::Avx2 => unsafe { return cv_means_avx2(chains) },
            Level::Portable => {}
        }
    }
    cv_means_body(chains)
}

/// The same operations in the same order (the same bits), its loops (the corrected series'
/// autocovariances above all) eight or four doubles wide instead of SSE2's two.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
unsafe fn cv_means_avx512(chains: &[ChainOutput]) -> Option<CvMeans> {
    cv_means_body(chains)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn cv_means_avx2(chains: &[ChainOutput]) -> Option<CvMeans> {
    cv_means_body(chains)
}

#[inline(always)]
fn cv_means_body(chains: &[ChainOutput]) -> Option<CvMeans> {
    let nf = chains[0].nf;
    let lay = Layout { nf };
    let (p, cols, k0, w0) = (lay.p(), lay.cols(), lay.k0(), lay.w0());
    let n = chains[0].draws.len() / nf;
    let total = n * chains.len();
    if total < 4 * p
        || chains
            .iter()
            .any(|c| c.scores.len() != c.draws.len() || c.nf != nf)
    {
        return None;
    }
    // One row per draw, chain by chain: each row built on the stack and appended, so the
    // matrix (megabytes) is written once instead of zeroed first.
    let mut z = Vec::with_capacity(total * cols);
    let mut row = [0f64; (2 + OWN) * MAX_K];
    for (c, d) in chains.iter().flat_map(|c| (0..n).map(move |d| (c, d))) {
        let at = d * nf..(d + 1) * nf;
        let (w, s) = (&c.draws[at.clone()], &c.scores[at]);
        // The paper's width gets its own copy, its offsets constants (with the width known
        // only at run time, the estimate took about twice as long as the 29-wide engine's).
        if nf == PAPER_K {
            fill_row(PAPER_K, w, s, &mut row);
        } else {
            fill_row(nf, w, s, &mut row);
        }
        z.extend_from_slice(&row[..cols]);
    }
    let z = Array2::from_shape_vec((total, cols), z).expect("total × cols");
    let (beta_s, beta_own) = coefficients(z.view(), lay)?;
    // Corrected draws f = w − βᵀh (h uncentred: its posterior mean is 0, not its sample mean).
    let mut f = z.slice(s![.., w0..]).to_owned();
    simd::subtract_products(
        z.as_slice().expect("standard layout"),
        cols,
        nf,
        beta_s.as_slice().expect("standard layout"),
        f.as_slice_mut().expect("standard layout"),
    );
    // The own terms row by row (each weight's three in order): down the columns, every value
    // was a cache line of its own.
    let z_rows = z.as_slice().expect("standard layout").chunks_exact(cols);
    for (z_row, f_row) in z_rows.zip(
        f.as_slice_mut()
            .expect("standard layout")
            .chunks_exact_mut(nf),
    ) {
        for (j, v) in f_row.iter_mut().enumerate() {
            let h = &z_row[k0 + j * OWN..k0 + (j + 1) * OWN];
            for o in 0..OWN {
                *v -= beta_own[j][o] * h[o];
            }
        }
    }
    // Weight-major: each weight's corrected series, chain after chain, contiguous.
    let mut series = vec![0f64; nf * total];
    for (r, f_row) in f
        .as_slice()
        .expect("standard layout")
        .chunks_exact(nf)
        .enumerate()
    {
        for (j, &v) in f_row.iter().enumerate() {
            series[j * total + r] = v;
        }
    }
    let mut out = CvMeans {
        mean: [0.0; MAX_K],
        mcse: [0.0; MAX_K],
    };
    let half = n / 2;
    for j in 0..nf {
        let column = &series[j * total..(j + 1) * total];
        let mean = column.iter().sum::<f64>() / total as f64;
        let var = column.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (total - 1) as f64;
        // Split chains as `split` cuts them (the middle draw dropped when odd), as slices.
        let halves: Vec<&[f64]> = column
            .chunks_exact(n)
            .flat_map(|c| [&c[..half], &c[n - half..]])
            .collect();
        out.mean[j] = mean;
        out.mcse[j] = if var > 0.0 {
            // The coefficients were fitted to the same draws: P of the effective draws are spent
            // on them (as residual degrees of freedom in a regression).
            (var / (ess(&halves) - p as f64).max(1.0)).sqrt()
        } else {
            0.0
        };
    }
    Some(out)
}

/// One draw's row of the per-draw matrix: the `nf` scores, the own terms, the weights.
#[inline(always)]
fn fill_row(nf: usize, w: &[f32], s: &[f32], out: &mut [f64]) {
    let lay = Layout { nf };
    let (k0, w0) = (lay.k0(), lay.w0());
    let out = &mut out[..lay.cols()];
    for j in 0..nf {
        let (wj, sj) = (w[j] as f64, s[j] as f64);
        let sign = if wj > 0.0 {
            1.0
        } else if wj < 0.0 {
            -1.0
        } else {
            0.0
        };
        out[j] = sj;
        let own = [sign + wj.abs() * sj, 1.0 + wj * sj, wj + 0.5 * wj * wj * sj];
        for (o, v) in own.into_iter().enumerate() {
            out[k0 + j * OWN + o] = v;
        }
        out[w0 + j] = wj;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::rng::Rng;

    /// Four chains of 300 draws of the first `nf` weights `draw` gives.
    fn chains_from(
        nf: usize,
        mut draw: impl FnMut(&mut Rng) -> ([f64; MAX_K], [f64; MAX_K]),
    ) -> Vec<ChainOutput> {
        let mut rng = Rng::new(3);
        (0..4)
            .map(|_| {
                let (mut draws, mut scores) = (Vec::new(), Vec::new());
                for _ in 0..300 {
                    let (w, s) = draw(&mut rng);
                    draws.extend(w[..nf].iter().map(|&v| v as f32));
                    scores.extend(s[..nf].iter().map(|&v| v as f32));
                }
                ChainOutput {
                    nf,
                    draws,
                    scores,
                    accept_rate: 1.0,
                    divergences: 0,
                    step_size: 0.1,
                }
            })
            .collect()
    }

    /// A Gaussian target: w = μ − Σ·s exactly, so the estimate is μ up to the f32 rounding of
    /// the stored draws, whatever the draws' own spread.
    #[test]
    fn gaussian_target_gives_the_mean_exactly() {
        // The paper's 29 weights, and a wide set of 33 (odd, as the last-weight step needs).
        for nf in [29, 33] {
            gaussian_target_of(nf);
        }
    }

    fn gaussian_target_of(nf: usize) {
        let mu: [f64; MAX_K] = std::array::from_fn(|j| 0.3 - 0.02 * j as f64);
        let sd: [f64; MAX_K] = std::array::from_fn(|j| 0.05 + 0.01 * j as f64);
        let chains = chains_from(nf, |rng| {
            let mut w = [0.0; MAX_K];
            let mut s = [0.0; MAX_K];
            // Correlated pairs (j, j + 1): w = μ + L·e with L lower-triangular per pair.
            for j in (0..nf - 1).step_by(2) {
                let (e0, e1) = rng.normal_pair();
                let (a, b) = (sd[j], sd[j + 1]);
                let rho = 0.6;
                let (x0, x1) = (a * e0, b * (rho * e0 + (1.0 - rho * rho).sqrt() * e1));
                w[j] = mu[j] + x0;
                w[j + 1] = mu[j + 1] + x1;
                // s = −Σ⁻¹(w − μ) for Σ = [[a², ρab], [ρab, b²]].
                let det = a * a * b * b * (1.0 - rho * rho);
                s[j] = -(b * b * x0 - rho * a * b * x1) / det;
                s[j + 1] = -(a * a * x1 - rho * a * b * x0) / det;
            }
            let last = nf - 1;
            let e = rng.normal();
            w[last] = mu[last] + sd[last] * e;
            s[last] = -e / sd[last];
            (w, s)
        });
        let cv = cv_means(&chains).expect("enough draws");
        for j in 0..nf {
            let plain_error = sd[j] / (1200f64).sqrt();
            assert!(
                (cv.mean[j] - mu[j]).abs() < 1e-3 * plain_error,
                "weight {j}: {} vs {}",
                cv.mean[j],
                mu[j]
            );
            assert!(
                cv.mcse[j] < 1e-3 * plain_error,
                "weight {j}: MCSE {}",
                cv.mcse[j]
            );
        }
    }

    /// The Laplace prior alone: wⱼ = −kⱼ/λ − sⱼ/λ², so the kink term recovers the mean 0
    /// exactly, where the draws' plain mean is off by ~b·√2/√1200.
    #[test]
    fn laplace_target_gives_the_mean_exactly() {
        let b = 0.1;
        let chains = chains_from(MAX_K, |rng| {
            let mut w = [0.0; MAX_K];
            let mut s = [0.0; MAX_K];
            for j in 0..MAX_K {
                let u = rng.uniform() - 0.5;
                w[j] = -b * u.signum() * (1.0 - 2.0 * u.abs()).ln();
                s[j] = -w[j].signum() / b;
            }
            (w, s)
        });
        let cv = cv_means(&chains).expect("enough draws");
        for j in 0..MAX_K {
            assert!(cv.mean[j].abs() < 1e-5, "weight {j}: {}", cv.mean[j]);
            assert!(cv.mcse[j] < 1e-5, "weight {j}: MCSE {}", cv.mcse[j]);
        }
    }

    /// Too few draws to fit 32 coefficients: no estimate (the caller keeps the plain mean).
    #[test]
    fn too_few_draws_give_none() {
        let mut chains = chains_from(29, |_| ([0.1; MAX_K], [0.0; MAX_K]));
        for c in &mut chains {
            c.draws.truncate(10 * 29);
            c.scores.truncate(10 * 29);
        }
        assert!(cv_means(&chains).is_none());
    }
}
