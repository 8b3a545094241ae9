//! Surrogate-trajectory HMC on the device: every block's chains, handed over at their start or
//! at the end of warm-up ([`Handoff`]), step together through the kernels of
//! `kernels/wgpu_hmc.rs` (after the warm-up of [`super::warmup`], when they come at their
//! start), three launches an iteration with nothing read back; a segment's draws come back
//! once at its end ([`Segment`]), which is when the sampler tests its MCSE target.

#[allow(missing_docs)] // the #[cube] expansion adds undocumented items
#[path = "../../../../kernels/wgpu_hmc.rs"]
pub mod kernel;

use cubecl::prelude::*;

use super::DevWidth;
use super::resident::{Chunk, Handle, ResidentBlocks, launch_into};
use crate::design::{Block, LANES};

/// Lanes per cube of the propose and accept kernels (4 blocks).
pub(crate) const LANE_CUBE: usize = 64;

/// A block's chains at the end of warm-up, in the kernels' layout (fields of the design's
/// [`DevWidth`], lane-fastest): everything the sampling phase reads.
#[derive(Clone, Debug)]
pub struct Handoff {
    /// Current positions.
    pub q: Vec<f32>,
    /// Current potentials U = loss + λ‖q‖₁.
    pub u: [f32; LANES],
    /// The true loss gradient at `q` (read only for the control variates' scores).
    pub grad_u: Vec<f32>,
    /// M⁻¹ per feature and lane.
    pub inv_mass: Vec<f32>,
    /// √M per feature and lane.
    pub sqrt_mass: Vec<f32>,
    /// Adapted step sizes.
    pub eps: [f32; LANES],
    /// The quadratic model: its centre, its gradient there, its Hessian
    /// ([`DevWidth::hess_len`]).
    pub centre: Vec<f32>,
    /// ∇loss at the centre.
    pub model_grad: Vec<f32>,
    /// The Hessian, `[row][column][lane]`.
    pub hess: Vec<f32>,
    /// Each lane's generator key.
    pub keys: [[u32; 2]; LANES],
    /// Lanes in use.
    pub lanes: usize,
    /// The prior's λ.
    pub lambda: f64,
    /// Whether the scores at the draws are wanted (control variates).
    pub scores: bool,
    /// The warm-up to run on the device first, when the chains are handed over at their
    /// start (`None`: they come warmed up).
    pub warmup: Option<super::warmup::WarmupPlan>,
}

/// What a segment of sampling gave one block.
#[derive(Clone, Debug, Default)]
pub struct Segment {
    /// Per used lane, the segment's draws, `n × nf`, draw-major.
    pub draws: Vec<Vec<f32>>,
    /// Per used lane, the scores at the draws (control variates), else empty.
    pub scores: Vec<Vec<f32>>,
    /// Per used lane, the sum of acceptance probabilities.
    pub accept_sum: Vec<f64>,
    /// Per used lane, divergent transitions.
    pub divergences: Vec<usize>,
    /// Per used lane, the step size the chain samples with.
    pub eps: Vec<f64>,
}

/// A backend that can run the sampling phase on its device (the wgpu lock-step driver): the
/// surrogate sampler hands each block's chains over at the end of warm-up and asks for its
/// draws a segment at a time.
pub trait DeviceSampler {
    /// Whether the device can also run the warm-up (it needs the packed rows of the
    /// curvature kernel); the chains are then handed over at their start.
    fn warms_up(&self) -> bool;
    /// `block`'s chains, at their start (with a warm-up plan) or at the end of warm-up.
    fn hand_over(&self, block: &Block, handoff: Handoff);
    /// `block`'s next `lengths.len()` iterations, the first being sampling iteration `first`
    /// (iteration `first + j` takes `lengths[j]` leapfrog steps).
    ///
    /// # Panics
    /// When a launch fails (device lost, out of memory); the run is then redone on the CPU.
    fn sample(&self, block: &Block, first: usize, lengths: &[u32]) -> Segment;
}

