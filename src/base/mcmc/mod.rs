//! MCMC building blocks shared by the CPU sampler, the device sampler and the bootstrap:
//! Stan's windowed warm-up [`adaptation`] and the convergence [`diagnostics`] (split R-hat,
//! bulk ESS, MCSE) that numpyro's summaries use.

pub mod adaptation;
pub mod diagnostics;
