//! The control variates' coefficients: for every weight j, the least-squares regression of wⱼ on
//! the nf scores and its own [`OWN`] terms, from one fit's draws.
//!
//! The nf systems share their score block (the scores' Gram matrix A) and differ only in the
//! own terms' rows and columns, so A is factored once, A = L·Lᵀ, and each system is the
//! block Cholesky factor [[L, 0], [Yⱼᵀ, Lₛ]] with Yⱼ = L⁻¹Bⱼ (Bⱼ the scores against the own
//! terms) and Lₛ the 3 × 3 factor of Cⱼ − YⱼᵀYⱼ. The triangular solves with L take every
//! weight's columns at once, so they run along rows of the right-hand sides (vector code)
//! instead of one dot product at a time. Factoring each (nf + 3)-square system on its own took
//! a third of the estimate's time.

use super::simd;
use super::{Layout, OWN};
use crate::base::features::MAX_K;
use ndarray::{Array2, ArrayView2, Axis};

/// Relative ridge on the diagonal (of the scores' mean Gram diagonal): exactly collinear
/// regressors (a feature absent from every training row has sⱼ = −λ·sign wⱼ) still factor.
const RIDGE: f64 = 1e-10;

/// Regression coefficients of every weight on the scores (column j of an nf × nf matrix) and
/// on its own terms, from the draws in `z` (rows of the layout's columns). `None` when a
/// system does not factor (degenerate regressors).
pub(super) fn coefficients(
    z: ArrayView2<f64>,
    lay: Layout,
) -> Option<(Array2<f64>, [[f64; OWN]; MAX_K])> {
    let (nf, cols, k0, w0) = (lay.nf, lay.cols(), lay.k0(), lay.w0());
    let means = z.mean_axis(Axis(0))?;
    let means = means.as_slice().expect("standard layout");
    // Row by row into a buffer of its own, the subtraction ndarray's broadcast `&z - &means`
    // makes (the same bits), without its broadcasting zip (2% of a fast.json run in `perf`).
    let mut centred = Vec::with_capacity(z.len());
    for row in z.as_slice().expect("standard layout").chunks_exact(cols) {
        centred.extend(row.iter().zip(means).map(|(v, m)| v - m));
    }
    let centred = centred.as_slice();
    // Hand-written rather than ndarray's dot: its threaded GEMM would spin up threads inside
    // the sampler's rayon tasks (a sixth of a run's time went to the scheduler).
    // g = (scores)ᵀ · (all columns): nf × cols, row-major.
    let mut g = vec![0f64; nf * cols];
    simd::rank_updates(centred, cols, nf, &mut g);
    let (c_own, g_kw) = own_grams(centred, lay);
    let ridge = RIDGE * (0..nf).map(|a| g[a * cols + a]).sum::<f64>() / nf as f64;
    if !(ridge > 0.0 && ridge.is_finite()) {
        return None;
    }
    // L: the lower factor of A + ridge·I, nf × nf row-major.
    let mut l = vec![0f64; nf * nf];
    for a in 0..nf {
        l[a * nf..(a + 1) * nf].copy_from_slice(&g[a * cols..a * cols + nf]);
        l[a * nf + a] += ridge;
    }
    cholesky_in_place(&mut l, nf)?;
    // Y = L⁻¹·[B | W]: the own-term and weight columns of g, r = cols − k0 of them per row.
    let r = cols - k0;
    let mut y = vec![0f64; nf * r];
    for a in 0..nf {
        y[a * r..(a + 1) * r].copy_from_slice(&g[a * cols + k0..(a + 1) * cols]);
    }
    forward_rows(&l, nf, &mut y, r);
    // Per weight: the own terms' 3 × 3 Schur complement, its solve, and the scores' part of
    // the right-hand side for the back substitution (column j of `u`, nf × nf).
    let wy = w0 - k0; // first weight column within y's rows
    let mut u = vec![0f64; nf * nf];
    let mut beta_own = [[0f64; OWN]; MAX_K];
    for j in 0..nf {
        let yo = |a: usize, o: usize| y[a * r + j * OWN + o];
        let yw = |a: usize| y[a * r + wy + j];
        let mut s = [[0f64; OWN]; OWN];
        let mut rhs = [0f64; OWN];
        for o in 0..OWN {
            for q in 0..=o {
                let dot: f64 = (0..nf).map(|a| yo(a, o) * yo(a, q)).sum();
                s[o][q] = c_own[j][o][q] - dot + if o == q { ridge } else { 0.0 };
            }
            rhs[o] = g_kw[j][o] - (0..nf).map(|a| yo(a, o) * yw(a)).sum::<f64>();
        }
        let x2 = solve_small(s, rhs)?;
        for a in 0..nf {
            u[a * nf + j] = yw(a) - (0..OWN).map(|o| yo(a, o) * x2[o]).sum::<f64>();
        }
        beta_own[j] = x2;
    }
    // X = L⁻ᵀ·U: column j holds weight j's score coefficients.
    backward_rows(&l, nf, &mut u, nf);
    let beta_s = Array2::from_shape_vec((nf, nf), u).expect("nf × nf");
    Some((beta_s, beta_own))
}

