//! The machine's measured SGEMM rate: the yardstick every GFLOP/s figure is reported against
//! (a fraction of this peak, measured in the same process).

use std::time::Instant;

use ndarray::Array2;

use crate::base::stats::median;

/// SGEMM rate of this machine (ndarray → matrixmultiply, all cores), GFLOP/s, median of 5.
pub fn sgemm_gflops(n: usize) -> f64 {
    let a = Array2::<f32>::from_shape_fn((n, n), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.1);
    let b = Array2::<f32>::from_shape_fn((n, n), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.1);
    let _ = a.dot(&b);
    let times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let c = a.dot(&b);
            std::hint::black_box(c[[0, 0]]);
            t.elapsed().as_secs_f64()
        })
        .collect();
    2.0 * (n as f64).powi(3) / median(times) / 1e9
}
