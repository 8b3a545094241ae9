//! Surrogate trajectories: the leapfrog steps of an HMC iteration follow a quadratic model of
//! the loss, and only the accept test evaluates the true potential.
//!
//! Any volume-preserving, reversible map is a valid HMC proposal when the accept test uses the
//! true Hamiltonian, whatever force moved the particle (Neal 2011, §5.5; Zhang et al. 2017,
//! "Hamiltonian Monte Carlo acceleration using surrogate functions"). A leapfrog step with the
//! force of *any* fixed potential is such a map, so the chain's target stays exactly the
//! posterior; a poor model would only lower the acceptance rate. The model here is each lane's
//! second-order Taylor expansion of the logistic loss, ∇loss(q) ≈ g_c + H_c (q − c), while the
//! Laplace prior keeps its exact flow (`laplace_flow`). With 100–1,400 training rows and 29
//! features the loss is close to quadratic over the posterior's bulk: on the dev data the
//! acceptance rate and ESS per draw are those of exact-gradient trajectories (see the README),
//! but an iteration costs one forward pass of the kernel (the loss at the proposal) instead of
//! L gradient passes.
//!
//! The model is refitted during warm-up only: a Taylor expansion at the chain's current point
//! early on, then at each mass-matrix window's mean; at the end of warm-up it is fitted to the
//! true gradients at the chain's own draws (`model_fit.rs`). A Taylor model is exact at its
//! centre and wrong by third-order terms in the tails, where most rejections happen; the fitted
//! one spreads its error over the posterior's bulk (llama-2-70b, Advice, fast.json: acceptance
//! 0.82 with the Taylor model, 0.88–0.91 fitted, 0.90 with exact gradients). During sampling
//! the model is fixed, so the chain is a
//! time-homogeneous Markov chain with the posterior as its stationary law.

use super::lanes::{Field, to_kernel_layout};
use crate::base::features::MAX_K;
use crate::design::{Block, GroupDesign, KPAD, LANES};
use crate::solve::backend::GradientBackend;

/// Each lane's quadratic model of the loss around its own centre.
pub struct QuadraticModel {
    /// Features modelled (the design's slots); the rest of each array is unread.
    pub(super) nf: usize,
    pub(super) centre: Field,
    /// ∇loss at the centre.
    pub(super) grad: Field,
    /// The loss Hessian at the centre, `[row][column][lane]`: entry (i, j) at `i * nf + j`, so
    /// its rows lie `nf` cells apart (rows of all 64 slots, 4 KiB apart, put every row of a
    /// column block in one L1 set: the surrogate gradient was 12% slower). f32 suffices: the
    /// model only steers proposals, and the accept test corrects whatever it gets wrong.
    pub(super) hess: Vec<[f32; LANES]>,
    /// `hess` in the order the AVX-512 gradient reads it ([`QuadraticModel::pack`]): rows in
    /// blocks of [`ROWS512`], each block's entries column by column, (i, j) of the block from
    /// row k0 at `k0 * nf + j * rows + (i − k0)`. The gradient then streams one run of memory
    /// with constant offsets instead of eight rows `nf` cells apart (each with its own pointer
    /// and bounds check).
    packed: Vec<[f32; LANES]>,
}

impl QuadraticModel {
    /// The model of every lane of `block` at `centre` (rounded to the kernel's f32 grid).
    pub fn at<B: GradientBackend + ?Sized>(
        backend: &B,
        group: &GroupDesign,
        block: &Block,
        centre: &Field,
    ) -> Self {
        let mut model = QuadraticModel {
            nf: group.nf,
            centre: [[0.0; LANES]; MAX_K],
            grad: [[0.0; LANES]; MAX_K],
            hess: vec![[0.0; LANES]; group.nf * group.nf],
            packed: vec![[0.0; LANES]; group.nf * group.nf],
        };
        model.refit(backend, group, block, centre);
        model
    }

