//! The fused logistic-gradient kernel for wgpu (CubeCL → SPIR-V on Vulkan), the GPU twin of
//! `cpu_logistic.rs`: for every block of 16 lanes it computes
//! `G = Σ_r (c_r σ(x_r·w) − cy_r) x_r` and each lane's loss `Σ_r c_r softplus(z) − cy_r z`
//! without materialising the logits. One cube per block (so one launch serves any number of
//! blocks), 256 units = 16 lanes × 16 row slices; each unit keeps its lane's weights and its
//! `nf` partial sums in registers; the 16 slices are then summed through 1 KiB of shared
//! memory, one feature at a time (within wgpu's default 16 KiB workgroup limit), so a block
//! reads back only its `nf + 1` × 16 results. Two variants: dense f32 rows, and packed rows
//! ([`logistic_gradient_signs()`]) for all-sign designs; both skip blocks with no live lane and,
//! without `gradient`, compute only the losses (an accept test needs no more).
//!
//! The width is compile-time: `nf` features in a field of stride `kpad` (`kpad > nf`; slot `nf`
//! of a unit's output holds the loss), so the paper's 29 in 32 and any set of up to 64
//! properties each get a kernel of their own. References: the plain-ops gradient of
//! `solve::backend::reference`, the CPU kernel, and the dense variant for the packed one.

use cubecl::prelude::*;

/// Rows are dealt to this many slices of units per lane.
pub const SLICES: usize = 16;
/// Lanes per block (the engine's `LANES`).
pub const LANES: usize = 16;

/// `x`: rows × kpad; `c`, `cy`: rows × LANES (lane fastest); `w`: blocks × kpad × LANES;
/// `row_start`: blocks + 1 offsets into the rows; `live`: blocks × LANES flags (a block none
/// of whose lanes is live is skipped, its output left as it was); `out`: blocks × kpad × LANES
/// (feature `nf`'s slot holds the loss).
#[cube(launch)]
pub fn logistic_gradient(
    x: &[f32],
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    row_start: &[u32],
    live: &[u32],
    out: &mut [f32],
    #[comptime] gradient: bool,
    #[comptime] nf: usize,
    #[comptime] kpad: usize,
) {
    let block = CUBE_POS_X as usize;
    let lane = (UNIT_POS as usize) % 16;
    let slice = (UNIT_POS as usize) / 16;
    if block_is_live(live, block) {
        let start = row_start[block] as usize;
        let end = row_start[block + 1] as usize;
        let mut wl = Array::<f32>::new(kpad);
        let mut acc = Array::<f32>::new(kpad);
        for k in 0..kpad {
            wl[k] = w[(block * kpad + k) * 16 + lane];
            acc[k] = 0.0;
        }
        let mut r = start + slice;
        while r < end {
            let mut z = 0.0f32;
            for k in 0..nf {
                z += x[r * kpad + k] * wl[k];
            }
            let cr = c[r * 16 + lane];
            let cyr = cy[r * 16 + lane];
            // σ and softplus from e = exp(−|z|), which cannot overflow.
            let e = f32::exp(-f32::abs(z));
            let s = cr * sigmoid_from(z, e) - cyr;
            if gradient {
                for k in 0..nf {
                    acc[k] += s * x[r * kpad + k];
                }
            }
            acc[nf] += cr * (f32::max(z, 0.0) + f32::ln(1.0 + e)) - cyr * z;
            r += 16;
        }
        sum_slices(&acc, out, block, lane, slice, gradient, nf, kpad);
    }
}

