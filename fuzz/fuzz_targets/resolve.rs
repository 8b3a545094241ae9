//! `resolve` input: the source pairs and the five annotation files, given as one input split
//! at the byte 0x1E (source first, then the files in `ANNOTATION_FILES` order).
#![no_main]
use libfuzzer_sys::fuzz_target;
use prefdissect::load::resolve::{ANNOTATION_FILES, resolve};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0x1E);
    let source = prefdissect_fuzz::put("resolve/source.jsonl", parts.next().unwrap_or(&[]));
    for f in ANNOTATION_FILES {
        prefdissect_fuzz::put(&format!("resolve/ann/{f}"), parts.next().unwrap_or(&[]));
    }
    let dir = prefdissect_fuzz::scratch().join("resolve/ann");
    if let Ok(r) = resolve(&source, &dir) {
        for g in r.groups.values() {
            let n = r.records.len() as u64;
            assert!(
                g.as_array()
                    .unwrap()
                    .iter()
                    .all(|i| i.as_u64().unwrap() < n)
            );
        }
    }
});