    /// Moves every lane's model to `centre`: one gradient and one curvature call of the kernel.
    pub fn refit<B: GradientBackend + ?Sized>(
        &mut self,
        backend: &B,
        group: &GroupDesign,
        block: &Block,
        centre: &Field,
    ) {
        let nf = self.nf;
        let mut w = vec![0f32; KPAD * LANES];
        for k in 0..nf {
            for l in 0..LANES {
                w[k * LANES + l] = centre[k][l] as f32;
                self.centre[k][l] = w[k * LANES + l] as f64;
            }
        }
        let mut grad = vec![0f64; KPAD * LANES];
        backend.block_gradient(group, block, &w, &mut grad, None);
        for k in 0..nf {
            self.grad[k].copy_from_slice(&grad[k * LANES..(k + 1) * LANES]);
        }
        let mut hess = vec![0f64; LANES * nf * nf];
        backend.block_curvature(group, block, &w, &mut hess);
        for l in 0..LANES {
            let h = &hess[l * nf * nf..(l + 1) * nf * nf];
            for i in 0..nf {
                for j in 0..nf {
                    self.hess[i * nf + j][l] = h[i * nf + j] as f32;
                }
            }
        }
        self.pack();
    }

    /// Copies `hess` into `packed`; every change of `hess` ends with it.
    pub(super) fn pack(&mut self) {
        let nf = self.nf;
        for k0 in (0..nf).step_by(ROWS512) {
            let rows = ROWS512.min(nf - k0);
            for j in 0..nf {
                for r in 0..rows {
                    self.packed[k0 * nf + j * rows + r] = self.hess[(k0 + r) * nf + j];
                }
            }
        }
    }

