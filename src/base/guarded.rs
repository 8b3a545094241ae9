//! Running third-party code that may panic on damaged input, as an error instead of a crash.
//!
//! arrow-rs asserts facts of a Parquet file's bytes (a column chunk's range, its definition
//! levels) instead of returning errors; the fuzz target `table_parquet` found two such panics.
//! [`catch_quietly`] catches them on the calling thread and keeps the default hook from
//! printing `thread … panicked at …` for them: the caller reports them as the file's error.
//! Panics elsewhere, on other threads, or outside the call are printed as before.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, returning its panic's message as `Err` instead of unwinding further.
pub fn catch_quietly<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result.map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_the_flag_is_restored() {
        assert_eq!(catch_quietly(|| 7), Ok(7));
        let e = catch_quietly(|| -> u8 { panic!("offset + len out of bounds") });
        assert_eq!(e, Err("offset + len out of bounds".to_string()));
        assert!(!QUIET.with(Cell::get));
    }
}
