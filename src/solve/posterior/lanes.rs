//! Per-lane sampler state in the kernel's layout: feature-major and lane-fastest
//! (`[feature][lane]`), so the updates of all 16 lanes of a block vectorise.

use crate::base::features::MAX_K;
use crate::design::LANES;

/// One value per (feature, lane); a design uses its first [`GroupDesign::nf`] features, the
/// rest are never read.
///
/// [`GroupDesign::nf`]: crate::design::GroupDesign::nf
pub type Field = [[f64; LANES]; MAX_K];

/// Each lane's diagonal metric with its reciprocal and square root, recomputed only when
/// adaptation changes it (a leapfrog step would otherwise spend 464 divisions on it, and a
/// momentum refresh 464 square roots).
#[derive(Clone, Copy)]
pub struct Metric {
    /// M⁻¹ (≈ posterior variances).
    pub inv_mass: Field,
    /// M.
    pub mass: Field,
    /// √M, the momentum's sd.
    pub sqrt_mass: Field,
}

impl Metric {
    /// Sets lane `l`'s variance of feature `k` (and the derived values).
    pub fn set(&mut self, k: usize, l: usize, inv_mass: f64) {
        self.inv_mass[k][l] = inv_mass;
        self.mass[k][l] = 1.0 / inv_mass;
        self.sqrt_mass[k][l] = self.mass[k][l].sqrt();
    }
}

/// A field of `nf` slots in the device kernels' f32 weight layout (a
/// [`DevWidth`](crate::solve::backend::wgpu::DevWidth) field, lane-fastest; the padding
/// features zero).
pub fn to_kernel_layout(f: &Field, nf: usize) -> Vec<f32> {
    let width = crate::solve::backend::wgpu::DevWidth::of(nf);
    let mut v = vec![0f32; width.field()];
    for (k, row) in f.iter().enumerate().take(nf) {
        for (l, &x) in row.iter().enumerate() {
            v[k * LANES + l] = x as f32;
        }
    }
    v
}

/// ½ Σ_k p²·M⁻¹ per lane, over the first `nf` features.
#[inline(always)]
pub fn kinetic(p: &Field, inv_mass: &Field, nf: usize) -> [f64; LANES] {
    let mut kin = [0f64; LANES];
    for k in 0..nf {
        for l in 0..LANES {
            kin[l] += p[k][l] * p[k][l] * inv_mass[k][l];
        }
    }
    kin.map(|v| 0.5 * v)
}
