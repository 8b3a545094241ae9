//! Batched FISTA with its whole state on the device: an iteration of every block is two
//! launches (the gradient kernel at the momentum points, then `kernels/wgpu_fista.rs`'s update)
//! and nothing read back; the host looks at the lanes' `live` flags every [`CHECK_EVERY`]
//! iterations to stop, and reads the results once at the end. The same lanes, tolerance and
//! restarts as the CPU's [`super::fista`], in f32 instead of f64 between gradients (the
//! gradient was always f32), which the f64 check of every fit in `solve_map` then verifies.

#[allow(missing_docs)] // the #[cube] expansion adds undocumented items
#[path = "../../../kernels/wgpu_fista.rs"]
pub mod kernel;

use cubecl::prelude::*;

use super::fista::LaneResult;
use crate::base::features::MAX_K;
use crate::design::{Block, LANES};
use crate::solve::backend::wgpu::DevWidth;
use crate::solve::backend::wgpu::resident::{Chunk, Handle, ResidentBlocks, launch_into};

/// Iterations between two looks at the `live` flags. Each look waits for the queue to drain;
/// a block that converged in between costs nothing but these launches, whose gradient kernel
/// skips blocks with no live lane.
pub const CHECK_EVERY: usize = 32;

/// Lanes per cube of the update kernel (4 blocks).
const UPDATE_CUBE: usize = 64;

/// What one lane starts from: its per-feature steps and its first point (the engine's slots;
/// the device holds the resident blocks' width of them).
pub struct LaneStart {
    /// Proximal step per feature.
    pub step: [f64; MAX_K],
    /// First iterate (zero for a cold start).
    pub init: [f64; MAX_K],
}

/// One chunk's solver state on the device.
struct State {
    y: (Handle, usize),
    x: (Handle, usize),
    step: (Handle, usize),
    t: (Handle, usize),
    live: (Handle, usize),
    iterations: (Handle, usize),
    kkt: (Handle, usize),
    grad: (Handle, usize),
}

