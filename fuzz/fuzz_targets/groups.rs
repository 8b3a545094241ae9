//! `query_aware_idxs.json`: the groups and their sample indices (first byte: the sample count).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((n, rest)) = prefdissect_fuzz::count_and_rest(data) else {
        return;
    };
    let path = prefdissect_fuzz::put("query_aware_idxs.json", rest);
    if let Ok(groups) = prefdissect::load::read_groups(&path, n) {
        for g in &groups {
            assert!(
                g.samples.iter().all(|&s| s < n),
                "an index out of range was accepted"
            );
        }
    }
});
