//! Small helpers shared by the xtask commands.

use std::cell::Cell;
use std::fs::{self, File, TryLockError};
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ has a parent")
        .to_path_buf()
}

/// A `cargo` command: the cargo that runs `cargo xtask` (`$CARGO`), else the one on `PATH`.
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Runs a command, failing with its command line when it exits non-zero.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Runs a command and returns its standard output.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

thread_local! {
    /// How many [`BuildLock`]s this thread holds (the lock is re-entrant per thread).
    static HELD: Cell<u32> = const { Cell::new(0) };
}

/// The lock of what the Xen commands build in `target/` (the hypervisor object, the Xen
/// trees, the dom0 initramfs): held while they are built or copied out, so that two xtask
/// commands, or two boots of one, never see another's half-written file. A boot boots
/// private copies ([`crate::xen::boot_xen`]), so it holds the lock only while it makes them.
/// Re-entrant within a thread; other threads and processes wait (an advisory `flock` on
/// `target/xen/.build-lock`, released when the process ends, however it ends).
pub struct BuildLock {
    _file: Option<File>,
}

impl BuildLock {
    /// Takes the lock, waiting for its holder if another thread or process has it.
    pub fn take() -> Result<BuildLock> {
        if HELD.get() > 0 {
            HELD.set(HELD.get() + 1);
            return Ok(BuildLock { _file: None });
        }
        let dir = root().join("target").join("xen");
        fs::create_dir_all(&dir)?;
        let path = dir.join(".build-lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                println!("waiting for another build in target/ ({})", path.display());
                file.lock()
                    .with_context(|| format!("locking {}", path.display()))?;
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
        HELD.set(1);
        Ok(BuildLock { _file: Some(file) })
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        // (The outermost guard's file closes after this, which releases the lock.)
        HELD.set(HELD.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    /// The lock is re-entrant within a thread and excludes other threads: a thread that
    /// asks for it while another holds it gets it only after the holder let it go.
    #[test]
    fn build_lock_is_reentrant_and_exclusive() {
        let released = Arc::new(AtomicBool::new(false));
        let (held, wait_held) = mpsc::channel();
        let r = released.clone();
        let holder = std::thread::spawn(move || {
            let outer = BuildLock::take().unwrap();
            let inner = BuildLock::take().unwrap();
            held.send(()).unwrap();
            // (Time for the other thread to ask while this one holds it.)
            std::thread::sleep(Duration::from_millis(300));
            drop(inner);
            std::thread::sleep(Duration::from_millis(100));
            r.store(true, Ordering::SeqCst);
            drop(outer);
        });
        wait_held.recv().unwrap();
        let _mine = BuildLock::take().unwrap();
        assert!(
            released.load(Ordering::SeqCst),
            "got the lock while another thread held it"
        );
        holder.join().unwrap();
    }
}
