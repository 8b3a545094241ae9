//! The ground floor: what every step and feature above uses, and nothing of theirs.
//!
//! Property [`features`], the crate's [`error`] type, the [`device`] choice, the seeded
//! [`rng`] and its [`box_muller`] normals, [`atomic`] file writes, BOM-tolerant [`text`]
//! reads, one writer per output ([`lock`]), [`fingerprint`] hashing, third-party panics on damaged input caught as errors ([`guarded`]), the [`logistic`] function, the machine's measured
//! [`peak`], the [`simd`] level of the hand-vectorised loops, order [`stats`] and the [`mcmc`] building blocks (warm-up adaptation, R-hat and
//! ESS). Nothing here imports a module outside `base/`, so every other folder may import it
//! without closing a circle.

pub mod atomic;
pub mod box_muller;
pub mod cancel;
pub mod device;
pub mod error;
pub mod features;
pub mod fingerprint;
pub mod guarded;
pub mod lock;
pub mod logistic;
pub mod mcmc;
pub mod peak;
pub mod rng;
pub mod simd;
pub mod stats;
pub mod text;
