//! The live table's layout, measured (issue 21): does a table laid out by address beat one
//! laid out by hash? `table_layouts CAPTURE [RUNS]`.
//!
//! The capture's simple allocation and free events are decoded once into memory; then each
//! table replays them, one insert per allocation and one remove per free, prefetching 48
//! events ahead as the heap tracker does, and the median of RUNS replays is printed in ns per
//! event. Every prototype table is the same code (32-byte slots like [`LiveTable`]'s, linear
//! probing, backward-shift deletion, doubling at 3/4 full, huge pages) and differs only in
//! where an address's probe starts:
//!
//! - `scatter`: a Fibonacci hash of the address: neighbours land anywhere.
//! - `bucket`: memray's bucket (`address % prime`) spread over the slots, as [`LiveTable`]
//!   lays them out: neighbours a few slots apart per 16 bytes of address.
//! - `page`: a hash of the address's 4 KiB page picks a window of 256 slots, and the address's
//!   16-byte unit within the page its place in the window: blocks of one page side by side.
//! - `linear`: the address's 16-byte unit modulo the slots, no hash at all.
//!
//! `live` is [`LiveTable`] itself (its bucket runs and stamps included).
use std::path::PathBuf;
use std::time::{Duration, Instant};

use memform::analysis::live_table::{Live, LiveTable};
use memform::capture::{read_header, Allocator, AllocatorKind, CaptureFile, Decoder};

/// One event of the replay: its address and, for an allocation, its size (`FREE` for a free).
#[derive(Clone, Copy)]
struct Event {
    address: u64,
    size: u64,
}

const FREE: u64 = u64::MAX;

fn events(capture: &CaptureFile) -> Vec<Event> {
    let mut stream = capture.stream();
    let header = read_header(&mut stream).expect("header");
    let mut decoder = Decoder::new(&header);
    let mut out = Vec::new();
    decoder
        .run(
            &mut stream,
            &mut |b| {
                let addresses = b.address.values();
                let sizes = b.size.values();
                let allocators = b.allocator.values();
                for row in 0..b.len() {
                    match Allocator::from_id(allocators[row]).map(|a| a.kind()) {
                        Some(AllocatorKind::SimpleAllocator) => out.push(Event {
                            address: addresses[row],
                            size: sizes[row],
                        }),
                        Some(AllocatorKind::SimpleDeallocator) => out.push(Event {
                            address: addresses[row],
                            size: FREE,
                        }),
                        _ => {}
                    }
                }
            },
            &mut |_| true,
        )
        .expect("decodes");
    out
}

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Slot {
    address: u64,
    seq: u64,
    size: u64,
    site: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Scatter,
    Bucket,
    Page,
    Linear,
}

struct Table {
    map: memmap2::MmapMut,
    mask: usize,
    bits: u32,
    len: usize,
    layout: Layout,
    prime: u64,
}

fn prime_below(n: u64) -> u64 {
    let is_prime = |p: u64| {
        p >= 2
            && (2..)
                .take_while(|d| d * d <= p)
                .all(|d| !p.is_multiple_of(d))
    };
    (2..n).rev().find(|&p| is_prime(p)).expect("a prime")
}

impl Table {
    fn new(layout: Layout, bits: u32) -> Table {
        let slots = 1usize << bits;
        let map = memmap2::MmapMut::map_anon(slots * 32).expect("map");
        let _ = map.advise(memmap2::Advice::HugePage);
        Table {
            map,
            mask: slots - 1,
            bits,
            len: 0,
            layout,
            prime: prime_below(slots as u64 * 3 / 4),
        }
    }

    fn slots(&self) -> &[Slot] {
        // SAFETY: the map is `slots * 32` bytes, page aligned, and all-zero bytes are a Slot.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast(), self.mask + 1) }
    }

