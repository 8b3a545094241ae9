//! The device warm-up's kernels (`kernels/wgpu_hmc_warmup.rs`) against the host's adaptation
//! (`DualAveraging`, `Welford`, the tail's moments) and the model fit (`fit_lane`), on a real
//! wgpu adapter (lavapipe where there is no GPU). Skips, saying why, where no adapter comes up.

mod common;

use common::gpu::Handle;

use cubecl::prelude::*;
use prefdissect::base::device::wgpu_adapter;
use prefdissect::solve::backend::wgpu::DevWidth;
use prefdissect::solve::backend::wgpu::resident::FusedWgpuBackend;

/// At the paper's width, at 33 and 40 features (past one mask word; past where one unit doing a
/// lane's whole fit overran llvmpipe's loop limit, at 38) and at 64.
#[test]
fn warmup_kernels_match_the_host_adaptation_and_fit() {
    let adapter = match wgpu_adapter() {
        Ok(a) => a,
        Err(why) => return println!("skipped: {why}"),
    };
    let client = FusedWgpuBackend::new(adapter).client();
    warmup_at::<29>(&client);
    warmup_at::<33>(&client);
    warmup_at::<40>(&client);
    warmup_at::<64>(&client);
}

fn warmup_at<const NF: usize>(client: &cubecl::client::Client) {
    use prefdissect::base::mcmc::adaptation::{DualAveraging, Welford};
    use prefdissect::solve::backend::wgpu::warmup::kernel::{
        CLOSES_WINDOW, DUAL, GRADIENT, IN_WINDOW, LAST, TAIL, TAIL_START, hmc_warmup_accept,
        moments_len,
    };
    use prefdissect::solve::posterior::model_fit::{LaneMoments, RIDGE, fit_lane, min_draws};
    let width = DevWidth::of(NF);
    let field_len = width.field();
    let at = |i: usize, k: usize| (i / 16) * field_len + k * 16 + i % 16;
    // Enough tail draws for the final fit at any width.
    let iterations = 80usize.max(min_draws(NF) as usize + 8);
    let (lanes, lambda, target) = (16usize, 10.0f64, 0.8f64);
    let live: Vec<u32> = (0..lanes).map(|i| (i != 7) as u32).collect();
    let mut lcg = common::Lcg(33);
    let mut r = move || lcg.next();
    // Host state, f64, lane-major.
    let mut q: Vec<[f64; NF]> = (0..lanes)
        .map(|_| std::array::from_fn(|_| 0.3 * (r() - 0.5)))
        .collect();
    let mut u: Vec<f64> = (0..lanes).map(|_| 200.0 + 20.0 * r()).collect();
    let mut gu: Vec<[f64; NF]> = vec![[0.0; NF]; lanes];
    let to_field = |v: &[[f64; NF]]| -> Vec<f32> {
        let mut f = vec![0f32; field_len];
        for (i, x) in v.iter().enumerate() {
            for k in 0..NF {
                f[at(i, k)] = x[k] as f32;
            }
        }
        f
    };
    // Device state: positions on the f32 grid, as the host's.
    for x in q.iter_mut() {
        *x = x.map(|v| v as f32 as f64);
    }
    let f = |v: &[f32]| (client.create_from_slice(f32::as_bytes(v)), v.len());
    let u32s = |v: &[u32]| (client.create_from_slice(u32::as_bytes(v)), v.len());
    let arg = |h: &(Handle, usize)| unsafe { BufferArg::from_raw_parts(h.0.clone(), h.1) };
    let read =
        |h: &(Handle, usize)| f32::from_bytes(&client.read_one_unchecked(h.0.clone())).to_vec();
    let q_h = f(&to_field(&q));
    let u_h = f(&u.iter().map(|&v| v as f32).collect::<Vec<_>>());
    let gu_h = f(&vec![0.0; field_len]);
    let eps_h = f(&vec![0.5; lanes]);
    let mut dual0 = vec![0f32; lanes * DUAL];
    for l in 0..lanes {
        dual0[l * DUAL] = (10.0f64 * 0.5).ln() as f32;
    }
    let dual_h = f(&dual0);
    let welford_h = f(&vec![0.0; lanes + 2 * field_len]);
    let (inv_h, sqrt_h) = (f(&vec![1.0; field_len]), f(&vec![1.0; field_len]));
    let (centre_h, shift_h) = (f(&vec![0.0; field_len]), f(&vec![0.0; field_len]));
    let moments_h = f(&vec![0.0; moments_len(NF) * 16]);
    let live_h = u32s(&live);
    // Host adaptation.
    let mut dual: Vec<DualAveraging> = (0..lanes)
        .map(|_| DualAveraging::new(0.5, target))
        .collect();
    let mut welford: Vec<Welford<NF>> = vec![Welford::default(); lanes];
    let mut eps = vec![0.5f64; lanes];
    let mut inv_mass = vec![[1.0f64; NF]; lanes];
    let mut centre = vec![[0.0f64; NF]; lanes];
    let mut mom: Vec<LaneMoments> = (0..lanes).map(|_| LaneMoments::new(NF)).collect();
    for it in 0..iterations {
        let last = it + 1 == iterations;
        let mut flags = TAIL | GRADIENT;
        if it == 0 {
            flags |= TAIL_START;
        }
        if it + 2 < iterations {
            flags |= IN_WINDOW;
        }
        if it + 2 == iterations {
            flags |= CLOSES_WINDOW;
        }
        if last {
            flags |= LAST;
        }
        // Proposals with known energy errors, and accept uniforms well away from α.
        let mut qn = vec![[0f64; NF]; lanes];
        let mut grad = vec![0f32; field_len];
        let (mut dk, mut dv, mut au) = (vec![0f32; lanes], vec![0f32; lanes], vec![0f32; lanes]);
        let mut alpha = vec![0f64; lanes];
        for i in 0..lanes {
            qn[i] = std::array::from_fn(|k| (q[i][k] + 0.05 * (r() - 0.5)) as f32 as f64);
            let delta = 3.0 * r() - 1.0;
            dk[i] = (r() - 0.5) as f32;
            dv[i] = (0.5 * (r() - 0.5)) as f32;
            let l1: f64 = qn[i].iter().map(|v| v.abs()).sum();
            let loss = (u[i] + delta - dk[i] as f64 - lambda * l1) as f32;
            grad[(i / 16) * field_len + NF * 16 + i % 16] = loss;
            for k in 0..NF {
                grad[at(i, k)] = (2.0 * (r() - 0.5)) as f32;
            }
            let un = loss as f64 + lambda * l1;
            alpha[i] = (-(un - u[i] + dk[i] as f64)).exp().min(1.0);
            au[i] = if r() < 0.5 {
                (alpha[i] - 0.2).max(0.0)
            } else {
                (alpha[i] + 0.2).min(1.0)
            } as f32;
        }
        let (qn_h, grad_h) = (f(&to_field(&qn)), f(&grad));
        let (dk_h, dv_h, au_h) = (f(&dk), f(&dv), f(&au));
        hmc_warmup_accept::launch(
            client,
            CubeCount::Static(1, 1, 1),
            CubeDim::new_1d(64),
            arg(&q_h),
            arg(&u_h),
            arg(&gu_h),
            arg(&qn_h),
            arg(&grad_h),
            arg(&dk_h),
            arg(&dv_h),
            arg(&au_h),
            arg(&live_h),
            arg(&eps_h),
            arg(&dual_h),
            arg(&welford_h),
            arg(&inv_h),
            arg(&sqrt_h),
            arg(&centre_h),
            arg(&shift_h),
            arg(&moments_h),
            lambda as f32,
            target as f32,
            flags,
            NF,
            width.kpad,
        );
        for i in (0..lanes).filter(|&i| live[i] != 0) {
            if (au[i] as f64) < alpha[i] {
                q[i] = qn[i];
                let l1: f64 = qn[i].iter().map(|v| v.abs()).sum();
                u[i] = grad[(i / 16) * field_len + NF * 16 + i % 16] as f64 + lambda * l1;
                gu[i] = std::array::from_fn(|k| grad[at(i, k)] as f64);
            }
            let tuned = (-(dv[i] as f64 + dk[i] as f64)).exp().min(1.0);
            eps[i] = dual[i].update(tuned);
            if flags & IN_WINDOW != 0 {
                welford[i].add(&q[i]);
            }
            if flags & CLOSES_WINDOW != 0 {
                centre[i] = welford[i].mean();
                inv_mass[i] = welford[i].regularised_variance();
                welford[i] = Welford::default();
                dual[i] = DualAveraging::new(eps[i], target);
            }
            if last {
                eps[i] = dual[i].final_step_size();
            }
            let m = &mut mom[i];
            m.add(&q[i], &gu[i]);
            if last {
                centre[i] = std::array::from_fn(|k| m.sum_q[k] / m.n);
            }
        }
    }
    let (q_d, eps_d, inv_d, centre_d) = (read(&q_h), read(&eps_h), read(&inv_h), read(&centre_h));
    let (mut worst_eps, mut worst_var, mut worst_c) = (0f64, 0f64, 0f64);
    for i in (0..lanes).filter(|&i| live[i] != 0) {
        worst_eps = worst_eps.max((eps_d[i] as f64 - eps[i]).abs() / eps[i]);
        for k in 0..NF {
            assert_eq!(
                q_d[at(i, k)] as f64,
                q[i][k],
                "lane {i}: the same accept decisions"
            );
            worst_var =
                worst_var.max((inv_d[at(i, k)] as f64 - inv_mass[i][k]).abs() / inv_mass[i][k]);
            worst_c = worst_c.max((centre_d[at(i, k)] as f64 - centre[i][k]).abs());
        }
    }
    println!(
        "warm-up accept ({NF} features) vs host: step size {worst_eps:.1e} relative, metric {worst_var:.1e} relative, centre {worst_c:.1e}"
    );
    assert!(
        worst_eps < 1e-4 && worst_var < 1e-4 && worst_c < 1e-5,
        "{worst_eps:e} {worst_var:e} {worst_c:e}"
    );

    // The final fit, from the device's moments, against `fit_lane` from the host's.
    assert!(iterations as f64 >= min_draws(NF));
    let mut taylor = vec![vec![0f64; NF * NF]; lanes];
    let mut hess = vec![0f32; NF * NF * 16];
    for i in 0..lanes {
        for a in 0..NF {
            for b in 0..=a {
                let v = if a == b {
                    50.0 + 100.0 * r()
                } else {
                    5.0 * (r() - 0.5)
                };
                let v = v as f32;
                taylor[i][a * NF + b] = v as f64;
                taylor[i][b * NF + a] = v as f64;
                hess[(a * NF + b) * 16 + i] = v;
                hess[(b * NF + a) * 16 + i] = v;
            }
        }
    }
    let (mgrad_h, hess_h) = (f(&vec![0.0; field_len]), f(&hess));
    prefdissect::solve::backend::wgpu::warmup::ModelFit {
        ridge: RIDGE as f32,
        min_draws: min_draws(NF) as f32,
        width,
    }
    .launch(client, 16, [&moments_h, &live_h, &mgrad_h, &hess_h]);
    let (mgrad_d, hess_d) = (read(&mgrad_h), read(&hess_h));
    let (mut worst_g, mut worst_h) = (0f64, 0f64);
    for i in (0..lanes).filter(|&i| live[i] != 0) {
        let (g, correction) =
            fit_lane(&mom[i], &taylor[i]).expect("enough draws, positive definite");
        let scale = correction.iter().fold(0f64, |m, v| m.max(v.abs()));
        for k in 0..NF {
            worst_g = worst_g.max((mgrad_d[at(i, k)] as f64 - g[k]).abs());
            for j in 0..NF {
                let fitted = taylor[i][k * NF + j] + correction[k * NF + j];
                worst_h =
                    worst_h.max((hess_d[(k * NF + j) * 16 + i] as f64 - fitted).abs() / scale);
            }
        }
    }
    println!(
        "fit kernel ({NF} features) vs fit_lane: intercept {worst_g:.1e}, slopes {worst_h:.1e} of the largest correction"
    );
    assert!(worst_g < 1e-5 && worst_h < 1e-3, "{worst_g:e} {worst_h:e}");
}
