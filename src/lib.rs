//! prefdissect: fits thousands of small Bayesian logistic models of judge preferences at once.
//!
//! The pipeline, one module per step:
//! [`load`] the authors' files → [`design`] the batch → [`solve`] every fit →
//! [`analyse`] the weights → [`report`] files (and [`simulate`] data to try it all on).

#![warn(missing_docs)]
// Numeric code here indexes several fixed-size arrays in lock-step (features × lanes); index
// loops say that more plainly than zipped iterators.
#![allow(clippy::needless_range_loop)]

pub mod analyse;
pub mod analyze;
pub mod bench;
pub mod bench_agreement;
pub mod bench_table;
pub mod bootstrap;
pub mod config;
pub mod demo;
pub mod design;
pub mod device;
pub mod error;
pub mod explain;
pub mod features;
pub mod fidelity;
pub mod judge_labels;
pub mod load;
pub mod manipulate;
pub mod report;
pub mod rerank;
pub mod run;
pub mod simulate;
pub mod solve;

pub use error::{Error, Result};
