//! The fused logistic curvature for wgpu (CubeCL → SPIR-V on Vulkan), the GPU twin of
//! `cpu_curvature.rs`: each lane's Hessian Σ_r c_r σ_r(1 − σ_r) x_r x_rᵀ at its weights, over
//! packed rows (sign masks a row, `c | cy << 16` a row and lane; see `wgpu_logistic.rs`). The surrogate sampler refits its model with it during warm-up, and the
//! bootstrap's Newton solver takes its metric from it.
//!
//! One cube per block, 256 units, rows in tiles of [`TILE`]: first every unit computes the
//! weight s = c σ(1 − σ) of 4 (row, lane) pairs of the tile into shared memory, with the tile's
//! sign masks; then unit u adds, for its lane u % 16, the tile's s · x_i x_j into the pairs
//! i ≤ j that are its own (pairs u / 16, u / 16 + 16, …: 27 or 28 of the paper's 435; `pairs`
//! lists them as i | j << 8, and each unit keeps its own in registers). x_i x_j comes from the
//! masks: zero unless both features are non-zero, −1 where their signs differ. Nothing but the
//! result leaves the cube. The width is compile-time as in `wgpu_logistic.rs` (`nf` features,
//! fields of stride `kpad`; past 32 features each row's masks are two words). Its reference is
//! the CPU kernel (and the f64 `reference_curvature`), which `tests/wgpu_kernels.rs` compares
//! it with.

use cubecl::prelude::*;

/// Rows per tile (shared memory: TILE × 16 weights + TILE × 2 or 4 mask words, ≤ 5 KiB).
pub const TILE: usize = 64;

/// The pair list the kernel reads at `nf` features: pair p = i | j << 8, in row-major order of
/// the lower triangle's transpose (i ≤ j).
pub fn pair_table(nf: usize) -> Vec<u32> {
    let mut v = Vec::with_capacity(nf * (nf + 1) / 2);
    for i in 0..nf as u32 {
        for j in i..nf as u32 {
            v.push(i | j << 8);
        }
    }
    v
}

