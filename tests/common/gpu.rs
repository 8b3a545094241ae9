//! Helpers of the wgpu tests: the adapter (or why there is none), one judge's data, random
//! weight fields.

use std::path::{Path, PathBuf};

use prefdissect::base::device::{WgpuAdapter, wgpu_adapter};
use prefdissect::load::{Dataset, Selection};
use prefdissect::solve::backend::reference::TensorOpsBackend;

pub fn adapter() -> Option<&'static WgpuAdapter> {
    match wgpu_adapter() {
        Ok(a) => {
            println!("wgpu adapter: {}", a.name);
            Some(a)
        }
        Err(why) => {
            println!("skipped: {why}");
            None
        }
    }
}

pub fn wgpu_backend(a: &WgpuAdapter) -> TensorOpsBackend {
    TensorOpsBackend {
        device: a.device.clone(),
        label: format!("wgpu: {}", a.name),
    }
}

/// The dev data when `../shared` is there, else a simulated data set; one judge.
pub fn one_judge(name: &str) -> (PathBuf, Dataset) {
    let dev = Path::new("../shared/data/dev");
    let dir = if dev.join("resolved.jsonl").exists() {
        dev.to_path_buf()
    } else {
        let d = super::temp_dir(name);
        prefdissect::simulate::write_simulated(&prefdissect::simulate::simulate(2), &d, 2).unwrap();
        d
    };
    let data = Dataset::load(
        &dir,
        &Selection {
            judges: Some(vec!["human".into()]),
            groups: None,
        },
    )
    .unwrap();
    (dir, data)
}

/// `blocks` weight fields (32 × 16 each, lane-fastest) of uniform(−0.5, 0.5) weights, zero in
/// the 3 padding features.
pub fn random_weights(lcg: &mut super::Lcg, blocks: usize) -> Vec<f32> {
    (0..blocks * 512)
        .map(|i| {
            if (i % 512) / 16 < 29 {
                (lcg.next() - 0.5) as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// A device buffer's handle.
pub type Handle = cubecl_runtime::server::Handle;

/// Floats in one block's field (`32 × 16`, lane-fastest).
pub const FIELD: usize = 512;

/// Lane i's entry of feature k in a `blocks × 32 × 16` field.
pub fn at(i: usize, k: usize) -> usize {
    (i / 16) * FIELD + k * 16 + i % 16
}

/// A pairs table of `k` properties (all signs, or the last one real-valued), two groups, one
/// judge: a design wider than the paper's 29 for the wide kernels.
pub fn wide_data(k: usize, real_valued: bool) -> prefdissect::load::Dataset {
    let mut rng = super::Lcg(31 + k as u64);
    let mut text = String::from("groups");
    for j in 0..k {
        text.push_str(&format!(",property:p{j}"));
    }
    text.push_str(",label:ann\n");
    for r in 0..400 {
        text.push_str(if r % 2 == 0 { "east" } else { "east;west" });
        for j in 0..k {
            let u = rng.next();
            let v = if real_valued && j == k - 1 {
                format!("{:.3}", u * 2.0 - 1.0)
            } else if u < 0.3 {
                "-1".into()
            } else if u < 0.6 {
                "0".into()
            } else {
                "1".into()
            };
            text.push_str(&format!(",{v}"));
        }
        text.push_str(if rng.next() < 0.5 { ",A\n" } else { ",B\n" });
    }
    let path = super::temp_dir(&format!("wgpu-wide-{k}-{real_valued}")).join("pairs.csv");
    std::fs::write(&path, text).unwrap();
    prefdissect::load::Dataset::load(&path, &prefdissect::load::Selection::default()).unwrap()
}
