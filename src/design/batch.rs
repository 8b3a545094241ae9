//! The batched problem: groups (shared X), fits (judge × group × fold) and lane blocks.

use crate::base::error::{Error, Result};
use crate::base::features::{MAX_K, slots};
use crate::load::{Dataset, Judge};

use super::folds::held_out_masks;
use super::signs::SignIndex;

/// Fits processed together by one kernel call: 16 f32 lanes = two AVX2 registers per row.
pub const LANES: usize = 16;
/// The row stride of X and of every `KPAD × LANES` weight or gradient field: the [`MAX_K`]
/// slots, so a row of X is 256 aligned bytes. Columns past a design's
/// [`GroupDesign::nf`] are zero.
pub const KPAD: usize = MAX_K;
/// Rows are padded (with zero weight) to a multiple of this tile, so kernels need no tail loop.
pub const ROW_TILE: usize = 16;

/// One group's shared design: its usable rows and their sign features.
#[derive(Clone, Debug)]
pub struct GroupDesign {
    /// Group name.
    pub name: String,
    /// Slots the kernels and solvers compute with ([`slots`] of the design's K): columns past
    /// it are zero and the weights there stay 0.
    pub nf: usize,
    /// Sample index of each usable row (ascending; 999 rows dropped).
    pub samples: Vec<usize>,
    /// `n_padded × KPAD` signs as f32, row-major; rows past `samples.len()` are zero.
    pub x: Vec<f32>,
    /// Rows after padding to [`ROW_TILE`].
    pub n_padded: usize,
    /// Per fold, whether each row is left out (one all-false mask when folds = 1).
    pub held_out: Vec<Vec<bool>>,
    /// X's non-zero signs as lists, for the sign-sparse kernel (`None` if X is not all signs).
    pub signs: Option<SignIndex>,
}

impl GroupDesign {
    /// Usable (unpadded) rows.
    pub fn n_rows(&self) -> usize {
        self.samples.len()
    }

    /// Row `r` of X (its [`GroupDesign::nf`] slots; padding dropped).
    pub fn row(&self, r: usize) -> &[f32] {
        &self.x[r * KPAD..r * KPAD + self.nf]
    }

    /// A padded row-weight vector with `weight(r)` for each usable row and 0 for padding.
    pub fn weights_from(&self, weight: impl Fn(usize) -> f32) -> Vec<f32> {
        let mut c = vec![0f32; self.n_padded];
        for (r, v) in c.iter_mut().enumerate().take(self.n_rows()) {
            *v = weight(r);
        }
        c
    }

    /// Every selected group's shared X, with the fold split of `folds` folds cut with `seed`.
    pub fn build_all(data: &Dataset, folds: usize, seed: u32) -> Result<Vec<GroupDesign>> {
        if folds == 0 {
            return Err(Error::Setting {
                name: "folds",
                message: "must be at least 1".into(),
            });
        }
        let ann = &data.annotations;
        check_property_set(data)?;
        let mut groups = Vec::with_capacity(data.groups.len());
        for g in &data.groups {
            let samples: Vec<usize> = g
                .samples
                .iter()
                .copied()
                .filter(|&s| !ann.unchecked[s])
                .collect();
            // Each fold must leave some rows to train on and (for K > 1) some to hold out.
            let needed = folds.max(2);
            if samples.len() < needed {
                return Err(Error::EmptyGroup {
                    path: data.groups_source(),
                    group: g.name.clone(),
                    usable: samples.len(),
                    needed,
                });
            }
            let n_padded = samples.len().div_ceil(ROW_TILE) * ROW_TILE;
            let mut x = vec![0f32; n_padded * KPAD];
            for (r, &s) in samples.iter().enumerate() {
                for k in 0..ann.names.len() {
                    x[r * KPAD + k] = ann.values[[s, k]];
                }
            }
            let held_out = held_out_masks(samples.len(), folds, seed);
            let nf = slots(ann.names.len());
            let signs = SignIndex::from_dense(&x, nf);
            groups.push(GroupDesign {
                name: g.name.clone(),
                nf,
                samples,
                x,
                n_padded,
                held_out,
                signs,
            });
        }
        Ok(groups)
    }
}

