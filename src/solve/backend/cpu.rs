//! The CPU backend: the fused kernels of `kernels/cpu_logistic.rs` and
//! `kernels/cpu_logistic_signs.rs` (gradient, dense and sign-sparse) and
//! `kernels/cpu_curvature.rs` (Hessian), one block per call; the solvers spread blocks over
//! cores with rayon.

#[path = "../../../kernels/cpu_logistic.rs"]
pub mod kernel;

#[path = "../../../kernels/cpu_logistic_signs.rs"]
pub mod signs_kernel;

#[path = "../../../kernels/cpu_curvature.rs"]
pub mod curvature;

use super::GradientBackend;
use crate::design::{Block, GroupDesign, SignIndex};

/// Fused-kernel CPU backend (AVX2 + FMA when the CPU has them, portable code otherwise).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl GradientBackend for CpuBackend {
    fn name(&self) -> String {
        let simd = crate::base::simd::level().name();
        format!(
            "cpu-fused ({simd}, {} threads)",
            rayon::current_num_threads()
        )
    }

    fn block_gradient(
        &self,
        group: &GroupDesign,
        block: &Block,
        w: &[f32],
        grad: &mut [f64],
        loss: Option<&mut [f64]>,
    ) {
        match sign_index(group, block) {
            Some(signs) => {
                signs_kernel::logistic_gradient_signs(signs, &block.c, &block.cy, w, grad, loss)
            }
            None => DenseCpuBackend.block_gradient(group, block, w, grad, loss),
        }
    }

    fn block_loss(&self, group: &GroupDesign, block: &Block, w: &[f32], loss: &mut [f64]) {
        match sign_index(group, block) {
            Some(signs) => signs_kernel::logistic_loss_signs(signs, &block.c, &block.cy, w, loss),
            None => DenseCpuBackend.block_loss(group, block, w, loss),
        }
    }

    fn block_curvature(&self, group: &GroupDesign, block: &Block, w: &[f32], hess: &mut [f64]) {
        curvature::curvature_block(&group.x, group.nf, block.rows.as_deref(), &block.c, w, hess);
    }
}

/// The CPU backend with the dense kernel only: the baseline the sign-sparse kernel is timed
/// and tested against (`bench`, `tests/kernel.rs`).
#[derive(Clone, Copy, Debug, Default)]
pub struct DenseCpuBackend;

impl GradientBackend for DenseCpuBackend {
    fn name(&self) -> String {
        format!("{} dense", CpuBackend.name())
    }

    fn block_gradient(
        &self,
        group: &GroupDesign,
        block: &Block,
        w: &[f32],
        grad: &mut [f64],
        loss: Option<&mut [f64]>,
    ) {
        kernel::logistic_gradient_block(
            &group.x,
            group.nf,
            block.rows.as_deref(),
            &block.c,
            &block.cy,
            w,
            grad,
            loss,
        );
    }

    fn block_curvature(&self, group: &GroupDesign, block: &Block, w: &[f32], hess: &mut [f64]) {
        CpuBackend.block_curvature(group, block, w, hess);
    }
}

/// X as sign lists: the group's for whole-group blocks, the block's own for blocks with a row
/// list; `None` for designs that are not all signs (they take the dense kernel).
fn sign_index<'a>(group: &'a GroupDesign, block: &'a Block) -> Option<&'a SignIndex> {
    match &block.rows {
        None => group.signs.as_ref(),
        Some(_) => block.signs.as_ref(),
    }
}
