//! MCMC building blocks shared by the CPU sampler, the device sampler and the bootstrap:
//! Stan's windowed warm-up [`adaptation`] and the convergence [`diagnostics`] (split R-hat,
//! bulk ESS, MCSE) that numpyro's summaries use, with their fast path for whole posterior jobs
//! in [`fast_diagnostics`].

pub mod adaptation;
pub mod diagnostics;
pub mod fast_diagnostics;
