//! The host side of `kernels/wgpu_curvature.rs`: each lane's Hessian of the loss, for blocks
//! whose rows are resident and packed. Blocks with dense rows take the CPU's fused kernel
//! (`kernels/cpu_curvature.rs`) instead.

#[allow(missing_docs)] // the #[cube] expansion adds undocumented items
#[path = "../../../../kernels/wgpu_curvature.rs"]
pub mod kernel;

use cubecl::prelude::*;

use super::DevWidth;
use super::resident::{Chunk, Handle, ResidentBlocks};
use crate::design::LANES;

impl ResidentBlocks {
    /// Each lane's Hessian at `w` (a [`DevWidth::field`] per block) for the blocks with
    /// `wanted[b]` (the others' entries are left 0): blocks × [`DevWidth::hess_len`] values,
    /// `[row][column][lane]` per block. `None` when the rows are not packed (the kernel reads
    /// packed rows only).
    pub fn curvatures(&self, w: &[f32], wanted: &[bool]) -> Option<Vec<f32>> {
        if !self.packed() {
            return None;
        }
        let field = self.width.field();
        assert_eq!(w.len(), self.blocks() * field, "one weight field per block");
        let mut out = Vec::with_capacity(self.blocks() * self.width.hess_len());
        for ch in &self.chunks {
            let wc = &w[ch.first * field..(ch.first + ch.blocks) * field];
            let wanted = &wanted[ch.first..ch.first + ch.blocks];
            out.extend(launch_curvature(&self.client, ch, wc, wanted)?);
        }
        Some(out)
    }
}

/// The kernel over one chunk's blocks at `w` (the chunk's weight fields), for the blocks with
/// `wanted[b]` (the others read back as 0); `None` when the chunk's rows are dense.
pub(crate) fn launch_curvature(
    client: &cubecl::client::Client,
    ch: &Chunk,
    w: &[f32],
    wanted: &[bool],
) -> Option<Vec<f32>> {
    if ch.data.rows.len() != 2 {
        return None; // dense rows: nothing to upload for
    }
    let wh = (client.create_from_slice(f32::as_bytes(w)), w.len());
    let mut live = vec![0u32; ch.blocks * LANES];
    for (b, &want) in wanted.iter().enumerate() {
        if want {
            live[b * LANES..(b + 1) * LANES].fill(1);
        }
    }
    let live = (client.create_from_slice(u32::as_bytes(&live)), live.len());
    let len = ch.blocks * ch.data.width.hess_len();
    // Zeroed, so blocks not wanted read back as 0, not as stale memory.
    let hess = (
        client.create_from_slice(f32::as_bytes(&vec![0f32; len])),
        len,
    );
    launch_curvature_into(client, ch, &wh, &live, &hess)?;
    Some(f32::from_bytes(&client.read_one_unchecked(hess.0)).to_vec())
}

/// The kernel over a chunk at the weights in `w` (on the device) for the blocks with a lane in
/// `live`, into `hess` (not read back); `None` when the chunk's rows are dense.
pub(crate) fn launch_curvature_into(
    client: &cubecl::client::Client,
    ch: &Chunk,
    w: &(Handle, usize),
    live: &(Handle, usize),
    hess: &(Handle, usize),
) -> Option<()> {
    let [signs, counts] = ch.data.rows.as_slice() else {
        return None;
    };
    let width = ch.data.width;
    let pairs = kernel::pair_table(width.nf);
    let pairs = (client.create_from_slice(u32::as_bytes(&pairs)), pairs.len());
    // SAFETY: every length is the number of elements uploaded into that handle, and the kernel
    // indexes them within `row_start`'s offsets and the blocks launched.
    let arg = |h: &(Handle, usize)| unsafe { BufferArg::from_raw_parts(h.0.clone(), h.1) };
    kernel::logistic_curvature_signs::launch(
        client,
        CubeCount::Static(ch.blocks as u32, 1, 1),
        CubeDim::new_1d(256),
        arg(signs),
        arg(counts),
        arg(w),
        arg(&ch.data.row_start),
        arg(live),
        arg(&pairs),
        arg(hess),
        width.nf,
        width.kpad,
    );
    Some(())
}

/// One block's kernel output (`[row][column][lane]`) in the solvers' layout: `LANES`
/// row-major nf × nf matrices, f64.
pub fn to_lane_matrices(block_hess: &[f32], hess: &mut [f64], width: DevWidth) {
    let nn = width.nf * width.nf;
    for l in 0..LANES {
        for e in 0..nn {
            hess[l * nn + e] = block_hess[e * LANES + l] as f64;
        }
    }
}