/// Per weight j, over the centred rows: the own terms' Gram matrix Cⱼ (lower triangle used) and
/// their products with wⱼ.
#[allow(clippy::type_complexity)]
fn own_grams(centred: &[f64], lay: Layout) -> (Vec<[[f64; OWN]; OWN]>, Vec<[f64; OWN]>) {
    let (nf, cols, k0, w0) = (lay.nf, lay.cols(), lay.k0(), lay.w0());
    let mut c = vec![[[0f64; OWN]; OWN]; nf];
    let mut kw = vec![[0f64; OWN]; nf];
    for row in centred.chunks_exact(cols) {
        for j in 0..nf {
            let h = &row[k0 + j * OWN..k0 + (j + 1) * OWN];
            let w = row[w0 + j];
            for o in 0..OWN {
                for q in 0..=o {
                    c[j][o][q] += h[o] * h[q];
                }
                kw[j][o] += h[o] * w;
            }
        }
    }
    (c, kw)
}

/// The lower Cholesky factor of the symmetric `m` (n × n row-major, lower triangle read) in
/// place; `None` if it is not positive definite.
fn cholesky_in_place(m: &mut [f64], n: usize) -> Option<()> {
    for i in 0..n {
        for j in 0..=i {
            let (ri, rj) = (&m[i * n..i * n + j], &m[j * n..j * n + j]);
            let v = m[i * n + j] - ri.iter().zip(rj).map(|(a, b)| a * b).sum::<f64>();
            if i == j {
                // Not positive (or NaN): not positive definite.
                if v.is_nan() || v <= 0.0 {
                    return None;
                }
                m[i * n + i] = v.sqrt();
            } else {
                m[i * n + j] = v / m[j * n + j];
            }
        }
    }
    Some(())
}

/// `b ← L⁻¹·b` for the lower factor `l` (n × n) and `b` of n rows of `w` columns, row-major:
/// each step is a row operation on whole rows of b.
fn forward_rows(l: &[f64], n: usize, b: &mut [f64], w: usize) {
    for i in 0..n {
        let (done, rest) = b.split_at_mut(i * w);
        let row = &mut rest[..w];
        for k in 0..i {
            let f = l[i * n + k];
            for (v, &d) in row.iter_mut().zip(&done[k * w..(k + 1) * w]) {
                *v -= f * d;
            }
        }
        let inv = 1.0 / l[i * n + i];
        row.iter_mut().for_each(|v| *v *= inv);
    }
}

/// `b ← L⁻ᵀ·b` for the lower factor `l` (n × n) and `b` of n rows of `w` columns, row-major.
fn backward_rows(l: &[f64], n: usize, b: &mut [f64], w: usize) {
    for i in (0..n).rev() {
        let (head, done) = b.split_at_mut((i + 1) * w);
        let row = &mut head[i * w..];
        for k in i + 1..n {
            let f = l[k * n + i];
            for (v, &d) in row.iter_mut().zip(&done[(k - i - 1) * w..(k - i) * w]) {
                *v -= f * d;
            }
        }
        let inv = 1.0 / l[i * n + i];
        row.iter_mut().for_each(|v| *v *= inv);
    }
}

