//! The surrogate model's final fit: at the end of warm-up each lane's quadratic model is
//! fitted to the true gradients at the chain's own draws — the Taylor Hessian at the draws'
//! mean plus a ridge least-squares correction ([`GradientMoments`], [`fit_lane`]). A Taylor
//! model is exact at its centre and wrong by third-order terms in the tails, where most
//! rejections happen; the fitted one spreads its error over the posterior's bulk.

use super::lanes::Field;
use super::surrogate::QuadraticModel;
use crate::base::features::MAX_K;
use crate::design::{Block, GroupDesign, LANES};
use crate::solve::backend::GradientBackend;

/// Ridge weight pulling the fitted correction to the Taylor Hessian towards zero, relative to
/// each coordinate's own spread: with 100–400 draws for 29 × 29 slopes, the plain least-squares
/// slopes are noisy enough to cost acceptance (a numpy prototype on two dev fits, 125 and 425
/// draws: κ = 0.1 was as good as or better than 0 and 1).
pub const RIDGE: f64 = 0.1;

/// Fewest draws for which the fitted model of `nf` features replaces the Taylor one.
pub fn min_draws(nf: usize) -> f64 {
    2.0 * nf as f64
}

/// Per-lane sums of draws q and their true loss gradients g, for a least-squares fit
/// g ≈ a + B (q − q̄), `[row][column][lane]` so the 16 lanes update together.
pub struct GradientMoments {
    /// Features summed (the design's slots).
    nf: usize,
    n: f64,
    sum_q: Field,
    sum_g: Field,
    /// Σ q qᵀ: `nf` rows.
    qq: Vec<Field>,
    /// Σ q gᵀ: `nf` rows.
    qg: Vec<Field>,
    /// Draws (q, g) added but not yet in `qq` and `qg`: the products are summed
    /// [`PENDING`] draws at a time, so each entry of the 2·nf² × 16 sums (over 200 KB at the
    /// paper's width) is loaded and stored once per batch instead of once per draw.
    pending: Vec<(Field, Field)>,
}

/// Draws whose products [`GradientMoments`] sums together (their fields stay in L1).
const PENDING: usize = 4;

impl GradientMoments {
    /// No draws yet, for a design of `nf` slots.
    pub fn new(nf: usize) -> Self {
        let zero = [[0.0; LANES]; MAX_K];
        GradientMoments {
            nf,
            n: 0.0,
            sum_q: zero,
            sum_g: zero,
            qq: vec![zero; nf],
            qg: vec![zero; nf],
            pending: Vec::with_capacity(PENDING),
        }
    }

    /// Adds one draw of every lane and its true loss gradient: 2·nf² multiply-adds per lane,
    /// every warm-up iteration from the first mass-matrix window on. The products wait in a
    /// batch of four draws ([`GradientMoments::flush`] sums them in).
    pub fn add(&mut self, q: &Field, g: &Field) {
        self.n += 1.0;
        for k in 0..self.nf {
            for l in 0..LANES {
                self.sum_q[k][l] += q[k][l];
                self.sum_g[k][l] += g[k][l];
            }
        }
        self.pending.push((*q, *g));
        if self.pending.len() == PENDING {
            self.flush();
        }
    }

