//! Native stacks of `--native` captures: the tree of native frames (instruction pointer and
//! parent index, memray's `d_native_frames`), the segment generation every allocation event
//! belongs to, and the resolution of a native stack into frames through the
//! [`SymbolResolver`] (memray's `Py_GetNativeStackFrame`).

use std::sync::Arc;

use crate::capture::ImageSegments;
use crate::stacks::Location;
use memform_symbolizer::{NativeFrame, SymbolResolver};

/// What turns an instruction pointer of a segment generation into frames, innermost
/// first: the [`SymbolResolver`] over the capture's images, or (to test or fuzz the rest of
/// native stack handling without reading ELF files) anything else.
pub trait ResolveIp {
    fn resolve(&mut self, ip: u64, generation: u64) -> Option<Arc<[NativeFrame]>>;
}

impl ResolveIp for SymbolResolver {
    fn resolve(&mut self, ip: u64, generation: u64) -> Option<Arc<[NativeFrame]>> {
        SymbolResolver::resolve(self, ip, generation)
    }
}

/// The native stacks of one capture.
pub struct NativeStacks {
    /// `(instruction pointer, parent index)`; stack id `i` is entry `i - 1`, 0 is the empty
    /// stack.
    frames: Vec<(u64, u64)>,
    /// `(first member sequence number, generation)`, in increasing order.
    generation_starts: Vec<(u64, u64)>,
    /// The symbol resolver of the capture's images unless replaced.
    resolver: Box<dyn ResolveIp + Send>,
    /// The images of the capture's memory maps, as recorded (every generation's).
    images: Vec<ImageSegments>,
}

impl NativeStacks {
    /// The native stacks of a capture with native `frames`, the images of its memory maps,
    /// and the sequence numbers where each segment generation starts.
    pub fn new(
        frames: Vec<(u64, u64)>,
        images: &[ImageSegments],
        generation_starts: Vec<(u64, u64)>,
    ) -> NativeStacks {
        let mut resolver = SymbolResolver::new();
        for image in images {
            resolver.add_image(
                &image.filename,
                image.addr,
                &image.segments,
                image.generation,
            );
        }
        NativeStacks {
            frames,
            generation_starts,
            resolver: Box::new(resolver),
            images: images.to_vec(),
        }
    }

    /// The images of the capture's memory maps as memray recorded them, every segment
    /// generation's, in record order (the pprof report's mappings).
    pub fn images(&self) -> &[ImageSegments] {
        &self.images
    }

    /// Resolves instruction pointers with `resolver` from now on, instead of the images the
    /// capture names.
    pub fn set_resolver(&mut self, resolver: Box<dyn ResolveIp + Send>) {
        self.resolver = resolver;
    }

    /// The segment generation of the member with sequence number `seq`: that of the last
    /// memory map seen before it (0 before any).
    pub fn generation_of(&self, seq: u64) -> u64 {
        generation_at(&self.generation_starts, seq)
    }

    /// The frames of native stack `stack_id` resolved against the memory maps of
    /// `generation`, leaf first; instruction pointers that resolve to nothing are left out.
    pub fn stack(&mut self, stack_id: u64, generation: u64) -> Vec<Location> {
        let mut out = Vec::new();
        let mut current = stack_id;
        while current != 0 {
            let Some(&(ip, parent)) = usize::try_from(current - 1)
                .ok()
                .and_then(|i| self.frames.get(i))
            else {
                break;
            };
            if let Some(frames) = self.resolver.resolve(ip, generation) {
                out.extend(frames.iter().map(|f| Location {
                    function: Arc::from(f.function.as_str()),
                    file: Arc::from(f.file.as_str()),
                    line: f.line as i32,
                }));
            }
            // A well-formed tree only points to lower indices; the bound guards malformed input.
            if parent >= current {
                break;
            }
            current = parent;
        }
        out
    }
}

/// The segment generation of the event with sequence number `seq`, given `(first event,
/// generation)` for each generation in increasing order: that of the last memory map seen
/// before it (0 before any).
pub fn generation_at(generation_starts: &[(u64, u64)], seq: u64) -> u64 {
    let i = generation_starts.partition_point(|&(first, _)| first <= seq);
    i.checked_sub(1).map_or(0, |i| generation_starts[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_start_at_their_first_member() {
        let n = NativeStacks::new(Vec::new(), &[], vec![(0, 1), (5, 2), (5, 3), (9, 4)]);
        assert_eq!(n.generation_of(0), 1);
        assert_eq!(n.generation_of(4), 1);
        assert_eq!(n.generation_of(5), 3);
        assert_eq!(n.generation_of(100), 4);
        let none = NativeStacks::new(Vec::new(), &[], Vec::new());
        assert_eq!(none.generation_of(3), 0);
    }

    /// Frames named after their instruction pointer, none for odd ones.
    struct Named;

    impl ResolveIp for Named {
        fn resolve(&mut self, ip: u64, _generation: u64) -> Option<Arc<[NativeFrame]>> {
            ip.is_multiple_of(2).then(|| {
                Arc::from(vec![NativeFrame {
                    function: format!("f{ip:x}"),
                    file: "lib.c".to_string(),
                    line: 7,
                }])
            })
        }
    }

    #[test]
    fn a_replaced_resolver_answers_leaf_first() {
        let mut n = NativeStacks::new(vec![(0x10, 0), (0x21, 1), (0x30, 2)], &[], Vec::new());
        n.set_resolver(Box::new(Named));
        let names: Vec<_> = n
            .stack(3, 1)
            .iter()
            .map(|l| l.function.to_string())
            .collect();
        assert_eq!(names, ["f30", "f10"]);
    }

    #[test]
    fn unresolvable_frames_are_left_out_and_bad_parents_end_the_walk() {
        // No images: nothing resolves, and the walk still terminates on a self-parent.
        let mut n = NativeStacks::new(vec![(0x10, 0), (0x20, 2)], &[], Vec::new());
        assert!(n.stack(2, 1).is_empty());
        assert!(n.stack(7, 1).is_empty());
    }
}
