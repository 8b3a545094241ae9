//! MCMC building blocks shared by the CPU sampler, the device sampler and the bootstrap:
//! Stan's windowed warm-up [`adaptation`] and the convergence diagnostics a posterior job
//! reports, by either [`Definition`]: rank-normalised [`diagnostics`] (Vehtari et al. 2021, as
//! Stan and ArviZ), with their fast path for whole jobs in [`fast_diagnostics`], or
//! [`numpyro_diagnostics`] (numpyro's split R-hat and ESS on the raw draws).

use serde::{Deserialize, Serialize};

pub mod adaptation;
pub mod diagnostics;
pub mod fast_diagnostics;
pub mod numpyro_diagnostics;

/// Which R-hat and ESS a posterior job reports for each weight. The mean and sd are the same
/// for both (to round-off); the MCSE of the plain mean is the sd over √ESS, of numpyro's ESS or,
/// for rank-normalised, of the split raw draws' ESS (not the reported bulk ESS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Definition {
    /// Rank-normalised split R-hat (the larger of the bulk and the folded, tail, versions) and
    /// bulk ESS (Vehtari et al. 2021), as Stan and ArviZ report them: robust to heavy tails and
    /// to chains that differ in scale only. Each weight's draws are sorted, which makes these
    /// the most expensive part of summarising a fit.
    RankNormalised,
    /// numpyro's `split_gelman_rubin` and `effective_sample_size` on the raw draws, as the
    /// paper's authors' numpyro summaries report them (`../shared/peers/peer_numpyro.py`):
    /// no sort, a few passes over the draws, so several times cheaper; blind to chains that
    /// agree in location and differ only in scale, which the folded R-hat catches. The
    /// default, as every other sampler default is the paper's numpyro setting.
    #[default]
    Numpyro,
}
