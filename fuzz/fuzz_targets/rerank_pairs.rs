//! A reranker's DPO pairs file (`prompt`, `chosen`, `rejected` per line).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = prefdissect_fuzz::put("pairs.jsonl", data);
    let mut table = prefdissect::rerank::io::TextTable::default();
    if let Ok(pairs) = prefdissect::rerank::io::read_pairs(&path, &mut table) {
        let n = table.as_refs().len() as u32;
        assert!(pairs.iter().all(|&(a, b)| a < n && b < n));
    }
});
