//! Fused logistic-gradient kernel for the CPU (included into `solve::backend::cpu` with `#[path]`).
//!
//! For one block of [`LANES`] fits that share X it computes, per lane l and feature k,
//!
//! ```text
//! grad[k][l] = Σ_r x[r][k] · (c[r][l] · σ(z[r][l]) − cy[r][l]),   z[r][l] = Σ_k x[r][k] · w[k][l]
//! ```
//!
//! i.e. the gradient of Σ_r c_r · logloss(y_r, z_r), and on request the loss itself,
//! `loss[l] = Σ_r c[r][l] · softplus(z[r][l]) − cy[r][l] · z[r][l]` (the HMC sampler needs it once
//! per trajectory for its accept test). The logits live only in a 16-row × 16-lane
//! tile (1 KiB, in L1): logits → sigmoid → residual → Xᵀr happen per tile, so memory traffic is
//! X plus the per-row weights, and the work is two register-blocked rank-4 update loops that
//! LLVM turns into AVX2 FMAs. Tile sums are added into an f64 accumulator so the gradient's
//! rounding error does not grow with the number of rows (the MAP solver needs KKT ≤ 1e-4 on
//! sums over up to ~1,400 rows).
//!
//! The plain-tensor-ops reference of this kernel is `solve::backend::reference` (burn), and the tests
//! compare the two.

// X, its width, the row list, c, cy, w, the gradient and the loss: a block's whole interface,
// passed once per call.
#![allow(clippy::too_many_arguments)]

use crate::design::{KPAD, LANES, ROW_TILE};

/// Rows per register block of the logits loop (4 rows × 2 AVX2 registers = 8 accumulators).
const RB: usize = 4;
/// Features per register block of the gradient loop (4 features × 2 registers).
const KB: usize = 4;

/// Gradient of one block. `x`: X of the group, `rows × KPAD`, of which the first `nf`
/// columns are read; `c`, `cy`: `n × LANES`, entry i
/// for row `rows[i]` of X (for row i when `rows` is `None`; then X has n rows); `w`:
/// `KPAD × LANES`; `grad` (`KPAD × LANES`) is overwritten, and so is `loss` (`LANES`) when
/// given. `n` must be a multiple of [`ROW_TILE`]. A row list lets a bootstrap block skip the
/// rows none of its replicates drew.
pub fn logistic_gradient_block(
    x: &[f32],
    nf: usize,
    rows: Option<&[u32]>,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &mut [f64],
    loss: Option<&mut [f64]>,
) {
    check_shapes(x, nf, rows, c, cy, w, grad, &loss);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the functions are compiled for.
            unsafe {
                match loss {
                    Some(l) => gradient_avx2_fma_loss(x, nf, rows, c, cy, w, grad, l),
                    None => gradient_avx2_fma(x, nf, rows, c, cy, w, grad),
                }
            }
            return;
        }
    }
    portable(x, nf, rows, c, cy, w, grad, loss);
}

fn check_shapes(
    x: &[f32],
    nf: usize,
    rows: Option<&[u32]>,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &[f64],
    loss: &Option<&mut [f64]>,
) {
    let n = c.len() / LANES;
    assert!(n.is_multiple_of(ROW_TILE) && cy.len() == c.len() && x.len().is_multiple_of(KPAD));
    assert!(nf <= KPAD);
    match rows {
        None => assert_eq!(x.len(), n * KPAD),
        // Each listed row is bounds-checked where it is read.
        Some(rows) => assert_eq!(rows.len(), n),
    }
    assert!(w.len() == KPAD * LANES && grad.len() == KPAD * LANES);
    assert!(loss.as_ref().is_none_or(|l| l.len() == LANES));
}