/// One model to fit.
#[derive(Clone, Debug)]
pub struct Fit {
    /// Index into [`Dataset::judges`].
    pub judge: usize,
    /// Index into [`BatchDesign::groups`].
    pub group: usize,
    /// Fold left out, or `None` when the whole group is fitted (`--folds 1`).
    pub fold: Option<u16>,
    /// Number of training rows.
    pub n_train: usize,
    /// Index into [`BatchDesign::row_weights`]: the fit's per-row weights `c`.
    pub row_weights: usize,
    /// Key the sampler derives this fit's chain seeds from. A plain fit's key is its index;
    /// every bootstrap replicate of a model reuses the model's key (common random numbers), so
    /// a replicate whose counts are all 1 is the plain fit exactly.
    pub seed_key: u64,
}

/// Per-row weights shared by many fits (all judges of one fold share the fold's 0/1 mask).
#[derive(Clone, Debug)]
pub struct RowWeights {
    /// Group the weights index.
    pub group: usize,
    /// One weight per padded row (padding rows are 0).
    pub c: Vec<f32>,
}

/// Up to [`LANES`] lanes of one group, with their per-row data interleaved lane-fastest. A lane
/// is a fit (MAP) or one Markov chain of a fit (posterior sampling).
#[derive(Clone, Debug)]
pub struct Block {
    /// Group whose X the block uses.
    pub group: usize,
    /// Fit id of each lane; lanes past `fits.len()` are empty (all weights zero).
    pub fits: Vec<usize>,
    /// Chain number of each lane (0 for MAP blocks).
    pub chains: Vec<u16>,
    /// Row of X behind each entry of `c`/`cy` when the block keeps only the rows some lane
    /// uses (bootstrap blocks: ~37% of rows are drawn by no replicate); `None` = entry i is row
    /// i of all `n_padded`. Padding entries have weight 0.
    pub rows: Option<Vec<u32>>,
    /// `entries × LANES` row weights (entries a multiple of [`ROW_TILE`]).
    pub c: Vec<f32>,
    /// `entries × LANES` row weight × label (label 1 = "A").
    pub cy: Vec<f32>,
    /// For a block with a row list: the signs of its entries' rows, so it too runs the
    /// sign-sparse kernel (whole-group blocks use the group's index).
    pub signs: Option<SignIndex>,
}

impl Block {
    /// Entries per lane of `c` and `cy`.
    pub fn entries(&self) -> usize {
        self.c.len() / LANES
    }

    /// Row of X behind entry `i`.
    #[inline]
    pub fn row(&self, i: usize) -> usize {
        self.rows.as_ref().map_or(i, |rows| rows[i] as usize)
    }
}

/// Which lanes a posterior block holds: the fits (each repeated once per chain) and chain
/// numbers, without the row weights, which [`BatchDesign::chain_block`] builds when needed.
#[derive(Clone, Debug)]
pub struct ChainBlockSpec {
    /// Group whose X the block uses.
    pub group: usize,
    /// Fit id of each lane.
    pub fits: Vec<usize>,
    /// Chain number of each lane.
    pub chains: Vec<u16>,
}

/// The whole batched problem.
#[derive(Clone, Debug)]
pub struct BatchDesign {
    /// Groups with their shared X.
    pub groups: Vec<GroupDesign>,
    /// All fits, in (group, judge, fold) order.
    pub fits: Vec<Fit>,
    /// Distinct row-weight vectors.
    pub row_weights: Vec<RowWeights>,
    /// Lane blocks covering every fit once.
    pub blocks: Vec<Block>,
    /// Folds per (judge, group); 1 = whole group.
    pub folds: usize,
    /// The K property names, feature order. The engine computes with [`slots`]`(K)` of its
    /// [`MAX_K`] slots; a set of K < 29 properties takes the first K of the paper's 29 and
    /// leaves the rest zero columns, whose weights the prior alone decides (0 for MAP) and no
    /// output shows.
    pub properties: Vec<String>,
}

impl BatchDesign {
    /// Designs the batch for every selected judge × group × fold.
    ///
    /// `folds == 1` fits each group whole; otherwise the authors' split with `seed`.
    pub fn build(data: &Dataset, folds: usize, seed: u32) -> Result<BatchDesign> {
        Self::build_with(data, folds, seed, true)
    }

