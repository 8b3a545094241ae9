//! Sign-sparse fused logistic-gradient kernel for the CPU (included into `solve::backend::cpu` with
//! `#[path]`).
//!
//! It computes what `cpu_logistic.rs` computes, the gradient (and on request the loss) of
//! Σ_r c_r · logloss(y_r, x_r·w) for the 16 lanes of a block, but reads X as the lists of its
//! ±1 entries ([`SignIndex`]): a logit is a sum and a difference of weight rows, and a gradient
//! entry a sum and a difference of residual rows. With X 64% zeros (dev data) that is a third of
//! the dense kernel's 4 × 29 (paper) multiply-adds per row and lane, and no multiplications. Rows are
//! taken in chunks of [`SIGN_CHUNK`]: the chunk's residuals (4 KiB) stay in L1 while the
//! column lists gather them, and each chunk's f32 sums go into an f64 accumulator, as the
//! dense kernel does per tile, so rounding does not grow with the number of rows.
//!
//! A forward-only variant ([`logistic_loss_signs`]) returns the loss alone, for the accept
//! test of surrogate-trajectory HMC: with 0/1 row weights its logs are taken 16 rows at a time,
//! as the log of a product of factors 1 + e^−|z| ∈ (1, 2].
//!
//! Measured on a block held in cache (`benches/kernel_block.rs`): 1.24–1.26× the dense kernel,
//! not 3×, because each row also needs its sigmoid (an exp and a division for 16 lanes) and
//! each list entry two 256-bit loads. The tests compare it with an f64 gradient and with the
//! dense kernel, whose own reference is the plain burn ops of `solve::backend::reference`.

use crate::base::features::PAPER_K;
use crate::design::{KPAD, LANES, SIGN_CHUNK, SIGN_UNROLL, SignIndex};

use super::kernel::{exp_approx, log_approx};

/// Gradient of one block whose entries are the rows of X in order (`c`, `cy`: `rows × LANES`
/// with `rows = index.n_rows`); `w`: `KPAD × LANES`; `grad` (`KPAD × LANES`) is overwritten, and
/// so is `loss` (`LANES`) when given.
pub fn logistic_gradient_signs(
    index: &SignIndex,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &mut [f64],
    loss: Option<&mut [f64]>,
) {
    assert!(c.len() == index.n_rows * LANES && cy.len() == c.len());
    assert!(w.len() == KPAD * LANES && grad.len() == KPAD * LANES);
    assert!(loss.as_ref().is_none_or(|l| l.len() == LANES));
    logistic_gradient_signs_at(crate::base::simd::level(), index, c, cy, w, grad, loss);
}

/// [`logistic_gradient_signs`] on the code path of `level` (or the widest below it that the CPU
/// has): public so tests can hold the paths to each other.
pub fn logistic_gradient_signs_at(
    level: crate::base::simd::Level,
    index: &SignIndex,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &mut [f64],
    loss: Option<&mut [f64]>,
) {
    assert!(c.len() == index.n_rows * LANES && cy.len() == c.len());
    assert!(w.len() == KPAD * LANES && grad.len() == KPAD * LANES);
    assert!(loss.as_ref().is_none_or(|l| l.len() == LANES));
    #[cfg(not(target_arch = "x86_64"))]
    let _ = level; // one code path off x86-64
    #[cfg(target_arch = "x86_64")]
    {
        use crate::base::simd::{Level, detected};
        // SAFETY (both arms): the CPU supports the features the functions are compiled for.
        match level.min(detected()) {
            Level::Avx512 => unsafe {
                match loss {
                    Some(l) => signs_avx512::<true, true>(index, c, cy, w, grad, l),
                    None => signs_avx512::<false, true>(index, c, cy, w, grad, &mut []),
                }
                return;
            },
            Level::Avx2 => unsafe {
                match loss {
                    Some(l) => signs_avx2_fma::<true, true>(index, c, cy, w, grad, l),
                    None => signs_avx2_fma::<false, true>(index, c, cy, w, grad, &mut []),
                }
                return;
            },
            Level::Portable => {}
        }
    }
    logistic_gradient_signs_portable(index, c, cy, w, grad, loss);
}

