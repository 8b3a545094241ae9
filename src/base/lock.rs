//! One writer per output directory: a run holds `OUT/.prefdissect.lock` (its pid) while it
//! writes, so a second run into the same OUT stops at once instead of interleaving its files
//! with the first's. A lock whose process is gone (a run killed with SIGKILL, a node lost) is
//! stale and taken over, with a warning.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::base::error::{Error, Result};

/// The lock file's name inside an output directory.
pub const LOCK_FILE: &str = ".prefdissect.lock";

/// A held lock; dropping it removes the file.
#[derive(Debug)]
pub struct OutLock {
    path: PathBuf,
    /// Set when a stale lock was taken over: what to tell the user.
    pub warning: Option<String>,
}

/// Whether process `pid` exists (Linux: `/proc/<pid>`; elsewhere assumed alive, so a lock is
/// never taken from a live run).
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

impl OutLock {
    /// Creates `out` if needed and takes its lock, or says which process holds it.
    pub fn acquire(out: &Path) -> Result<OutLock> {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let path = out.join(LOCK_FILE);
        let mut warning = None;
        // Two tries: the second after a stale lock was removed.
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id()).map_err(|e| Error::io(&path, e))?;
                    return Ok(OutLock { path, warning });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    match text.trim().parse::<u32>() {
                        Ok(pid) if alive(pid) => {
                            return Err(Error::Setting {
                                name: "out",
                                message: format!(
                                    "{} is being written by process {pid} (its lock: {}); \
                                     wait for it, or choose another --out",
                                    out.display(),
                                    path.display()
                                ),
                            });
                        }
                        holder => {
                            let who = match holder {
                                Ok(pid) => format!("process {pid}, which is gone"),
                                Err(_) => "an unreadable lock".to_string(),
                            };
                            warning = Some(format!(
                                "took over {} from {who} (a run that was killed?)",
                                path.display()
                            ));
                            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                        }
                    }
                }
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Err(Error::Setting {
            name: "out",
            message: format!("{}: another run took the lock first", path.display()),
        })
    }
}

impl Drop for OutLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_and_a_stale_lock_is_taken_over() {
        let out = std::env::temp_dir().join(format!("prefdissect-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let first = OutLock::acquire(&out).unwrap();
        assert!(first.warning.is_none());
        let err = OutLock::acquire(&out).unwrap_err().to_string();
        assert!(
            err.contains(&format!("process {}", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(!out.join(LOCK_FILE).exists());
        // A lock left by a process that no longer exists (pids wrap below 2^22 on Linux).
        std::fs::write(out.join(LOCK_FILE), "4294967\n").unwrap();
        let taken = OutLock::acquire(&out).unwrap();
        assert!(
            taken.warning.as_deref().unwrap().contains("4294967"),
            "{taken:?}"
        );
        drop(taken);
        std::fs::remove_dir_all(&out).unwrap();
    }
}
