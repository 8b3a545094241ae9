//! The wgpu device layer (burn's wgpu runtime, CubeCL kernels from `kernels/wgpu_*.rs`).
//!
//! - [`resident`]: the backend whose blocks' rows live on the device, packed where they can be,
//!   and the launches of the gradient and loss kernels over any number of blocks;
//! - [`curvature`]: each lane's Hessian on the device;
//! - [`lockstep`]: per-block solvers on host threads whose kernel requests meet at one
//!   rendezvous, so every block steps in one launch;
//! - [`hmc`] and [`warmup`]: the posterior sampler's chains with their whole state on the
//!   device (propose, accept, adapt).
//!
//! The MAP's device FISTA is a solver and lives with it (`solve::map::wgpu_fista`).
//!
//! Every kernel takes its width at compile time ([`DevWidth`]): the paper's 29 features in a
//! 32-float stride ([`DEV_NF`], [`DEV_KPAD`]), or any design of up to 64 slots in a stride of
//! its own, so the MAP, the bootstrap and the posterior (its warm-up included) run on the
//! device for any property set. A host field (`KPAD × LANES`, feature-major) begins with
//! the device's field wherever the device's stride is at most the host's, so a host buffer is
//! handed over as its first `kpad × LANES` values ([`DevWidth::field_of`]).

pub mod curvature;
pub mod hmc;
pub mod lockstep;
pub mod resident;
pub mod warmup;

/// The paper's features: the narrowest width a design computes at ([`DevWidth::PAPER`]).
pub const DEV_NF: usize = 29;
/// The paper's field stride ([`DevWidth::PAPER`]).
pub const DEV_KPAD: usize = 32;

/// The width the device's gradient kernels compute a design at: `nf` features in a field of
/// stride `kpad` (a multiple of 16 above `nf`: slot `nf` of an output carries the loss). Each
/// width is a kernel of its own (the values are compile-time in `kernels/wgpu_logistic.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevWidth {
    /// Features computed.
    pub nf: usize,
    /// A field's stride: a field is `kpad × LANES` floats.
    pub kpad: usize,
}

impl DevWidth {
    /// The paper's width: 29 features in 32.
    pub const PAPER: DevWidth = DevWidth {
        nf: DEV_NF,
        kpad: DEV_KPAD,
    };

    /// The width of a design of `nf` slots (`nf` ≤ [`MAX_K`](crate::base::features::MAX_K)).
    pub fn of(nf: usize) -> DevWidth {
        assert!(
            (DEV_NF..=crate::base::features::MAX_K).contains(&nf),
            "a design has 29 to 64 slots"
        );
        DevWidth {
            nf,
            kpad: (nf + 1).next_multiple_of(16),
        }
    }

    /// Floats in one block's field.
    pub fn field(&self) -> usize {
        self.kpad * crate::design::LANES
    }

    /// Floats in one block's Hessians in the kernels' layout (`[row][column][lane]`).
    pub fn hess_len(&self) -> usize {
        self.nf * self.nf * crate::design::LANES
    }

    /// u32 words of a packed row's signs: (+1s, −1s) of features 0–31, and of 32–63 past 32.
    pub fn sign_words(&self) -> usize {
        if self.nf > 32 { 4 } else { 2 }
    }

    /// A host field (`KPAD × LANES`) in this width: its first `kpad` features (zeros past the
    /// host's 64, where only the loss slot of a 64-feature design lies).
    pub fn field_of(&self, host: &[f32]) -> Vec<f32> {
        let lanes = crate::design::LANES;
        let mut v = vec![0f32; self.field()];
        let n = self.kpad.min(crate::design::KPAD) * lanes;
        v[..n].copy_from_slice(&host[..n]);
        v
    }
}