/// Runs FISTA on every block of `resident` (`blocks` are the same blocks, for their lane
/// counts); `start(block, lane)` gives a lane's steps and starting point. Returns, per block,
/// one result per fit (empty lanes are skipped), as [`super::fista::fista_block`] does.
pub fn fista_resident(
    resident: &ResidentBlocks,
    blocks: &[Block],
    start: &(dyn Fn(usize, usize) -> LaneStart + Sync),
    lambda: f64,
    tol: f64,
    max_iter: usize,
) -> Vec<Vec<LaneResult>> {
    assert_eq!(resident.blocks(), blocks.len(), "the resident blocks");
    let client = &resident.client;
    let params = client.create_from_slice(f32::as_bytes(&[lambda as f32, tol as f32]));
    let states: Vec<State> = resident
        .chunks
        .iter()
        .map(|ch| upload_state(client, ch, &blocks[ch.first..ch.first + ch.blocks], start))
        .collect();
    let mut running: Vec<usize> = (0..states.len()).collect();
    let mut done = 0;
    while done < max_iter && !running.is_empty() {
        let n = CHECK_EVERY.min(max_iter - done);
        for _ in 0..n {
            for &c in &running {
                iterate(client, &resident.chunks[c], &states[c], &params);
            }
        }
        done += n;
        running.retain(|&c| read_u32(client, &states[c].live).iter().any(|&l| l != 0));
    }
    let width = resident.width;
    let mut out = Vec::with_capacity(blocks.len());
    for (ch, st) in resident.chunks.iter().zip(&states) {
        let (y, x) = (read_f32(client, &st.y), read_f32(client, &st.x));
        let (live, iterations) = (read_u32(client, &st.live), read_u32(client, &st.iterations));
        let kkt = read_f32(client, &st.kkt);
        for b in 0..ch.blocks {
            let lanes = blocks[ch.first + b].fits.len();
            out.push(
                (0..lanes)
                    .map(|l| {
                        let i = b * LANES + l;
                        let converged = live[i] == 0;
                        // A converged lane stopped at the point its gradient was taken at.
                        let from = if converged { &y } else { &x };
                        LaneResult {
                            w: std::array::from_fn(|k| {
                                if k < width.nf {
                                    from[(b * width.kpad + k) * LANES + l]
                                } else {
                                    0.0
                                }
                            }),
                            iterations: iterations[i] as usize,
                            kkt_f32: kkt[i] as f64,
                            converged,
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

/// The chunk's starting state: y = x = the starting points, t = 1, every fit's lane live.
fn upload_state(
    client: &cubecl::client::Client,
    chunk: &Chunk,
    blocks: &[Block],
    start: &(dyn Fn(usize, usize) -> LaneStart + Sync),
) -> State {
    let width = chunk.data.width;
    let field = width.field();
    let mut w = vec![0f32; chunk.blocks * field];
    let mut step = vec![0f32; chunk.blocks * field];
    let mut live = vec![0u32; chunk.blocks * LANES];
    for (b, block) in blocks.iter().enumerate() {
        for l in 0..block.fits.len() {
            let s = start(chunk.first + b, l);
            for k in 0..width.nf {
                w[b * field + k * LANES + l] = s.init[k] as f32;
                step[b * field + k * LANES + l] = s.step[k] as f32;
            }
            live[b * LANES + l] = 1;
        }
    }
    let f = |v: &[f32]| (client.create_from_slice(f32::as_bytes(v)), v.len());
    let u = |v: &[u32]| (client.create_from_slice(u32::as_bytes(v)), v.len());
    let lanes = chunk.blocks * LANES;
    State {
        y: f(&w),
        x: f(&w),
        step: f(&step),
        t: f(&vec![1.0; lanes]),
        live: u(&live),
        iterations: u(&vec![0; lanes]),
        kkt: f(&vec![f32::INFINITY; lanes]),
        grad: (client.empty(w.len() * std::mem::size_of::<f32>()), w.len()),
    }
}

/// One FISTA iteration of a chunk: the gradients at y, then the update.
fn iterate(client: &cubecl::client::Client, chunk: &Chunk, st: &State, params: &Handle) {
    launch_into(client, chunk, &st.y, &st.live, &st.grad, true);
    launch_update(client, chunk.blocks * LANES, st, params, chunk.data.width);
}

/// The update kernel over `lanes` lanes of `st`, fields of `width`.
fn launch_update(
    client: &cubecl::client::Client,
    lanes: usize,
    st: &State,
    params: &Handle,
    width: DevWidth,
) {
    // SAFETY: every length is the number of elements allocated for that handle; the kernel
    // indexes lanes below `live.len()` and their `nf` features.
    let arg = |h: &(Handle, usize)| unsafe { BufferArg::from_raw_parts(h.0.clone(), h.1) };
    kernel::fista_update::launch(
        client,
        CubeCount::Static(lanes.div_ceil(UPDATE_CUBE) as u32, 1, 1),
        CubeDim::new_1d(UPDATE_CUBE as u32),
        arg(&st.grad),
        arg(&st.y),
        arg(&st.x),
        arg(&st.step),
        arg(&st.t),
        arg(&st.live),
        arg(&st.iterations),
        arg(&st.kkt),
        arg(&(params.clone(), 2)),
        width.nf,
        width.kpad,
    );
}

fn read_f32(client: &cubecl::client::Client, h: &(Handle, usize)) -> Vec<f32> {
    f32::from_bytes(&client.read_one_unchecked(h.0.clone())).to_vec()
}

fn read_u32(client: &cubecl::client::Client, h: &(Handle, usize)) -> Vec<u32> {
    u32::from_bytes(&client.read_one_unchecked(h.0.clone())).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solve::backend::wgpu::resident::FusedWgpuBackend;
    use crate::solve::map::fista::fista_step;
    use crate::solve::map::objective::kkt_violation;

    /// The update kernel against its f64 reference (`fista_step`, `kkt_violation`) on random
    /// lanes: 3 blocks, with lanes that are not live, one lane that meets the tolerance, and
    /// exact zeros in the points (the KKT test's other branch); at the paper's width and at 64
    /// features.
    #[test]
    fn update_kernel_matches_the_f64_reference() {
        let adapter = match crate::base::device::wgpu_adapter() {
            Ok(a) => a,
            Err(why) => return println!("skipped: {why}"),
        };
        let client = FusedWgpuBackend::new(adapter).client();
        for width in [DevWidth::PAPER, DevWidth::of(MAX_K)] {
            update_at(&client, width);
        }
    }

    fn update_at(client: &cubecl::client::Client, width: DevWidth) {
        let (lambda, tol) = (10.0f64, 5e-5f64);
        let mut seed = 7u64;
        let mut uniform = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let (blocks, field) = (3, width.field());
        let (mut y, mut x, mut g, mut step) = (
            vec![0f32; blocks * field],
            vec![0f32; blocks * field],
            vec![0f32; blocks * field],
            vec![0f32; blocks * field],
        );
        let lanes = blocks * LANES;
        let t: Vec<f32> = (0..lanes).map(|_| (1.0 + 4.0 * uniform()) as f32).collect();
        let live: Vec<u32> = (0..lanes).map(|i| (i % 7 != 3) as u32).collect();
        let converging = 5;
        for i in 0..lanes {
            let base = (i / LANES) * field + i % LANES;
            for k in 0..width.nf {
                let j = base + k * LANES;
                let zero = uniform() < 0.3 || i == converging;
                y[j] = if zero {
                    0.0
                } else {
                    (uniform() - 0.5) as f32 * 0.6
                };
                x[j] = (uniform() - 0.5) as f32 * 0.6;
                g[j] = if i == converging {
                    ((uniform() - 0.5) * lambda) as f32
                } else {
                    ((uniform() - 0.5) * 30.0) as f32
                };
                step[j] = (0.001 + 0.05 * uniform()) as f32;
            }
        }
        let f = |v: &[f32]| (client.create_from_slice(f32::as_bytes(v)), v.len());
        let u = |v: &[u32]| (client.create_from_slice(u32::as_bytes(v)), v.len());
        let st = State {
            y: f(&y),
            x: f(&x),
            step: f(&step),
            t: f(&t),
            live: u(&live),
            iterations: u(&vec![0; lanes]),
            kkt: f(&vec![f32::INFINITY; lanes]),
            grad: f(&g),
        };
        let params = client.create_from_slice(f32::as_bytes(&[lambda as f32, tol as f32]));
        launch_update(client, lanes, &st, &params, width);
        let (y1, x1, t1) = (
            read_f32(client, &st.y),
            read_f32(client, &st.x),
            read_f32(client, &st.t),
        );
        let (live1, it1) = (read_u32(client, &st.live), read_u32(client, &st.iterations));
        let kkt1 = read_f32(client, &st.kkt);
        let mut worst = 0f64;
        for i in 0..lanes {
            let base = (i / LANES) * field + i % LANES;
            // The host reference works in the engine's MAX_K slots; the device holds `width.nf`.
            let at = |v: &[f32]| -> [f64; crate::base::features::MAX_K] {
                std::array::from_fn(|k| {
                    if k < width.nf {
                        v[base + k * LANES] as f64
                    } else {
                        0.0
                    }
                })
            };
            if live[i] == 0 {
                assert_eq!((live1[i], it1[i]), (0, 0), "lane {i} is not live");
                assert_eq!((at(&y1), at(&x1)), (at(&y), at(&x)));
                continue;
            }
            assert_eq!(it1[i], 1);
            let (mut yr, mut xr, mut tr) = (at(&y), at(&x), t[i] as f64);
            let kkt = kkt_violation(&yr, &at(&g), lambda);
            assert!(
                (kkt1[i] as f64 - kkt).abs() <= 1e-6 * (1.0 + kkt),
                "lane {i}"
            );
            if kkt <= tol {
                assert_eq!(i, converging);
                assert_eq!(live1[i], 0);
                assert_eq!(at(&y1), yr, "a converged lane keeps its point");
                continue;
            }
            assert_eq!(live1[i], 1, "lane {i}");
            let steps = at(&step);
            fista_step(&mut xr, &mut yr, &mut tr, &at(&g), &steps, lambda);
            worst = worst.max((t1[i] as f64 - tr).abs() / tr);
            for k in 0..width.nf {
                worst = worst.max((at(&y1)[k] - yr[k]).abs());
                worst = worst.max((at(&x1)[k] - xr[k]).abs());
            }
        }
        assert_eq!(
            live1[converging], 0,
            "the converging lane met the tolerance"
        );
        println!(
            "fista_update ({} features) vs f64 reference: max |Δ| {worst:.2e}",
            width.nf
        );
        assert!(worst < 2e-6, "{worst:e}");
    }
}
