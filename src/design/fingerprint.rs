//! The fingerprint of a job: resuming an interrupted `fit` or `bootstrap` needs the same data
//! and settings, and this is what their checkpoints carry to prove it.

use serde_json::Value;

use super::GroupDesign;
use crate::base::fingerprint::fnv;
use crate::load::Dataset;

/// A hash of the data as the job sees it (groups, their rows, every judge's labels) and of
/// every setting that changes a result: what a checkpoint must match to be resumed.
pub fn job_fingerprint(data: &Dataset, groups: &[GroupDesign], settings: &Value) -> String {
    let mut h = fnv(0xcbf2_9ce4_8422_2325, settings.to_string().as_bytes());
    for g in groups {
        h = fnv(h, g.name.as_bytes());
        for &s in &g.samples {
            h = fnv(h, &(s as u64).to_le_bytes());
        }
        for &v in &g.x {
            // Signs hash as one byte each (the fingerprints of earlier checkpoints stay valid);
            // a real value hashes its bits behind a marker no sign byte takes.
            h = match v {
                -1.0 | 0.0 | 1.0 => fnv(h, &[v as i8 as u8]),
                _ => fnv(fnv(h, &[0x80]), &v.to_bits().to_le_bytes()),
            };
        }
    }
    // A property set other than 29 wide hashes its names too (a zero column is otherwise
    // invisible in X); the paper's width keeps the fingerprints of earlier checkpoints.
    let names = &data.annotations.names;
    if names.len() != crate::base::features::PAPER_K {
        for n in names {
            h = fnv(fnv(h, b"property"), n.as_bytes());
        }
    }
    for j in &data.judges {
        h = fnv(h, j.name.as_bytes());
        let bits: Vec<u8> = j.prefers_a.iter().map(|&a| a as u8).collect();
        h = fnv(h, &bits);
        if let Some(labelled) = &j.labelled {
            let bits: Vec<u8> = labelled.iter().map(|&a| a as u8).collect();
            h = fnv(fnv(h, b"labelled"), &bits);
        }
    }
    format!("{h:016x}")
}
