//! Stepping every block together on the GPU without rewriting the solvers: each block's solver
//! runs on its own thread, and its gradient and Hessian requests meet at a rendezvous; when
//! every running block has asked, one launch over [`ResidentBlocks`] answers them all. The
//! per-block solvers (Newton, HMC with exact trajectories) stay exactly as on the CPU, so their
//! results do too, up to the kernel's f32 round-off. The same rendezvous hands HMC chains over
//! to the device ([`DeviceSampler`]) and collects their segments of draws.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

use super::curvature::to_lane_matrices;
use super::hmc::{DeviceChains, DeviceSampler, Handoff, Segment};
use super::resident::{FusedWgpuBackend, ResidentBlocks};
use crate::design::{Block, GroupDesign};
use crate::solve::backend::GradientBackend;

/// What a block asks the device for at its weights.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Gradient and loss (`kernels/wgpu_logistic.rs`).
    Gradient,
    /// Each lane's Hessian (`kernels/wgpu_curvature.rs`).
    Curvature,
}

#[derive(Default)]
struct State {
    /// Blocks whose solver is still running.
    active: usize,
    /// Requests of this round: block index, weights, what is wanted there.
    pending: Vec<(usize, Vec<f32>, Want)>,
    /// Answers not yet collected.
    results: HashMap<usize, Vec<f32>>,
    /// Rounds launched so far.
    launches: usize,
    /// A launch failed (device lost, out of memory): every waiting block gives up.
    failed: bool,
    /// Chains handed over for the device's sampling phase, by block.
    handoffs: HashMap<usize, Handoff>,
    /// The handed-over chains on the device, from the first segment on.
    chains: Option<DeviceChains>,
    /// Segment requests of this round: block index → (first iteration, leapfrog lengths).
    segments: Vec<(usize, usize, Vec<u32>)>,
    /// Segments not yet collected.
    segment_results: HashMap<usize, Segment>,
}

/// A backend for one set of blocks stepped together (see the module doc).
pub struct Lockstep<'a> {
    resident: ResidentBlocks,
    fallback: &'a FusedWgpuBackend,
    blocks: &'a [Block],
    state: Mutex<State>,
    ready: Condvar,
}

impl<'a> Lockstep<'a> {
    /// Uploads `blocks` and prepares the rendezvous.
    pub fn new(backend: &'a FusedWgpuBackend, groups: &[GroupDesign], blocks: &'a [Block]) -> Self {
        Lockstep {
            resident: ResidentBlocks::from_blocks(backend, groups, blocks),
            fallback: backend,
            blocks,
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
        }
    }

