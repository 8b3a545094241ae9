//! A process-wide request to stop a long job early: the Python package sets it on Ctrl-C
//! (KeyboardInterrupt) while the engine runs with the GIL released; the posterior sampler and
//! the bootstrap look at it between blocks and end with [`Error::Interrupted`], writing nothing.
//!
//! [`Error::Interrupted`]: crate::base::error::Error::Interrupted

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the running job to stop at its next block.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// Clears the request, before a new job starts.
pub fn reset() {
    REQUESTED.store(false, Ordering::SeqCst);
}
