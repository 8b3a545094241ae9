//! `resolved.jsonl`: the authors' per-pair property comparisons.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = prefdissect_fuzz::put("resolved.jsonl", data);
    if let Ok(a) = prefdissect::load::read_resolved(&path) {
        assert_eq!(a.values.nrows(), a.n_samples());
    }
});