/// Solves the 3 × 3 symmetric positive definite `s·x = rhs` (lower triangle of `s` read) by
/// Cholesky; `None` if it is not positive definite.
fn solve_small(s: [[f64; OWN]; OWN], rhs: [f64; OWN]) -> Option<[f64; OWN]> {
    let mut m = [0f64; OWN * OWN];
    for o in 0..OWN {
        for q in 0..=o {
            m[o * OWN + q] = s[o][q];
        }
    }
    cholesky_in_place(&mut m, OWN)?;
    let mut x = rhs;
    forward_rows(&m, OWN, &mut x, 1);
    backward_rows(&m, OWN, &mut x, 1);
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::rng::Rng;

    /// The block solve gives the coefficients of each weight's full (nf + 3)-square normal
    /// equations with the same ridge, solved here by Gaussian elimination with pivoting, to
    /// 1e-10 (relative, or of 1e-3 for small coefficients).
    #[test]
    fn block_solve_is_each_full_systems_solution() {
        let mut rng = Rng::new(2);
        for nf in [3, 29, 33] {
            let lay = Layout { nf };
            let (cols, k0, w0, p) = (lay.cols(), lay.k0(), lay.w0(), lay.p());
            let rows = 400;
            // Correlated columns: each a random mix of a few shared factors plus noise.
            let factors: Vec<Vec<f64>> = (0..rows)
                .map(|_| (0..6).map(|_| rng.normal()).collect())
                .collect();
            let mix: Vec<Vec<f64>> = (0..cols)
                .map(|_| (0..6).map(|_| 0.5 * rng.normal()).collect())
                .collect();
            let z = Array2::from_shape_fn((rows, cols), |(i, c)| {
                (0..6).map(|f| mix[c][f] * factors[i][f]).sum::<f64>() + rng.normal() + 0.3
            });
            let (beta_s, beta_own) = coefficients(z.view(), lay).expect("factors");
            let zc = &z - &z.mean_axis(Axis(0)).unwrap();
            let ridge = RIDGE
                * (0..nf)
                    .map(|a| zc.column(a).dot(&zc.column(a)))
                    .sum::<f64>()
                / nf as f64;
            for j in 0..nf {
                let idx: Vec<usize> = (0..nf).chain((0..OWN).map(|o| k0 + j * OWN + o)).collect();
                let mut m = vec![vec![0f64; p + 1]; p];
                for (a, &ca) in idx.iter().enumerate() {
                    for (b, &cb) in idx.iter().enumerate() {
                        m[a][b] = zc.column(ca).dot(&zc.column(cb));
                    }
                    m[a][a] += ridge;
                    m[a][p] = zc.column(ca).dot(&zc.column(w0 + j));
                }
                let want = gauss(m);
                let got: Vec<f64> = (0..nf).map(|a| beta_s[[a, j]]).chain(beta_own[j]).collect();
                for (a, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= 1e-10 * w.abs().max(1e-3),
                        "nf {nf} j {j} a {a}: {g} vs {w}"
                    );
                }
            }
        }
    }

    /// Gaussian elimination with partial pivoting on the augmented matrix.
    fn gauss(mut m: Vec<Vec<f64>>) -> Vec<f64> {
        let p = m.len();
        for c in 0..p {
            let piv = (c..p)
                .max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs()))
                .unwrap();
            m.swap(c, piv);
            for r in c + 1..p {
                let f = m[r][c] / m[c][c];
                for k in c..=p {
                    m[r][k] -= f * m[c][k];
                }
            }
        }
        let mut x = vec![0f64; p];
        for r in (0..p).rev() {
            x[r] = (m[r][p] - (r + 1..p).map(|k| m[r][k] * x[k]).sum::<f64>()) / m[r][r];
        }
        x
    }
}
