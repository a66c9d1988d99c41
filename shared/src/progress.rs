//! Progress reporting hooks, so long operations can drive a progress bar
//! without the core crate knowing about terminals.

/// Receives progress of a long operation, counted in bytes.
pub trait Progress: Sync {
    /// Called once with the total number of bytes the operation will process.
    fn start(&self, total_bytes: u64);
    /// Called as bytes are processed (from any thread).
    fn advance(&self, bytes: u64);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _total_bytes: u64) {}
    fn advance(&self, _bytes: u64) {}
}
