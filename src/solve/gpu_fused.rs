//! The wgpu backend with the fused kernel of `kernels/wgpu_logistic.rs`: per block one upload
//! (rows, counts, weights), one launch, one read-back of the per-slice partial sums, which are
//! added in f64 here. Its reference is [`super::reference::TensorOpsBackend`] on the same device
//! (the plain ops), and the CPU kernel; `tests/wgpu.rs` compares all three.

#[allow(missing_docs)] // the #[cube] expansion adds undocumented items
#[path = "../../kernels/wgpu_logistic.rs"]
pub mod kernel;

use cubecl::prelude::*;
use cubecl::wgpu::{WgpuBackend, WgpuDevice, WgpuRuntime};
use cubecl_runtime::runtime::Runtime;

use super::backend::GradientBackend;
use crate::design::{Block, GroupDesign, KPAD, LANES};
use crate::features::N_FEATURES;

const _: () = assert!(KPAD == kernel::KPAD && LANES == kernel::LANES && N_FEATURES == kernel::NF);

/// The fused-kernel wgpu backend, on the Vulkan runtime that [`crate::device::wgpu_adapter`]
/// brought up.
pub struct FusedWgpuBackend {
    client: cubecl::client::Client,
    label: String,
    max_binding_bytes: u64,
    max_cubes: u32,
}

impl std::fmt::Debug for FusedWgpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

impl Clone for FusedWgpuBackend {
    fn clone(&self) -> Self {
        FusedWgpuBackend {
            client: self.client.clone(),
            label: self.label.clone(),
            max_binding_bytes: self.max_binding_bytes,
            max_cubes: self.max_cubes,
        }
    }
}

impl FusedWgpuBackend {
    /// The backend on the adapter [`crate::device::wgpu_adapter`] brought up.
    pub fn new(adapter: &crate::device::WgpuAdapter) -> FusedWgpuBackend {
        let device = WgpuDevice::default().on(WgpuBackend::Vulkan);
        FusedWgpuBackend {
            client: <WgpuRuntime as Runtime>::client(&device),
            label: format!("wgpu-fused on {}", adapter.name),
            max_binding_bytes: adapter.max_binding_bytes,
            max_cubes: adapter.max_cubes,
        }
    }

    /// The same backend with smaller limits (tests force batches to be cut with it).
    pub fn with_limits(mut self, max_binding_bytes: u64, max_cubes: u32) -> FusedWgpuBackend {
        self.max_binding_bytes = self.max_binding_bytes.min(max_binding_bytes);
        self.max_cubes = self.max_cubes.min(max_cubes);
        self
    }
}

/// Blocks packed for the kernel: rows, counts and offsets, concatenated.
struct Packed {
    x: Vec<f32>,
    c: Vec<f32>,
    cy: Vec<f32>,
    row_start: Vec<u32>,
}

fn pack<'a>(items: impl Iterator<Item = (&'a GroupDesign, &'a Block)>) -> Packed {
    let mut p = Packed {
        x: Vec::new(),
        c: Vec::new(),
        cy: Vec::new(),
        row_start: vec![0],
    };
    for (group, block) in items {
        let n = block.entries();
        for i in 0..n {
            let r = block.row(i);
            p.x.extend_from_slice(&group.x[r * KPAD..(r + 1) * KPAD]);
        }
        p.c.extend_from_slice(&block.c[..n * LANES]);
        p.cy.extend_from_slice(&block.cy[..n * LANES]);
        p.row_start
            .push(p.row_start.last().copied().unwrap_or(0) + n as u32);
    }
    p
}

/// One launch's share of the resident blocks.
struct Chunk {
    x: Handle,
    c: Handle,
    cy: Handle,
    row_start: Handle,
    lens: [usize; 3],
    first: usize,
    blocks: usize,
}

/// Blocks whose rows and counts live on the device: a gradient of all of them is one upload of
/// the weights, one launch and one read-back of 30 × 16 values per block — the building block
/// of a solver that steps every block together. Batches larger than the adapter allows (its
/// largest buffer binding, its most workgroups per launch) are cut into chunks, one launch each.
pub struct ResidentBlocks {
    client: cubecl::client::Client,
    chunks: Vec<Chunk>,
    blocks: usize,
}

/// `cubecl`'s buffer handle.
type Handle = cubecl_runtime::server::Handle;

impl ResidentBlocks {
    /// Uploads every block of `design`.
    pub fn new(backend: &FusedWgpuBackend, design: &crate::design::BatchDesign) -> ResidentBlocks {
        Self::from_blocks(backend, &design.groups, &design.blocks)
    }

