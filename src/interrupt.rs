//! Ctrl-C and termination while reports are being written: every pending temporary output
//! file (and folder, once its files are gone) is removed and one line says why, so an
//! interrupted run leaves nothing behind — with one report being written, or with several
//! written at once by a batch.
//!
//! Pending files sit in a fixed table of slots ([`SLOTS`] atomic pointers to leaked C
//! strings). The handler only makes async-signal-safe calls (`unlink`, `rmdir`, `write`, `_exit`)
//! and lock-free atomic operations. A file is created inside [`create_guarded`], with the
//! signals blocked on the creating thread and a count of such creations raised, so that no
//! file exists that the handler does not know of: a handler running on another thread
//! waits until the creations in progress have registered their files, and creations that
//! start after it began do not create anything.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::time::Duration;

/// Temporary files pending at once, at most; a further one waits for a free slot before
/// it is created.
pub const SLOTS: usize = 64;

/// Each slot: null (free), [`reserved`] (taken, no file yet), or a leaked `CString` naming
/// a temporary file.
static PENDING: [AtomicPtr<libc::c_char>; SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];

/// Files being created (inside [`create_guarded`]) and not yet registered.
static CREATING: AtomicUsize = AtomicUsize::new(0);
/// Set by the handler: no file may be created any more.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Several reports are written by this run (see [`set_many`]).
static MANY: AtomicBool = AtomicBool::new(false);

/// The target of [`reserved`]: a slot holding its address is taken but names no file.
static RESERVED: libc::c_char = 0;

fn reserved() -> *mut libc::c_char {
    std::ptr::addr_of!(RESERVED).cast_mut()
}

