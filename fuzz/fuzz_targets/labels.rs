//! `labels/<judge>.json`: one judge's verdicts (first byte: the sample count).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((n, rest)) = prefdissect_fuzz::count_and_rest(data) else {
        return;
    };
    let path = prefdissect_fuzz::put("labels/judge.json", rest);
    let dir = path.parent().expect("labels dir");
    if let Ok(j) = prefdissect::load::read_labels(dir, "judge", n) {
        assert_eq!(j.prefers_a.len(), n);
    }
});