    /// Uploads `blocks` (whose groups are in `groups`).
    ///
    /// # Panics
    /// When a single block is larger than the adapter's largest buffer binding.
    pub fn from_blocks(
        backend: &FusedWgpuBackend,
        groups: &[GroupDesign],
        blocks: &[Block],
    ) -> ResidentBlocks {
        let client = backend.client.clone();
        // x is the largest buffer: KPAD floats per entry.
        let bytes = |b: &Block| (b.entries() * KPAD * std::mem::size_of::<f32>()) as u64;
        let mut chunks = Vec::new();
        let mut first = 0;
        while first < blocks.len() {
            let (mut end, mut size) = (first, 0u64);
            while end < blocks.len()
                && end - first < backend.max_cubes as usize
                && (end == first || size + bytes(&blocks[end]) <= backend.max_binding_bytes)
            {
                size += bytes(&blocks[end]);
                end += 1;
            }
            assert!(
                size <= backend.max_binding_bytes,
                "a block of {size} bytes exceeds the adapter's binding limit"
            );
            let p = pack(blocks[first..end].iter().map(|b| (&groups[b.group], b)));
            chunks.push(Chunk {
                x: client.create_from_slice(f32::as_bytes(&p.x)),
                c: client.create_from_slice(f32::as_bytes(&p.c)),
                cy: client.create_from_slice(f32::as_bytes(&p.cy)),
                row_start: client.create_from_slice(u32::as_bytes(&p.row_start)),
                lens: [p.x.len(), p.c.len(), p.cy.len()],
                first,
                blocks: end - first,
            });
            first = end;
        }
        ResidentBlocks {
            client,
            chunks,
            blocks: blocks.len(),
        }
    }

    /// Launches per gradient (chunks the batch was cut into).
    pub fn launches(&self) -> usize {
        self.chunks.len()
    }

    /// Gradients and losses of every block at `w` (blocks × KPAD × LANES): blocks × KPAD ×
    /// LANES values, feature 29's slot holding the loss.
    pub fn gradients(&self, w: &[f32]) -> Vec<f32> {
        assert_eq!(
            w.len(),
            self.blocks * KPAD * LANES,
            "one weight field per block"
        );
        let field = KPAD * LANES;
        let mut out = Vec::with_capacity(w.len());
        for ch in &self.chunks {
            let wc = &w[ch.first * field..(ch.first + ch.blocks) * field];
            let wh = self.client.create_from_slice(f32::as_bytes(wc));
            out.extend(launch(
                &self.client,
                ch.blocks,
                [
                    (ch.x.clone(), ch.lens[0]),
                    (ch.c.clone(), ch.lens[1]),
                    (ch.cy.clone(), ch.lens[2]),
                    (wh, wc.len()),
                    (ch.row_start.clone(), ch.blocks + 1),
                ],
            ));
        }
        out
    }
}

/// Launches the kernel over `blocks` blocks and reads the results back.
fn launch(
    client: &cubecl::client::Client,
    blocks: usize,
    inputs: [(Handle, usize); 5],
) -> Vec<f32> {
    let out_len = blocks * KPAD * LANES;
    let out = client.empty(out_len * std::mem::size_of::<f32>());
    let [x, c, cy, w, rs] = inputs;
    // SAFETY: every length is the number of elements uploaded into that handle.
    unsafe {
        kernel::logistic_gradient::launch(
            client,
            CubeCount::Static(blocks as u32, 1, 1),
            CubeDim::new_1d((kernel::SLICES * LANES) as u32),
            BufferArg::from_raw_parts(x.0, x.1),
            BufferArg::from_raw_parts(c.0, c.1),
            BufferArg::from_raw_parts(cy.0, cy.1),
            BufferArg::from_raw_parts(w.0, w.1),
            BufferArg::from_raw_parts(rs.0, rs.1),
            BufferArg::from_raw_parts(out.clone(), out_len),
        );
    }
    f32::from_bytes(&client.read_one_unchecked(out)).to_vec()
}

impl GradientBackend for FusedWgpuBackend {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn fused_wgpu(&self) -> Option<&FusedWgpuBackend> {
        Some(self)
    }

    fn block_gradient(
        &self,
        group: &GroupDesign,
        block: &Block,
        w: &[f32],
        grad: &mut [f64],
        loss: Option<&mut [f64]>,
    ) {
        let n = block.entries();
        if n == 0 {
            grad.fill(0.0);
            if let Some(loss) = loss {
                loss.fill(0.0);
            }
            return;
        }
        let p = pack(std::iter::once((group, block)));
        let client = &self.client;
        let up = |v: &[f32]| (client.create_from_slice(f32::as_bytes(v)), v.len());
        let out = launch(
            client,
            1,
            [
                up(&p.x),
                up(&p.c),
                up(&p.cy),
                up(&w[..KPAD * LANES]),
                (client.create_from_slice(u32::as_bytes(&p.row_start)), 2),
            ],
        );
        unpack(&out, grad, loss);
    }
}

/// One block's kernel output (`KPAD × LANES`, loss in feature 29's slot) into the solvers'
/// gradient field and per-lane losses.
pub fn unpack(out: &[f32], grad: &mut [f64], loss: Option<&mut [f64]>) {
    grad.fill(0.0);
    for k in 0..N_FEATURES {
        for l in 0..LANES {
            grad[k * LANES + l] = out[k * LANES + l] as f64;
        }
    }
    if let Some(loss) = loss {
        for (l, v) in loss.iter_mut().enumerate().take(LANES) {
            *v = out[N_FEATURES * LANES + l] as f64;
        }
    }
}
