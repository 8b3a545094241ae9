//! `labels --logprobs` input: a judge's A/B token log-probabilities, then the labelling rule.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = prefdissect_fuzz::put("logprobs.jsonl", data);
    if let Ok(records) = prefdissect::cli::labels::read_logprobs(&path) {
        for pair in records.windows(2) {
            let _ = prefdissect::cli::labels::label(pair[0], pair[1]);
        }
    }
});
