//! The small trait every compute backend implements, so solvers are written once.
//!
//! A backend evaluates the fused logistic gradient of one lane block. The CPU backend runs the
//! kernel in `kernels/cpu_logistic.rs`; the wgpu backend (GPU issue) adds a second implementation
//! of the same trait, and the burn plain-ops reference in `solve::reference` is the yardstick
//! both are tested against.

use crate::design::{Block, GroupDesign};

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
}
