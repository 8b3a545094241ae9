//! The pairs table as csv: read, then the batched design the fits are built from.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = prefdissect_fuzz::put("pairs.csv", data);
    prefdissect_fuzz::table_then_design(&path);
});
