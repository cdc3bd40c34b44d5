//! Mapped address ranges with partial unmapping (memray's `IntervalTree`).
//!
//! A flat list, as in memray: adding appends, removing walks every interval, trims or splits
//! the ones it overlaps and reports the bytes freed. Order is kept, so that iteration meets
//! pieces in the same order memray does.

/// Half-open `[start, end)` ranges, each with a payload.
#[derive(Debug, Clone)]
pub struct IntervalSet<T> {
    items: Vec<(u64, u64, T)>,
}

impl<T> Default for IntervalSet<T> {
    fn default() -> Self {
        IntervalSet { items: Vec::new() }
    }
}

impl<T: Clone> IntervalSet<T> {
    /// Adds `[start, start + size)`; empty ranges are ignored.
    pub fn add(&mut self, start: u64, size: u64, payload: T) {
        if size == 0 {
            return;
        }
        self.items.push((start, start.wrapping_add(size), payload));
    }

    /// Removes `[start, start + size)` from every interval it overlaps; returns the bytes
    /// freed.
    pub fn remove(&mut self, start: u64, size: u64) -> u64 {
        self.remove_split(start, size, |_, _, _| {}, |p| p)
    }

    /// [`IntervalSet::remove`], telling `removed` of every interval it overlaps (its start,
    /// size and payload as they were) and giving the parts of them it leaves the payload
    /// `kept` makes of the old one.
    pub fn remove_split(
        &mut self,
        start: u64,
        size: u64,
        mut removed: impl FnMut(u64, u64, &T),
        mut kept: impl FnMut(T) -> T,
    ) -> u64 {
        if size == 0 || self.items.is_empty() {
            return 0;
        }
        let end = start.wrapping_add(size);
        let mut freed = 0u64;
        let mut out = Vec::with_capacity(self.items.len() + 1);
        for (a, b, p) in self.items.drain(..) {
            let lo = a.max(start);
            let hi = b.min(end);
            if hi <= lo {
                out.push((a, b, p));
                continue;
            }
            freed = freed.wrapping_add(hi - lo);
            removed(a, b - a, &p);
            if lo == a && hi == b {
                continue;
            }
            let p = kept(p);
            if a < lo {
                out.push((a, lo, p.clone()));
            }
            if hi < b {
                out.push((hi, b, p));
            }
        }
        self.items = out;
        freed
    }

    /// Every interval as `(start, size, payload)`, in order.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64, &T)> {
        self.items.iter().map(|(a, b, p)| (*a, b - a, p))
    }

    /// Every interval as `(size, payload)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        self.items.iter().map(|(a, b, p)| (b - a, p))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_unmaps_trim_and_split() {
        let mut s = IntervalSet::default();
        s.add(0, 100, 'a');
        s.add(200, 100, 'b');
        assert_eq!(s.remove(40, 20), 20);
        let sizes: Vec<_> = s.iter().map(|(n, p)| (n, *p)).collect();
        assert_eq!(sizes, vec![(40, 'a'), (40, 'a'), (100, 'b')]);
        assert_eq!(s.remove(250, 100), 50);
        assert_eq!(s.remove(0, 1000), 130);
        assert!(s.is_empty());
        s.add(5, 0, 'z');
        assert!(s.is_empty());
    }

    #[test]
    fn split_removal_tells_what_it_removed_and_renames_what_it_keeps() {
        let mut s = IntervalSet::default();
        s.add(0, 100, 'a');
        s.add(200, 100, 'b');
        s.add(400, 10, 'c');
        let mut removed = Vec::new();
        let freed = s.remove_split(
            50,
            200,
            |start, size, p| removed.push((start, size, *p)),
            |p| p.to_ascii_uppercase(),
        );
        assert_eq!(freed, 100);
        assert_eq!(removed, vec![(0, 100, 'a'), (200, 100, 'b')]);
        let left: Vec<_> = s.ranges().map(|(a, n, p)| (a, n, *p)).collect();
        assert_eq!(left, vec![(0, 50, 'A'), (250, 50, 'B'), (400, 10, 'c')]);
    }
}
