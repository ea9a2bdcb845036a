//! What the user chose about downloading: which files of a task (`task.setFiles`, on librqbit's
//! `update_only_files`, which librqbit persists) and the session's global rate limits
//! (`session.setLimits`, on librqbit's session limits; the API layer persists them in the
//! settings).

use super::Engine;

impl Engine {
    /// Sets the session's global limits in bytes per second (`None` or 0: unlimited).
    pub fn set_limits(&self, download_bps: Option<u32>, upload_bps: Option<u32>) {
        self.inner.librqbit.set_limits(download_bps, upload_bps);
    }

    /// The session's global limits (`None`: unlimited).
    pub fn limits(&self) -> (Option<u32>, Option<u32>) {
        self.inner.librqbit.limits()
    }
}
