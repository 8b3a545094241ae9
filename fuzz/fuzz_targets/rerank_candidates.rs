//! A reranker's candidates file (`prompt`, `responses` per line).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = prefdissect_fuzz::put("candidates.jsonl", data);
    if let Ok(c) = prefdissect::rerank::io::read_candidates(&path) {
        assert!(c.iter().all(|c| !c.responses.is_empty()));
    }
});
