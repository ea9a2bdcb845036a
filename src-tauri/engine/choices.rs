//! What the user chose about downloading: which files of a task (`task.setFiles`, on librqbit's
//! `update_only_files`, which librqbit persists) and the session's global rate limits
//! (`session.setLimits`, on librqbit's session limits; the API layer persists them in the
//! settings).

use std::num::NonZeroU32;

use super::Engine;

impl Engine {
    /// Sets the session's global limits in bytes per second (`None` or 0: unlimited).
    pub fn set_limits(&self, download_bps: Option<u32>, upload_bps: Option<u32>) {
        let limits = &self.inner.session.ratelimits;
        limits.set_download_bps(download_bps.and_then(NonZeroU32::new));
        limits.set_upload_bps(upload_bps.and_then(NonZeroU32::new));
    }

    /// The session's global limits (`None`: unlimited).
    pub fn limits(&self) -> (Option<u32>, Option<u32>) {
        let limits = &self.inner.session.ratelimits;
        (
            limits.get_download_bps().map(NonZeroU32::get),
            limits.get_upload_bps().map(NonZeroU32::get),
        )
    }
}
