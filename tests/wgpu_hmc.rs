//! The device sampler's kernels (`kernels/wgpu_hmc.rs`) against their host references, on a
//! real wgpu adapter (lavapipe where there is no GPU); the whole sampler against the CPU's is
//! in `tests/wgpu.rs`. Every test skips, saying why, where no adapter comes up.

mod common;

use common::gpu::Handle;

use cubecl::prelude::*;
use prefdissect::base::device::wgpu_adapter;
use prefdissect::solve::backend::wgpu::DevWidth;
use prefdissect::solve::backend::wgpu::hmc::kernel::{
    STEP_JITTER, hmc_accept, hmc_propose, pcg4d_host, uniforms_host,
};
use prefdissect::solve::backend::wgpu::resident::FusedWgpuBackend;
use prefdissect::solve::posterior::laplace_flow::laplace_flow;

#[test]
fn generator_uniforms_are_uniform_and_uncorrelated() {
    // The host twin of the kernels' generator (their equality is checked by the propose test).
    let n = 200_000u32;
    let (mut sum, mut sq, mut lag) = (0f64, 0f64, 0f64);
    let mut prev = 0.5f64;
    for it in 0..n / 32 {
        for u in uniforms_host(12345, 678, it, 29) {
            let u = u as f64;
            assert!((0.0..1.0).contains(&u));
            sum += u;
            sq += u * u;
            lag += (u - 0.5) * (prev - 0.5);
            prev = u;
        }
    }
    let n = n as f64;
    let (mean, var) = (sum / n, sq / n - (sum / n).powi(2));
    let corr = lag / n / (1.0 / 12.0);
    println!("mean {mean:.5}, var {var:.5} (1/12 = 0.08333), lag-1 correlation {corr:.4}");
    // 5 standard errors: 0.29/√n for the mean, 0.075/√n for the variance, 1/√n for corr.
    assert!((mean - 0.5).abs() < 5.0 * 0.289 / n.sqrt());
    assert!((var - 1.0 / 12.0).abs() < 5.0 * 0.075 / n.sqrt());
    assert!(corr.abs() < 5.0 / n.sqrt());
    // Neighbouring keys and counters give unrelated words.
    assert_ne!(pcg4d_host([1, 0, 0, 0]), pcg4d_host([0, 1, 0, 0]));
}

/// At the paper's width, at 33 features (an odd count past one mask word) and at 64.
#[test]
fn propose_and_accept_kernels_match_the_host_reference() {
    let adapter = match wgpu_adapter() {
        Ok(a) => a,
        Err(why) => return println!("skipped: {why}"),
    };
    let client = FusedWgpuBackend::new(adapter).client();
    for width in [DevWidth::PAPER, DevWidth::of(33), DevWidth::of(64)] {
        propose_and_accept_at(&client, width);
    }
}