    /// Sums the pending draws' products into `qq` and `qg`, each entry's in the order the
    /// draws came (the bits of adding them one by one). Compiled for AVX2 or AVX-512 where the
    /// CPU has them, with intrinsics (left to itself LLVM vectorised across rows, with
    /// gathers).
    pub fn flush(&mut self) {
        #[cfg(target_arch = "x86_64")]
        {
            use crate::base::simd::{Level, level};
            // SAFETY (both arms): the CPU supports the features the functions are compiled for.
            match level() {
                Level::Avx512 => unsafe { self.flush_avx512() },
                Level::Avx2 => unsafe { self.flush_avx2() },
                Level::Portable => self.flush_portable(),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        self.flush_portable();
        self.pending.clear();
    }

    /// 8 lanes a register, the same multiplications and additions in the same order.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
    unsafe fn flush_avx512(&mut self) {
        use std::arch::x86_64::{_mm512_add_pd, _mm512_loadu_pd, _mm512_mul_pd, _mm512_storeu_pd};
        let nf = self.nf;
        for k in 0..nf {
            let (qq, qg) = (&mut self.qq[k], &mut self.qg[k]);
            for j in 0..nf {
                for h in (0..LANES).step_by(8) {
                    // SAFETY: every pointer is to 8 of a row's 16 doubles.
                    unsafe {
                        let (a, b) = (qq[j].as_mut_ptr().add(h), qg[j].as_mut_ptr().add(h));
                        let (mut sa, mut sb) = (_mm512_loadu_pd(a), _mm512_loadu_pd(b));
                        for (q, g) in &self.pending {
                            let qk = _mm512_loadu_pd(q[k].as_ptr().add(h));
                            let qj = _mm512_loadu_pd(q[j].as_ptr().add(h));
                            let gj = _mm512_loadu_pd(g[j].as_ptr().add(h));
                            sa = _mm512_add_pd(sa, _mm512_mul_pd(qk, qj));
                            sb = _mm512_add_pd(sb, _mm512_mul_pd(qk, gj));
                        }
                        _mm512_storeu_pd(a, sa);
                        _mm512_storeu_pd(b, sb);
                    }
                }
            }
        }
    }

    /// As the AVX-512 path, 4 lanes a register.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn flush_avx2(&mut self) {
        use std::arch::x86_64::{_mm256_add_pd, _mm256_loadu_pd, _mm256_mul_pd, _mm256_storeu_pd};
        let nf = self.nf;
        for k in 0..nf {
            let (qq, qg) = (&mut self.qq[k], &mut self.qg[k]);
            for j in 0..nf {
                for h in (0..LANES).step_by(4) {
                    // SAFETY: every pointer is to 4 of a row's 16 doubles.
                    unsafe {
                        let (a, b) = (qq[j].as_mut_ptr().add(h), qg[j].as_mut_ptr().add(h));
                        let (mut sa, mut sb) = (_mm256_loadu_pd(a), _mm256_loadu_pd(b));
                        for (q, g) in &self.pending {
                            let qk = _mm256_loadu_pd(q[k].as_ptr().add(h));
                            let qj = _mm256_loadu_pd(q[j].as_ptr().add(h));
                            let gj = _mm256_loadu_pd(g[j].as_ptr().add(h));
                            sa = _mm256_add_pd(sa, _mm256_mul_pd(qk, qj));
                            sb = _mm256_add_pd(sb, _mm256_mul_pd(qk, gj));
                        }
                        _mm256_storeu_pd(a, sa);
                        _mm256_storeu_pd(b, sb);
                    }
                }
            }
        }
    }

    /// The plain loops: the reference the vector paths are tested against.
    fn flush_portable(&mut self) {
        for (q, g) in &self.pending {
            for k in 0..self.nf {
                for j in 0..self.nf {
                    for l in 0..LANES {
                        self.qq[k][j][l] += q[k][l] * q[j][l];
                        self.qg[k][j][l] += q[k][l] * g[j][l];
                    }
                }
            }
        }
    }

    /// The draws' mean per lane.
    pub fn mean(&self) -> Field {
        let mut m = self.sum_q;
        for row in m.iter_mut() {
            for v in row.iter_mut() {
                *v /= self.n.max(1.0);
            }
        }
        m
    }

    /// Draws added.
    pub fn count(&self) -> f64 {
        self.n
    }
}

impl QuadraticModel {
    /// Refits every lane's model to the draws in `moments`: centre q̄, intercept ḡ (the mean
    /// true gradient), and slopes B = H + sym(D), where H is the Taylor Hessian at q̄ and D the
    /// ridge least-squares slopes of the Taylor model's residual gradients. One gradient and one
    /// curvature call (the Taylor model at q̄, which lanes with too few draws or degenerate
    /// ones keep).
    pub fn fit_to<B: GradientBackend + ?Sized>(
        &mut self,
        backend: &B,
        group: &GroupDesign,
        block: &Block,
        moments: &GradientMoments,
    ) {
        assert!(
            moments.pending.is_empty(),
            "GradientMoments::flush before the fit"
        );
        self.refit(backend, group, block, &moments.mean());
        let nf = group.nf;
        if moments.n < min_draws(nf) {
            return;
        }
        let mut lane = LaneMoments::new(nf);
        lane.n = moments.n;
        let mut taylor = vec![0f64; nf * nf];
        for l in 0..LANES {
            for k in 0..nf {
                lane.sum_q[k] = moments.sum_q[k][l];
                lane.sum_g[k] = moments.sum_g[k][l];
                for j in 0..nf {
                    lane.qq[k * nf + j] = moments.qq[k][j][l];
                    lane.qg[k * nf + j] = moments.qg[k][j][l];
                    taylor[k * nf + j] = self.hess[k * nf + j][l] as f64;
                }
            }
            // A degenerate lane (empty, or draws on a subspace) keeps Taylor.
            if let Some((grad, correction)) = fit_lane(&lane, &taylor) {
                for k in 0..nf {
                    self.grad[k][l] = grad[k];
                    for j in 0..nf {
                        self.hess[k * nf + j][l] += correction[k * nf + j] as f32;
                    }
                }
            }
        }
        self.pack();
    }
}

/// One lane's tail moments (see [`GradientMoments`]), over `nf` features: vectors of `nf`,
/// matrices `nf × nf` row-major.
#[derive(Clone, Debug)]
pub struct LaneMoments {
    /// Features (the design's slots).
    pub nf: usize,
    /// Draws.
    pub n: f64,
    /// Σ q.
    pub sum_q: Vec<f64>,
    /// Σ g.
    pub sum_g: Vec<f64>,
    /// Σ q qᵀ.
    pub qq: Vec<f64>,
    /// Σ q gᵀ.
    pub qg: Vec<f64>,
}

impl LaneMoments {
    /// No draws yet.
    pub fn new(nf: usize) -> Self {
        LaneMoments {
            nf,
            n: 0.0,
            sum_q: vec![0.0; nf],
            sum_g: vec![0.0; nf],
            qq: vec![0.0; nf * nf],
            qg: vec![0.0; nf * nf],
        }
    }

