//! A shard of a job: `--shard K/N` splits the fits (or the bootstrap's replicates) into N
//! contiguous, deterministic parts of whole units, so N machines can each run one and
//! `prefdissect merge` can put their outputs back together into the files of the whole run.

use crate::base::error::{Error, Result};

/// The file a shard writes last, naming what it holds; `prefdissect merge` reads it.
pub const SHARD_MANIFEST: &str = "shard.json";

/// Shard `index` of `count` (0-based: `--shard 0/3`, `1/3`, `2/3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// This shard's number, below `count`.
    pub index: usize,
    /// How many shards the job is split into.
    pub count: usize,
}

impl Shard {
    /// Parses `K/N` (0 ≤ K < N).
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || Error::Setting {
            name: "shard",
            message: format!("`{text}` is not K/N with 0 <= K < N (e.g. 0/4)"),
        };
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether unit `i` of `total` units, split into contiguous ranges, is this shard's.
    pub fn owns(&self, i: usize, total: usize) -> bool {
        let (lo, hi) = self.range(total);
        (lo..hi).contains(&i)
    }

    /// This shard's units of `total`: `[K·total/N, (K+1)·total/N)`.
    pub fn range(&self, total: usize) -> (usize, usize) {
        (
            self.index * total / self.count,
            (self.index + 1) * total / self.count,
        )
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_unit_once() {
        for count in [1, 2, 3, 7, 11] {
            for total in [0, 1, 5, 100, 1321] {
                for i in 0..total {
                    let owners = (0..count)
                        .filter(|&index| Shard { index, count }.owns(i, total))
                        .count();
                    assert_eq!(owners, 1, "unit {i} of {total} in {count} shards");
                }
            }
        }
        assert!(Shard::parse("3/3").is_err() && Shard::parse("x").is_err());
        assert_eq!(
            Shard::parse(" 2 / 7").unwrap(),
            Shard { index: 2, count: 7 }
        );
    }
}
