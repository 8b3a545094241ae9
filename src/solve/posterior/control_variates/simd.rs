//! The two products of the estimate, compiled for AVX2+FMA or AVX-512 where the CPU has them
//! (the crate itself targets baseline x86-64, where LLVM emits 2-wide SSE2 for these loops).

use crate::base::features::PAPER_K;

/// `g[a][·] += Σ_rows row[a] · row[·]` for the first `lead` columns a: `rows` is
/// row-major with `cols` columns, `g` is `lead × cols`.
pub fn rank_updates(rows: &[f64], cols: usize, lead: usize, g: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::base::simd::{Level, level};
        // SAFETY (both arms): the CPU supports the features the functions are compiled for.
        match level() {
            Level::Avx512 => unsafe { return rank_updates_avx512(rows, cols, lead, g) },
            Level::Avx2 => unsafe { return rank_updates_avx2(rows, cols, lead, g) },
            Level::Portable => {}
        }
    }
    rank_updates_body(rows, cols, lead, g);
}

/// Twice the AVX2 path's width; the same operations in the same order (the same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
unsafe fn rank_updates_avx512(rows: &[f64], cols: usize, lead: usize, g: &mut [f64]) {
    rank_updates_body(rows, cols, lead, g);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rank_updates_avx2(rows: &[f64], cols: usize, lead: usize, g: &mut [f64]) {
    rank_updates_body(rows, cols, lead, g);
}

/// Draws taken together: each load and store of `g` then serves four multiply-adds
/// instead of one (with one draw at a time the loop was bound by `g`'s traffic).
const DRAWS: usize = 4;

#[inline(always)]
fn rank_updates_body(rows: &[f64], cols: usize, lead: usize, g: &mut [f64]) {
    let mut blocks = rows.chunks_exact(DRAWS * cols);
    for block in &mut blocks {
        let (r0, rest) = block.split_at(cols);
        let (r1, rest) = rest.split_at(cols);
        let (r2, r3) = rest.split_at(cols);
        for (a, out) in g.chunks_exact_mut(cols).take(lead).enumerate() {
            let (x0, x1, x2, x3) = (r0[a], r1[a], r2[a], r3[a]);
            for (o, (((&v0, &v1), &v2), &v3)) in
                out.iter_mut().zip(r0.iter().zip(r1).zip(r2).zip(r3))
            {
                *o += x0 * v0 + x1 * v1 + x2 * v2 + x3 * v3;
            }
        }
    }
    for row in blocks.remainder().chunks_exact(cols) {
        for (a, out) in g.chunks_exact_mut(cols).take(lead).enumerate() {
            let x = row[a];
            for (o, &v) in out.iter_mut().zip(row) {
                *o += x * v;
            }
        }
    }
}

/// `f[r][j] −= Σ_a z[r][a] · beta[a][j]` over the nf scores a: `z` has `cols` columns,
/// `beta` is nf × nf and `f` is rows × nf, all row-major.
pub fn subtract_products(z: &[f64], cols: usize, nf: usize, beta: &[f64], f: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::base::simd::{Level, level};
        // SAFETY (both arms): the CPU supports the features the functions are compiled for.
        match level() {
            Level::Avx512 => unsafe {
                return subtract_products_avx512(z, cols, nf, beta, f);
            },
            Level::Avx2 => unsafe { return subtract_products_avx2(z, cols, nf, beta, f) },
            Level::Portable => {}
        }
    }
    subtract_products_body(z, cols, nf, beta, f);
}

/// Twice the AVX2 path's width; the same operations in the same order (the same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
unsafe fn subtract_products_avx512(z: &[f64], cols: usize, nf: usize, beta: &[f64], f: &mut [f64]) {
    subtract_products_body(z, cols, nf, beta, f);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn subtract_products_avx2(z: &[f64], cols: usize, nf: usize, beta: &[f64], f: &mut [f64]) {
    subtract_products_body(z, cols, nf, beta, f);
}

#[inline(always)]
fn subtract_products_body(z: &[f64], cols: usize, nf: usize, beta: &[f64], f: &mut [f64]) {
    // The paper's width gets its own copy, its rows of a known length (as above).
    if nf == PAPER_K {
        subtract_products_of(z, cols, PAPER_K, beta, f);
    } else {
        subtract_products_of(z, cols, nf, beta, f);
    }
}

#[inline(always)]
fn subtract_products_of(z: &[f64], cols: usize, nf: usize, beta: &[f64], f: &mut [f64]) {
    for (z_row, f_row) in z.chunks_exact(cols).zip(f.chunks_exact_mut(nf)) {
        for (a, b_row) in beta.chunks_exact(nf).enumerate() {
            let x = z_row[a];
            for (v, &b) in f_row.iter_mut().zip(b_row) {
                *v -= x * b;
            }
        }
    }
}
