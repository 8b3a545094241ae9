//! The wgpu backend with the fused kernels of `kernels/wgpu_logistic.rs`: rows go up once
//! (packed to 2 bits a feature and 4 bytes a row and lane where X is all signs and the weights
//! whole numbers, else dense f32), and a gradient of any number of blocks is one launch. Its
//! references are [`crate::solve::backend::reference::TensorOpsBackend`] on the same device (the plain ops),
//! the CPU kernel, and the dense kernel for the packed one; `tests/wgpu.rs` compares them.

#[allow(missing_docs)] // the #[cube] expansion adds undocumented items
#[path = "../../../../kernels/wgpu_logistic.rs"]
pub mod kernel;

use cubecl::prelude::*;
use cubecl::wgpu::{WgpuBackend, WgpuDevice, WgpuRuntime};
use cubecl_runtime::runtime::Runtime;

use super::{DEV_NF, DevWidth};
use crate::design::{Block, GroupDesign, KPAD, LANES};
use crate::solve::backend::GradientBackend;

const _: () = assert!(LANES == kernel::LANES);

/// The fused-kernel wgpu backend, on the Vulkan runtime that [`crate::base::device::wgpu_adapter`]
/// brought up.
pub struct FusedWgpuBackend {
    client: cubecl::client::Client,
    label: String,
    max_binding_bytes: u64,
    max_cubes: u32,
    packed_rows: bool,
    device_warmup: bool,
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
            packed_rows: self.packed_rows,
            device_warmup: self.device_warmup,
        }
    }
}

impl FusedWgpuBackend {
    /// The backend on the adapter [`crate::base::device::wgpu_adapter`] brought up.
    pub fn new(adapter: &crate::base::device::WgpuAdapter) -> FusedWgpuBackend {
        let device = WgpuDevice::default().on(WgpuBackend::Vulkan);
        FusedWgpuBackend {
            client: <WgpuRuntime as Runtime>::client(&device),
            label: format!("wgpu-fused on {}", adapter.name),
            max_binding_bytes: adapter.max_binding_bytes,
            max_cubes: adapter.max_cubes,
            packed_rows: true,
            device_warmup: true,
        }
    }

    /// The same backend with smaller limits (tests force batches to be cut with it).
    pub fn with_limits(mut self, max_binding_bytes: u64, max_cubes: u32) -> FusedWgpuBackend {
        self.max_binding_bytes = self.max_binding_bytes.min(max_binding_bytes);
        self.max_cubes = self.max_cubes.min(max_cubes);
        self
    }

    /// One block's packed rows uploaded as a chunk of its own (the one-block paths).
    fn one_block(&self, packed: &Packed) -> Chunk {
        Chunk {
            data: upload(&self.client, packed),
            first: 0,
            blocks: 1,
        }
    }

    /// The same backend with the HMC warm-up in lock-step on the host (the sampling phase
    /// still on the device): `bench --table` times both, to tell where a GPU's warm-up pays.
    pub fn with_host_warmup(mut self) -> FusedWgpuBackend {
        self.device_warmup = false;
        self
    }

    /// Whether the HMC warm-up may run on the device.
    pub(crate) fn device_warmup(&self) -> bool {
        self.device_warmup
    }

    /// The largest buffer binding the adapter allows, bytes.
    pub(crate) fn max_binding_bytes(&self) -> u64 {
        self.max_binding_bytes
    }

    /// The runtime's client: what the kernels of `kernels/` are launched on (the solvers'
    /// device state, and tests that launch a kernel directly against its host reference).
    pub fn client(&self) -> cubecl::client::Client {
        self.client.clone()
    }

    /// The same backend with rows always uploaded dense (f32 X and weights): the packed
    /// kernel's reference in tests and benchmarks.
    pub fn with_dense_rows(mut self) -> FusedWgpuBackend {
        self.packed_rows = false;
        self
    }
}