    /// [`BatchDesign::build`], with the MAP's lane blocks (`blocks`) only when `lane_blocks`:
    /// a posterior job builds its own chain blocks, and the MAP's hold every fit's row weights
    /// (1.2 GB for 5,000 fits of a 1M-pair table).
    pub fn build_with(
        data: &Dataset,
        folds: usize,
        seed: u32,
        lane_blocks: bool,
    ) -> Result<BatchDesign> {
        let groups = GroupDesign::build_all(data, folds, seed)?;
        let mut fits = Vec::new();
        let mut row_weights = Vec::new();
        let mut blocks = Vec::new();
        let fold_ids: Vec<Option<u16>> = if folds == 1 {
            vec![None]
        } else {
            (0..folds as u16).map(Some).collect()
        };
        for (gi, g) in groups.iter().enumerate() {
            let mut group_fits = Vec::new();
            for &fold in &fold_ids {
                let mask = &g.held_out[fold.map_or(0, usize::from)];
                let c = g.weights_from(|r| if mask[r] { 0.0 } else { 1.0 });
                let rw = row_weights.len();
                for judge in 0..data.judges.len() {
                    group_fits.push(Fit {
                        judge,
                        group: gi,
                        fold,
                        n_train: training_rows(g, &data.judges[judge], &c),
                        row_weights: rw,
                        seed_key: 0,
                    });
                }
                row_weights.push(RowWeights { group: gi, c });
            }
            // (group, judge, fold) order for the output; lanes are filled in that order too.
            group_fits.sort_by_key(|f| (f.judge, f.fold));
            let first = fits.len();
            fits.extend(group_fits);
            for (i, f) in fits.iter_mut().enumerate().skip(first) {
                f.seed_key = i as u64;
            }
            if !lane_blocks {
                continue;
            }
            let labels = row_labels(g, data, None);
            let ids: Vec<usize> = (first..fits.len()).collect();
            for chunk in ids.chunks(LANES) {
                let chains = vec![0; chunk.len()];
                blocks.push(make_block(
                    gi,
                    g,
                    chunk,
                    &chains,
                    &fits,
                    &row_weights,
                    &labels,
                    false,
                ));
            }
        }
        Ok(BatchDesign {
            groups,
            fits,
            row_weights,
            blocks,
            folds,
            properties: data.annotations.names.clone(),
        })
    }

    /// A design over given row-weight vectors (bootstrap counts, jackknife masks): every judge
    /// is fitted once per vector. Fit `i` is (vector `i / J`, judge `i % J`) for J judges, with
    /// seed key `seed_keys[vector] · J + judge`; `fold` is `None`. Fits of one group fill
    /// blocks consecutively, so blocks mix vectors but never groups. `lane_blocks = false`
    /// leaves `blocks` empty, for the sampler, which builds its own chain blocks.
    pub fn from_row_weights(
        data: &Dataset,
        groups: Vec<GroupDesign>,
        row_weights: Vec<RowWeights>,
        seed_keys: &[u64],
        lane_blocks: bool,
    ) -> BatchDesign {
        let judges = data.judges.len();
        let mut fits = Vec::with_capacity(row_weights.len() * judges);
        for (rw, weights) in row_weights.iter().enumerate() {
            for judge in 0..judges {
                fits.push(Fit {
                    judge,
                    group: weights.group,
                    fold: None,
                    n_train: training_rows(&groups[weights.group], &data.judges[judge], &weights.c),
                    row_weights: rw,
                    seed_key: seed_keys[rw] * judges as u64 + judge as u64,
                });
            }
        }
        // A block of one vector's fits shares that vector's zero rows, which its kernels then
        // skip; the J mod 16 fits left over from each vector are pooled into mixed blocks.
        let mut blocks = Vec::new();
        for (gi, g) in groups.iter().enumerate().filter(|_| lane_blocks) {
            let labels = row_labels(g, data, None);
            let mut pooled = Vec::new();
            for (rw, weights) in row_weights.iter().enumerate() {
                if weights.group != gi {
                    continue;
                }
                let ids: Vec<usize> = (rw * judges..(rw + 1) * judges).collect();
                let whole = ids.len() / LANES * LANES;
                for chunk in ids[..whole].chunks(LANES) {
                    blocks.push(make_block(
                        gi,
                        g,
                        chunk,
                        &[0; LANES],
                        &fits,
                        &row_weights,
                        &labels,
                        true,
                    ));
                }
                pooled.extend_from_slice(&ids[whole..]);
            }
            for chunk in pooled.chunks(LANES) {
                let chains = vec![0; chunk.len()];
                blocks.push(make_block(
                    gi,
                    g,
                    chunk,
                    &chains,
                    &fits,
                    &row_weights,
                    &labels,
                    true,
                ));
            }
        }
        BatchDesign {
            groups,
            fits,
            row_weights,
            blocks,
            folds: 1,
            properties: data.annotations.names.clone(),
        }
    }

