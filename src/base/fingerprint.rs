//! Fingerprints of data and settings (FNV-1a, 64-bit): a checkpoint or a cache carries the
//! fingerprint of what made it, so a resumed run never mixes the outputs of two different jobs.

/// FNV-1a over bytes, continuing from `h` (fingerprints of data and settings).
pub fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
