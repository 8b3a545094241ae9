//! The authors' K-fold split of a group's rows.
//!
//! Rows are the group's usable samples in ascending index order; they are shuffled with numpy's
//! legacy generator, and fold i leaves out positions `[int(i/K*n), int(i/K*n) + int(n/K))` of the
//! shuffled order. With K = 10 and n not a multiple of 10 a few rows are never left out: that is
//! the authors' split, kept as is.

use super::mt19937::shuffled_indices;

/// Marks a row that no fold leaves out.
pub const NEVER_HELD_OUT: u16 = u16::MAX;

/// For each of the `n` rows (in ascending-sample order), the fold that leaves it out.
///
/// `folds == 1` means "fit the whole group": no row is left out.
pub fn held_out_fold(n: usize, folds: usize, seed: u32) -> Vec<u16> {
    let mut fold_of = vec![NEVER_HELD_OUT; n];
    if folds <= 1 {
        return fold_of;
    }
    let perm = shuffled_indices(n, seed);
    for (fold, (start, len)) in fold_ranges(n, folds).into_iter().enumerate() {
        for &row in &perm[start..start + len] {
            fold_of[row] = fold as u16;
        }
    }
    fold_of
}

/// `(start, len)` in the shuffled order of each fold's left-out slice, as Python computes them.
pub fn fold_ranges(n: usize, folds: usize) -> Vec<(usize, usize)> {
    (0..folds)
        .map(|i| {
            // int(i / K * n): the float product, truncated, exactly as the authors' code does.
            let start = ((i as f64 / folds as f64) * n as f64) as usize;
            (start, n / folds)
        })
        .collect()
}