impl Segment {
    /// Appends `later`, the segment that followed this one.
    pub fn extend(&mut self, later: Segment) {
        if self.draws.is_empty() {
            *self = later;
            return;
        }
        for (a, b) in self.draws.iter_mut().zip(later.draws) {
            a.extend(b);
        }
        for (a, b) in self.scores.iter_mut().zip(later.scores) {
            a.extend(b);
        }
        for (a, b) in self.accept_sum.iter_mut().zip(later.accept_sum) {
            *a += b;
        }
        for (a, b) in self.divergences.iter_mut().zip(later.divergences) {
            *a += b;
        }
        self.eps = later.eps;
    }
}

/// One chunk's chains on the device.
pub(crate) struct ChunkChains {
    /// The width of every field below (the resident blocks').
    pub(crate) width: DevWidth,
    pub(crate) q: (Handle, usize),
    pub(crate) u: (Handle, usize),
    pub(crate) grad_u: (Handle, usize),
    pub(crate) inv_mass: (Handle, usize),
    pub(crate) sqrt_mass: (Handle, usize),
    pub(crate) eps: (Handle, usize),
    pub(crate) centre: (Handle, usize),
    pub(crate) model_grad: (Handle, usize),
    pub(crate) hess: (Handle, usize),
    pub(crate) keys: (Handle, usize),
    pub(crate) qn: (Handle, usize),
    pub(crate) dk: (Handle, usize),
    pub(crate) dv: (Handle, usize),
    pub(crate) accept_u: (Handle, usize),
    pub(crate) grad: (Handle, usize),
    pub(crate) lanes: Vec<usize>,
}

/// Launches the propose kernel over a chunk's lanes that are `live`.
pub(crate) fn propose(
    client: &cubecl::client::Client,
    chunk: &Chunk,
    cc: &ChunkChains,
    live: &(Handle, usize),
    lambda: f32,
    steps: u32,
    iteration: u32,
) {
    // SAFETY: every length is the number of elements allocated for that handle; the kernel
    // indexes lanes below `live.len()` and their `nf` features.
    let arg = |h: &(Handle, usize)| unsafe { BufferArg::from_raw_parts(h.0.clone(), h.1) };
    let lanes = chunk.blocks * LANES;
    kernel::hmc_propose::launch(
        client,
        CubeCount::Static(lanes.div_ceil(LANE_CUBE) as u32, 1, 1),
        CubeDim::new_1d(LANE_CUBE as u32),
        arg(&cc.q),
        arg(&cc.sqrt_mass),
        arg(&cc.inv_mass),
        arg(&cc.eps),
        arg(&cc.centre),
        arg(&cc.model_grad),
        arg(&cc.hess),
        arg(&cc.keys),
        arg(live),
        arg(&cc.qn),
        arg(&cc.dk),
        arg(&cc.dv),
        arg(&cc.accept_u),
        lambda,
        steps,
        iteration,
        cc.width.nf,
        cc.width.kpad,
    );
}

/// A segment's outputs of one chunk, and which lanes take part.
struct SegmentBuffers {
    live: (Handle, usize),
    accept_sum: (Handle, usize),
    divergences: (Handle, usize),
    draws: (Handle, usize),
    scores: (Handle, usize),
}

/// Every block's chains on the device (blocks without a hand-off have no live lane).
pub struct DeviceChains {
    pub(crate) chunks: Vec<ChunkChains>,
    pub(crate) lambda: f32,
    scores: bool,
}

