//! A posterior fit's checkpoint block (a disk fault, a hand edit), read by `fit --resume` under
//! a matching manifest.
#![no_main]
use libfuzzer_sys::fuzz_target;
use prefdissect::report::checkpoint::FitCheckpoint;

fuzz_target!(|data: &[u8]| {
    let out = prefdissect_fuzz::scratch().join("fit-out");
    let dir = out.join(prefdissect::report::checkpoint::FIT_CHECKPOINT_DIR);
    std::fs::create_dir_all(&dir).expect("checkpoint dir");
    std::fs::write(dir.join("manifest.json"), br#"{"fingerprint":"f"}"#).expect("write");
    std::fs::write(dir.join("block-0.json"), data).expect("write");
    let _ = FitCheckpoint::open(&out, "f", "cpu", true, false);
});