/// The loss alone (`loss`: `LANES`, overwritten): the forward half of the kernel, for the
/// accept test of surrogate-trajectory HMC, which needs U but not ∇U at a proposal.
pub fn logistic_loss_signs(index: &SignIndex, c: &[f32], cy: &[f32], w: &[f32], loss: &mut [f64]) {
    assert!(c.len() == index.n_rows * LANES && cy.len() == c.len());
    assert!(w.len() == KPAD * LANES && loss.len() == LANES);
    logistic_loss_signs_at(crate::base::simd::level(), index, c, cy, w, loss);
}

/// [`logistic_loss_signs`] on the code path of `level` (or the widest below it that the CPU
/// has).
pub fn logistic_loss_signs_at(
    level: crate::base::simd::Level,
    index: &SignIndex,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    loss: &mut [f64],
) {
    assert!(c.len() == index.n_rows * LANES && cy.len() == c.len());
    assert!(w.len() == KPAD * LANES && loss.len() == LANES);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = level; // one code path off x86-64
    #[cfg(target_arch = "x86_64")]
    {
        use crate::base::simd::{Level, detected};
        // SAFETY (both arms): the CPU supports the features the functions are compiled for.
        match level.min(detected()) {
            Level::Avx512 => unsafe {
                signs_avx512::<true, false>(index, c, cy, w, &mut [], loss);
                return;
            },
            Level::Avx2 => unsafe {
                signs_avx2_fma::<true, false>(index, c, cy, w, &mut [], loss);
                return;
            },
            Level::Portable => {}
        }
    }
    logistic_loss_signs_portable(index, c, cy, w, loss);
}

/// [`logistic_loss_signs`] without SIMD feature detection.
pub fn logistic_loss_signs_portable(
    index: &SignIndex,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    loss: &mut [f64],
) {
    assert!(c.len() == index.n_rows * LANES && cy.len() == c.len());
    signs_body::<false, false, true, false>(index, c, cy, w, &mut [], loss);
}

/// The same without SIMD feature detection; public so tests can compare the two paths.
pub fn logistic_gradient_signs_portable(
    index: &SignIndex,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &mut [f64],
    loss: Option<&mut [f64]>,
) {
    assert!(c.len() == index.n_rows * LANES && cy.len() == c.len());
    match loss {
        Some(l) => signs_body::<false, false, true, true>(index, c, cy, w, grad, l),
        None => signs_body::<false, false, false, true>(index, c, cy, w, grad, &mut []),
    }
}

/// [`signs_body`] compiled for AVX2 + FMA, for each combination of outputs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn signs_avx2_fma<const LOSS: bool, const GRAD: bool>(
    index: &SignIndex,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &mut [f64],
    loss: &mut [f64],
) {
    signs_body::<true, false, LOSS, GRAD>(index, c, cy, w, grad, loss);
}

/// [`signs_body`] compiled for AVX-512: a block's 16 lanes of f32 are one register, so every
/// row sum and per-lane step is half the instructions of the AVX2 path (the same operations in
/// the same order, so the same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
unsafe fn signs_avx512<const LOSS: bool, const GRAD: bool>(
    index: &SignIndex,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &mut [f64],
    loss: &mut [f64],
) {
    signs_body::<true, true, LOSS, GRAD>(index, c, cy, w, grad, loss);
}

/// The kernel's two tables, each sized for every u8 entry so a list entry needs no bounds
/// check: the weight rows and their negatives (entry k is +w_k, `NEGATED + k` is −w_k, row
/// 2·KPAD stays zero for padding entries), and a chunk's residual rows (the same layout over
/// chunk rows). Kept per thread between calls, so a call writes only the rows its lists name:
/// zeroing both (32 KiB) at every call cost more than the few KiB a call uses, and evicted
/// them from L1. A row a call does not write is zero or left from an earlier call, and none of
/// the call's lists names it (an index names features below its `nf` and chunk rows below the
/// chunk's length).
struct Tables {
    signed_w: [[f32; LANES]; 256],
    res: [[f32; LANES]; 256],
}

thread_local! {
    /// This thread's tables, taken for a call and put back after it (no closure: a closure
    /// would not be compiled with the caller's SIMD features).
    static TABLES: std::cell::Cell<Option<Box<Tables>>> = const { std::cell::Cell::new(None) };
}

