//! Stack resolution, the stage between the reduced rows and the writers: every row's stack
//! printed as memray prints it, each distinct stack resolved once.
//!
//! Resolving needs the report mutably (native images are loaded on first use), writing
//! does not: [`ResolvedStacks::resolve`] runs first, and the writers then take the report
//! and its stacks by shared reference.

use std::io;

use indexmap::set::Slice;

use crate::analysis::reduction::Rows;
use crate::analysis::Report;
use crate::capture::Header;
use crate::interner::FxIndexSet;
use crate::stacks::hybrid::{hybrid_stack, BoundaryRule};
use crate::stacks::{Location, NativeStacks, StackTable};

/// What decides the printed stack of an allocation: `(Python stack, native stack, segment
/// generation, on the main thread)`. Equal keys print equal stacks.
pub type StackKey = (u64, u64, u64, bool);

/// Prints stacks as memray does: for captures without native traces the Python stack,
/// whose outermost frames (those above the tracker) are dropped on the main thread; for
/// `--native` captures the hybrid stack, with native frames resolved against the memory
/// maps of the key's segment generation.
pub struct StackPrinter<'a> {
    stacks: &'a mut StackTable,
    native: Option<&'a mut NativeStacks>,
    skipped_on_main: u64,
    boundary: BoundaryRule,
}

impl<'a> StackPrinter<'a> {
    pub fn new(
        header: &Header,
        stacks: &'a mut StackTable,
        native: Option<&'a mut NativeStacks>,
    ) -> StackPrinter<'a> {
        StackPrinter {
            stacks,
            native,
            skipped_on_main: header.skipped_frames_on_main_tid,
            boundary: BoundaryRule::for_header_version(header.version),
        }
    }

    /// Whether native stacks take part in the printed stacks (and so in their keys).
    pub fn is_native(&self) -> bool {
        self.native.is_some()
    }

    /// The frames of the stack `key` names, leaf first.
    pub fn frames(&mut self, key: StackKey) -> Vec<Location> {
        let (stack_id, native_id, generation, on_main) = key;
        let skip = if on_main { self.skipped_on_main } else { 0 };
        match self.native.as_deref_mut() {
            None => self.stacks.stack(stack_id, skip),
            Some(native) => {
                let native_frames = native.stack(native_id, generation);
                let python = self.stacks.stack_with_entry_flags(stack_id);
                let skip = usize::try_from(skip).unwrap_or(usize::MAX);
                hybrid_stack(&native_frames, &python, skip, self.boundary)
            }
        }
    }
}

/// The distinct stacks of a report's rows, and which one each row prints.
///
/// A stack is kept as 4-byte ids of its frames' [`Location`]s, each distinct location (by
/// its function, file and line, Python or native) once, so a report of deep stacks costs
/// 4 bytes per frame of each distinct stack rather than a [`Location`]'s 40.
#[derive(Debug, Default)]
pub struct ResolvedStacks {
    /// Each distinct key; a stack's index is its key's.
    keys: FxIndexSet<StackKey>,
    /// Stack `i`'s frames are `frame_ids[starts[i]..starts[i + 1]]`, leaf first.
    starts: Vec<usize>,
    frame_ids: Vec<u32>,
    /// The distinct locations; a location's id is its index.
    locations: FxIndexSet<Location>,
    of_row: Vec<u32>,
}

impl ResolvedStacks {
    /// Resolves the stack of every row of `report` ([`StackPrinter`]), native frames
    /// against the memory maps of the row's representative member. Fails only past 2^32
    /// distinct stacks or locations.
    pub fn resolve(report: &mut Report) -> io::Result<ResolvedStacks> {
        let batch = report.rows.clone();
        let rows = Rows::new(&batch);
        let main_tid = report.header.main_tid;
        let mut resolved = ResolvedStacks {
            starts: vec![0],
            of_row: Vec::with_capacity(rows.len()),
            ..ResolvedStacks::default()
        };
        let mut printer =
            StackPrinter::new(&report.header, &mut report.stacks, report.native.as_mut());
        for row in 0..rows.len() {
            let on_main = rows.tid[row] == main_tid;
            let key = match printer.native.as_deref() {
                None => (rows.stack_id[row], 0, 0, on_main),
                Some(native) => (
                    rows.stack_id[row],
                    rows.native_stack_id[row],
                    native.generation_of(rows.representative_seq[row]),
                    on_main,
                ),
            };
            let (id, new) = resolved.keys.insert_full(key);
            if new {
                for location in printer.frames(key) {
                    let id = resolved.location_id(location)?;
                    resolved.frame_ids.push(id);
                }
                resolved.starts.push(resolved.frame_ids.len());
            }
            resolved
                .of_row
                .push(u32::try_from(id).map_err(|_| too_many("stacks"))?);
        }
        Ok(resolved)
    }

    fn location_id(&mut self, location: Location) -> io::Result<u32> {
        let (id, _) = self.locations.insert_full(location);
        u32::try_from(id).map_err(|_| too_many("frames"))
    }

