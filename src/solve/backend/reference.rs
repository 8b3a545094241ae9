//! The fused kernel's reference: the same gradient in plain burn tensor ops on burn's Flex CPU
//! backend (logits materialised, sigmoid, residual, matmul), as burn's custom-kernel example
//! keeps one beside each fused op. Tests compare the fused kernel to it; the benchmark times it
//! as the "generic tensor library" baseline.

use burn::tensor::activation::{sigmoid, softplus};
use burn::tensor::{Device, Tensor, TensorData};

use super::GradientBackend;
use crate::design::{Block, GroupDesign, KPAD, LANES};

/// `G = (C ∘ σ(W Xᵀ) − CY) X` for `m` models over `n` rows: `x` is `n × nf`, `w` is `m × nf`,
/// `c` and `cy` are `m × n`; returns `m × nf`, row-major.
pub fn reference_gradient(x: &[f32], w: &[f32], c: &[f32], cy: &[f32], n: usize) -> Vec<f32> {
    reference_gradient_loss(x, w, c, cy, n).0
}

/// [`reference_gradient`] plus each model's loss Σ_r c·softplus(z) − cy·z.
pub fn reference_gradient_loss(
    x: &[f32],
    w: &[f32],
    c: &[f32],
    cy: &[f32],
    n: usize,
) -> (Vec<f32>, Vec<f32>) {
    reference_gradient_loss_on(&Device::flex(), x, w, c, cy, n)
}

/// [`reference_gradient_loss`] on any burn device (the wgpu path runs exactly these ops).
pub fn reference_gradient_loss_on(
    device: &Device,
    x: &[f32],
    w: &[f32],
    c: &[f32],
    cy: &[f32],
    n: usize,
) -> (Vec<f32>, Vec<f32>) {
    // x is n × nf, w is m × nf: the properties are X's columns.
    let nf = x.len() / n.max(1);
    let m = w.len() / nf;
    let x = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [n, nf]), device);
    let w = Tensor::<2>::from_data(TensorData::new(w.to_vec(), [m, nf]), device);
    let c = Tensor::<2>::from_data(TensorData::new(c.to_vec(), [m, n]), device);
    let cy = Tensor::<2>::from_data(TensorData::new(cy.to_vec(), [m, n]), device);
    let z = w.matmul(x.clone().transpose());
    let loss = (c.clone() * softplus(z.clone(), 1.0) - cy.clone() * z.clone()).sum_dim(1);
    let residual = c * sigmoid(z) - cy;
    let grad = residual.matmul(x).into_data().try_into_vec::<f32>();
    let loss = loss.into_data().try_into_vec::<f32>();
    (grad.expect("f32 tensor"), loss.expect("f32 tensor"))
}

/// The reference as a backend, so a solver can run on it and be compared end to end.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReferenceBackend;

impl GradientBackend for ReferenceBackend {
    fn name(&self) -> String {
        "burn-flex plain ops (reference)".into()
    }

    fn block_gradient(
        &self,
        group: &GroupDesign,
        block: &Block,
        w: &[f32],
        grad: &mut [f64],
        loss: Option<&mut [f64]>,
    ) {
        block_gradient_on(&Device::flex(), group, block, w, grad, loss);
    }
}

/// The same plain tensor ops as a backend on any burn device: with a wgpu device this is the
/// engine's GPU path (one upload, a matmul, the element-wise ops and a read-back per block).
#[derive(Clone, Debug)]
pub struct TensorOpsBackend {
    /// Where the ops run.
    pub device: Device,
    /// What [`GradientBackend::name`] reports.
    pub label: String,
}

impl GradientBackend for TensorOpsBackend {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn block_gradient(
        &self,
        group: &GroupDesign,
        block: &Block,
        w: &[f32],
        grad: &mut [f64],
        loss: Option<&mut [f64]>,
    ) {
        block_gradient_on(&self.device, group, block, w, grad, loss);
    }
}

/// One block's gradient (and losses) by the plain ops on `device`.
pub fn block_gradient_on(
    device: &Device,
    group: &GroupDesign,
    block: &Block,
    w: &[f32],
    grad: &mut [f64],
    loss: Option<&mut [f64]>,
) {
    let n = block.entries();
    let nf = group.nf;
    let mut x = vec![0f32; n * nf];
    for i in 0..n {
        let r = block.row(i);
        x[i * nf..(i + 1) * nf].copy_from_slice(&group.x[r * KPAD..r * KPAD + nf]);
    }
    let (wm, cm, cym) = (
        transpose(w, KPAD, LANES, nf),
        transpose(&block.c, n, LANES, n),
        transpose(&block.cy, n, LANES, n),
    );
    let (g, lane_loss) = reference_gradient_loss_on(device, &x, &wm, &cm, &cym, n);
    if let Some(loss) = loss {
        for (out, v) in loss.iter_mut().zip(&lane_loss) {
            *out = *v as f64;
        }
    }
    grad.fill(0.0);
    for l in 0..LANES {
        for k in 0..nf {
            grad[k * LANES + l] = g[l * nf + k] as f64;
        }
    }
}

/// `rows × LANES` lane-fastest → `LANES × keep` row-major (first `keep` rows).
fn transpose(a: &[f32], rows: usize, lanes: usize, keep: usize) -> Vec<f32> {
    let mut out = vec![0f32; lanes * keep];
    for r in 0..rows.min(keep) {
        for l in 0..lanes {
            out[l * keep + r] = a[r * lanes + l];
        }
    }
    out
}