fn propose_and_accept_at(client: &cubecl::client::Client, width: DevWidth) {
    let (nf, fld) = (width.nf, width.field());
    let at = |i: usize, k: usize| (i / 16) * fld + k * 16 + i % 16;
    let pairs = nf.div_ceil(2);
    let (blocks, lambda, steps, iteration) = (2usize, 10.0f64, 5u32, 17u32);
    let lanes = blocks * 16;
    let mut lcg = common::Lcg(21);
    let mut r = move || lcg.next();
    let field = |f: &mut dyn FnMut(usize, usize) -> f64| -> Vec<f32> {
        let mut v = vec![0f32; blocks * fld];
        for i in 0..lanes {
            for k in 0..nf {
                v[at(i, k)] = f(i, k) as f32;
            }
        }
        v
    };
    let inv_mass = field(&mut |_, _| 0.002 + 0.01 * r());
    let q = field(&mut |_, k| if k % 4 == 0 { 0.0 } else { 0.3 * (r() - 0.5) });
    let centre = field(&mut |i, k| q[at(i, k)] as f64 + 0.02 * (r() - 0.5));
    let model_grad = field(&mut |_, _| 10.0 * (r() - 0.5));
    let sqrt_mass: Vec<f32> = inv_mass
        .iter()
        .map(|&v| if v > 0.0 { (1.0 / v).sqrt() } else { 0.0 })
        .collect();
    // A Hessian near the inverse posterior variances, with small couplings (scaled by 29/nf,
    // so each row's couplings sum to what they do at the paper's width: the same conditioning).
    let mut hess = vec![0f32; blocks * nf * nf * 16];
    for i in 0..lanes {
        for a in 0..nf {
            for b in 0..=a {
                let v = if a == b {
                    0.8 / inv_mass[at(i, a)] as f64
                } else {
                    3.0 * (r() - 0.5) * 29.0 / nf as f64
                };
                hess[(i / 16) * nf * nf * 16 + (a * nf + b) * 16 + i % 16] = v as f32;
                hess[(i / 16) * nf * nf * 16 + (b * nf + a) * 16 + i % 16] = v as f32;
            }
        }
    }
    let eps: Vec<f32> = (0..lanes).map(|_| (0.3 + 0.4 * r()) as f32).collect();
    let keys: Vec<u32> = (0..2 * lanes).map(|i| 1000 + 7 * i as u32).collect();
    let live: Vec<u32> = (0..lanes).map(|i| (i % 9 != 4) as u32).collect();
    let f = |v: &[f32]| (client.create_from_slice(f32::as_bytes(v)), v.len());
    let u32s = |v: &[u32]| (client.create_from_slice(u32::as_bytes(v)), v.len());
    let arg = |h: &(Handle, usize)| unsafe { BufferArg::from_raw_parts(h.0.clone(), h.1) };
    let read =
        |h: &(Handle, usize)| f32::from_bytes(&client.read_one_unchecked(h.0.clone())).to_vec();
    let (qn, dk, accept_u) = (
        f(&vec![0.0; blocks * fld]),
        f(&vec![0.0; lanes]),
        f(&vec![0.0; lanes]),
    );
    let dv = f(&vec![0.0; lanes]);
    let (q_h, live_h) = (f(&q), u32s(&live));
    let count = CubeCount::Static(1, 1, 1);
    let dim = CubeDim::new_1d(64);
    hmc_propose::launch(
        client,
        count.clone(),
        dim,
        arg(&q_h),
        arg(&f(&sqrt_mass)),
        arg(&f(&inv_mass)),
        arg(&f(&eps)),
        arg(&f(&centre)),
        arg(&f(&model_grad)),
        arg(&f(&hess)),
        arg(&u32s(&keys)),
        arg(&live_h),
        arg(&qn),
        arg(&dk),
        arg(&dv),
        arg(&accept_u),
        lambda as f32,
        steps,
        iteration,
        nf,
        width.kpad,
    );
    let (qn_d, dk_d, au_d) = (read(&qn), read(&dk), read(&accept_u));
    let dv_d = read(&dv);

    // The host reference, in f64, with the event-by-event prior flow.
    let (mut worst_q, mut worst_k) = (0f64, 0f64);
    let mut crossings = 0;
    for i in (0..lanes).filter(|&i| live[i] != 0) {
        let u = uniforms_host(keys[2 * i], keys[2 * i + 1], iteration, nf);
        let mut p = vec![0f64; 2 * pairs];
        for j in 0..pairs {
            let radius = (-2.0 * (1.0 - u[2 * j] as f64).ln()).sqrt();
            let angle = std::f64::consts::TAU * u[2 * j + 1] as f64;
            p[2 * j] = radius * angle.cos();
            if 2 * j + 1 < nf {
                p[2 * j + 1] = radius * angle.sin();
            }
        }
        let g = |x: &[f64]| -> Vec<f64> {
            (0..nf)
                .map(|k| {
                    model_grad[at(i, k)] as f64
                        + (0..nf)
                            .map(|j| {
                                hess[(i / 16) * nf * nf * 16 + (k * nf + j) * 16 + i % 16] as f64
                                    * (x[j] - centre[at(i, j)] as f64)
                            })
                            .sum::<f64>()
                })
                .collect()
        };
        let im = |k: usize| inv_mass[at(i, k)] as f64;
        let mut x: Vec<f64> = (0..nf).map(|k| q[at(i, k)] as f64).collect();
        let mut k0 = 0.0;
        for k in 0..nf {
            p[k] *= sqrt_mass[at(i, k)] as f64;
            k0 += p[k] * p[k] * im(k);
        }
        let step = eps[i] as f64 * (1.0 + STEP_JITTER as f64 * (2.0 * u[2 * pairs] as f64 - 1.0));
        let mut grad = g(&x);
        let (x0, g0) = (x.clone(), grad.clone());
        for _ in 0..steps {
            for k in 0..nf {
                p[k] -= 0.5 * step * grad[k];
            }
            for k in 0..nf {
                let before = x[k];
                laplace_flow(&mut x[k], &mut p[k], im(k), lambda, step);
                crossings += (before * x[k] < 0.0 || (before == 0.0) != (x[k] == 0.0)) as usize;
            }
            grad = g(&x);
            for k in 0..nf {
                p[k] -= 0.5 * step * grad[k];
            }
        }
        let k1: f64 = (0..nf).map(|k| p[k] * p[k] * im(k)).sum();
        for k in 0..nf {
            worst_q = worst_q.max((qn_d[at(i, k)] as f64 - x[k]).abs());
        }
        worst_k = worst_k.max((dk_d[i] as f64 - 0.5 * (k1 - k0)).abs() / (1.0 + k0));
        // The model potential's change: the trapezoid of the model gradients, plus the prior's.
        let change: f64 = (0..nf)
            .map(|k| 0.5 * (g0[k] + grad[k]) * (x[k] - x0[k]) + lambda * (x[k].abs() - x0[k].abs()))
            .sum();
        worst_k = worst_k.max((dv_d[i] as f64 - change).abs() / (1.0 + k0));
        assert_eq!(
            au_d[i],
            u[2 * pairs + 1],
            "lane {i}: the accept uniform follows the jitter's"
        );
    }
    println!(
        "hmc_propose ({nf} features) vs host: max |Δq| {worst_q:.2e}, max |Δ kinetic or model energy| / K {worst_k:.2e}, {crossings} kink crossings"
    );
    assert!(crossings > 0, "the trajectories cross the prior's kink");
    assert!(worst_q < 1e-4 && worst_k < 1e-4, "{worst_q:e} {worst_k:e}");

    // Accept: losses around the current potentials, so some proposals pass and some do not.
    let u0: Vec<f32> = (0..lanes).map(|_| (200.0 + 50.0 * r()) as f32).collect();
    let mut grad = vec![0f32; blocks * fld];
    for i in 0..lanes {
        let l1: f64 = (0..nf).map(|k| (qn_d[at(i, k)] as f64).abs()).sum();
        grad[(i / 16) * fld + nf * 16 + i % 16] =
            (u0[i] as f64 - lambda * l1 - dk_d[i] as f64 + 2.0 * (r() - 0.5)) as f32;
        for k in 0..nf {
            grad[at(i, k)] = (r() - 0.5) as f32;
        }
    }
    let (u_h, grad_u_h) = (f(&u0), f(&vec![0.0; blocks * fld]));
    let (acc_h, div_h) = (f(&vec![0.0; lanes]), u32s(&vec![0; lanes]));
    let (draws_h, scores_h) = (f(&vec![0.0; blocks * fld]), f(&vec![0.0; blocks * fld]));
    hmc_accept::launch(
        client,
        count,
        dim,
        arg(&q_h),
        arg(&u_h),
        arg(&grad_u_h),
        arg(&qn),
        arg(&f(&grad)),
        arg(&dk),
        arg(&accept_u),
        arg(&live_h),
        arg(&acc_h),
        arg(&div_h),
        arg(&draws_h),
        arg(&scores_h),
        lambda as f32,
        0,
        1,
        nf,
        width.kpad,
    );
    let (q1, u1, acc, draws, scores) = (
        read(&q_h),
        read(&u_h),
        read(&acc_h),
        read(&draws_h),
        read(&scores_h),
    );
    let (mut accepted, mut rejected) = (0, 0);
    for i in 0..lanes {
        if live[i] == 0 {
            assert_eq!(acc[i], 0.0);
            continue;
        }
        let l1: f64 = (0..nf).map(|k| (qn_d[at(i, k)] as f64).abs()).sum();
        let un = grad[(i / 16) * fld + nf * 16 + i % 16] as f64 + lambda * l1;
        let delta = un - u0[i] as f64 + dk_d[i] as f64;
        let alpha = (-delta).exp().min(1.0);
        assert!(
            (acc[i] as f64 - alpha).abs() < 1e-3,
            "lane {i}: {} vs {alpha}",
            acc[i]
        );
        // Decisions within round-off of the threshold may go either way.
        if (au_d[i] as f64 - alpha).abs() < 1e-3 {
            continue;
        }
        let takes = (au_d[i] as f64) < alpha;
        let expect = |k: usize| if takes { qn_d[at(i, k)] } else { q[at(i, k)] };
        for k in 0..nf {
            assert_eq!(q1[at(i, k)], expect(k), "lane {i}");
            assert_eq!(
                draws[at(i, k)],
                expect(k),
                "lane {i}: the draw is the state"
            );
            let sign = (expect(k) > 0.0) as i32 - (expect(k) < 0.0) as i32;
            let g = if takes { grad[at(i, k)] } else { 0.0 };
            assert!((scores[at(i, k)] + g + lambda as f32 * sign as f32).abs() < 1e-5);
        }
        if takes {
            assert!((u1[i] as f64 - un).abs() < 1e-3);
            accepted += 1;
        } else {
            assert_eq!(u1[i], u0[i]);
            rejected += 1;
        }
    }
    println!(
        "hmc_accept ({nf} features): {accepted} accepted, {rejected} rejected, as the host decides"
    );
    assert!(accepted > 0 && rejected > 0);
}
