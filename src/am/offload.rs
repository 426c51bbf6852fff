//! Running a build's parallel work off the backend's thread.
//!
//! The work runs on a helper thread that blocks all signals (the rayon
//! threads it starts inherit the mask), so Postgres's signal handlers only
//! ever run on the backend's own thread. That thread meanwhile polls for a
//! cancel, turning it into the work's stop flag, and reports the work's
//! progress counter in `pg_stat_progress_create_index`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use pgrx::{pg_sys, PgSqlErrorCode};

use crate::fmgr::raise_code;

/// What the work sees: a stop flag to honour and a counter to advance.
pub struct Signals {
    /// Set when the query is cancelled; the work should stop soon.
    pub stop: AtomicBool,
    /// Reported as `tuples_done`.
    pub done: AtomicUsize,
}

/// Runs `work` off the backend's thread until it returns; ERRORs if the
/// work's thread panicked. `what` names the work in that message.
pub fn offload<T: Send>(what: &str, work: impl FnOnce(&Signals) -> T + Send) -> T {
    let signals = Signals { stop: AtomicBool::new(false), done: AtomicUsize::new(0) };
    let result = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            crate::embed::block_all_signals();
            work(&signals)
        });
        while !worker.is_finished() {
            std::thread::sleep(Duration::from_millis(20));
            if cancel_requested() {
                signals.stop.store(true, Ordering::Relaxed);
            }
            report_done(signals.done.load(Ordering::Relaxed));
        }
        worker.join()
    });
    pgrx::check_for_interrupts!();
    result.unwrap_or_else(|_| raise_code(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("{what} thread panicked")))
}

/// Whether a cancel or termination is pending. Not `InterruptPending`
/// alone: harmless interrupts (e.g. the idle statistics timer) set it too.
fn cancel_requested() -> bool {
    // SAFETY: flags set by the signal handlers; read volatile, never written here.
    unsafe {
        std::ptr::read_volatile(std::ptr::addr_of!(pg_sys::QueryCancelPending)) != 0
            || std::ptr::read_volatile(std::ptr::addr_of!(pg_sys::ProcDiePending)) != 0
    }
}

/// Sets `tuples_done` of the current CREATE INDEX (a no-op outside one).
pub fn report_done(done: usize) {
    report(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, done as i64);
}

/// Sets a `pg_stat_progress_create_index` parameter.
pub fn report(param: u32, value: i64) {
    // SAFETY: progress reporting is a no-op outside a command that started it.
    unsafe { pg_sys::pgstat_progress_update_param(param as i32, value) }
}