    /// The index of row `row`'s stack among the distinct stacks (equal for rows that print
    /// equal stacks because they have the same key).
    pub fn index_of_row(&self, row: usize) -> usize {
        self.of_row[row] as usize
    }

    /// The frames of distinct stack `index`, leaf first.
    pub fn frames(&self, index: usize) -> Frames<'_> {
        Frames(FramesOf::Shared {
            ids: &self.frame_ids[self.starts[index]..self.starts[index + 1]],
            locations: self.locations.as_slice(),
        })
    }
}

fn too_many(what: &str) -> io::Error {
    io::Error::other(format!("more than 2^32 distinct {what} in one report"))
}

/// A stack's frames, leaf first, as a writer reads them: [`ResolvedStacks`]' ids of shared
/// locations, or a slice of locations of its own.
#[derive(Debug, Clone, Copy)]
pub struct Frames<'a>(FramesOf<'a>);

#[derive(Debug, Clone, Copy)]
enum FramesOf<'a> {
    Shared {
        ids: &'a [u32],
        locations: &'a Slice<Location>,
    },
    Own(&'a [Location]),
}

impl<'a> From<&'a [Location]> for Frames<'a> {
    fn from(locations: &'a [Location]) -> Self {
        Frames(FramesOf::Own(locations))
    }
}

impl<'a> Frames<'a> {
    pub fn len(&self) -> usize {
        match self.0 {
            FramesOf::Shared { ids, .. } => ids.len(),
            FramesOf::Own(locations) => locations.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The leaf frame.
    pub fn first(&self) -> Option<&'a Location> {
        self.iter().next()
    }

    pub fn iter(&self) -> FramesIter<'a> {
        match self.0 {
            FramesOf::Shared { ids, locations } => FramesIter::Shared(ids.iter(), locations),
            FramesOf::Own(locations) => FramesIter::Own(locations.iter()),
        }
    }
}

impl<'a> IntoIterator for Frames<'a> {
    type Item = &'a Location;
    type IntoIter = FramesIter<'a>;

    fn into_iter(self) -> FramesIter<'a> {
        self.iter()
    }
}

/// The iterator of [`Frames`].
#[derive(Debug, Clone)]
pub enum FramesIter<'a> {
    Shared(std::slice::Iter<'a, u32>, &'a Slice<Location>),
    Own(std::slice::Iter<'a, Location>),
}

impl<'a> Iterator for FramesIter<'a> {
    type Item = &'a Location;

    #[inline]
    fn next(&mut self) -> Option<&'a Location> {
        match self {
            FramesIter::Shared(ids, locations) => ids.next().map(|&id| &locations[id as usize]),
            FramesIter::Own(iter) => iter.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.len();
        (n, Some(n))
    }
}

impl DoubleEndedIterator for FramesIter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            FramesIter::Shared(ids, locations) => {
                ids.next_back().map(|&id| &locations[id as usize])
            }
            FramesIter::Own(iter) => iter.next_back(),
        }
    }
}

impl ExactSizeIterator for FramesIter<'_> {
    fn len(&self) -> usize {
        match self {
            FramesIter::Shared(ids, _) => ids.len(),
            FramesIter::Own(iter) => iter.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Locations are one by their contents, whatever strings they were made with (native
    /// frames are resolved into fresh strings each time).
    #[test]
    fn equal_locations_share_an_id() {
        let mut resolved = ResolvedStacks::default();
        let a = resolved.location_id(Location::new("f", "a.py", 1)).unwrap();
        let b = resolved.location_id(Location::new("g", "a.py", 1)).unwrap();
        let again = resolved.location_id(Location::new("f", "a.py", 1)).unwrap();
        assert_eq!((a, b, again), (0, 1, 0));
        assert_eq!(resolved.locations.len(), 2);
    }

    #[test]
    fn shared_and_own_frames_read_alike() {
        let locations = [
            Location::new("f", "a.py", 1),
            Location::new("g", "b.py", 2),
            Location::new("h", "c.py", 3),
        ];
        let set: FxIndexSet<Location> = locations.iter().cloned().collect();
        let ids = [2, 0, 2];
        let shared = Frames(FramesOf::Shared {
            ids: &ids,
            locations: set.as_slice(),
        });
        let own_frames = [
            locations[2].clone(),
            locations[0].clone(),
            locations[2].clone(),
        ];
        let own = Frames::from(&own_frames[..]);
        for frames in [shared, own] {
            assert_eq!(frames.len(), 3);
            assert!(!frames.is_empty());
            assert_eq!(frames.first(), Some(&locations[2]));
            assert!(frames.iter().eq(&own_frames));
            assert!(frames.iter().rev().eq(own_frames.iter().rev()));
            assert_eq!(frames.iter().len(), 3);
        }
        assert!(Frames::from(&[][..]).is_empty());
    }
}