#[inline(always)]
fn signs_body<const FMA: bool, const W512: bool, const LOSS: bool, const GRAD: bool>(
    index: &SignIndex,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &mut [f64],
    loss: &mut [f64],
) {
    let mut t = TABLES.take().unwrap_or_else(|| {
        Box::new(Tables {
            signed_w: [[0.0; LANES]; 256],
            res: [[0.0; LANES]; 256],
        })
    });
    // The paper's width gets its own copy, its feature loops of known length, as in the
    // 29-wide engine.
    let (sw, res) = (&mut t.signed_w, &mut t.res);
    if index.nf == PAPER_K {
        signs_tables::<FMA, W512, LOSS, GRAD>(PAPER_K, sw, res, index, c, cy, w, grad, loss);
    } else {
        signs_tables::<FMA, W512, LOSS, GRAD>(index.nf, sw, res, index, c, cy, w, grad, loss);
    }
    TABLES.set(Some(t));
}

#[inline(always)]
#[allow(clippy::too_many_arguments)] // the tables, the block's inputs and its two outputs
fn signs_tables<const FMA: bool, const W512: bool, const LOSS: bool, const GRAD: bool>(
    nf: usize,
    signed_w: &mut [[f32; LANES]; 256],
    res: &mut [[f32; LANES]; 256],
    index: &SignIndex,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &mut [f64],
    loss: &mut [f64],
) {
    let (c_rows, _) = c.as_chunks::<LANES>();
    let (cy_rows, _) = cy.as_chunks::<LANES>();
    let (w_rows, _) = w.as_chunks::<LANES>();
    // Weight rows, then their negatives: a row list's entry picks +w_k or −w_k directly.
    // Whatever the caller left in w's padding is never read (padding entries read the zero row
    // 2·KPAD), as the dense kernel ignores it too.
    for k in 0..nf {
        signed_w[k] = w_rows[k];
        signed_w[KPAD + k] = w_rows[k].map(|v| -v);
    }
    let (grad_rows, _) = grad.as_chunks_mut::<LANES>();
    for g in grad_rows.iter_mut() {
        *g = [0.0; LANES];
    }
    loss.fill(0.0);
    // The chunk's residuals, their negatives, and a zero row for padding entries (`res`).
    for (chunk, r0) in (0..index.n_rows).step_by(SIGN_CHUNK).enumerate() {
        let rows = SIGN_CHUNK.min(index.n_rows - r0);
        let mut chunk_loss = [0f32; LANES];
        // Product of up to LOG_BATCH factors 1 + e^−|z| per lane, each in (1, 2].
        let mut product = [1f32; LANES];
        let mut in_product = 0;
        for i in 0..rows {
            let r = r0 + i;
            let list =
                &index.row_feat[index.row_start[r] as usize..index.row_start[r + 1] as usize];
            let z = sum_rows::<FMA, W512>(list, |k| &signed_w[k as usize]);
            let (ct, cyt) = (&c_rows[r], &cy_rows[r]);
            // One exp, t = e^−|z|: σ(z) is 1/(1+t) or t/(1+t), and softplus(z) is
            // max(z, 0) + ln(1+t). (With or without the loss, the gradient is the same.)
            let mut t = [0f32; LANES];
            for l in 0..LANES {
                t[l] = exp_approx::<FMA>(-z[l].abs());
            }
            if GRAD {
                for l in 0..LANES {
                    let inv = 1.0 / (1.0 + t[l]);
                    let sigma = if z[l] >= 0.0 { inv } else { t[l] * inv };
                    let v = ct[l] * sigma - cyt[l];
                    res[i][l] = v;
                    res[SIGN_CHUNK + i][l] = -v;
                }
            }
            if !LOSS {
                continue;
            }
            let mut binary = true;
            for l in 0..LANES {
                chunk_loss[l] += ct[l] * z[l].max(0.0) - cyt[l] * z[l];
                binary &= ct[l] == 0.0 || ct[l] == 1.0;
            }
            if binary {
                // Σ c·ln(1+t) over rows with 0/1 weights (every posterior fit) is the log of a
                // product: one log per LOG_BATCH rows instead of one per row.
                for l in 0..LANES {
                    product[l] *= if ct[l] != 0.0 { 1.0 + t[l] } else { 1.0 };
                }
                in_product += 1;
                if in_product == LOG_BATCH {
                    flush_product::<FMA>(&mut product, &mut chunk_loss);
                    in_product = 0;
                }
            } else {
                for l in 0..LANES {
                    chunk_loss[l] += ct[l] * log_approx::<FMA>(1.0 + t[l]);
                }
            }
        }
        if LOSS && in_product > 0 {
            flush_product::<FMA>(&mut product, &mut chunk_loss);
        }
        // A short last chunk: rows past it are not in any list, but the padding row must be 0.
        res[2 * SIGN_CHUNK] = [0.0; LANES];
        if LOSS {
            for l in 0..LANES {
                loss[l] += chunk_loss[l] as f64;
            }
        }
        if !GRAD {
            continue;
        }
        for (k, out) in grad_rows.iter_mut().enumerate().take(nf) {
            let i = chunk * nf + k;
            let list = &index.col_row[index.col_start[i] as usize..index.col_start[i + 1] as usize];
            let g = sum_rows::<FMA, W512>(list, |r| &res[r as usize]);
            for l in 0..LANES {
                out[l] += g[l] as f64;
            }
        }
    }
}