impl DeviceChains {
    /// Uploads the hand-offs; `handoffs[b]` is block b's (of `resident`'s blocks).
    pub fn new(
        resident: &ResidentBlocks,
        handoffs: &[Option<Handoff>],
        lambda: f64,
        scores: bool,
    ) -> DeviceChains {
        let client = &resident.client;
        let width = resident.width;
        let field = width.field();
        let chunks = resident
            .chunks
            .iter()
            .map(|ch| {
                let hs = &handoffs[ch.first..ch.first + ch.blocks];
                let gather = |f: &dyn Fn(&Handoff) -> &[f32], len: usize| -> (Handle, usize) {
                    let mut v = vec![0f32; ch.blocks * len];
                    for (b, h) in hs.iter().enumerate() {
                        if let Some(h) = h {
                            v[b * len..(b + 1) * len].copy_from_slice(&f(h)[..len]);
                        }
                    }
                    (client.create_from_slice(f32::as_bytes(&v)), v.len())
                };
                let mut keys = vec![0u32; ch.blocks * LANES * 2];
                for (b, h) in hs.iter().enumerate() {
                    if let Some(h) = h {
                        for l in 0..LANES {
                            keys[(b * LANES + l) * 2..][..2].copy_from_slice(&h.keys[l]);
                        }
                    }
                }
                let empty = |len: usize| (client.empty(len * 4), len);
                ChunkChains {
                    width,
                    q: gather(&|h| &h.q, field),
                    u: gather(&|h| &h.u, LANES),
                    grad_u: gather(&|h| &h.grad_u, field),
                    inv_mass: gather(&|h| &h.inv_mass, field),
                    sqrt_mass: gather(&|h| &h.sqrt_mass, field),
                    eps: gather(&|h| &h.eps, LANES),
                    centre: gather(&|h| &h.centre, field),
                    model_grad: gather(&|h| &h.model_grad, field),
                    hess: gather(&|h| &h.hess, width.hess_len()),
                    keys: (client.create_from_slice(u32::as_bytes(&keys)), keys.len()),
                    qn: empty(ch.blocks * field),
                    dk: empty(ch.blocks * LANES),
                    dv: empty(ch.blocks * LANES),
                    accept_u: empty(ch.blocks * LANES),
                    grad: empty(ch.blocks * field),
                    lanes: hs
                        .iter()
                        .map(|h| h.as_ref().map_or(0, |h| h.lanes))
                        .collect(),
                }
            })
            .collect();
        DeviceChains {
            chunks,
            lambda: lambda as f32,
            scores,
        }
    }

    /// Each chunk's lane flags on the device: the used lanes of the blocks with `live[b]`.
    pub fn live_flags(&self, resident: &ResidentBlocks, live: &[bool]) -> Vec<(Handle, usize)> {
        resident
            .chunks
            .iter()
            .zip(&self.chunks)
            .map(|(ch, cc)| {
                let mut flags = vec![0u32; ch.blocks * LANES];
                for b in 0..ch.blocks {
                    if live[ch.first + b] {
                        flags[b * LANES..b * LANES + cc.lanes[b]].fill(1);
                    }
                }
                let len = flags.len();
                (
                    resident.client.create_from_slice(u32::as_bytes(&flags)),
                    len,
                )
            })
            .collect()
    }

    /// [`DeviceChains::run`] cut into pieces whose draw buffers fit in `max_binding_bytes`.
    pub fn run_cut(
        &self,
        resident: &ResidentBlocks,
        live: &[bool],
        first: usize,
        lengths: &[u32],
        max_binding_bytes: u64,
    ) -> Vec<Option<Segment>> {
        let widest = resident.chunks.iter().map(|c| c.blocks).max().unwrap_or(1);
        let per_slot = (widest * resident.width.field() * 4) as u64;
        let slots = ((max_binding_bytes / per_slot) as usize).max(1);
        let mut result: Vec<Option<Segment>> = vec![None; live.len()];
        let mut done = 0;
        for piece in lengths.chunks(slots) {
            let part = self.run(resident, live, first + done, piece);
            for (r, p) in result.iter_mut().zip(part) {
                if let Some(p) = p {
                    r.get_or_insert_with(Segment::default).extend(p);
                }
            }
            done += piece.len();
        }
        result
    }

