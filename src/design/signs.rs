//! X as lists of its non-zero signs, for the sign-sparse CPU kernel.
//!
//! Every entry of X is −1, 0 or +1, and 40–85% are 0 (64% on the dev data), so the logits
//! x_r·w are sums and differences of a few weight rows, and each gradient entry Σ_r x_rk·res_r
//! a sum and a difference of a few residual rows: no multiplications, and a third of the
//! dense work. The index is built once per group and read by every block of the group.

use crate::design::KPAD;

/// Rows per chunk of the column lists.
pub const SIGN_CHUNK: usize = 64;
/// Entries of a list are padded to a multiple of this with an entry that adds zero, so the
/// kernel adds into this many independent accumulators without a tail loop. Measured on the
/// dev data (ns per row and block): 1 → 28.2, 2 → 27.4, 4 → 33.5 (padding and the final
/// combination cost more than the shorter add chains save).
pub const SIGN_UNROLL: usize = 2;
/// Row-list entry of a −1 sign: feature k is `NEGATED + k`.
pub const NEGATED: u8 = KPAD as u8;
/// Row-list entry that pads a list: the kernel's zero row (past every ±w_k row).
pub const ROW_PAD: u8 = 2 * NEGATED;
/// Column-list entry of a −1 sign: chunk row i is `SIGN_CHUNK + i`; `2 · SIGN_CHUNK` pads.
pub const NEGATED_ROW: u8 = SIGN_CHUNK as u8;

/// Row lists (for the logits) and per-chunk column lists (for the gradient) of X's ±1 entries.
#[derive(Clone, Debug, Default)]
pub struct SignIndex {
    /// Entries indexed (rows of X, or of a block's row list; padding included, which has no
    /// signs).
    pub n_rows: usize,
    /// Row r's entries are `row_feat[row_start[r]..row_start[r + 1]]`.
    pub row_start: Vec<u32>,
    /// Feature k for +1, `NEGATED + k` for −1, then padding ([`ROW_PAD`]) to a multiple of
    /// [`SIGN_UNROLL`].
    pub row_feat: Vec<u8>,
    /// Features per chunk of the column lists: the design's slots.
    pub nf: usize,
    /// Chunk ch, feature k: `col_row[col_start[ch * nf + k]..col_start[ch * nf + k + 1]]`.
    pub col_start: Vec<u32>,
    /// Chunk row i for +1, `NEGATED_ROW + i` for −1, then padding (`2 · SIGN_CHUNK`).
    pub col_row: Vec<u8>,
    /// Non-zero entries of X.
    pub nonzeros: usize,
}

impl SignIndex {
    /// Indexes the first `nf` columns of `x` (`rows × KPAD`, entries in {−1, 0, +1}; the
    /// columns past `nf` zero). Entries of other values are not signs; `None` tells the caller
    /// to use the dense kernel.
    pub fn from_dense(x: &[f32], nf: usize) -> Option<SignIndex> {
        SignIndex::from_rows(x, nf, x.len() / KPAD, Some)
    }

    /// Indexes `n_entries` entries of a block whose entry i is row `row(i)` of `x` (`None`:
    /// a padding entry, with no signs). A block that lists every row in order gets the same
    /// index as [`SignIndex::from_dense`], so its sums are the whole group's bit for bit.
    pub fn from_rows(
        x: &[f32],
        nf: usize,
        n_entries: usize,
        row: impl Fn(usize) -> Option<usize>,
    ) -> Option<SignIndex> {
        if !x.iter().all(|&v| v == 0.0 || v == 1.0 || v == -1.0)
            || x.chunks(KPAD)
                .any(|row| row[nf..].iter().any(|&v| v != 0.0))
        {
            return None;
        }
        let n_rows = n_entries;
        let sign = |i: usize, k: usize| row(i).map_or(0.0, |r| x[r * KPAD + k]);
        let mut idx = SignIndex {
            n_rows,
            nf,
            nonzeros: (0..n_rows)
                .map(|i| (0..nf).filter(|&k| sign(i, k) != 0.0).count())
                .sum(),
            ..SignIndex::default()
        };
        let pad = |list: &mut Vec<u8>, from: usize, with: u8| {
            while !(list.len() - from).is_multiple_of(SIGN_UNROLL) {
                list.push(with);
            }
        };
        for r in 0..n_rows {
            let from = idx.row_feat.len();
            idx.row_start.push(from as u32);
            for k in 0..nf {
                match sign(r, k) {
                    v if v > 0.0 => idx.row_feat.push(k as u8),
                    v if v < 0.0 => idx.row_feat.push(NEGATED + k as u8),
                    _ => {}
                }
            }
            pad(&mut idx.row_feat, from, ROW_PAD);
        }
        idx.row_start.push(idx.row_feat.len() as u32);
        for r0 in (0..n_rows).step_by(SIGN_CHUNK) {
            for k in 0..nf {
                let from = idx.col_row.len();
                idx.col_start.push(from as u32);
                for r in r0..(r0 + SIGN_CHUNK).min(n_rows) {
                    match sign(r, k) {
                        v if v > 0.0 => idx.col_row.push((r - r0) as u8),
                        v if v < 0.0 => idx.col_row.push(NEGATED_ROW + (r - r0) as u8),
                        _ => {}
                    }
                }
                pad(&mut idx.col_row, from, 2 * NEGATED_ROW);
            }
        }
        idx.col_start.push(idx.col_row.len() as u32);
        Some(idx)
    }
}
