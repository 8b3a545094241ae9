//! The bootstrap checkpoint's manifest (a disk fault, a hand edit), read and checked against a
//! run of `r_total` replicates (first byte) as `bootstrap --resume` does.
#![no_main]
use libfuzzer_sys::fuzz_target;
use prefdissect::bootstrap::checkpoint::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let Some((r_total, rest)) = prefdissect_fuzz::count_and_rest(data) else {
        return;
    };
    let out = prefdissect_fuzz::scratch().join("bootstrap-out");
    let ck = Checkpoint::new(&out);
    std::fs::create_dir_all(ck.dir()).expect("checkpoint dir");
    std::fs::write(ck.dir().join("manifest.json"), rest).expect("write");
    if let Ok(Some(m)) = ck.read_manifest() {
        let _ = m.check(ck.dir(), r_total.max(1));
    }
});