    /// Adds a draw `q` and its true loss gradient `g` (`nf` values each).
    pub fn add(&mut self, q: &[f64], g: &[f64]) {
        let nf = self.nf;
        self.n += 1.0;
        for k in 0..nf {
            self.sum_q[k] += q[k];
            self.sum_g[k] += g[k];
            for j in 0..nf {
                self.qq[k * nf + j] += q[k] * q[j];
                self.qg[k * nf + j] += q[k] * g[j];
            }
        }
    }
}

/// The fitted model of one lane from its moments and its Taylor Hessian H at the draws' mean
/// (`nf × nf`, row-major): the intercept (the mean true gradient) and the correction sym(D) the
/// slopes H + sym(D) add (`nf × nf`), D the ridge least-squares slopes of the Taylor model's
/// residual gradients. `None` (keep the Taylor model) with fewer than [`min_draws`] draws or a
/// system that is not positive definite. The reference of the device's `hmc_fit_model`.
pub fn fit_lane(m: &LaneMoments, taylor: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let (n, nf) = (m.n, m.nf);
    if n < min_draws(nf) {
        return None;
    }
    let mean_q: Vec<f64> = m.sum_q.iter().map(|v| v / n).collect();
    let mean_g: Vec<f64> = m.sum_g.iter().map(|v| v / n).collect();
    // Centred moments: C_qq and C_qr = C_qg − C_qq H (residual r = g − H(q − q̄)).
    let mut cqq = vec![0f64; nf * nf];
    let mut cqr = vec![0f64; nf * nf];
    for k in 0..nf {
        for j in 0..nf {
            cqq[k * nf + j] = m.qq[k * nf + j] - n * mean_q[k] * mean_q[j];
            cqr[k * nf + j] = m.qg[k * nf + j] - n * mean_q[k] * mean_g[j];
        }
    }
    for k in 0..nf {
        for j in 0..nf {
            let ch: f64 = (0..nf).map(|i| cqq[k * nf + i] * taylor[i * nf + j]).sum();
            cqr[k * nf + j] -= ch;
        }
    }
    let mut a = cqq;
    for k in 0..nf {
        a[k * nf + k] *= 1.0 + RIDGE;
    }
    let d = solve_spd(a, cqr, nf)?;
    // D solves C_qq D = C_qr, so the slope of g_j on q_k is D[k][j].
    let mut correction = vec![0f64; nf * nf];
    for k in 0..nf {
        for j in 0..nf {
            correction[k * nf + j] = 0.5 * (d[k * nf + j] + d[j * nf + k]);
        }
    }
    Some((mean_g, correction))
}

/// Solves A X = B for symmetric positive-definite A (`d × d`, row-major, as B) by Cholesky, in
/// place; `None` if A is not.
fn solve_spd(mut a: Vec<f64>, mut b: Vec<f64>, d: usize) -> Option<Vec<f64>> {
    for j in 0..d {
        let mut diag = a[j * d + j];
        for m in 0..j {
            diag -= a[j * d + m] * a[j * d + m];
        }
        if !(diag > 0.0 && diag.is_finite()) {
            return None;
        }
        let diag = diag.sqrt();
        a[j * d + j] = diag;
        for i in j + 1..d {
            let mut v = a[i * d + j];
            for m in 0..j {
                v -= a[i * d + m] * a[j * d + m];
            }
            a[i * d + j] = v / diag;
        }
    }
    for col in 0..d {
        for i in 0..d {
            let mut v = b[i * d + col];
            for m in 0..i {
                v -= a[i * d + m] * b[m * d + col];
            }
            b[i * d + col] = v / a[i * d + i];
        }
        for i in (0..d).rev() {
            let mut v = b[i * d + col];
            for m in i + 1..d {
                v -= a[m * d + i] * b[m * d + col];
            }
            b[i * d + col] = v / a[i * d + i];
        }
    }
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::rng::Rng;
    use crate::design::KPAD;
    use crate::solve::backend::cpu::CpuBackend;
    use crate::solve::posterior::surrogate::tests::toy;

    /// The fitted model against the Taylor model at the draws' mean: over the draws it was
    /// fitted to (spread well beyond the Taylor expansion's reach), its gradients are closer
    /// to the true ones, and its intercept is the draws' mean gradient.
    #[test]
    fn fitted_model_beats_the_taylor_model_over_the_draws() {
        let mut rng = Rng::new(12);
        let (group, block) = toy(300, 29, &mut rng);
        let mut draws = Vec::new();
        let mut moments = GradientMoments::new(group.nf);
        let mut centre: Field = [[0.0; LANES]; MAX_K];
        for k in 0..MAX_K {
            for l in 0..LANES {
                centre[k][l] = 0.2 * rng.normal();
            }
        }
        let mut w = vec![0f32; KPAD * LANES];
        let mut g = vec![0f64; KPAD * LANES];
        for _ in 0..200 {
            let mut q = centre;
            for k in 0..MAX_K {
                for l in 0..LANES {
                    q[k][l] = ((centre[k][l] + 0.3 * rng.normal()) as f32) as f64;
                    w[k * LANES + l] = q[k][l] as f32;
                }
            }
            CpuBackend.block_gradient(&group, &block, &w, &mut g, None);
            let gf: Field = std::array::from_fn(|k| std::array::from_fn(|l| g[k * LANES + l]));
            moments.add(&q, &gf);
            draws.push((q, gf));
        }
        assert_eq!(moments.count(), 200.0);
        let taylor = QuadraticModel::at(&CpuBackend, &group, &block, &moments.mean());
        let mut fitted = QuadraticModel::at(&CpuBackend, &group, &block, &centre);
        moments.flush();
        fitted.fit_to(&CpuBackend, &group, &block, &moments);
        let mean_g: Field = std::array::from_fn(|k| {
            std::array::from_fn(|l| draws.iter().map(|(_, g)| g[k][l]).sum::<f64>() / 200.0)
        });
        // The AVX-512 path reads the packed copy of the Hessian, the AVX2 path the Hessian
        // itself: equal bits mean the copy followed the fit's corrections.
        #[cfg(target_arch = "x86_64")]
        if crate::base::simd::detected() >= crate::base::simd::Level::Avx512 {
            let (mut a, mut b) = ([[0.0; LANES]; MAX_K], [[0.0; LANES]; MAX_K]);
            // SAFETY: the CPU has both feature sets.
            unsafe {
                fitted.gradient_avx2(&draws[0].0, &mut a);
                fitted.gradient_avx512(&draws[0].0, &mut b);
            }
            assert_eq!(a, b);
        }
        let mut m = [[0.0; LANES]; MAX_K];
        fitted.gradient(&fitted.centre, &mut m);
        for k in 0..MAX_K {
            for l in 0..LANES {
                assert!((m[k][l] - mean_g[k][l]).abs() < 1e-9, "intercept {k} {l}");
            }
        }
        let sq_error = |model: &QuadraticModel| {
            let mut total = [0f64; LANES];
            let mut out = [[0.0; LANES]; MAX_K];
            for (q, g) in &draws {
                model.gradient(q, &mut out);
                for k in 0..MAX_K {
                    for l in 0..LANES {
                        total[l] += (out[k][l] - g[k][l]).powi(2);
                    }
                }
            }
            total
        };
        let (e_fit, e_taylor) = (sq_error(&fitted), sq_error(&taylor));
        for l in 0..LANES {
            assert!(
                e_fit[l] < 0.8 * e_taylor[l],
                "lane {l}: fitted {} vs Taylor {}",
                e_fit[l],
                e_taylor[l]
            );
        }
    }

    /// Cholesky solves against a product built from a known solution; a matrix that is not
    /// positive definite is refused.
    #[test]
    fn spd_solve_recovers_a_known_solution() {
        for d in [29, MAX_K] {
            let mut rng = Rng::new(13);
            let mut l = vec![0f64; d * d];
            for i in 0..d {
                for j in 0..=i {
                    l[i * d + j] = if i == j {
                        1.0 + rng.uniform()
                    } else {
                        0.3 * rng.normal()
                    };
                }
            }
            let product = |p: &[f64], q: &[f64], t: bool| -> Vec<f64> {
                let mut out = vec![0f64; d * d];
                for i in 0..d {
                    for c in 0..d {
                        out[i * d + c] = (0..d)
                            .map(|m| p[i * d + m] * if t { q[c * d + m] } else { q[m * d + c] })
                            .sum();
                    }
                }
                out
            };
            let a = product(&l, &l, true);
            let x: Vec<f64> = (0..d * d).map(|_| rng.normal()).collect();
            let b = product(&a, &x, false);
            let got = solve_spd(a.clone(), b.clone(), d).expect("positive definite");
            for (i, (g, w)) in got.iter().zip(&x).enumerate() {
                assert!((g - w).abs() < 1e-8, "{d}: entry {i}");
            }
            let mut bad = a;
            bad[3 * d + 3] = -1.0;
            assert!(solve_spd(bad, b, d).is_none());
        }
    }

    /// The batched products (the CPU's widest vector path, and batches cut short by a flush)
    /// are the bits of adding the draws one by one in plain loops; so are a batch's by each
    /// vector path the CPU has.
    #[test]
    fn batched_moments_are_the_one_by_one_sums() {
        let mut rng = Rng::new(8);
        for nf in [29, 64] {
            let (mut batched, mut plain) = (GradientMoments::new(nf), GradientMoments::new(nf));
            let draw = |rng: &mut Rng| -> Field {
                std::array::from_fn(|_| std::array::from_fn(|_| rng.normal()))
            };
            for d in 0..11 {
                let (q, g) = (draw(&mut rng), draw(&mut rng));
                batched.add(&q, &g);
                if d == 5 {
                    batched.flush(); // a batch cut short
                }
                plain.add(&q, &g);
                plain.flush_portable();
                plain.pending.clear();
            }
            batched.flush();
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                let batch: Vec<(Field, Field)> =
                    (0..3).map(|_| (draw(&mut rng), draw(&mut rng))).collect();
                let mut want = GradientMoments::new(nf);
                want.pending = batch.clone();
                want.flush_portable();
                let same = |got: &GradientMoments, path: &str| {
                    for k in 0..nf {
                        for j in 0..nf {
                            for l in 0..LANES {
                                assert_eq!(
                                    got.qq[k][j][l].to_bits(),
                                    want.qq[k][j][l].to_bits(),
                                    "{path}"
                                );
                                assert_eq!(
                                    got.qg[k][j][l].to_bits(),
                                    want.qg[k][j][l].to_bits(),
                                    "{path}"
                                );
                            }
                        }
                    }
                };
                if has!("avx2") && has!("fma") {
                    let mut got = GradientMoments::new(nf);
                    got.pending = batch.clone();
                    // SAFETY: the CPU has AVX2 and FMA.
                    unsafe { got.flush_avx2() };
                    same(&got, "avx2");
                }
                if has!("avx512f") && has!("avx512dq") && has!("avx512vl") && has!("avx512bw") {
                    let mut got = GradientMoments::new(nf);
                    got.pending = batch;
                    // SAFETY: the CPU has AVX-512 (F, DQ, VL, BW).
                    unsafe { got.flush_avx512() };
                    same(&got, "avx512");
                }
            }
            for k in 0..nf {
                for j in 0..nf {
                    for l in 0..LANES {
                        assert_eq!(batched.qq[k][j][l].to_bits(), plain.qq[k][j][l].to_bits());
                        assert_eq!(batched.qg[k][j][l].to_bits(), plain.qg[k][j][l].to_bits());
                    }
                }
            }
        }
    }
}
