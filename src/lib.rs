//! prefdissect: fits thousands of small Bayesian logistic models of judge preferences at once.
//!
//! The crate is built in floors; each imports only the floors below it:
//! - [`cli`]: one module per command (its arguments and its run);
//! - the features built on the pipeline: [`bootstrap`] intervals, the [`manipulate`]
//!   experiments, batched [`rerank`]ers, and [`simulate`]d data to try it all on;
//! - the pipeline: [`load`] the data → [`design`] the batch → [`solve`] every fit →
//!   [`analyse`] the weights → [`report`] files;
//! - [`base`]: what all of them use (features, errors, device choice, the random generator,
//!   atomic writes, MCMC diagnostics).

#![warn(missing_docs)]
// Numeric code here indexes several fixed-size arrays in lock-step (features × lanes); index
// loops say that more plainly than zipped iterators.
#![allow(clippy::needless_range_loop)]

pub mod analyse;
pub mod base;
pub mod bootstrap;
pub mod cli;
pub mod design;
pub mod load;
pub mod manipulate;
pub mod report;
pub mod rerank;
pub mod simulate;
pub mod solve;

pub use base::error::{Error, Result};