/// The same kernel without SIMD feature detection (no FMA contraction): what CPUs without
/// AVX2+FMA run; public so tests can compare the two paths on any machine.
pub fn logistic_gradient_block_portable(
    x: &[f32],
    nf: usize,
    rows: Option<&[u32]>,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &mut [f64],
    loss: Option<&mut [f64]>,
) {
    check_shapes(x, nf, rows, c, cy, w, grad, &loss);
    portable(x, nf, rows, c, cy, w, grad, loss);
}

fn portable(
    x: &[f32],
    nf: usize,
    rows: Option<&[u32]>,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &mut [f64],
    loss: Option<&mut [f64]>,
) {
    match loss {
        Some(l) => gradient_body::<false, true>(x, nf, rows, c, cy, w, grad, l),
        None => gradient_body::<false, false>(x, nf, rows, c, cy, w, grad, &mut []),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gradient_avx2_fma(
    x: &[f32],
    nf: usize,
    rows: Option<&[u32]>,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &mut [f64],
) {
    gradient_body::<true, false>(x, nf, rows, c, cy, w, grad, &mut []);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gradient_avx2_fma_loss(
    x: &[f32],
    nf: usize,
    rows: Option<&[u32]>,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &mut [f64],
    loss: &mut [f64],
) {
    gradient_body::<true, true>(x, nf, rows, c, cy, w, grad, loss);
}

#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, acc: f32) -> f32 {
    if FMA { a.mul_add(b, acc) } else { a * b + acc }
}

#[inline(always)]
fn gradient_body<const FMA: bool, const LOSS: bool>(
    x: &[f32],
    nf: usize,
    rows: Option<&[u32]>,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    grad: &mut [f64],
    loss: &mut [f64],
) {
    let (x_rows, _) = x.as_chunks::<KPAD>();
    let (c_rows, _) = c.as_chunks::<LANES>();
    let (cy_rows, _) = cy.as_chunks::<LANES>();
    let (w_rows, _) = w.as_chunks::<LANES>();
    let w_rows: &[[f32; LANES]; KPAD] = w_rows.try_into().expect("KPAD rows");
    grad.fill(0.0);
    loss.fill(0.0);
    let mut res = [[0f32; LANES]; ROW_TILE];
    let mut gathered = [[0f32; KPAD]; ROW_TILE];
    for tile in 0..c_rows.len() / ROW_TILE {
        let base = tile * ROW_TILE;
        let xt: &[[f32; KPAD]; ROW_TILE] = match rows {
            None => x_rows[base..base + ROW_TILE].try_into().unwrap(),
            Some(rows) => {
                // 2 KiB copied per tile of ~15k flops.
                for (dst, &r) in gathered.iter_mut().zip(&rows[base..base + ROW_TILE]) {
                    *dst = x_rows[r as usize];
                }
                &gathered
            }
        };
        let ct: &[[f32; LANES]; ROW_TILE] = c_rows[base..base + ROW_TILE].try_into().unwrap();
        let cyt: &[[f32; LANES]; ROW_TILE] = cy_rows[base..base + ROW_TILE].try_into().unwrap();
        // Logits → residuals, RB rows at a time.
        let mut tile_loss = [0f32; LANES];
        for r0 in (0..ROW_TILE).step_by(RB) {
            let mut z = [[0f32; LANES]; RB];
            for k in 0..nf {
                let wk = &w_rows[k];
                for i in 0..RB {
                    let xv = xt[r0 + i][k];
                    for l in 0..LANES {
                        z[i][l] = madd::<FMA>(xv, wk[l], z[i][l]);
                    }
                }
            }
            for i in 0..RB {
                // One exp serves both: e = e^−z gives σ(z) = 1/(1+e) and e^−|z| = min(e, 1/e).
                let mut e = [0f32; LANES];
                for l in 0..LANES {
                    e[l] = exp_approx::<FMA>(-z[i][l]);
                }
                for l in 0..LANES {
                    res[r0 + i][l] = ct[r0 + i][l] / (1.0 + e[l]) - cyt[r0 + i][l];
                }
                if LOSS {
                    for l in 0..LANES {
                        let e_abs = if z[i][l] >= 0.0 { e[l] } else { 1.0 / e[l] };
                        let sp = z[i][l].max(0.0) + log_approx::<FMA>(1.0 + e_abs);
                        tile_loss[l] += ct[r0 + i][l] * sp - cyt[r0 + i][l] * z[i][l];
                    }
                }
            }
        }
        if LOSS {
            for l in 0..LANES {
                loss[l] += tile_loss[l] as f64;
            }
        }
        // Xᵀ·residual for the tile, KB features at a time, then into the f64 accumulator.
        for k0 in (0..KPAD).step_by(KB) {
            if k0 >= nf {
                break;
            }
            let mut g = [[0f32; LANES]; KB];
            for r in 0..ROW_TILE {
                for j in 0..KB {
                    let xv = xt[r][k0 + j];
                    for l in 0..LANES {
                        g[j][l] = madd::<FMA>(xv, res[r][l], g[j][l]);
                    }
                }
            }
            for j in 0..KB {
                let out = &mut grad[(k0 + j) * LANES..(k0 + j + 1) * LANES];
                for l in 0..LANES {
                    out[l] += g[j][l] as f64;
                }
            }
        }
    }
}

/// ln x for normal positive x (Cephes' logf polynomial, ≈1 ulp), branch-free.
#[inline(always)]
pub fn log_approx<const FMA: bool>(x: f32) -> f32 {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126;
    let m = f32::from_bits((bits & 0x807f_ffff) | 0x3f00_0000); // in [0.5, 1)
    let small = m < SQRT_HALF;
    e -= small as i32;
    let m = if small { m + m - 1.0 } else { m - 1.0 };
    let e = e as f32;
    let z = m * m;
    let mut y = 7.037_683_6e-2f32;
    y = madd::<FMA>(y, m, -1.151_461_1e-1);
    y = madd::<FMA>(y, m, 1.167_699_9e-1);
    y = madd::<FMA>(y, m, -1.242_014_1e-1);
    y = madd::<FMA>(y, m, 1.424_932_3e-1);
    y = madd::<FMA>(y, m, -1.666_805_8e-1);
    y = madd::<FMA>(y, m, 2.000_071_4e-1);
    y = madd::<FMA>(y, m, -2.499_999_4e-1);
    y = madd::<FMA>(y, m, 3.333_333e-1);
    y = y * m * z;
    y = madd::<FMA>(e, -2.121_944_4e-4, y);
    y = madd::<FMA>(z, -0.5, y);
    madd::<FMA>(e, 0.693_359_4, m + y)
}

/// e^x, |relative error| ≲ 2e-7 on [-87, 87]; inputs are clamped to that range.
#[inline(always)]
pub fn exp_approx<const FMA: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    #[allow(clippy::excessive_precision)] // Cephes' split of ln 2, kept digit for digit
    const LN2_HI: f32 = 0.693_359_375;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer in the mantissa
    let x = x.clamp(-87.0, 87.0);
    let t = madd::<FMA>(x, LOG2E, ROUND);
    let n = t - ROUND;
    let k = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = madd::<FMA>(n, -LN2_LO, madd::<FMA>(n, -LN2_HI, x));
    let mut p = 1.987_569_1e-4f32;
    p = madd::<FMA>(p, r, 1.398_199_9e-3);
    p = madd::<FMA>(p, r, 8.333_452e-3);
    p = madd::<FMA>(p, r, 4.166_579_6e-2);
    p = madd::<FMA>(p, r, 1.666_666_5e-1);
    #[allow(clippy::excessive_precision)]
    let c0 = 5.000_000_1e-1;
    p = madd::<FMA>(p, r, c0);
    let e = madd::<FMA>(p, r * r, r) + 1.0;
    let scale = f32::from_bits(((k + 127) as u32) << 23);
    e * scale
}
