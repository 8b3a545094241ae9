//! Step 3 of the pipeline: solve every fit of a [`BatchDesign`](crate::design::BatchDesign)
//! at once.
//!
//! - [`map`]: the MAP (batched FISTA, warm-started Newton, f64 polish), on the CPU or with its
//!   whole state on the device;
//! - [`posterior`]: the paper's posterior mean (surrogate-trajectory HMC with Stan's
//!   adaptation, the prior's exact flow and control variates);
//! - [`backend`]: where the kernels run: the [`GradientBackend`](backend::GradientBackend)
//!   trait both solvers are written against, the fused CPU kernels, the f64/burn reference,
//!   and the wgpu device layer;
//! - [`settings`]: which estimator a run uses and its checked settings (`configs/*.json`
//!   and flags).
//!
//! Inside: `backend/` imports neither solver; `map/` imports `backend/`; `posterior/` imports
//! both. Nothing here imports a step above `solve/`.

pub mod backend;
pub mod map;
pub mod posterior;
pub mod settings;