    /// Runs `body` for every block, each on its own thread, all stepping together; results in
    /// block order.
    ///
    /// # Panics
    /// When the threads cannot be started (after the started ones have finished), or when a
    /// block's solver panics; `fit` then redoes the run on the CPU.
    pub fn run<R: Send>(&self, body: impl Fn(&Self, &'a Block) -> R + Sync) -> Vec<R> {
        self.state.lock().expect("lock").active = self.blocks.len();
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(self.blocks.len());
            let mut failure = None;
            for (i, block) in self.blocks.iter().enumerate() {
                let body = &body;
                // A thread per block (1,320 for the paper's posterior job), so a small stack:
                // the sampler's deepest frame, the surrogate's final fit, holds a few 64 × 64
                // f64 matrices (~0.5 MiB). Pages are committed only as they are touched.
                let spawned = std::thread::Builder::new()
                    .stack_size(1 << 20)
                    .spawn_scoped(scope, move || {
                        let _done = Done(self);
                        body(self, block)
                    });
                match spawned {
                    Ok(h) => handles.push(h),
                    Err(e) => {
                        // The blocks that will not run leave the rendezvous, so the started
                        // ones are not left waiting for them.
                        self.leave(self.blocks.len() - i);
                        failure = Some(e);
                        break;
                    }
                }
            }
            let results: Vec<R> = handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect();
            if let Some(e) = failure {
                panic!("could not start a thread per block: {e}");
            }
            results
        })
    }

    /// `n` blocks stop taking part; if the rest are all waiting, their round is launched.
    fn leave(&self, n: usize) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.active -= n;
        if st.active > 0 && st.pending.len() + st.segments.len() == st.active {
            self.launch_round(&mut st);
        }
    }

    /// Rounds launched so far (a gradient or Hessian round, or a segment of HMC iterations).
    pub fn launches(&self) -> usize {
        self.state.lock().expect("lock").launches
    }

    fn index_of(&self, block: &Block) -> Option<usize> {
        let base = self.blocks.as_ptr() as usize;
        let addr = block as *const Block as usize;
        let size = std::mem::size_of::<Block>();
        (addr >= base
            && (addr - base).is_multiple_of(size)
            && (addr - base) / size < self.blocks.len())
        .then(|| (addr - base) / size)
    }

    /// With the lock held and every running block waiting: launch for all pending requests.
    fn launch_round(&self, st: &mut State) {
        if !st.segments.is_empty() {
            self.launch_segments(st);
        }
        if !st.pending.is_empty() {
            self.launch_requests(st);
        }
        self.ready.notify_all();
    }

    /// The segment requests of a round: every requesting block's chains, in one run.
    fn launch_segments(&self, st: &mut State) {
        let requests = std::mem::take(&mut st.segments);
        let (first, lengths) = (requests[0].1, requests[0].2.clone());
        let mut live = vec![false; self.blocks.len()];
        for (i, f, l) in &requests {
            // The schedule is the same for every block: one seed, one warm-up length.
            assert!(*f == first && *l == lengths, "blocks out of step");
            live[*i] = true;
        }
        let launched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if st.chains.is_none() {
                let handoffs: Vec<Option<Handoff>> = (0..self.blocks.len())
                    .map(|i| st.handoffs.remove(&i))
                    .collect();
                let chains = DeviceChains::new(
                    &self.resident,
                    &handoffs,
                    self.lambda_of(&handoffs),
                    handoffs.iter().flatten().any(|h| h.scores),
                );
                // Chains handed over at their start warm up first, all blocks together.
                if let Some(plan) = handoffs.iter().flatten().find_map(|h| h.warmup.as_ref()) {
                    let started: Vec<bool> = handoffs.iter().map(Option::is_some).collect();
                    let live = chains.live_flags(&self.resident, &started);
                    chains.warm_up(&self.resident, &live, plan);
                }
                st.chains = Some(chains);
            }
            let chains = st.chains.as_ref().expect("just made");
            chains.run_cut(
                &self.resident,
                &live,
                first,
                &lengths,
                self.fallback.max_binding_bytes(),
            )
        }));
        match launched {
            Ok(segments) => {
                for (i, seg) in segments.into_iter().enumerate() {
                    if let Some(seg) = seg {
                        st.segment_results.insert(i, seg);
                    }
                }
                st.launches += 1;
            }
            Err(_) => st.failed = true,
        }
    }

    fn lambda_of(&self, handoffs: &[Option<Handoff>]) -> f64 {
        handoffs
            .iter()
            .flatten()
            .map(|h| h.lambda)
            .next()
            .unwrap_or(0.0)
    }

    /// The gradient and curvature requests of a round: one launch for each kind asked for.
    fn launch_requests(&self, st: &mut State) {
        let field = self.resident.width.field();
        let requests = std::mem::take(&mut st.pending);
        let launched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut answers: Vec<(usize, Vec<f32>)> = Vec::with_capacity(requests.len());
            for want in [Want::Gradient, Want::Curvature] {
                let asked: Vec<&(usize, Vec<f32>, Want)> =
                    requests.iter().filter(|r| r.2 == want).collect();
                if asked.is_empty() {
                    continue;
                }
                let mut w = vec![0f32; self.blocks.len() * field];
                let mut wanted = vec![false; self.blocks.len()];
                for (i, wi, _) in &asked {
                    w[i * field..(i + 1) * field].copy_from_slice(wi);
                    wanted[*i] = true;
                }
                let (out, len) = match want {
                    Want::Gradient => (self.resident.gradients(&w), field),
                    Want::Curvature => (
                        self.resident
                            .curvatures(&w, &wanted)
                            .expect("curvature requests come only for packed rows"),
                        self.resident.width.hess_len(),
                    ),
                };
                answers.extend(
                    asked
                        .iter()
                        .map(|(i, _, _)| (*i, out[i * len..(i + 1) * len].to_vec())),
                );
            }
            answers
        }));
        let Ok(answers) = launched else {
            st.failed = true;
            return;
        };
        st.results.extend(answers);
        st.launches += 1;
    }

    /// Block `i`'s request: waits for its round and returns its part of the launch.
    fn request(&self, i: usize, w: &[f32], want: Want) -> Vec<f32> {
        let mut st = self.state.lock().expect("lock");
        if st.failed {
            drop(st);
            panic!("a wgpu launch failed; giving up this block");
        }
        st.pending.push((i, self.resident.width.field_of(w), want));
        if st.pending.len() + st.segments.len() == st.active {
            self.launch_round(&mut st);
        }
        loop {
            if let Some(out) = st.results.remove(&i) {
                return out;
            }
            if st.failed {
                drop(st);
                panic!("a wgpu launch failed; giving up this block");
            }
            st = self.ready.wait(st).expect("lock");
        }
    }
}