    /// The model in the device sampler's layout: centre and gradient as f32 fields of the
    /// model's width, the Hessian `[row][column][lane]` over the model's `nf` features.
    pub fn export(&self) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let hess = self.hess.iter().flatten().copied().collect();
        (
            to_kernel_layout(&self.centre, self.nf),
            to_kernel_layout(&self.grad, self.nf),
            hess,
        )
    }

    /// The model's loss gradient at `q` into `g`, every lane. Hand-vectorised for AVX2 + FMA
    /// when the CPU has them (it runs at every leapfrog step: 841 multiply-adds per lane).
    pub fn gradient(&self, q: &Field, g: &mut Field) {
        #[cfg(target_arch = "x86_64")]
        {
            use crate::base::simd::{Level, level};
            // SAFETY (both arms): the CPU supports the features the functions are compiled for.
            match level() {
                Level::Avx512 => unsafe { return self.gradient_avx512(q, g) },
                Level::Avx2 => unsafe { return self.gradient_avx2(q, g) },
                Level::Portable => {}
            }
        }
        self.gradient_portable(q, g);
    }

    /// The AVX2 path's sums with a lane block in one 512-bit register: rows in eights read from
    /// `packed`, each lane's multiply-adds in the same order (so the same bits as the AVX2 path).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
    pub(super) unsafe fn gradient_avx512(&self, q: &Field, g: &mut Field) {
        use std::arch::x86_64::_mm512_storeu_ps;
        let nf = self.nf;
        assert!(self.packed.len() >= nf * nf);
        // SAFETY: the CPU has the features `offsets_avx512` is compiled for.
        let d = unsafe { self.offsets_avx512(q) };
        for k0 in (0..nf).step_by(ROWS512) {
            let rows = ROWS512.min(nf - k0);
            let mut acc = [std::arch::x86_64::_mm512_setzero_ps(); ROWS512];
            // SAFETY: the block's rows · nf entries start at k0 · nf (`pack`), within `packed`
            // (asserted above); the CPU has the features the blocks are compiled for.
            unsafe {
                let p = self.packed.as_ptr().add(k0 * nf) as *const f32;
                let d = &d[..nf];
                match rows {
                    8 => acc = row_block::<8>(p, d),
                    7 => acc[..7].copy_from_slice(&row_block::<7>(p, d)),
                    6 => acc[..6].copy_from_slice(&row_block::<6>(p, d)),
                    5 => acc[..5].copy_from_slice(&row_block::<5>(p, d)),
                    4 => acc[..4].copy_from_slice(&row_block::<4>(p, d)),
                    3 => acc[..3].copy_from_slice(&row_block::<3>(p, d)),
                    2 => acc[..2].copy_from_slice(&row_block::<2>(p, d)),
                    _ => acc[..1].copy_from_slice(&row_block::<1>(p, d)),
                }
            }
            for (r, a) in acc.iter().enumerate().take(rows) {
                let mut sums = [0f32; LANES];
                // SAFETY: `sums` is 16 floats.
                unsafe { _mm512_storeu_ps(sums.as_mut_ptr(), *a) };
                for l in 0..LANES {
                    g[k0 + r][l] = self.grad[k0 + r][l] + sums[l] as f64;
                }
            }
        }
    }

    /// [`QuadraticModel::offsets`] with intrinsics, inside the AVX-512 gradient: out of line it
    /// was baseline SSE2 code, and inlined LLVM vectorised it across rows, with gathers. The
    /// same subtraction and rounding, so the same bits.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
    #[inline]
    unsafe fn offsets_avx512(&self, q: &Field) -> [[f32; LANES]; MAX_K] {
        use std::arch::x86_64::{
            _mm256_storeu_ps, _mm512_cvtpd_ps, _mm512_loadu_pd, _mm512_sub_pd,
        };
        const W: usize = 8;
        let mut d = [[0f32; LANES]; MAX_K];
        for ((dr, qr), cr) in d.iter_mut().zip(q).zip(&self.centre).take(self.nf) {
            for h in 0..LANES / W {
                // SAFETY: every pointer is to a 16-wide row, read and written in halves.
                unsafe {
                    let diff = _mm512_sub_pd(
                        _mm512_loadu_pd(qr.as_ptr().add(h * W)),
                        _mm512_loadu_pd(cr.as_ptr().add(h * W)),
                    );
                    _mm256_storeu_ps(dr.as_mut_ptr().add(h * W), _mm512_cvtpd_ps(diff));
                }
            }
        }
        d
    }

    /// q − centre per lane, in f32 (the Hessian's precision).
    fn offsets(&self, q: &Field) -> [[f32; LANES]; MAX_K] {
        let mut d = [[0f32; LANES]; MAX_K];
        for j in 0..self.nf {
            for l in 0..LANES {
                d[j][l] = (q[j][l] - self.centre[j][l]) as f32;
            }
        }
        d
    }

    /// The plain loops: the reference the AVX2 path is tested against.
    fn gradient_portable(&self, q: &Field, g: &mut Field) {
        let nf = self.nf;
        let d = self.offsets(q);
        for k in 0..nf {
            let mut acc = [0f32; LANES];
            for (h, dj) in self.hess[k * nf..(k + 1) * nf].iter().zip(&d[..nf]) {
                for l in 0..LANES {
                    acc[l] += h[l] * dj[l];
                }
            }
            for l in 0..LANES {
                g[k][l] = self.grad[k][l] + acc[l] as f64;
            }
        }
    }

    /// Rows in fours, 8 accumulators in registers: each d[j] load serves four independent
    /// chains of multiply-adds, so they do not wait on each other's latency (LLVM, left to
    /// itself, kept one row's 16 lanes in four 128-bit chains).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gradient_avx2(&self, q: &Field, g: &mut Field) {
        use std::arch::x86_64::_mm256_storeu_ps;
        use std::arch::x86_64::{__m256, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps};
        let nf = self.nf;
        let d = self.offsets(q);
        let mut k0 = 0;
        while k0 < nf {
            let rows = ROWS.min(nf - k0);
            let mut acc: [__m256; 2 * ROWS] = [_mm256_setzero_ps(); 2 * ROWS];
            for (j, dj) in d[..nf].iter().enumerate() {
                // SAFETY: every pointer is to a 16-float array, read as two 8-float halves.
                unsafe {
                    let d_lo = _mm256_loadu_ps(dj.as_ptr());
                    let d_hi = _mm256_loadu_ps(dj.as_ptr().add(8));
                    if rows == ROWS {
                        for r in 0..ROWS {
                            let h = self.hess[(k0 + r) * nf + j].as_ptr();
                            acc[2 * r] = _mm256_fmadd_ps(_mm256_loadu_ps(h), d_lo, acc[2 * r]);
                            acc[2 * r + 1] =
                                _mm256_fmadd_ps(_mm256_loadu_ps(h.add(8)), d_hi, acc[2 * r + 1]);
                        }
                    } else {
                        for r in 0..rows {
                            let h = self.hess[(k0 + r) * nf + j].as_ptr();
                            acc[2 * r] = _mm256_fmadd_ps(_mm256_loadu_ps(h), d_lo, acc[2 * r]);
                            acc[2 * r + 1] =
                                _mm256_fmadd_ps(_mm256_loadu_ps(h.add(8)), d_hi, acc[2 * r + 1]);
                        }
                    }
                }
            }
            for r in 0..rows {
                let mut sums = [0f32; LANES];
                // SAFETY: `sums` is 16 floats, written as two 8-float halves.
                unsafe {
                    _mm256_storeu_ps(sums.as_mut_ptr(), acc[2 * r]);
                    _mm256_storeu_ps(sums.as_mut_ptr().add(8), acc[2 * r + 1]);
                }
                for l in 0..LANES {
                    g[k0 + r][l] = self.grad[k0 + r][l] + sums[l] as f64;
                }
            }
            k0 += rows;
        }
    }
}

