//! The checkpoint that lets an interrupted bootstrap continue: finished chunks of replicates
//! as raw little-endian f32 files plus a manifest, each written atomically (chunk file first,
//! then the manifest that counts it), so a kill at any moment leaves a consistent state.
//!
//! Resuming needs the same data and settings: the manifest carries a fingerprint of both and a
//! mismatch is an error, never a silent mix of two runs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::atomic::write_atomic;
use crate::base::error::{Error, Result};

/// Directory (inside OUT) holding the checkpoint.
pub const CHECKPOINT_DIR: &str = ".bootstrap-checkpoint";

/// What a finished chunk reported.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// The chunk's number (replicates `index · chunk_replicates …`); absent in a manifest of
    /// an older run, whose chunks are in order from 0.
    #[serde(default)]
    pub index: Option<usize>,
    /// Replicates in the chunk.
    pub replicates: usize,
    /// Fits in doubt (see [`super::engine::VectorFits::flagged`]).
    pub flagged: usize,
    /// Useful GFLOP of the kernel.
    pub kernel_gflop: f64,
    /// Wall seconds spent on the chunk.
    pub seconds: f64,
}

/// The manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Hash of the data and every setting that changes a replicate.
    pub fingerprint: String,
    /// Replicates per chunk (kept from the first run, so a resume cuts the same chunks).
    pub chunk_replicates: usize,
    /// Finished chunks, in order.
    pub chunks: Vec<ChunkRecord>,
}

impl Manifest {
    /// Checks the manifest against a run of `r_total` replicates (a checkpoint whose
    /// fingerprint matches can still be damaged or hand-edited): the chunk size is in
    /// `1..=r_total`, and each chunk is in range, held once, and of its full size (the last one
    /// may be short). `dir` names the checkpoint in the message.
    pub fn check(&self, dir: &Path, r_total: usize) -> Result<()> {
        let bad = |message: String| Error::Checkpoint {
            path: dir.to_owned(),
            message: format!("{message}; delete the checkpoint or run without --resume"),
        };
        let size = self.chunk_replicates;
        if size == 0 || size > r_total {
            return Err(bad(format!(
                "its chunks of {size} replicates do not fit this run's {r_total}"
            )));
        }
        let n_chunks = r_total.div_ceil(size);
        let mut held = vec![false; n_chunks];
        for (pos, rec) in self.chunks.iter().enumerate() {
            let i = rec.index.unwrap_or(pos);
            if i >= n_chunks || held[i] {
                return Err(bad(format!(
                    "chunk {i} does not fit this run's {n_chunks} chunks (or is held twice)"
                )));
            }
            held[i] = true;
            let want = size.min(r_total - i * size);
            if rec.replicates != want {
                return Err(bad(format!(
                    "chunk {i} holds {} replicates, expected {want}",
                    rec.replicates
                )));
            }
        }
        Ok(())
    }
}

/// A checkpoint directory.
pub struct Checkpoint {
    dir: PathBuf,
}

impl Checkpoint {
    /// The checkpoint of output directory `out`.
    pub fn new(out: &Path) -> Self {
        Checkpoint {
            dir: out.join(CHECKPOINT_DIR),
        }
    }

    fn manifest_path(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }

    fn chunk_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("chunk-{i:06}.f32"))
    }

    /// The manifest, if a checkpoint exists.
    pub fn read_manifest(&self) -> Result<Option<Manifest>> {
        let path = self.manifest_path();
        if !path.exists() {
            return Ok(None);
        }
        let text = crate::base::text::read_text(&path)?;
        let mut m: Manifest = serde_json::from_str(&text).map_err(|e| Error::Json {
            path,
            line: 0,
            message: e.to_string(),
        })?;
        for (pos, rec) in m.chunks.iter_mut().enumerate() {
            rec.index.get_or_insert(pos);
        }
        Ok(Some(m))
    }

    /// The path of chunk `i`'s file (for `merge`, which gathers shards' chunks).
    pub fn chunk_file(&self, i: usize) -> PathBuf {
        self.chunk_path(i)
    }

    /// Removes any checkpoint (a fresh run, or a finished one).
    pub fn clear(&self) -> Result<()> {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        }
        Ok(())
    }

    /// Writes the manifest.
    pub fn write_manifest(&self, manifest: &Manifest) -> Result<()> {
        let text = serde_json::to_string_pretty(manifest).expect("json") + "\n";
        write_atomic(&self.manifest_path(), text.as_bytes())
    }

    /// Stores chunk `i`'s replicate weights.
    pub fn write_chunk(&self, i: usize, values: &[f32]) -> Result<()> {
        let mut bytes = Vec::with_capacity(values.len() * 4);
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        write_atomic(&self.chunk_path(i), &bytes)
    }

    /// Reads chunk `i` into `out` (whose length says how many values it must hold).
    pub fn read_chunk(&self, i: usize, out: &mut [f32]) -> Result<()> {
        let path = self.chunk_path(i);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        if bytes.len() != out.len() * 4 {
            return Err(Error::Checkpoint {
                path,
                message: format!(
                    "holds {} bytes, expected {}; delete the checkpoint or run without --resume",
                    bytes.len(),
                    out.len() * 4
                ),
            });
        }
        for (v, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(())
    }

    /// The checkpoint's directory (for messages).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