/// Marks a block's solver finished (also when it panics), so the others need not wait for it.
struct Done<'l, 'a>(&'l Lockstep<'a>);

impl Drop for Done<'_, '_> {
    fn drop(&mut self) {
        self.0.leave(1);
    }
}

impl GradientBackend for Lockstep<'_> {
    fn name(&self) -> String {
        format!("{} (lock-step)", self.fallback.name())
    }

    fn block_gradient(
        &self,
        group: &GroupDesign,
        block: &Block,
        w: &[f32],
        grad: &mut [f64],
        loss: Option<&mut [f64]>,
    ) {
        let Some(i) = self.index_of(block) else {
            return self.fallback.block_gradient(group, block, w, grad, loss);
        };
        let out = self.request(i, w, Want::Gradient);
        super::resident::unpack(&out, grad, loss, self.resident.width);
    }

    /// Through the rendezvous, one launch for every block that asks (the surrogate's refits
    /// come at the same iterations in every block); dense rows take the CPU kernel.
    fn block_curvature(&self, group: &GroupDesign, block: &Block, w: &[f32], hess: &mut [f64]) {
        match self.index_of(block) {
            Some(i) if self.resident.packed() => {
                let width = self.resident.width;
                to_lane_matrices(&self.request(i, w, Want::Curvature), hess, width);
            }
            _ => crate::solve::backend::cpu::CpuBackend.block_curvature(group, block, w, hess),
        }
    }

    fn device_sampler(&self) -> Option<&dyn DeviceSampler> {
        Some(self)
    }
}

impl DeviceSampler for Lockstep<'_> {
    fn warms_up(&self) -> bool {
        self.resident.packed() && self.fallback.device_warmup()
    }

    fn hand_over(&self, block: &Block, handoff: Handoff) {
        let i = self.index_of(block).expect("a block of this driver");
        self.state.lock().expect("lock").handoffs.insert(i, handoff);
    }

    fn sample(&self, block: &Block, first: usize, lengths: &[u32]) -> Segment {
        let i = self.index_of(block).expect("a block of this driver");
        let mut st = self.state.lock().expect("lock");
        st.segments.push((i, first, lengths.to_vec()));
        if st.pending.len() + st.segments.len() == st.active {
            self.launch_round(&mut st);
        }
        loop {
            if let Some(seg) = st.segment_results.remove(&i) {
                return seg;
            }
            if st.failed {
                drop(st);
                panic!("a wgpu launch failed; giving up this block");
            }
            st = self.ready.wait(st).expect("lock");
        }
    }
}