    fn slots_mut(&mut self) -> &mut [Slot] {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().cast(), self.mask + 1) }
    }

    #[inline(always)]
    fn home(&self, address: u64) -> usize {
        let slots = self.mask as u64 + 1;
        let h = match self.layout {
            Layout::Scatter => address.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - self.bits),
            Layout::Bucket => {
                ((address % self.prime) as u128 * slots as u128 / self.prime as u128) as u64
            }
            Layout::Page => {
                let page = (address >> 12).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - self.bits);
                page.wrapping_add((address >> 4) & 0xff)
            }
            Layout::Linear => address >> 4,
        };
        h as usize & self.mask
    }

    #[inline(always)]
    fn prefetch(&self, address: u64) {
        let i = self.home(address);
        #[cfg(target_arch = "x86_64")]
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch(self.slots().as_ptr().add(i).cast(), _MM_HINT_T0);
        }
    }

    fn insert(&mut self, address: u64, seq: u64, size: u64) {
        if (self.len + 1) * 4 > (self.mask + 1) * 3 {
            self.grow();
        }
        let mut i = self.home(address);
        let mask = self.mask;
        let slots = self.slots_mut();
        loop {
            let s = &mut slots[i];
            if s.site == 0 {
                *s = Slot {
                    address,
                    seq,
                    size,
                    site: 1,
                };
                self.len += 1;
                return;
            }
            if s.address == address {
                s.seq = seq;
                s.size = size;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn remove(&mut self, address: u64) -> bool {
        let mut i = self.home(address);
        let mask = self.mask;
        loop {
            let s = self.slots()[i];
            if s.site == 0 {
                return false;
            }
            if s.address == address {
                break;
            }
            i = (i + 1) & mask;
        }
        // Backward shift: pull later entries of the run into the hole when their home allows.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let s = self.slots()[j];
            if s.site == 0 {
                break;
            }
            let home = self.home(s.address);
            // Movable when the hole lies cyclically within [home, j).
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots_mut()[hole] = s;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.slots_mut()[hole] = Slot::default();
        self.len -= 1;
        true
    }

    fn grow(&mut self) {
        let mut bigger = Table::new(self.layout, self.bits + 1);
        for s in self.slots() {
            if s.site != 0 {
                bigger.insert(s.address, s.seq, s.size);
            }
        }
        *self = bigger;
    }

    /// The mean distance of an occupied slot from its home, and the longest.
    fn probe_stats(&self) -> (f64, usize) {
        let (mut sum, mut max, mut n) = (0usize, 0usize, 0usize);
        for (i, s) in self.slots().iter().enumerate() {
            if s.site != 0 {
                let d = i.wrapping_sub(self.home(s.address)) & self.mask;
                sum += d;
                max = max.max(d);
                n += 1;
            }
        }
        (sum as f64 / n.max(1) as f64, max)
    }
}

fn ahead() -> usize {
    std::env::var("AHEAD").map_or(48, |a| a.parse().expect("AHEAD"))
}

/// A table the events can be replayed into.
trait Replayed {
    fn prefetch(&self, address: u64);
    fn insert(&mut self, address: u64, seq: u64, size: u64);
    fn remove(&mut self, address: u64);
    fn len(&self) -> usize;
}

impl Replayed for Table {
    fn prefetch(&self, address: u64) {
        Table::prefetch(self, address);
    }
    fn insert(&mut self, address: u64, seq: u64, size: u64) {
        Table::insert(self, address, seq, size);
    }
    fn remove(&mut self, address: u64) {
        Table::remove(self, address);
    }
    fn len(&self) -> usize {
        self.len
    }
}

impl Replayed for LiveTable {
    fn prefetch(&self, address: u64) {
        LiveTable::prefetch(self, address);
    }
    fn insert(&mut self, address: u64, seq: u64, size: u64) {
        let live = Live {
            seq,
            size,
            site: 0,
            position: 0,
        };
        LiveTable::insert(self, address, live);
    }
    fn remove(&mut self, address: u64) {
        LiveTable::remove(self, address);
    }
    fn len(&self) -> usize {
        LiveTable::len(self)
    }
}

/// Replays `events` into `table`, prefetching `ahead_by` events ahead (0: not at all);
/// returns the time it took, the most allocations live at once and the event at which
/// that was first reached.
fn replay(
    table: &mut impl Replayed,
    events: &[Event],
    ahead_by: usize,
) -> (Duration, usize, usize) {
    let (mut max_live, mut max_at) = (0, 0);
    let t = Instant::now();
    for (seq, e) in events.iter().enumerate() {
        if ahead_by > 0 {
            if let Some(ahead) = events.get(seq + ahead_by) {
                table.prefetch(ahead.address);
            }
        }
        if e.size == FREE {
            table.remove(e.address);
        } else {
            table.insert(e.address, seq as u64, e.size);
            if table.len() > max_live {
                max_live = table.len();
                max_at = seq;
            }
        }
    }
    (t.elapsed(), max_live, max_at)
}

fn replay_prototype(events: &[Event], layout: Layout) -> (Duration, String) {
    let (spent, max_live, max_at) = replay(&mut Table::new(layout, 12), events, ahead());
    // The probe lengths at the most live: the same events again, up to that one.
    let mut table = Table::new(layout, 12);
    replay(&mut table, events.get(..=max_at).unwrap_or(&[]), 0);
    let (mean, max) = table.probe_stats();
    (
        spent,
        format!(
            "at the most live ({max_live}): slots 2^{}, probe distance mean {mean:.2} max {max}",
            table.bits
        ),
    )
}

fn replay_live_table(events: &[Event]) -> Duration {
    replay(&mut LiveTable::default(), events, ahead()).0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().expect("usage: table_layouts CAPTURE [RUNS]"));
    let runs: usize = args.next().map_or(3, |r| r.parse().expect("RUNS"));
    let capture = CaptureFile::open(&path).expect("open");
    let events = events(&capture);
    let n = events.len() as f64;
    println!(
        "{}: {} simple allocation and free events, median of {runs}",
        path.display(),
        events.len()
    );
    let per_event = |d: Duration| d.as_secs_f64() * 1e9 / n;
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let only = std::env::var("LAYOUTS").ok();
    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|s| s == name))
    };
    if wanted("live") {
        let d = median((0..runs).map(|_| replay_live_table(&events)).collect());
        println!("{:<8} {:>6.2} ns/event", "live", per_event(d));
    }
    for (name, layout) in [
        ("scatter", Layout::Scatter),
        ("bucket", Layout::Bucket),
        ("page", Layout::Page),
        ("linear", Layout::Linear),
    ] {
        if !wanted(name) {
            continue;
        }
        let mut stats = String::new();
        let d = median(
            (0..runs)
                .map(|_| {
                    let (d, s) = replay_prototype(&events, layout);
                    stats = s;
                    d
                })
                .collect(),
        );
        println!("{name:<8} {:>6.2} ns/event  ({stats})", per_event(d));
    }
}
