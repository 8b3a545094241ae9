//! Stepping every block together on the GPU without rewriting the solvers: each block's solver
//! runs on its own thread, and its gradient requests meet at a rendezvous; when every running
//! block has asked, one launch over [`ResidentBlocks`] answers them all. The per-block solvers
//! (FISTA, Newton, HMC) stay exactly as on the CPU, so their results do too, up to the
//! kernel's f32 round-off.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

use super::backend::GradientBackend;
use super::gpu_fused::{FusedWgpuBackend, ResidentBlocks};
use crate::design::{Block, GroupDesign, KPAD, LANES};

#[derive(Default)]
struct State {
    /// Blocks whose solver is still running.
    active: usize,
    /// Requests of this round: block index → weights.
    pending: Vec<(usize, Vec<f32>)>,
    /// Answers not yet collected.
    results: HashMap<usize, Vec<f32>>,
    /// Launches so far.
    launches: usize,
    /// A launch failed (device lost, out of memory): every waiting block gives up.
    failed: bool,
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
                let spawned = std::thread::Builder::new()
                    .stack_size(256 << 10)
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
        if st.active > 0 && st.pending.len() == st.active {
            self.launch_round(&mut st);
        }
    }

    /// Kernel launches so far (one per round).
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
        let mut w = vec![0f32; self.blocks.len() * KPAD * LANES];
        let asked: Vec<usize> = st.pending.iter().map(|(i, _)| *i).collect();
        for (i, wi) in st.pending.drain(..) {
            w[i * KPAD * LANES..(i + 1) * KPAD * LANES].copy_from_slice(&wi);
        }
        let launched =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.resident.gradients(&w)));
        let Ok(out) = launched else {
            st.failed = true;
            self.ready.notify_all();
            return;
        };
        for i in asked {
            st.results
                .insert(i, out[i * KPAD * LANES..(i + 1) * KPAD * LANES].to_vec());
        }
        st.launches += 1;
        self.ready.notify_all();
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
        let mut st = self.state.lock().expect("lock");
        if st.failed {
            drop(st);
            panic!("a wgpu launch failed; giving up this block");
        }
        st.pending.push((i, w[..KPAD * LANES].to_vec()));
        if st.pending.len() == st.active {
            self.launch_round(&mut st);
        }
        let out = loop {
            if let Some(out) = st.results.remove(&i) {
                break out;
            }
            if st.failed {
                drop(st);
                panic!("a wgpu launch failed; giving up this block");
            }
            st = self.ready.wait(st).expect("lock");
        };
        drop(st);
        super::gpu_fused::unpack(&out, grad, loss);
    }

    fn block_curvature(&self, group: &GroupDesign, block: &Block, w: &[f32], hess: &mut [f64]) {
        self.fallback.block_curvature(group, block, w, hess);
    }
}