const MESSAGE: &[u8] = b"memform: interrupted; no report was written\n";
const MESSAGE_MANY: &[u8] = b"memform: interrupted; reports not yet finished were not written\n";

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    // Creations in progress run on other threads (the signals are blocked on theirs) and
    // register their files in a few system calls.
    while CREATING.load(Ordering::SeqCst) != 0 {
        std::hint::spin_loop();
    }
    // Files first, then folders (a folder's files may sit in later slots than the folder):
    // every path is taken out of its slot and unlinked; what is left of them, the folders,
    // is removed once they are empty.
    let mut taken = [std::ptr::null_mut::<libc::c_char>(); SLOTS];
    for (slot, taken) in PENDING.iter().zip(taken.iter_mut()) {
        let path = slot.swap(std::ptr::null_mut(), Ordering::SeqCst);
        if !path.is_null() && path != reserved() {
            // SAFETY: a valid C string leaked by `Guard::register`; whoever swaps it out
            // of its slot owns it, and this process exits without freeing it.
            unsafe { libc::unlink(path) };
            *taken = path;
        }
    }
    for path in taken {
        if !path.is_null() {
            // SAFETY: as above; rmdir fails harmlessly on the files already unlinked.
            unsafe { libc::rmdir(path) };
        }
    }
    let message = if MANY.load(Ordering::SeqCst) {
        MESSAGE_MANY
    } else {
        MESSAGE
    };
    // SAFETY: write and _exit are async-signal-safe.
    unsafe {
        libc::write(2, message.as_ptr().cast(), message.len());
        libc::_exit(128 + signal);
    }
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP (once per process is enough).
pub fn install() {
    // SAFETY: `on_signal` is a plain extern "C" function that only makes async-signal-safe
    // calls.
    unsafe {
        for signal in SIGNALS {
            libc::signal(signal, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Says, on an interrupt, that the reports not yet finished were not written (those
/// finished stay), instead of that no report was.
pub fn set_many(many: bool) {
    MANY.store(many, Ordering::SeqCst);
}

/// Creates a temporary file with `create`, and guards the path `temp_path` gives of it:
/// while the returned guard lives, a signal removes that file. No signal is handled on
/// this thread meanwhile, and a handler running on another one waits for the file to be
/// registered. Declare the guard's variable before the value's, so that it is dropped
/// after the value (which may remove its file when dropped).
pub fn create_guarded<T, E>(
    guard: &mut Guard,
    create: impl FnOnce() -> Result<T, E>,
    temp_path: impl FnOnce(&T) -> Option<&Path>,
) -> Result<T, E> {
    guard.release();
    let slot = Reserved::take();
    let section = Section::enter();
    let created = create();
    if let Some(path) = created.as_ref().ok().and_then(temp_path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap_or_default();
        PENDING[slot.0].store(c.into_raw(), Ordering::SeqCst);
        guard.slot = Some(slot.0);
        std::mem::forget(slot);
    }
    drop(section);
    created
}

/// A slot taken for a file about to be created; freed when dropped, unless forgotten once
/// it names the file.
struct Reserved(usize);

impl Reserved {
    /// Takes a free slot, waiting for one if all are taken.
    fn take() -> Reserved {
        loop {
            for (i, slot) in PENDING.iter().enumerate() {
                let free = std::ptr::null_mut();
                if slot
                    .compare_exchange(free, reserved(), Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    return Reserved(i);
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        PENDING[self.0].store(std::ptr::null_mut(), Ordering::SeqCst);
    }
}

/// The creation of a file: the signals blocked on this thread and [`CREATING`] raised,
/// both undone when dropped.
struct Section {
    blocked: Option<libc::sigset_t>,
}

impl Section {
    /// Enters, unless the handler already runs on another thread: then this thread waits
    /// for it to exit the process.
    fn enter() -> Section {
        let section = Section {
            blocked: block_signals(),
        };
        CREATING.fetch_add(1, Ordering::SeqCst);
        if INTERRUPTED.load(Ordering::SeqCst) {
            drop(section);
            loop {
                std::thread::park();
            }
        }
        section
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        CREATING.fetch_sub(1, Ordering::SeqCst);
        restore_signals(self.blocked);
    }
}

/// Blocks SIGINT, SIGTERM and SIGHUP on this thread; returns the previous mask.
fn block_signals() -> Option<libc::sigset_t> {
    // SAFETY: the sets are initialised by sigemptyset / pthread_sigmask before being read.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        let mut old = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        for signal in SIGNALS {
            libc::sigaddset(&mut set, signal);
        }
        (libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) == 0).then_some(old)
    }
}

fn restore_signals(old: Option<libc::sigset_t>) {
    if let Some(old) = old {
        // SAFETY: `old` is the mask pthread_sigmask returned.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    }
}

/// Unregisters its pending file, if any, when dropped (or when guarding another).
#[derive(Debug, Default)]
pub struct Guard {
    slot: Option<usize>,
}

impl Guard {
    /// A guard of nothing yet, for [`create_guarded`].
    pub fn new() -> Guard {
        Guard { slot: None }
    }

    /// Whether it guards a file (or folder).
    pub fn is_set(&self) -> bool {
        self.slot.is_some()
    }

    fn release(&mut self) {
        if let Some(slot) = self.slot.take() {
            let ptr = PENDING[slot].swap(std::ptr::null_mut(), Ordering::SeqCst);
            if !ptr.is_null() && ptr != reserved() {
                // SAFETY: every other non-null pointer stored in PENDING came from
                // `CString::into_raw`, and swapping it out made it ours.
                drop(unsafe { CString::from_raw(ptr) });
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path in `guard`'s slot.
    fn guarded(guard: &Guard) -> Option<String> {
        let ptr = PENDING[guard.slot?].load(Ordering::SeqCst);
        // SAFETY: a registered slot holds a C string until its guard is dropped.
        (!ptr.is_null() && ptr != reserved()).then(|| {
            unsafe { std::ffi::CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned()
        })
    }

    // The only test of this binary that takes slots: the table is ours.
    #[test]
    fn guards_take_and_free_slots() {
        let names: Vec<String> = (0..5).map(|i| format!("/tmp/memform-test-{i}")).collect();
        let mut guards = Vec::new();
        for name in &names {
            let mut guard = Guard::new();
            let got: Result<_, ()> =
                create_guarded(&mut guard, || Ok(Path::new(name)), |p| Some(*p));
            assert!(got.is_ok());
            guards.push(guard);
        }
        let held: Vec<String> = guards.iter().filter_map(guarded).collect();
        assert_eq!(held, names);
        let slots: Vec<usize> = guards.iter().filter_map(|g| g.slot).collect();
        let mut distinct = slots.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 5);

        // A failed creation, or one with nothing to remove, holds no slot.
        let mut failed = Guard::new();
        let got: Result<(), &str> = create_guarded(&mut failed, || Err("no"), |_| None);
        assert_eq!(got, Err("no"));
        assert!(failed.slot.is_none());
        let got: Result<(), ()> = create_guarded(&mut failed, || Ok(()), |_| None);
        assert!(got.is_ok() && failed.slot.is_none());

        drop(guards);
        for slot in slots {
            assert!(PENDING[slot].load(Ordering::SeqCst).is_null());
        }
        assert_eq!(CREATING.load(Ordering::SeqCst), 0);
    }
}