/// `signs`, `counts`, `w`, `row_start`, `live` as for `logistic_gradient_signs`; `pairs`:
/// [`pair_table`]; `hess`: blocks × nf × nf × 16 (`[row][column][lane]`, both triangles).
#[cube(launch)]
#[allow(clippy::too_many_arguments)] // one buffer each
pub fn logistic_curvature_signs(
    signs: &[u32],
    counts: &[u32],
    w: &[f32],
    row_start: &[u32],
    live: &[u32],
    pairs: &[u32],
    hess: &mut [f32],
    #[comptime] nf: usize,
    #[comptime] kpad: usize,
) {
    let block = CUBE_POS_X as usize;
    let unit = UNIT_POS as usize;
    let lane = unit % 16;
    let part = unit / 16;
    let npairs = comptime!(nf * (nf + 1) / 2);
    let per_unit = comptime!((nf * (nf + 1) / 2).div_ceil(16));
    // A row's mask words: (pos, neg) of features 0–31, then of 32–63 where nf > 32.
    let stride = comptime!(if nf > 32 { 4usize } else { 2usize });
    let lo = comptime!(if nf > 32 { 32usize } else { nf });
    let mut any = 0u32;
    for l in 0..16usize {
        any |= live[block * 16 + l];
    }
    if any != 0u32 {
        let start = row_start[block] as usize;
        let end = row_start[block + 1] as usize;
        let mut wl = Array::<f32>::new(kpad);
        for k in 0..nf {
            wl[k] = w[(block * kpad + k) * 16 + lane];
        }
        // The unit's pairs (a unit's pair past the last is (0, 0): it adds, but is never
        // written out).
        let mut acc = Array::<f32>::new(per_unit);
        let mut mine = Array::<u32>::new(per_unit);
        for q in 0..per_unit {
            acc[q] = 0.0;
            let p = part + 16 * q;
            mine[q] = 0u32;
            if p < npairs {
                mine[q] = pairs[p];
            }
        }
        let mut weight = Shared::<[f32]>::new_slice(1024usize);
        let mut masks = Shared::<[u32]>::new_slice(comptime!(TILE * stride));
        let mut tile = start;
        while tile < end {
            // The tile's row weights s = c σ(1 − σ), 4 rows per unit.
            for m in 0..4usize {
                let t = part + 16 * m;
                let r = tile + t;
                let mut s = 0.0f32;
                let mut pos = 0u32;
                let mut neg = 0u32;
                let mut pos_hi = 0u32;
                let mut neg_hi = 0u32;
                if r < end {
                    pos = signs[r * stride];
                    neg = signs[r * stride + 1];
                    let mut pb = pos;
                    let mut nb = neg;
                    let mut z = 0.0f32;
                    for k in 0..lo {
                        z += (f32::cast_from(pb & 1u32) - f32::cast_from(nb & 1u32)) * wl[k];
                        pb >>= 1u32;
                        nb >>= 1u32;
                    }
                    if nf > 32 {
                        pos_hi = signs[r * stride + 2];
                        neg_hi = signs[r * stride + 3];
                        pb = pos_hi;
                        nb = neg_hi;
                        for k in 32..nf {
                            z += (f32::cast_from(pb & 1u32) - f32::cast_from(nb & 1u32)) * wl[k];
                            pb >>= 1u32;
                            nb >>= 1u32;
                        }
                    }
                    let c = f32::cast_from(counts[r * 16 + lane] & 0xFFFFu32);
                    let e = f32::exp(-f32::abs(z));
                    // σ(1 − σ) = e / (1 + e)² for either sign of z.
                    s = c * e / ((1.0 + e) * (1.0 + e));
                }
                weight[t * 16 + lane] = s;
                if lane == 0 {
                    masks[t * stride] = pos;
                    masks[t * stride + 1] = neg;
                    if nf > 32 {
                        masks[t * stride + 2] = pos_hi;
                        masks[t * stride + 3] = neg_hi;
                    }
                }
            }
            sync_cube();
            for t in 0..64usize {
                let s = weight[t * 16 + lane];
                if s != 0.0 {
                    let neg = masks[t * stride + 1];
                    let nz = masks[t * stride] | neg;
                    if nf > 32 {
                        let neg_hi = masks[t * stride + 3];
                        let nz_hi = masks[t * stride + 2] | neg_hi;
                        for q in 0..per_unit {
                            let ij = mine[q];
                            let i = ij & 255u32;
                            let j = ij >> 8u32;
                            // Each feature's bits from its own word.
                            let mut nzi = nz;
                            let mut negi = neg;
                            if i >= 32u32 {
                                nzi = nz_hi;
                                negi = neg_hi;
                            }
                            let mut nzj = nz;
                            let mut negj = neg;
                            if j >= 32u32 {
                                nzj = nz_hi;
                                negj = neg_hi;
                            }
                            let bi = i & 31u32;
                            let bj = j & 31u32;
                            if ((nzi >> bi) & (nzj >> bj) & 1u32) != 0u32 {
                                let differ = ((negi >> bi) ^ (negj >> bj)) & 1u32;
                                acc[q] += s * (1.0 - 2.0 * f32::cast_from(differ));
                            }
                        }
                    } else {
                        for q in 0..per_unit {
                            let ij = mine[q];
                            let i = ij & 255u32;
                            let j = ij >> 8u32;
                            // x_i x_j is 0 unless both are non-zero, then −1 if their signs
                            // differ.
                            if ((nz >> i) & (nz >> j) & 1u32) != 0u32 {
                                let differ = ((neg >> i) ^ (neg >> j)) & 1u32;
                                acc[q] += s * (1.0 - 2.0 * f32::cast_from(differ));
                            }
                        }
                    }
                }
            }
            sync_cube();
            tile += 64;
        }
        for q in 0..per_unit {
            let p = part + 16 * q;
            if p < npairs {
                let ij = mine[q];
                let i = usize::cast_from(ij & 255u32);
                let j = usize::cast_from(ij >> 8u32);
                hess[((block * nf + i) * nf + j) * 16 + lane] = acc[q];
                hess[((block * nf + j) * nf + i) * 16 + lane] = acc[q];
            }
        }
    }
}
