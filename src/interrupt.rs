//! Ctrl-C and termination while a report is being written: the temporary output file is
//! removed and one line says why, so an interrupted run leaves nothing behind.
//!
//! The handler only calls async-signal-safe functions (`unlink`, `write`, `_exit`) on a path
//! prepared before the file was created.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The temporary file to remove on a signal (a leaked `CString`), or null.
static PENDING: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());

const MESSAGE: &[u8] = b"memform: interrupted; no report was written\n";

extern "C" fn on_signal(signal: libc::c_int) {
    let path = PENDING.swap(std::ptr::null_mut(), Ordering::SeqCst);
    // SAFETY: unlink, write and _exit are async-signal-safe; `path` is a valid C string
    // leaked by `guard` and never freed while registered.
    unsafe {
        if !path.is_null() {
            libc::unlink(path);
        }
        libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
        libc::_exit(128 + signal);
    }
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP (once per process).
pub fn install() {
    // SAFETY: `on_signal` is a plain extern "C" function that only makes async-signal-safe
    // calls.
    unsafe {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::signal(signal, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// While the returned guard lives, a signal removes `path`.
pub fn guard(path: &Path) -> Guard {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap_or_default();
    let old = PENDING.swap(c.into_raw(), Ordering::SeqCst);
    free(old);
    Guard
}

/// Unregisters the pending file when dropped.
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        free(PENDING.swap(std::ptr::null_mut(), Ordering::SeqCst));
    }
}

fn free(ptr: *mut libc::c_char) {
    if !ptr.is_null() {
        // SAFETY: every non-null pointer stored in PENDING came from `CString::into_raw`.
        drop(unsafe { CString::from_raw(ptr) });
    }
}
