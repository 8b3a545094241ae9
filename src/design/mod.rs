//! Step 2 of the pipeline: turn a data set into one batched problem.
//!
//! A fit is one (judge, group, fold). Fits that share a group share its design matrix X, so X is
//! stored once per group; what differs per fit is a vector of per-row weights `c` (1 for a
//! training row, 0 for a left-out row; later, bootstrap counts) and the labels `y`. Fits are
//! packed into blocks of [`LANES`] that the gradient kernel processes together.

mod batch;
mod fingerprint;
mod folds;
mod mt19937;
mod shard;
mod signs;

pub use batch::{
    BatchDesign, Block, ChainBlockSpec, Fit, GroupDesign, KPAD, LANES, ROW_TILE, RowWeights,
};
pub use fingerprint::job_fingerprint;
pub use folds::{fold_ranges, held_out_masks};
pub use mt19937::{Mt19937, shuffled_indices};
pub use shard::{SHARD_MANIFEST, Shard};
pub use signs::{NEGATED, NEGATED_ROW, SIGN_CHUNK, SIGN_UNROLL, SignIndex};
