//! memray's allocator enumeration (`hooks::Allocator`) and its four kinds.

/// Which allocation function produced an event. The discriminants are memray's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Allocator {
    PymallocFree = 1,
    PymallocMalloc = 2,
    PymallocCalloc = 3,
    PymallocRealloc = 4,
    Free = 5,
    Malloc = 6,
    Realloc = 7,
    Calloc = 8,
    PosixMemalign = 9,
    AlignedAlloc = 10,
    Memalign = 11,
    Valloc = 12,
    Pvalloc = 13,
    Mmap = 14,
    Munmap = 15,
}

/// How an event changes the heap (memray's `hooks::AllocatorKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorKind {
    SimpleAllocator,
    SimpleDeallocator,
    RangedAllocator,
    RangedDeallocator,
}

impl Allocator {
    /// The allocator with memray's discriminant `id`, if there is one.
    pub fn from_id(id: u8) -> Option<Allocator> {
        use Allocator::*;
        Some(match id {
            1 => PymallocFree,
            2 => PymallocMalloc,
            3 => PymallocCalloc,
            4 => PymallocRealloc,
            5 => Free,
            6 => Malloc,
            7 => Realloc,
            8 => Calloc,
            9 => PosixMemalign,
            10 => AlignedAlloc,
            11 => Memalign,
            12 => Valloc,
            13 => Pvalloc,
            14 => Mmap,
            15 => Munmap,
            _ => return None,
        })
    }

    /// The allocator with id `id` in the numbering of memray 1.7 – 1.18 (capture header
    /// versions 10 and 11), which 1.19 renumbered; the names did not change.
    pub fn from_legacy_id(id: u8) -> Option<Allocator> {
        use Allocator::*;
        Some(match id {
            1 => Malloc,
            2 => Free,
            3 => Calloc,
            4 => Realloc,
            5 => PosixMemalign,
            6 => AlignedAlloc,
            7 => Memalign,
            8 => Valloc,
            9 => Pvalloc,
            10 => Mmap,
            11 => Munmap,
            12 => PymallocMalloc,
            13 => PymallocCalloc,
            14 => PymallocRealloc,
            15 => PymallocFree,
            _ => return None,
        })
    }

    pub fn id(self) -> u8 {
        self as u8
    }

    pub fn kind(self) -> AllocatorKind {
        use Allocator::*;
        match self {
            PymallocFree | Free => AllocatorKind::SimpleDeallocator,
            Mmap => AllocatorKind::RangedAllocator,
            Munmap => AllocatorKind::RangedDeallocator,
            _ => AllocatorKind::SimpleAllocator,
        }
    }

    pub fn is_deallocator(self) -> bool {
        matches!(
            self.kind(),
            AllocatorKind::SimpleDeallocator | AllocatorKind::RangedDeallocator
        )
    }

    /// The name memray's `AllocatorType` enum gives it, as written in CSV reports.
    pub fn name(self) -> &'static str {
        use Allocator::*;
        match self {
            PymallocFree => "PYMALLOC_FREE",
            PymallocMalloc => "PYMALLOC_MALLOC",
            PymallocCalloc => "PYMALLOC_CALLOC",
            PymallocRealloc => "PYMALLOC_REALLOC",
            Free => "FREE",
            Malloc => "MALLOC",
            Realloc => "REALLOC",
            Calloc => "CALLOC",
            PosixMemalign => "POSIX_MEMALIGN",
            AlignedAlloc => "ALIGNED_ALLOC",
            Memalign => "MEMALIGN",
            Valloc => "VALLOC",
            Pvalloc => "PVALLOC",
            Mmap => "MMAP",
            Munmap => "MUNMAP",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for id in 1..=15u8 {
            assert_eq!(Allocator::from_id(id).map(Allocator::id), Some(id));
        }
        assert_eq!(Allocator::from_id(0), None);
        assert_eq!(Allocator::from_id(16), None);
    }

    #[test]
    fn legacy_ids_keep_the_names() {
        let names = [
            "MALLOC",
            "FREE",
            "CALLOC",
            "REALLOC",
            "POSIX_MEMALIGN",
            "ALIGNED_ALLOC",
            "MEMALIGN",
            "VALLOC",
            "PVALLOC",
            "MMAP",
            "MUNMAP",
            "PYMALLOC_MALLOC",
            "PYMALLOC_CALLOC",
            "PYMALLOC_REALLOC",
            "PYMALLOC_FREE",
        ];
        for (id, name) in (1..=15u8).zip(names) {
            assert_eq!(
                Allocator::from_legacy_id(id).map(Allocator::name),
                Some(name)
            );
        }
        assert_eq!(Allocator::from_legacy_id(0), None);
        assert_eq!(Allocator::from_legacy_id(16), None);
        assert_eq!(
            Allocator::from_legacy_id(15).map(Allocator::kind),
            Some(AllocatorKind::SimpleDeallocator)
        );
    }

    #[test]
    fn kinds_match_memray() {
        assert_eq!(Allocator::Free.kind(), AllocatorKind::SimpleDeallocator);
        assert_eq!(
            Allocator::PymallocFree.kind(),
            AllocatorKind::SimpleDeallocator
        );
        assert_eq!(Allocator::Mmap.kind(), AllocatorKind::RangedAllocator);
        assert_eq!(Allocator::Munmap.kind(), AllocatorKind::RangedDeallocator);
        assert_eq!(Allocator::Realloc.kind(), AllocatorKind::SimpleAllocator);
        assert!(Allocator::Munmap.is_deallocator());
        assert!(!Allocator::Valloc.is_deallocator());
    }
}