    /// Runs `lengths.len()` iterations (iteration `first + j` takes `lengths[j]` leapfrog
    /// steps) for the blocks with `live[b]`; returns their segments (None for the others).
    pub fn run(
        &self,
        resident: &ResidentBlocks,
        live: &[bool],
        first: usize,
        lengths: &[u32],
    ) -> Vec<Option<Segment>> {
        let client = &resident.client;
        let n = lengths.len();
        let (field, nf) = (resident.width.field(), resident.width.nf);
        let outs: Vec<SegmentBuffers> = resident
            .chunks
            .iter()
            .zip(&self.chunks)
            .zip(self.live_flags(resident, live))
            .map(|((ch, _), live)| {
                let zeros = |len: usize| {
                    let v = vec![0u32; len];
                    (client.create_from_slice(u32::as_bytes(&v)), len)
                };
                let draws_len = n * ch.blocks * field;
                SegmentBuffers {
                    live,
                    accept_sum: zeros(ch.blocks * LANES),
                    divergences: zeros(ch.blocks * LANES),
                    draws: (client.empty(draws_len * 4), draws_len),
                    scores: if self.scores {
                        (client.empty(draws_len * 4), draws_len)
                    } else {
                        (client.empty(4), 1)
                    },
                }
            })
            .collect();
        for (j, &steps) in lengths.iter().enumerate() {
            for ((ch, cc), out) in resident.chunks.iter().zip(&self.chunks).zip(&outs) {
                self.iterate(client, ch, cc, out, (first + j) as u32, j as u32, steps);
            }
        }
        // Results, block by block.
        let mut result = vec![None; live.len()];
        let read_f32 = |h: &(Handle, usize)| -> Vec<f32> {
            f32::from_bytes(&client.read_one_unchecked(h.0.clone())).to_vec()
        };
        for ((ch, cc), out) in resident.chunks.iter().zip(&self.chunks).zip(&outs) {
            let draws = read_f32(&out.draws);
            let scores = if self.scores {
                read_f32(&out.scores)
            } else {
                Vec::new()
            };
            let accept = read_f32(&out.accept_sum);
            let eps = read_f32(&cc.eps);
            let div =
                u32::from_bytes(&client.read_one_unchecked(out.divergences.0.clone())).to_vec();
            for b in 0..ch.blocks {
                if !live[ch.first + b] {
                    continue;
                }
                let lanes = cc.lanes[b];
                let per_lane = |src: &[f32], l: usize| -> Vec<f32> {
                    let mut v = Vec::with_capacity(n * nf);
                    for s in 0..n {
                        let at = (s * ch.blocks + b) * field + l;
                        v.extend((0..nf).map(|k| src[at + k * LANES]));
                    }
                    v
                };
                result[ch.first + b] = Some(Segment {
                    draws: (0..lanes).map(|l| per_lane(&draws, l)).collect(),
                    scores: if self.scores {
                        (0..lanes).map(|l| per_lane(&scores, l)).collect()
                    } else {
                        Vec::new()
                    },
                    accept_sum: (0..lanes).map(|l| accept[b * LANES + l] as f64).collect(),
                    divergences: (0..lanes).map(|l| div[b * LANES + l] as usize).collect(),
                    eps: (0..lanes).map(|l| eps[b * LANES + l] as f64).collect(),
                });
            }
        }
        result
    }

    /// One iteration of a chunk: propose, the kernel at the proposals, accept.
    #[allow(clippy::too_many_arguments)] // one launch sequence's whole input
    fn iterate(
        &self,
        client: &cubecl::client::Client,
        chunk: &Chunk,
        cc: &ChunkChains,
        out: &SegmentBuffers,
        iteration: u32,
        slot: u32,
        steps: u32,
    ) {
        // SAFETY: every length is the number of elements allocated for that handle; the
        // kernels index lanes below `live.len()`, their `nf` features and draw slot `slot` of a
        // buffer sized for the segment.
        let arg = |h: &(Handle, usize)| unsafe { BufferArg::from_raw_parts(h.0.clone(), h.1) };
        let lanes = chunk.blocks * LANES;
        let count = CubeCount::Static(lanes.div_ceil(LANE_CUBE) as u32, 1, 1);
        let dim = CubeDim::new_1d(LANE_CUBE as u32);
        propose(client, chunk, cc, &out.live, self.lambda, steps, iteration);
        // The accept test needs only the losses; the scores need the gradient too.
        launch_into(client, chunk, &cc.qn, &out.live, &cc.grad, self.scores);
        kernel::hmc_accept::launch(
            client,
            count,
            dim,
            arg(&cc.q),
            arg(&cc.u),
            arg(&cc.grad_u),
            arg(&cc.qn),
            arg(&cc.grad),
            arg(&cc.dk),
            arg(&cc.accept_u),
            arg(&out.live),
            arg(&out.accept_sum),
            arg(&out.divergences),
            arg(&out.draws),
            arg(&out.scores),
            self.lambda,
            slot,
            self.scores as u32,
            cc.width.nf,
            cc.width.kpad,
        );
    }
}
