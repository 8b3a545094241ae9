//! The FISTA update for wgpu (CubeCL → SPIR-V on Vulkan): after `logistic_gradient` has left
//! every block's gradient at its momentum points `y` on the device, one unit per lane tests the
//! lane's KKT violation and, when it is above the tolerance, takes the proximal step with
//! adaptive restart. Together the two launches are one FISTA iteration of the whole batch, with
//! nothing read back; the host reads the `live` flags only every few iterations, to stop.
//!
//! Its reference is the CPU solver's `solve::fista::fista_step` and
//! `solve::objective::kkt_violation` (in f64), which `tests/wgpu.rs` compares it with.

// Nested ifs keep each read behind the bounds test that guards it, whatever the #[cube] macro
// makes of `&&` on device values.
#![allow(clippy::collapsible_if)]

use cubecl::prelude::*;

/// `grad`: blocks × kpad × 16 (the gradient kernel's output; slot `nf` is the loss, unused
/// here); `y`, `x`, `step`: blocks × kpad × 16, the momentum point (where the gradient was taken), the
/// iterate, the per-feature steps; `t`, `live`, `iterations`, `kkt`: blocks × 16.
/// `params`: [λ, tolerance]. A lane that meets the tolerance stops with `y` as its result
/// (`live` = 0), as on the CPU; a lane that is not live is left alone.
#[cube(launch)]
#[allow(clippy::too_many_arguments)] // the solver's whole state, one buffer each
pub fn fista_update(
    grad: &[f32],
    y: &mut [f32],
    x: &mut [f32],
    step: &[f32],
    t: &mut [f32],
    live: &mut [u32],
    iterations: &mut [u32],
    kkt: &mut [f32],
    params: &[f32],
    #[comptime] nf: usize,
    #[comptime] kpad: usize,
) {
    let i = ABSOLUTE_POS;
    if i < live.len() {
        if live[i] != 0u32 {
            let lambda = params[0];
            let tol = params[1];
            let base = (i / 16) * (kpad * 16) + i % 16;
            let mut violation = 0.0f32;
            for k in 0..nf {
                let p = y[base + k * 16];
                let g = grad[base + k * 16];
                let mut v = f32::max(f32::abs(g) - lambda, 0.0);
                if p > 0.0 {
                    v = f32::abs(g + lambda);
                }
                if p < 0.0 {
                    v = f32::abs(g - lambda);
                }
                violation = f32::max(violation, v);
            }
            iterations[i] += 1u32;
            kkt[i] = violation;
            if violation <= tol {
                live[i] = 0u32;
            } else {
                let mut x_new = Array::<f32>::new(kpad);
                let mut uphill = 0.0f32;
                for k in 0..nf {
                    let s = step[base + k * 16];
                    let yk = y[base + k * 16];
                    let v = yk - s * grad[base + k * 16];
                    let cut = lambda * s;
                    let mut xn = 0.0f32;
                    if v > cut {
                        xn = v - cut;
                    }
                    if v < -cut {
                        xn = v + cut;
                    }
                    x_new[k] = xn;
                    uphill += (yk - xn) * (xn - x[base + k * 16]);
                }
                let tl = t[i];
                if uphill > 0.0 {
                    // Momentum points uphill: restart it.
                    t[i] = 1.0;
                    for k in 0..nf {
                        y[base + k * 16] = x_new[k];
                        x[base + k * 16] = x_new[k];
                    }
                } else {
                    let t_next = 0.5 * (1.0 + f32::sqrt(1.0 + 4.0 * tl * tl));
                    let beta = (tl - 1.0) / t_next;
                    t[i] = t_next;
                    for k in 0..nf {
                        let xn = x_new[k];
                        y[base + k * 16] = xn + beta * (xn - x[base + k * 16]);
                        x[base + k * 16] = xn;
                    }
                }
            }
        }
    }
}
