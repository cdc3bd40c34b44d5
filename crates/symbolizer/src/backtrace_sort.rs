//! The sort and binary search that libbacktrace's symbol and DWARF tables go through:
//! libbacktrace's own quicksort (`backtrace_qsort`, sort.c) and glibc's `bsearch`.
//!
//! Both are reproduced step for step because their results are observable: the quicksort is
//! not stable, so the order of equal elements (two ELF symbols at one address, two inlined
//! functions with the same range and name) decides which one a lookup finds, and glibc's
//! bisection decides which of several overlapping symbols `elf_syminfo` returns.

use std::cmp::Ordering;

/// `backtrace_qsort`: the middle element is swapped to the front as the pivot, elements
/// comparing less than it are moved to a growing prefix, the pivot is swapped to the end
/// of that prefix, the smaller side is sorted recursively and the larger one iteratively.
pub fn backtrace_qsort<T, F>(items: &mut [T], compare: &mut F)
where
    F: FnMut(&T, &T) -> Ordering,
{
    let mut base = items;
    loop {
        let count = base.len();
        if count < 2 {
            return;
        }
        base.swap(0, count / 2);
        let mut mid = 0;
        for i in 1..count {
            if compare(&base[0], &base[i]) == Ordering::Greater {
                mid += 1;
                if i != mid {
                    base.swap(mid, i);
                }
            }
        }
        if mid > 0 {
            base.swap(0, mid);
        }
        let whole = std::mem::take(&mut base);
        let (left, right) = whole.split_at_mut(mid);
        let right = &mut right[1..];
        if 2 * mid < count {
            backtrace_qsort(left, compare);
            base = right;
        } else {
            backtrace_qsort(right, compare);
            base = left;
        }
    }
}

/// glibc's `bsearch`: bisection over `[0, len)` probing `(lower + upper) / 2`; `compare`
/// orders the key against the probed element (`Less`: the key is before it). Returns the
/// first probed index that compares `Equal`.
pub fn glibc_bsearch<T, F>(items: &[T], mut compare: F) -> Option<usize>
where
    F: FnMut(&T) -> Ordering,
{
    let mut lower = 0usize;
    let mut upper = items.len();
    while lower < upper {
        let index = (lower + upper) / 2;
        match compare(&items[index]) {
            Ordering::Less => upper = index,
            Ordering::Greater => lower = index + 1,
            Ordering::Equal => return Some(index),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qsort_sorts() {
        let mut v = vec![5, 3, 9, 1, 1, 8, 0, 7, 2, 6, 4];
        backtrace_qsort(&mut v, &mut |a: &i32, b: &i32| a.cmp(b));
        assert_eq!(v, vec![0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn qsort_is_not_stable_like_libbacktrace() {
        // Orders of equal keys as libbacktrace's sort.c (compiled from C) leaves them.
        let by_key = |a: &(i32, char), b: &(i32, char)| a.0.cmp(&b.0);
        let mut v = vec![(1, 'a'), (1, 'b'), (1, 'c')];
        backtrace_qsort(&mut v, &mut by_key.clone());
        assert_eq!(v, vec![(1, 'b'), (1, 'c'), (1, 'a')]);
        let mut v = vec![(2, 'a'), (1, 'b'), (2, 'c'), (1, 'd')];
        backtrace_qsort(&mut v, &mut by_key.clone());
        assert_eq!(v, vec![(1, 'b'), (1, 'd'), (2, 'c'), (2, 'a')]);
    }

    #[test]
    fn bsearch_probes_like_glibc() {
        // Three "symbols" that all contain 15: glibc's first probe is index 1.
        let ranges = [(10u64, 10u64), (12, 10), (14, 10)];
        let hit = glibc_bsearch(&ranges, |&(start, size)| {
            if 15 < start {
                Ordering::Less
            } else if 15 >= start + size {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        });
        assert_eq!(hit, Some(1));
        let none = glibc_bsearch(&ranges, |&(start, _)| 5u64.cmp(&start));
        assert_eq!(none, None);
    }
}
