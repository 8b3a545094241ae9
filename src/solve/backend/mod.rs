//! The small trait every compute backend implements, so solvers are written once.
//!
//! A backend evaluates the fused logistic gradient of one lane block. The CPU backend runs the
//! kernel in `kernels/cpu_logistic.rs`, the wgpu backend the one in `kernels/wgpu_logistic.rs`
//! (`wgpu::resident`), and the burn plain-ops reference in [`reference`](mod@reference) is the yardstick
//! both are tested against.

pub mod cpu;
pub mod engine;
pub mod reference;
pub mod wgpu;

use crate::base::logistic::sigmoid;
use crate::design::{Block, GroupDesign, LANES};

/// Kernel calls a solver made on a backend (one block's sampling, say), for the work and GFLOP/s figures.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelCalls {
    /// Gradient passes (forward and backward).
    pub gradients: usize,
    /// Forward passes (loss only).
    pub losses: usize,
    /// Curvature (Hessian) passes.
    pub curvatures: usize,
}

/// Evaluates `∇_w Σ_r c_r · logloss(y_r, x_r·w)` for every lane of a block.
pub trait GradientBackend: Sync {
    /// Short name for reports (`cpu-fused`, `wgpu`, …).
    fn name(&self) -> String;

    /// `w` and `grad` are `KPAD × LANES`, lane-fastest; `grad` is overwritten. When `loss` is
    /// given (`LANES` long) it receives each lane's Σ_r c_r · logloss.
    fn block_gradient(
        &self,
        group: &GroupDesign,
        block: &Block,
        w: &[f32],
        grad: &mut [f64],
        loss: Option<&mut [f64]>,
    );

    /// Each lane's Σ_r c_r · logloss at `w` into `loss` (`LANES`), without the gradient: the
    /// accept test of surrogate-trajectory HMC needs only this. The default runs the gradient
    /// kernel and drops the gradient; backends with a forward-only kernel override it.
    fn block_loss(&self, group: &GroupDesign, block: &Block, w: &[f32], loss: &mut [f64]) {
        let mut grad = vec![0f64; crate::design::KPAD * LANES];
        self.block_gradient(group, block, w, &mut grad, Some(loss));
    }

    /// Writes each lane's Hessian Σ_r c_r σ_r(1 − σ_r) x_r x_rᵀ at `w` (`KPAD × LANES`) into
    /// `hess` (`LANES` row-major nf × nf matrices, nf = [`GroupDesign::nf`]). The default is the plain f64 reference,
    /// one lane at a time; backends with a fused kernel override it.
    fn block_curvature(&self, group: &GroupDesign, block: &Block, w: &[f32], hess: &mut [f64]) {
        reference_curvature(group, block, w, hess);
    }

    /// The fused wgpu kernel behind this backend, if any: the solvers then step all blocks
    /// together through [`wgpu::lockstep::Lockstep`] instead of one block per core.
    fn fused_wgpu(&self) -> Option<&wgpu::resident::FusedWgpuBackend> {
        None
    }

    /// The device sampling phase behind this backend, if any (the wgpu lock-step driver): the
    /// surrogate sampler then hands its chains over at the end of warm-up.
    fn device_sampler(&self) -> Option<&dyn wgpu::hmc::DeviceSampler> {
        None
    }
}

/// The curvature reference: per lane, per row, in f64.
pub fn reference_curvature(group: &GroupDesign, block: &Block, w: &[f32], hess: &mut [f64]) {
    let nf = group.nf;
    let nn = nf * nf;
    hess.fill(0.0);
    for l in 0..LANES {
        let h = &mut hess[l * nn..(l + 1) * nn];
        for i in 0..block.entries() {
            let c = block.c[i * LANES + l] as f64;
            if c == 0.0 {
                continue;
            }
            let x = group.row(block.row(i));
            let z: f64 = (0..nf).map(|k| x[k] as f64 * w[k * LANES + l] as f64).sum();
            let p = sigmoid(z);
            let s = c * p * (1.0 - p);
            for i in 0..nf {
                for j in 0..nf {
                    h[i * nf + j] += s * x[i] as f64 * x[j] as f64;
                }
            }
        }
    }
}