/// Blocks as the kernels read them: X dense (f32) with f32 row weights, or, for an all-sign X
/// with whole-number weights, packed (see `kernel::logistic_gradient_signs`).
enum Rows {
    Dense {
        x: Vec<f32>,
        c: Vec<f32>,
        cy: Vec<f32>,
    },
    Signs {
        signs: Vec<u32>,
        counts: Vec<u32>,
    },
}

/// Blocks packed for the kernel: rows, counts and offsets, concatenated.
struct Packed {
    rows: Rows,
    row_start: Vec<u32>,
    width: DevWidth,
}

/// Packs the blocks' rows at `width`; packed signs when `allow_signs` and every row and
/// weight allows.
fn pack<'a>(
    items: impl Iterator<Item = (&'a GroupDesign, &'a Block)> + Clone,
    allow_signs: bool,
    width: DevWidth,
) -> Packed {
    let mut row_start = vec![0u32];
    for (_, block) in items.clone() {
        row_start.push(row_start.last().copied().unwrap_or(0) + block.entries() as u32);
    }
    if allow_signs && let Some(rows) = pack_signs(items.clone(), width) {
        return Packed {
            rows,
            row_start,
            width,
        };
    }
    let (mut x, mut c, mut cy) = (Vec::new(), Vec::new(), Vec::new());
    let stored = width.kpad.min(KPAD);
    for (group, block) in items {
        let n = block.entries();
        for i in 0..n {
            let r = block.row(i);
            x.extend_from_slice(&group.x[r * KPAD..r * KPAD + stored]);
            x.resize(x.len() + width.kpad - stored, 0.0);
        }
        c.extend_from_slice(&block.c[..n * LANES]);
        cy.extend_from_slice(&block.cy[..n * LANES]);
    }
    Packed {
        rows: Rows::Dense { x, c, cy },
        row_start,
        width,
    }
}

/// The packed rows, or `None` when an entry of X is not a sign or a weight is not a whole
/// number in 0..=65535 (with `cy` at most `c`). A row's words: the (+1s, −1s) masks of
/// features 0–31, then, past 32 features, those of 32–63 ([`DevWidth::sign_words`]).
fn pack_signs<'a>(
    items: impl Iterator<Item = (&'a GroupDesign, &'a Block)>,
    width: DevWidth,
) -> Option<Rows> {
    let (mut signs, mut counts) = (Vec::new(), Vec::new());
    for (group, block) in items {
        let n = block.entries();
        for i in 0..n {
            let r = block.row(i);
            let (mut pos, mut neg) = (0u64, 0u64);
            for (k, &v) in group.x[r * KPAD..(r + 1) * KPAD].iter().enumerate() {
                match v {
                    0.0 => {}
                    1.0 if k < width.nf => pos |= 1 << k,
                    -1.0 if k < width.nf => neg |= 1 << k,
                    _ => return None,
                }
            }
            signs.extend([pos as u32, neg as u32]);
            if width.sign_words() == 4 {
                signs.extend([(pos >> 32) as u32, (neg >> 32) as u32]);
            }
        }
        for (&c, &cy) in block.c[..n * LANES].iter().zip(&block.cy[..n * LANES]) {
            let whole = |v: f32| v.fract() == 0.0 && (0.0..=65535.0).contains(&v);
            if !whole(c) || !whole(cy) || cy > c {
                return None;
            }
            counts.push(c as u32 | (cy as u32) << 16);
        }
    }
    Some(Rows::Signs { signs, counts })
}

/// A packed batch uploaded: the handles and lengths one launch needs.
pub(crate) struct Uploaded {
    /// x, c, cy (dense) or signs, counts (packed).
    pub(crate) rows: Vec<(Handle, usize)>,
    /// The width the rows were packed at (the kernel variant that reads them).
    pub(crate) width: DevWidth,
    pub(crate) row_start: (Handle, usize),
    /// All-ones flags for gradients of every lane.
    pub(crate) all_live: (Handle, usize),
}

