//! Allocation sites: the part of an allocation that a report row is made of besides its
//! sequence number and size — thread, allocator, Python stack and native stack — interned
//! into an id so that each live allocation costs the heap tracker a 32-byte slot
//! instead of carrying all four.
//!
//! Consecutive allocations mostly repeat a handful of sites, so a small direct-mapped memo
//! answers most lookups with one probe; the hash map behind it sees only the misses.

use std::path::Path;

use crate::dense_set::DenseSet;
use crate::error::CaptureError;

use crate::analysis::reduction::Member;
use crate::capture::Allocator;

/// 24 bytes: the Python stack is a node of the stack tree, which has fewer than 2^32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, packed(4))]
struct Site {
    tid: u64,
    native_stack_id: u64,
    stack_id: u32,
    allocator: Allocator,
}

/// The memo's size bounds, as powers of two of slots (28 bytes each): it grows with the
/// sites, two slots per site, from 28 KiB up to 1.75 MiB.
const MEMO_MIN_BITS: u32 = 10;
const MEMO_MAX_BITS: u32 = 16;

/// Sites interned before the heap tracker first asks to compact them
/// ([`Sites::should_compact`]).
const MIN_SITES_BEFORE_COMPACTION: usize = 1 << 20;

/// Sites a capture may have at once, what a [`DenseSet`] holds (a table that full would
/// take some 100 GB, far past any machine this runs on); their ids fit the live table's
/// 32 bits.
pub const MAX_SITES: u64 = crate::dense_set::MAX_KEYS as u64;

/// Interned sites, numbered from 0 in order of first appearance until compacted
/// ([`Sites::compact`]).
#[derive(Debug)]
pub struct Sites {
    /// A site's id is its index.
    sites: DenseSet<Site>,
    memo: Vec<Option<(Site, u32)>>,
    /// `memo.len() == 1 << memo_bits`.
    memo_bits: u32,
    /// How many sites it numbers: [`MAX_SITES`] (less in tests).
    limit: u64,
    /// Whether a site past the limit was asked for (and given id 0).
    overflowed: bool,
    /// The size at which [`Sites::should_compact`] says yes.
    compact_at: usize,
    /// Its least value: [`MIN_SITES_BEFORE_COMPACTION`] (less in tests).
    compact_min: usize,
}

impl Default for Sites {
    fn default() -> Self {
        Sites {
            sites: DenseSet::new(),
            memo: vec![None; 1 << MEMO_MIN_BITS],
            memo_bits: MEMO_MIN_BITS,
            limit: MAX_SITES,
            overflowed: false,
            compact_at: MIN_SITES_BEFORE_COMPACTION,
            compact_min: MIN_SITES_BEFORE_COMPACTION,
        }
    }
}