/// Rows of the model's Hessian taken together by the AVX2 path of [`QuadraticModel::gradient`].
#[cfg(target_arch = "x86_64")]
const ROWS: usize = 4;

/// Rows taken together by the AVX-512 path (one register of 16 lanes each): the block size of
/// [`QuadraticModel::pack`]'s layout.
const ROWS512: usize = 8;

/// The sums Σⱼ H(k0 + r, j) · d[j] of one block of `R` rows for the 16 lanes, from the block's
/// packed entries at `p` (`R` consecutive 16-lane entries per column j), j ascending.
///
/// # Safety
/// `p` points to `R · d.len()` entries of 16 floats; the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
#[inline]
unsafe fn row_block<const R: usize>(
    p: *const f32,
    d: &[[f32; LANES]],
) -> [std::arch::x86_64::__m512; R] {
    use std::arch::x86_64::{_mm512_fmadd_ps, _mm512_loadu_ps, _mm512_setzero_ps};
    let mut acc = [_mm512_setzero_ps(); R];
    let mut p = p;
    for dj in d {
        // SAFETY: `p` walks the block's entries (the caller's contract); `dj` is 16 floats.
        unsafe {
            let dv = _mm512_loadu_ps(dj.as_ptr());
            for (r, a) in acc.iter_mut().enumerate() {
                *a = _mm512_fmadd_ps(_mm512_loadu_ps(p.add(r * LANES)), dv, *a);
            }
            p = p.add(R * LANES);
        }
    }
    acc
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::base::rng::Rng;
    use crate::design::{ROW_TILE, SignIndex};
    use crate::solve::backend::cpu::CpuBackend;
    use crate::solve::backend::reference_curvature;

    /// A one-group design of `nf` random signs with random per-lane weights and labels.
    pub(in crate::solve::posterior) fn toy(
        rows: usize,
        nf: usize,
        rng: &mut Rng,
    ) -> (GroupDesign, Block) {
        let n_padded = rows.div_ceil(ROW_TILE) * ROW_TILE;
        let mut x = vec![0f32; n_padded * KPAD];
        for r in 0..rows {
            for k in 0..nf {
                x[r * KPAD + k] = [-1.0, 0.0, 0.0, 1.0][rng.below(4)];
            }
        }
        let mut c = vec![0f32; n_padded * LANES];
        let mut cy = vec![0f32; n_padded * LANES];
        for r in 0..rows {
            for l in 0..LANES {
                c[r * LANES + l] = (rng.uniform() < 0.9) as u8 as f32;
                cy[r * LANES + l] = c[r * LANES + l] * (rng.uniform() < 0.5) as u8 as f32;
            }
        }
        let group = GroupDesign {
            name: "toy".into(),
            nf,
            samples: (0..rows).collect(),
            signs: SignIndex::from_dense(&x, nf),
            x,
            n_padded,
            held_out: vec![vec![false; rows]],
        };
        let block = Block {
            group: 0,
            fits: (0..LANES).collect(),
            chains: vec![0; LANES],
            rows: None,
            c,
            cy,
            signs: None,
        };
        (group, block)
    }

    /// At its centre the model's gradient is the kernel's; away from it, the change is H·Δ
    /// (checked against the f64 Hessian reference), and for a small Δ it tracks the true
    /// gradient to second order.
    #[test]
    fn model_gradient_is_the_taylor_expansion() {
        // Every row count of the AVX-512 path's last block of eight (1..=8), and the widths used.
        for nf in (1..=17).chain([29, MAX_K]) {
            taylor_expansion_of(nf);
        }
    }

    fn taylor_expansion_of(nf: usize) {
        let mut rng = Rng::new(11);
        let (group, block) = toy(300, nf, &mut rng);
        let mut centre: Field = [[0.0; LANES]; MAX_K];
        let mut q = centre;
        for k in 0..MAX_K {
            for l in 0..LANES {
                centre[k][l] = 0.1 * rng.normal();
                q[k][l] = centre[k][l] + 0.05 * rng.normal();
            }
        }
        let model = QuadraticModel::at(&CpuBackend, &group, &block, &centre);
        let mut g = [[0.0; LANES]; MAX_K];
        model.gradient(&model.centre, &mut g);
        assert_eq!(g, model.grad);

        let mut w = vec![0f32; KPAD * LANES];
        for k in 0..MAX_K {
            for l in 0..LANES {
                w[k * LANES + l] = centre[k][l] as f32;
            }
        }
        let mut hess = vec![0f64; LANES * nf * nf];
        reference_curvature(&group, &block, &w, &mut hess);
        let mut portable = [[0.0; LANES]; MAX_K];
        model.gradient(&q, &mut g);
        model.gradient_portable(&q, &mut portable);
        for k in 0..nf {
            for l in 0..LANES {
                let h = &hess[l * nf * nf + k * nf..][..nf];
                let change: f64 = (0..nf).map(|j| h[j] * (q[j][l] - model.centre[j][l])).sum();
                let expected = model.grad[k][l] + change;
                let scale = 1e-4 * (1.0 + h.iter().map(|v| v.abs()).sum::<f64>() * 0.05);
                assert!((g[k][l] - expected).abs() <= scale, "{k} {l}");
                assert!((g[k][l] - portable[k][l]).abs() <= scale, "{k} {l}");
            }
        }

        // The AVX2 and AVX-512 paths (where the CPU has them) give the same bits.
        #[cfg(target_arch = "x86_64")]
        {
            use crate::base::simd::{Level, detected};
            if detected() >= Level::Avx512 {
                let (mut a, mut b) = ([[0.0; LANES]; MAX_K], [[0.0; LANES]; MAX_K]);
                // SAFETY: the CPU has both feature sets.
                unsafe {
                    model.gradient_avx2(&q, &mut a);
                    model.gradient_avx512(&q, &mut b);
                }
                assert_eq!(a, b);
            }
        }

        // Second order: halving Δ quarters the model's error against the true gradient.
        let error_at = |t: f64| {
            let mut qt = centre;
            let mut w = vec![0f32; KPAD * LANES];
            for k in 0..MAX_K {
                for l in 0..LANES {
                    qt[k][l] = model.centre[k][l] + t * (q[k][l] - model.centre[k][l]);
                    w[k * LANES + l] = qt[k][l] as f32;
                }
            }
            let mut exact = vec![0f64; KPAD * LANES];
            CpuBackend.block_gradient(&group, &block, &w, &mut exact, None);
            let mut gm = [[0.0; LANES]; MAX_K];
            model.gradient(&qt, &mut gm);
            (0..MAX_K)
                .flat_map(|k| (0..LANES).map(move |l| (k, l)))
                .map(|(k, l)| (gm[k][l] - exact[k * LANES + l]).abs())
                .fold(0.0, f64::max)
        };
        let (e1, e2) = (error_at(4.0), error_at(2.0));
        assert!(e2 < 0.35 * e1, "error {e1} at 4Δ, {e2} at 2Δ");
    }
}