/// Rows whose factors 1 + e^−|z| ∈ (1, 2] are multiplied before one log: 2¹⁶ at most, far
/// from f32's range, and the product's rounding (≤ 16 ulp) is that of as many separate logs.
const LOG_BATCH: usize = 16;

/// Adds ln(product) to the loss and restarts the product.
#[inline(always)]
fn flush_product<const FMA: bool>(product: &mut [f32; LANES], loss: &mut [f32; LANES]) {
    for l in 0..LANES {
        loss[l] += log_approx::<FMA>(product[l]);
        product[l] = 1.0;
    }
}

/// Σ of the 16-lane rows a list names, in [`SIGN_UNROLL`] independent accumulators (the list
/// is padded to a multiple of it).
#[inline(always)]
fn sum_rows<'a, const AVX: bool, const W512: bool>(
    list: &[u8],
    row: impl Fn(u8) -> &'a [f32; LANES],
) -> [f32; LANES] {
    let mut acc = [[0f32; LANES]; SIGN_UNROLL];
    let (pairs, _) = list.as_chunks::<SIGN_UNROLL>();
    for pair in pairs {
        // The pair's two entries from one 16-bit word in a general register: left to itself,
        // LLVM loads them into a vector register and extracts each byte on the same port the
        // 16-lane adds need.
        let word = u16::from_le_bytes(*pair);
        add16::<AVX, W512>(&mut acc[0], row((word & 0xff) as u8));
        add16::<AVX, W512>(&mut acc[1], row((word >> 8) as u8));
    }
    let mut sum = [0f32; LANES];
    for l in 0..LANES {
        sum[l] = acc[0][l] + acc[1][l];
    }
    sum
}

/// `acc += v` for 16 lanes: two 256-bit adds on the AVX2 path (left to itself, LLVM splits the
/// sums into four 128-bit halves to suit the f64 conversion that follows them).
#[inline(always)]
fn add16<const AVX: bool, const W512: bool>(acc: &mut [f32; LANES], v: &[f32; LANES]) {
    #[cfg(target_arch = "x86_64")]
    if W512 {
        use std::arch::x86_64::{_mm512_add_ps, _mm512_loadu_ps, _mm512_storeu_ps};
        // SAFETY: W512 is only true inside the function compiled for AVX-512 (see the
        // callers); both arrays are 16 floats, one unaligned 512-bit load each.
        unsafe {
            let (a, b) = (acc.as_mut_ptr(), v.as_ptr());
            _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), _mm512_loadu_ps(b)));
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if AVX {
        use std::arch::x86_64::{_mm256_add_ps, _mm256_loadu_ps, _mm256_storeu_ps};
        // SAFETY: AVX is only true inside the functions compiled for AVX2 (see the callers);
        // both arrays are 16 floats, read and written as two unaligned 8-float halves.
        unsafe {
            let (a, b) = (acc.as_mut_ptr(), v.as_ptr());
            _mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(b)));
            _mm256_storeu_ps(
                a.add(8),
                _mm256_add_ps(_mm256_loadu_ps(a.add(8)), _mm256_loadu_ps(b.add(8))),
            );
        }
        return;
    }
    for l in 0..LANES {
        acc[l] += v[l];
    }
}
