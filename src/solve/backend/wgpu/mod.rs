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

pub mod curvature;
pub mod hmc;
pub mod lockstep;
pub mod resident;
pub mod warmup;