    /// Blocks for posterior sampling: each fit gets `chains` lanes (one per Markov chain) and a
    /// block holds whole fits, so a block's task can summarise its fits' draws and drop them.
    /// All of them at once, for the device path, which keeps them resident; the CPU path builds
    /// each from its [`ChainBlockSpec`] when it samples it ([`BatchDesign::chain_block`]).
    pub fn chain_blocks(&self, data: &Dataset, chains: usize) -> Result<Vec<Block>> {
        let specs = self.chain_block_specs(chains)?;
        let mut blocks = Vec::with_capacity(specs.len());
        for (gi, g) in self.groups.iter().enumerate() {
            let labels = row_labels(g, data, None);
            for spec in specs.iter().filter(|s| s.group == gi) {
                blocks.push(self.block_from(spec, &labels));
            }
        }
        Ok(blocks)
    }

    /// What [`BatchDesign::chain_blocks`] would build, without the row weights: which fits'
    /// chains share each block. A block's row weights are `entries × 16 × 8` bytes; built one
    /// at a time, a job's memory stays that of the blocks in flight, not of every fit × chain ×
    /// row (6.5 GB for a 1M-pair table's 20,000 chains, where the lazy path needs ~2).
    pub fn chain_block_specs(&self, chains: usize) -> Result<Vec<ChainBlockSpec>> {
        if chains == 0 || chains > LANES {
            return Err(Error::Setting {
                name: "chains",
                message: format!("must be between 1 and {LANES}, got {chains}"),
            });
        }
        let per_block = LANES / chains;
        let mut specs = Vec::new();
        for gi in 0..self.groups.len() {
            let ids: Vec<usize> = (0..self.fits.len())
                .filter(|&f| self.fits[f].group == gi)
                .collect();
            for chunk in ids.chunks(per_block) {
                let fits: Vec<usize> = chunk
                    .iter()
                    .flat_map(|&f| std::iter::repeat_n(f, chains))
                    .collect();
                let chains = (0..fits.len()).map(|i| (i % chains) as u16).collect();
                specs.push(ChainBlockSpec {
                    group: gi,
                    fits,
                    chains,
                });
            }
        }
        Ok(specs)
    }

    /// The block of `spec`, its labels looked up for its own judges only.
    pub fn chain_block(&self, data: &Dataset, spec: &ChainBlockSpec) -> Block {
        let g = &self.groups[spec.group];
        let judges: Vec<usize> = spec.fits.iter().map(|&f| self.fits[f].judge).collect();
        self.block_from(spec, &row_labels(g, data, Some(&judges)))
    }

    fn block_from(&self, spec: &ChainBlockSpec, labels: &[RowLabels]) -> Block {
        make_block(
            spec.group,
            &self.groups[spec.group],
            &spec.fits,
            &spec.chains,
            &self.fits,
            &self.row_weights,
            labels,
            false,
        )
    }

    /// The number of properties K (the first K of the engine's slots).
    pub fn k(&self) -> usize {
        self.properties.len()
    }

    /// The slots every kernel and solver of this design computes with ([`slots`] of K).
    pub fn nf(&self) -> usize {
        slots(self.k())
    }

    /// Useful multiply-adds of one gradient evaluation of every fit (for GFLOP/s figures):
    /// 2 × nf per (training row, fit) for the logits and as many for Xᵀr.
    pub fn gradient_flops(&self) -> f64 {
        let rows: usize = self.fits.iter().map(|f| f.n_train).sum();
        rows as f64 * 4.0 * self.nf() as f64
    }
}

/// The engine fits 1 to [`MAX_K`] properties (any names, any order). A wider set is refused
/// before any work.
fn check_property_set(data: &Dataset) -> Result<()> {
    let k = data.annotations.names.len();
    if (1..=MAX_K).contains(&k) {
        return Ok(());
    }
    Err(Error::PropertySet {
        path: data.source.clone(),
        message: format!("{k} properties; the engine fits 1 to {MAX_K} properties"),
    })
}