fn upload(client: &cubecl::client::Client, p: &Packed) -> Uploaded {
    let f = |v: &[f32]| (client.create_from_slice(f32::as_bytes(v)), v.len());
    let u = |v: &[u32]| (client.create_from_slice(u32::as_bytes(v)), v.len());
    let blocks = p.row_start.len() - 1;
    Uploaded {
        rows: match &p.rows {
            Rows::Dense { x, c, cy } => vec![f(x), f(c), f(cy)],
            Rows::Signs { signs, counts } => vec![u(signs), u(counts)],
        },
        row_start: u(&p.row_start),
        all_live: u(&vec![1u32; blocks * LANES]),
        width: p.width,
    }
}

/// One launch's share of the resident blocks.
pub(crate) struct Chunk {
    pub(crate) data: Uploaded,
    pub(crate) first: usize,
    pub(crate) blocks: usize,
}

/// Blocks whose rows and counts live on the device: a gradient of all of them is one upload of
/// the weights, one launch and one read-back of 30 × 16 values per block — the building block
/// of a solver that steps every block together. Batches larger than the adapter allows (its
/// largest buffer binding, its most workgroups per launch) are cut into chunks, one launch each.
pub struct ResidentBlocks {
    pub(crate) client: cubecl::client::Client,
    pub(crate) chunks: Vec<Chunk>,
    blocks: usize,
    /// The width every chunk was packed at: a weight field is `width.field()` floats a block.
    pub(crate) width: DevWidth,
}

/// `cubecl`'s buffer handle.
pub(crate) type Handle = cubecl_runtime::server::Handle;

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
        let width = DevWidth::of(groups.iter().map(|g| g.nf).max().unwrap_or(DEV_NF));
        // The largest per-block buffer of any solver: dense x (kpad floats per entry), or the
        // HMC warm-up's gradient moments (1,741 floats per lane at 29 features).
        let moments = (super::warmup::kernel::moments_len(width.nf)
            * LANES
            * std::mem::size_of::<f32>()) as u64;
        let bytes = |b: &Block| {
            ((b.entries() * width.kpad * std::mem::size_of::<f32>()) as u64).max(moments)
        };
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
            let items = blocks[first..end].iter().map(|b| (&groups[b.group], b));
            chunks.push(Chunk {
                data: upload(&client, &pack(items, backend.packed_rows, width)),
                first,
                blocks: end - first,
            });
            first = end;
        }
        ResidentBlocks {
            client,
            chunks,
            blocks: blocks.len(),
            width,
        }
    }

    /// Launches per gradient (chunks the batch was cut into).
    pub fn launches(&self) -> usize {
        self.chunks.len()
    }

    /// Blocks held.
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// Whether the rows went up packed (all signs, whole-number weights).
    pub fn packed(&self) -> bool {
        self.chunks.iter().all(|ch| ch.data.rows.len() == 2)
    }

    /// Gradients and losses of every block at `w` (a [`DevWidth::field`] per block): as many
    /// values, feature `nf`'s slot holding the loss.
    pub fn gradients(&self, w: &[f32]) -> Vec<f32> {
        self.launch_all(w, true)
    }

    /// Each lane's loss at `w` from loss-only launches (the accept test's pass): blocks ×
    /// LANES values.
    pub fn losses(&self, w: &[f32]) -> Vec<f32> {
        let (field, nf) = (self.width.field(), self.width.nf);
        self.launch_all(w, false)
            .chunks(field)
            .flat_map(|b| b[nf * LANES..(nf + 1) * LANES].to_vec())
            .collect()
    }

    fn launch_all(&self, w: &[f32], gradient: bool) -> Vec<f32> {
        let field = self.width.field();
        assert_eq!(w.len(), self.blocks * field, "one weight field per block");
        let mut out = Vec::with_capacity(w.len());
        for ch in &self.chunks {
            let wc = &w[ch.first * field..(ch.first + ch.blocks) * field];
            let wh = (self.client.create_from_slice(f32::as_bytes(wc)), wc.len());
            let len = ch.blocks * field;
            let oh = (self.client.empty(len * std::mem::size_of::<f32>()), len);
            launch_into(&self.client, ch, &wh, &ch.data.all_live, &oh, gradient);
            out.extend_from_slice(f32::from_bytes(&self.client.read_one_unchecked(oh.0)));
        }
        out
    }
}