impl Sites {
    /// The id of the site, interning it if new.
    #[inline]
    pub fn intern(
        &mut self,
        tid: u64,
        allocator: Allocator,
        stack_id: u64,
        native_stack_id: u64,
    ) -> u64 {
        // Stack ids are the tree's nodes, below 2^32; anything else is past the limit too.
        let Ok(stack_id) = u32::try_from(stack_id) else {
            self.overflowed = true;
            return 0;
        };
        let site = Site {
            tid,
            native_stack_id,
            stack_id,
            allocator,
        };
        let h = (stack_id as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(tid.wrapping_mul(0xc2b2_ae3d_27d4_eb4f))
            .wrapping_add(native_stack_id.wrapping_mul(0x1656_67b1_9e37_79f9))
            .wrapping_add(allocator as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let slot = (h >> (64 - self.memo_bits)) as usize;
        if let Some((memo, id)) = self.memo[slot] {
            if memo == site {
                return id as u64;
            }
        }
        let id = self.intern_slow(site);
        if self.sites.len() * 2 > self.memo.len() && self.memo_bits < MEMO_MAX_BITS {
            // Grown, emptied: it is only a cache.
            self.memo_bits += 1;
            self.memo = vec![None; 1 << self.memo_bits];
        } else {
            self.memo[slot] = Some((site, id as u32));
        }
        id
    }

    #[inline(never)]
    fn intern_slow(&mut self, site: Site) -> u64 {
        if self.sites.len() as u64 >= self.limit && !self.sites.contains(&site) {
            self.overflowed = true;
            return 0;
        }
        match self.sites.insert_full(site) {
            Some((id, _)) => id as u64,
            None => {
                self.overflowed = true;
                0
            }
        }
    }

    /// Whether the sites have doubled since the last compaction (and number at least a
    /// million): then most may be sites of no allocation still alive.
    #[inline]
    pub fn should_compact(&self) -> bool {
        self.sites.len() >= self.compact_at
    }

    /// Keeps only the sites still referred to, numbered anew. `visit` must pass every id
    /// in use to the renumbering function it is given and store what it returns in place
    /// of the id. Ids then no longer follow first appearance (the heap tracker needs no
    /// order of them; [`Sites::tids`] is only asked of sites never compacted).
    ///
    /// A capture whose call stacks rarely repeat (random call graphs, many threads) makes
    /// sites at nearly every allocation, tens of millions in all, while the allocations
    /// alive at any time refer to a few hundred thousand: compacting whenever the table
    /// has doubled keeps it proportional to those, in amortised constant time per site.
    /// `expected` is about how many ids `visit` will pass (the index is made for them).
    pub fn compact(&mut self, expected: usize, visit: impl FnOnce(&mut dyn FnMut(u64) -> u64)) {
        let old = std::mem::replace(&mut self.sites, DenseSet::with_capacity(expected));
        let mut new_ids = vec![u32::MAX; old.len()];
        let kept = &mut self.sites;
        visit(&mut |id| {
            let new = &mut new_ids[id as usize];
            if *new == u32::MAX {
                // No more sites than before: the set cannot be full.
                *new = kept
                    .insert_full(old[id as usize])
                    .map_or(0, |(id, _)| id as u32);
            }
            u64::from(*new)
        });
        self.memo.fill(None);
        self.compact_at = self.compact_min.max(2 * self.sites.len());
    }

    /// Sites that compact from `n` sites on, rather than a million.
    #[cfg(test)]
    pub(crate) fn compacting_from(n: usize) -> Sites {
        Sites {
            compact_at: n,
            compact_min: n,
            ..Sites::default()
        }
    }

    /// The error for the capture at `path` if it had more than [`MAX_SITES`] sites: then
    /// its ids are wrong, and so is anything computed from them, so a pass checks this
    /// before it writes anything.
    pub fn check(&self, path: &Path) -> Result<(), CaptureError> {
        match self.overflowed {
            true => Err(CaptureError::TooManySites {
                path: path.to_path_buf(),
                max: MAX_SITES,
            }),
            false => Ok(()),
        }
    }

    /// The report member of an allocation at site `site`, at `position` in memray's map
    /// ([`Member::position`]).
    #[inline]
    pub fn member(&self, site: u64, seq: u64, size: u64, position: u64) -> Member {
        let s = self.sites[site as usize];
        Member {
            seq,
            position,
            tid: s.tid,
            allocator: s.allocator,
            stack_id: s.stack_id as u64,
            native_stack_id: s.native_stack_id,
            size,
        }
    }

    /// The key of the report row an allocation at site `site` goes to: its Python and
    /// native stacks.
    pub fn row_key(&self, site: u64) -> (u64, u64) {
        let s = self.sites[site as usize];
        (s.stack_id as u64, s.native_stack_id)
    }

    /// The threads of the sites, in order of first appearance (repeated).
    pub fn tids(&self) -> impl Iterator<Item = u64> + '_ {
        self.sites.iter().map(|s| s.tid)
    }

    pub fn len(&self) -> usize {
        self.sites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_are_numbered_by_first_appearance_and_give_back_their_members() {
        let mut sites = Sites::default();
        let a = sites.intern(1, Allocator::Malloc, 7, 0);
        let b = sites.intern(1, Allocator::PymallocMalloc, 7, 0);
        let c = sites.intern(2, Allocator::Malloc, 7, 9);
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(sites.intern(1, Allocator::Malloc, 7, 0), a);
        // Past the memo: every slot evicted, the map still answers.
        for stack in 0..5000 {
            sites.intern(3, Allocator::Calloc, stack, 0);
        }
        assert_eq!(sites.intern(2, Allocator::Malloc, 7, 9), c);
        assert_eq!(sites.len(), 5003);
        assert!(sites.check(Path::new("c.bin")).is_ok());
        let m = sites.member(c, 42, 100, 0);
        assert_eq!(
            (
                m.seq,
                m.tid,
                m.allocator,
                m.stack_id,
                m.native_stack_id,
                m.size
            ),
            (42, 2, Allocator::Malloc, 7, 9, 100)
        );
    }

    #[test]
    fn sites_past_the_limit_are_flagged() {
        let mut sites = Sites {
            limit: 3,
            ..Sites::default()
        };
        for stack in 0..3 {
            assert_eq!(sites.intern(1, Allocator::Malloc, stack, 0), stack);
        }
        assert!(sites.check(Path::new("c.bin")).is_ok());
        // Known sites still answer; a new one is flagged.
        assert_eq!(sites.intern(1, Allocator::Malloc, 2, 0), 2);
        assert!(sites.check(Path::new("c.bin")).is_ok());
        assert_eq!(sites.intern(1, Allocator::Malloc, 3, 0), 0);
        assert_eq!(
            sites.check(Path::new("c.bin")).map_err(|e| e.to_string()),
            Err(format!(
                "c.bin: more than {MAX_SITES} distinct allocation sites (thread, allocator, \
                 Python and native stack); memform keeps at most that many"
            ))
        );
        assert_eq!(sites.len(), 3);
    }
}