/// Rows with a positive weight in `c` that the judge labelled: a fit's training rows.
fn training_rows(g: &GroupDesign, judge: &Judge, c: &[f32]) -> usize {
    (0..g.n_rows())
        .filter(|&r| c[r] > 0.0 && judge.has_label(g.samples[r]))
        .count()
}

/// One judge's view of a group's rows: its labels (1 = "A") and, where it left pairs
/// unlabelled, a 0/1 factor that zeroes those rows' weights in every one of its fits.
struct RowLabels {
    y: Vec<f32>,
    labelled: Option<Vec<f32>>,
}

/// Each judge's labels of `g`'s rows, looked up once per group for all its blocks; with
/// `only`, those judges' (the others' entries are empty).
fn row_labels(g: &GroupDesign, data: &Dataset, only: Option<&[usize]>) -> Vec<RowLabels> {
    data.judges
        .iter()
        .enumerate()
        .map(|(ji, j)| {
            if only.is_some_and(|only| !only.contains(&ji)) {
                return RowLabels {
                    y: Vec::new(),
                    labelled: None,
                };
            }
            RowLabels {
                y: g.samples
                    .iter()
                    .map(|&s| if j.prefers_a[s] { 1.0 } else { 0.0 })
                    .collect(),
                labelled: j.labelled.as_ref().map(|l| {
                    g.samples
                        .iter()
                        .map(|&s| if l[s] { 1.0 } else { 0.0 })
                        .collect()
                }),
            }
        })
        .collect()
}

/// A block of `lanes`; with `compact`, only the rows some lane weights are kept (in order,
/// padded to [`ROW_TILE`] with weight-0 entries for row 0).
#[allow(clippy::too_many_arguments)] // every part of a block, assembled in one place
fn make_block(
    gi: usize,
    g: &GroupDesign,
    lanes: &[usize],
    chains: &[u16],
    fits: &[Fit],
    row_weights: &[RowWeights],
    labels: &[RowLabels],
    compact: bool,
) -> Block {
    let lane_labels: Vec<&RowLabels> = lanes.iter().map(|&f| &labels[fits[f].judge]).collect();
    // A lane's weights: its row-weight vector, zeroed where its judge left a pair unlabelled.
    let lane_weights: Vec<std::borrow::Cow<[f32]>> = lanes
        .iter()
        .zip(&lane_labels)
        .map(|(&f, l)| {
            let c = row_weights[fits[f].row_weights].c.as_slice();
            match &l.labelled {
                None => std::borrow::Cow::Borrowed(c),
                Some(m) => std::borrow::Cow::Owned(
                    c.iter()
                        .enumerate()
                        .map(|(r, &v)| if r < m.len() { v * m[r] } else { v })
                        .collect(),
                ),
            }
        })
        .collect();
    // Entries past `n_used` are padding (weight 0).
    let (rows, n_used) = if compact {
        let mut used: Vec<u32> = (0..g.n_rows())
            .filter(|&r| lane_weights.iter().any(|w| w[r] != 0.0))
            .map(|r| r as u32)
            .collect();
        let n_used = used.len();
        used.resize(n_used.div_ceil(ROW_TILE).max(1) * ROW_TILE, 0);
        (Some(used), n_used)
    } else {
        (None, g.n_rows())
    };
    let entries = rows.as_ref().map_or(g.n_padded, |r| r.len());
    let mut c = vec![0f32; entries * LANES];
    let mut cy = vec![0f32; entries * LANES];
    for (lane, (weights, labels)) in lane_weights.iter().zip(&lane_labels).enumerate() {
        for i in 0..n_used {
            let r = rows.as_ref().map_or(i, |rows| rows[i] as usize);
            c[i * LANES + lane] = weights[r];
            cy[i * LANES + lane] = weights[r] * labels.y[r];
        }
    }
    let signs = rows.as_ref().and_then(|rows| {
        g.signs.as_ref()?;
        SignIndex::from_rows(&g.x, g.nf, rows.len(), |i| {
            (i < n_used).then(|| rows[i] as usize)
        })
    });
    Block {
        group: gi,
        fits: lanes.to_vec(),
        chains: chains.to_vec(),
        rows,
        c,
        cy,
        signs,
    }
}