/// Launches the gradient kernel over a chunk's blocks at the weights `w`, for the blocks with
/// a lane in `live`, into `out` (not read back); without `gradient`, only the losses (feature
/// `nf`'s slots) are computed and written. The kernel variant is the chunk's width.
pub(crate) fn launch_into(
    client: &cubecl::client::Client,
    chunk: &Chunk,
    w: &(Handle, usize),
    live: &(Handle, usize),
    out: &(Handle, usize),
    gradient: bool,
) {
    // SAFETY: every length is the number of elements uploaded into that handle, and the
    // kernels index them only within the offsets of `row_start` and the blocks launched.
    let arg = |h: &(Handle, usize)| unsafe { BufferArg::from_raw_parts(h.0.clone(), h.1) };
    let count = CubeCount::Static(chunk.blocks as u32, 1, 1);
    let dim = CubeDim::new_1d((kernel::SLICES * LANES) as u32);
    let d = &chunk.data;
    let rs = &d.row_start;
    let (nf, kpad) = (d.width.nf, d.width.kpad);
    match d.rows.as_slice() {
        [x, c, cy] => kernel::logistic_gradient::launch(
            client,
            count,
            dim,
            arg(x),
            arg(c),
            arg(cy),
            arg(w),
            arg(rs),
            arg(live),
            arg(out),
            gradient,
            nf,
            kpad,
        ),
        [signs, counts] => kernel::logistic_gradient_signs::launch(
            client,
            count,
            dim,
            arg(signs),
            arg(counts),
            arg(w),
            arg(rs),
            arg(live),
            arg(out),
            gradient,
            nf,
            kpad,
        ),
        _ => unreachable!("rows are packed as 3 dense or 2 sign buffers"),
    }
}

impl GradientBackend for FusedWgpuBackend {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn fused_wgpu(&self) -> Option<&FusedWgpuBackend> {
        Some(self)
    }

    /// `kernels/wgpu_curvature.rs` on packed rows; the CPU's fused kernel
    /// (`kernels/cpu_curvature.rs`) for dense ones.
    fn block_curvature(&self, group: &GroupDesign, block: &Block, w: &[f32], hess: &mut [f64]) {
        let width = DevWidth::of(group.nf);
        let packed = pack(std::iter::once((group, block)), self.packed_rows, width);
        if !matches!(packed.rows, Rows::Signs { .. }) {
            // The kernel reads packed rows only.
            return crate::solve::backend::cpu::CpuBackend.block_curvature(group, block, w, hess);
        }
        match super::curvature::launch_curvature(
            &self.client,
            &self.one_block(&packed),
            &width.field_of(w),
            &[true],
        ) {
            Some(out) => super::curvature::to_lane_matrices(&out, hess, width),
            None => crate::solve::backend::cpu::CpuBackend.block_curvature(group, block, w, hess),
        }
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
        let width = DevWidth::of(group.nf);
        let chunk = self.one_block(&pack(
            std::iter::once((group, block)),
            self.packed_rows,
            width,
        ));
        let wh = width.field_of(w);
        let wh = (self.client.create_from_slice(f32::as_bytes(&wh)), wh.len());
        let oh = (self.client.empty(width.field() * 4), width.field());
        launch_into(&self.client, &chunk, &wh, &chunk.data.all_live, &oh, true);
        let out = f32::from_bytes(&self.client.read_one_unchecked(oh.0)).to_vec();
        unpack(&out, grad, loss, width);
    }
}

/// One block's kernel output (a field of `width`, the loss in feature `nf`'s slot) into the
/// solvers' gradient field and per-lane losses.
pub fn unpack(out: &[f32], grad: &mut [f64], loss: Option<&mut [f64]>, width: DevWidth) {
    grad.fill(0.0);
    for k in 0..width.nf {
        for l in 0..LANES {
            grad[k * LANES + l] = out[k * LANES + l] as f64;
        }
    }
    if let Some(loss) = loss {
        for (l, v) in loss.iter_mut().enumerate().take(LANES) {
            *v = out[width.nf * LANES + l] as f64;
        }
    }
}