/// The same gradient over packed rows, for designs whose X is all signs and whose row weights
/// are small whole numbers (every design of the paper's method): `signs` holds each row's
/// signs as bit masks (+1s, then −1s, of features 0–31: 8 bytes instead of X's 128 for the
/// paper's 29; past 32 features a second pair for features 32–63), `counts` each row and lane's
/// `c | cy << 16` (4 bytes instead of 8). A paper row then costs 72 bytes instead of 256 for
/// the 16 lanes that read it, which moves the kernel from memory-bound to compute-bound on a
/// GPU. The logits and sums are the dense kernel's, term for term: an exact ±1 or 0 times w.
#[cube(launch)]
pub fn logistic_gradient_signs(
    signs: &[u32],
    counts: &[u32],
    w: &[f32],
    row_start: &[u32],
    live: &[u32],
    out: &mut [f32],
    #[comptime] gradient: bool,
    #[comptime] nf: usize,
    #[comptime] kpad: usize,
) {
    let block = CUBE_POS_X as usize;
    let lane = (UNIT_POS as usize) % 16;
    let slice = (UNIT_POS as usize) / 16;
    if block_is_live(live, block) {
        let start = row_start[block] as usize;
        let end = row_start[block + 1] as usize;
        let mut wl = Array::<f32>::new(kpad);
        let mut acc = Array::<f32>::new(kpad);
        for k in 0..kpad {
            wl[k] = w[(block * kpad + k) * 16 + lane];
            acc[k] = 0.0;
        }
        // A row's masks: (pos, neg) of features 0–31, then of 32–63 where nf > 32.
        let stride = comptime!(if nf > 32 { 4usize } else { 2usize });
        let lo = comptime!(if nf > 32 { 32usize } else { nf });
        let mut r = start + slice;
        while r < end {
            let pos = signs[r * stride];
            let neg = signs[r * stride + 1];
            let mut z = signed_sum(0.0f32, pos, neg, &wl, 0usize, lo);
            if nf > 32 {
                z = signed_sum(
                    z,
                    signs[r * stride + 2],
                    signs[r * stride + 3],
                    &wl,
                    32usize,
                    nf,
                );
            }
            let both = counts[r * 16 + lane];
            let cr = f32::cast_from(both & 0xFFFFu32);
            let cyr = f32::cast_from(both >> 16u32);
            let e = f32::exp(-f32::abs(z));
            let s = cr * sigmoid_from(z, e) - cyr;
            if gradient {
                signed_add(pos, neg, s, &mut acc, 0usize, lo);
                if nf > 32 {
                    signed_add(
                        signs[r * stride + 2],
                        signs[r * stride + 3],
                        s,
                        &mut acc,
                        32usize,
                        nf,
                    );
                }
            }
            acc[nf] += cr * (f32::max(z, 0.0) + f32::ln(1.0 + e)) - cyr * z;
            r += 16;
        }
        sum_slices(&acc, out, block, lane, slice, gradient, nf, kpad);
    }
}

/// `z0 + Σ_k (pos_k − neg_k) w_k` over features `from..to` of one mask pair (bit 0 = feature
/// `from`), added one at a time in feature order, as the dense kernel sums them.
#[cube]
fn signed_sum(
    z0: f32,
    pos: u32,
    neg: u32,
    wl: &Array<f32>,
    #[comptime] from: usize,
    #[comptime] to: usize,
) -> f32 {
    let mut z = z0;
    let mut pb = pos;
    let mut nb = neg;
    for k in from..to {
        z += (f32::cast_from(pb & 1u32) - f32::cast_from(nb & 1u32)) * wl[k];
        pb >>= 1u32;
        nb >>= 1u32;
    }
    z
}

/// `acc_k += s (pos_k − neg_k)` over features `from..to` of one mask pair.
#[cube]
fn signed_add(
    pos: u32,
    neg: u32,
    s: f32,
    acc: &mut Array<f32>,
    #[comptime] from: usize,
    #[comptime] to: usize,
) {
    let mut pb = pos;
    let mut nb = neg;
    for k in from..to {
        acc[k] += s * (f32::cast_from(pb & 1u32) - f32::cast_from(nb & 1u32));
        pb >>= 1u32;
        nb >>= 1u32;
    }
}

/// Adds the 16 slices' partial sums of each of the `nf + 1` outputs (only the loss's without
/// `gradient`) through 1 KiB of shared memory, one output at a time (within wgpu's default
/// 16 KiB workgroup limit); slice 0 writes them.
#[cube]
fn sum_slices(
    acc: &Array<f32>,
    out: &mut [f32],
    block: usize,
    lane: usize,
    slice: usize,
    #[comptime] gradient: bool,
    #[comptime] nf: usize,
    #[comptime] kpad: usize,
) {
    let mut shared = Shared::<[f32]>::new_slice(256usize);
    let first = comptime!(if gradient { 0usize } else { nf });
    for k in first..nf + 1 {
        shared[slice * 16 + lane] = acc[k];
        sync_cube();
        if slice == 0 {
            let mut t = 0.0f32;
            for s in 0..16usize {
                t += shared[s * 16 + lane];
            }
            out[(block * kpad + k) * 16 + lane] = t;
        }
        sync_cube();
    }
}

/// σ(z) from e = exp(−|z|).
#[cube]
fn sigmoid_from(z: f32, e: f32) -> f32 {
    let q = 1.0 / (1.0 + e);
    let mut p = e * q;
    if z >= 0.0 {
        p = q;
    }
    p
}

/// Whether any lane of `block` is live. Every unit of the cube reads the same 16 flags, so the
/// whole cube takes the same branch (its barriers stay uniform).
#[cube]
fn block_is_live(live: &[u32], block: usize) -> bool {
    let mut any = 0u32;
    for l in 0..16usize {
        any |= live[block * 16 + l];
    }
    any != 0u32
}
