//! Which vector instructions the hand-vectorised loops may use, decided once per process.
//!
//! The sampler's lanes come in blocks of 16, one AVX-512 register of f32 (two of AVX2), so the
//! kernels and the sampler's own per-lane loops have AVX-512 variants beside the AVX2 ones.
//! Every variant performs the same IEEE operations in the same order (no reassociation, the
//! same fused multiply-adds), so all of them give the same bits; the tests hold them to each
//! other. `PREFDISSECT_SIMD=avx2` (or `portable`) caps the level, for benchmarks of one against
//! the other and for those tests.

use std::sync::OnceLock;

/// The widest instruction set the CPU has and the environment allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Plain Rust, whatever the compiler makes of it.
    Portable,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512 (F, DQ, VL, BW) with FMA.
    Avx512,
}

impl Level {
    /// The name reports use (`avx512`, `avx2+fma`, `portable`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2 => "avx2+fma",
            Level::Avx512 => "avx512",
        }
    }
}

/// The level of this process (cached).
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| detected().min(cap()))
}

/// What the CPU supports.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") {
            if has!("avx512f") && has!("avx512dq") && has!("avx512vl") && has!("avx512bw") {
                return Level::Avx512;
            }
            return Level::Avx2;
        }
    }
    Level::Portable
}

/// The cap `PREFDISSECT_SIMD` sets (none when unset or not understood).
fn cap() -> Level {
    match std::env::var("PREFDISSECT_SIMD").as_deref() {
        Ok("portable") => Level::Portable,
        Ok("avx2") => Level::Avx2,
        _ => Level::Avx512,
    }
}
