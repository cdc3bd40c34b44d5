//! Loaded images kept across resolvers in one process, for programs that resolve many
//! captures naming the same libraries (a batch conversion, a fuzzer): loading an image —
//! mapping it, decompressing its debug sections, reading its symbol tables — costs far more
//! than the lookups that follow.
//!
//! Off unless [`keep_loaded_images`] is called: a [`crate::SymbolResolver`] then loads each
//! image itself and drops it with itself, as memray does. With a capacity, an image is kept
//! under its file name, load address and file identity (device, inode, size, modification
//! time), so a file replaced on disk is loaded again; the least recently used image goes
//! when the capacity is reached. An image's lazily built DWARF tables are shared too, behind
//! a mutex.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use crate::elf_image::ImageKind;

/// A loaded image, shared by the resolvers that use it.
pub(crate) type SharedImage = Arc<Mutex<ImageKind>>;

/// What an image is kept under.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ImageKey {
    filename: String,
    load_address: u64,
    device: u64,
    inode: u64,
    size: u64,
    modified: Option<std::time::SystemTime>,
}

impl ImageKey {
    /// The key of `filename` as it is on disk now; `None` when it cannot be read (then
    /// nothing is kept: a missing file may appear later).
    fn of(filename: &str, load_address: u64) -> Option<ImageKey> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(filename).ok()?;
        Some(ImageKey {
            filename: filename.to_string(),
            load_address,
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

struct Cache {
    capacity: usize,
    /// Most recently used last.
    entries: VecDeque<(ImageKey, SharedImage)>,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    capacity: 0,
    entries: VecDeque::new(),
});

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps up to `capacity` loaded images for the resolvers made after this call in this
/// process (0, the default, keeps none and forgets those kept).
pub fn keep_loaded_images(capacity: usize) {
    let mut cache = cache();
    cache.capacity = capacity;
    while cache.entries.len() > capacity {
        cache.entries.pop_front();
    }
}

/// The image `filename` at `load_address`: a kept one, or `load()`'s, kept if there is room.
pub(crate) fn image(
    filename: &str,
    load_address: u64,
    load: impl FnOnce() -> ImageKind,
) -> SharedImage {
    let key = match cache().capacity {
        0 => None,
        _ => ImageKey::of(filename, load_address),
    };
    let Some(key) = key else {
        return Arc::new(Mutex::new(load()));
    };
    {
        let mut cache = cache();
        if let Some(i) = cache.entries.iter().position(|(k, _)| *k == key) {
            if let Some(entry) = cache.entries.remove(i) {
                let image = Arc::clone(&entry.1);
                cache.entries.push_back(entry);
                return image;
            }
        }
    }
    // Loaded without holding the cache: another thread may load the same image meanwhile,
    // and the last one kept wins; both answer alike.
    let image = Arc::new(Mutex::new(load()));
    let mut cache = cache();
    if cache.capacity > 0 {
        if cache.entries.len() >= cache.capacity {
            cache.entries.pop_front();
        }
        cache.entries.push_back((key, Arc::clone(&image)));
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test for the process-wide state, so that no other test sees it half set.
    #[test]
    fn images_are_kept_by_identity_up_to_the_capacity_then_forgotten() {
        let dir = std::env::temp_dir().join(format!("image-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.so");
        let b = dir.join("b.so");
        std::fs::write(&a, b"not elf").unwrap();
        std::fs::write(&b, b"not elf either").unwrap();
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        let loads = std::cell::Cell::new(0);
        let load = |name| {
            image(name, 0x1000, || {
                loads.set(loads.get() + 1);
                ImageKind::Unresolvable
            })
        };
        // Off: every resolver loads its own.
        load(a);
        load(a);
        assert_eq!(loads.get(), 2);
        keep_loaded_images(1);
        let first = load(a);
        let again = load(a);
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(loads.get(), 3);
        // The capacity is one image: b pushes a out.
        load(b);
        load(a);
        assert_eq!(loads.get(), 5);
        // A missing file is never kept.
        load("/nonexistent/image.so");
        load("/nonexistent/image.so");
        assert_eq!(loads.get(), 7);
        keep_loaded_images(0);
        load(a);
        assert_eq!(loads.get(), 8);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
