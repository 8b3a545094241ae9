//! The authors' K-fold split of a group's rows.
//!
//! Rows are the group's usable samples in ascending index order; they are shuffled with numpy's
//! legacy generator, and fold i leaves out positions `[int(i/K*n), int(i/K*n) + int(n/K))` of the
//! shuffled order. With K = 10 and n not a multiple of 10 a few rows are never left out, and
//! float truncation can make two folds share a row: that is the authors' split, kept as is.

use super::mt19937::shuffled_indices;

/// For each fold, which of the `n` rows (in ascending-sample order) it leaves out.
///
/// `folds == 1` means "fit the whole group": one fold that leaves nothing out. Because the cut
/// points are truncated float products, two neighbouring folds can share a left-out position
/// (n = 360: fold 6 ends at 252, fold 7 starts at int(0.7·360) = 251); that is kept.
pub fn held_out_masks(n: usize, folds: usize, seed: u32) -> Vec<Vec<bool>> {
    if folds <= 1 {
        return vec![vec![false; n]];
    }
    let perm = shuffled_indices(n, seed);
    fold_ranges(n, folds)
        .into_iter()
        .map(|(start, len)| {
            let mut mask = vec![false; n];
            for &row in &perm[start..start + len] {
                mask[row] = true;
            }
            mask
        })
        .collect()
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
