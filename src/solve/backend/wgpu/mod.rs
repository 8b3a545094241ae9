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
//! The kernels hold the paper's 29 features in a 32-float stride ([`DEV_NF`], [`DEV_KPAD`]):
//! a design with more slots ([`GroupDesign::nf`](crate::design::GroupDesign::nf) > 29) runs on
//! the CPU ([`fits_device`]). A host field (`KPAD × LANES`, feature-major) begins with the
//! device's field, so a host buffer is handed over as its first `DEV_KPAD × LANES` values.

pub mod curvature;
pub mod hmc;
pub mod lockstep;
pub mod resident;
pub mod warmup;

/// Features the device kernels compute (the paper's 29).
pub const DEV_NF: usize = 29;
/// The device kernels' feature stride: a field is `DEV_KPAD × LANES`.
pub const DEV_KPAD: usize = 32;

/// Whether a design of `nf` slots fits the device kernels.
pub fn fits_device(nf: usize) -> bool {
    nf <= DEV_NF
}
