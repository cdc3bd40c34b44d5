//! How decoding and analysis share the cores: [`decode_in_background`] decodes on a second
//! thread while the calling thread analyses the batches, [`decode_inline`] does both on the
//! calling thread (its simple twin, and the choice on one core).
//!
//! The record stream is one chain of state from the first record to the last (delta-encoded
//! addresses, an address cache, per-thread stacks), so it cannot be cut into chunks decoded
//! independently; the two stages are pipelined instead (docs/performance.md has the
//! numbers). The decoder sends finished [`EventBatch`]es through a bounded channel (so memory
//! stays bounded however far it runs ahead); the consumer hands each batch's columns back for
//! reuse.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use crate::capture::events::Columns;
use crate::capture::{ByteStream, Decoder, EventBatch, StreamEnd};
use crate::error::ReadError;
use crate::progress::Progress;

/// Batches in flight between the threads.
const IN_FLIGHT: usize = 2;

/// A second consumer of the same batches (the statistics beside a report's analysis),
/// run on a thread of its own when there are two.
pub type SideConsumer<'s> = &'s mut (dyn FnMut(&EventBatch) + Send);

/// Runs `decoder` over `stream` as `threads` says (see [`crate::analysis::Options::threads`]):
/// on this thread for 1 ([`decode_inline`]), with a second one otherwise
/// ([`decode_in_background`]). `side`, if any, sees every batch too, after `consume`.
pub fn decode(
    threads: usize,
    decoder: Decoder,
    stream: ByteStream<'_>,
    consume: &mut dyn FnMut(&EventBatch),
    side: Option<SideConsumer<'_>>,
    progress: &mut dyn Progress,
) -> Result<(Decoder, StreamEnd), ReadError> {
    if threads == 1 {
        decode_inline(decoder, stream, consume, side, progress)
    } else {
        decode_in_background(decoder, stream, consume, side, progress)
    }
}

/// Runs `decoder` over `stream` on a background thread and calls `consume` on every batch,
/// in order, on this one; `side`, if any, on a third thread, each batch shared between
/// the two and handed back once both are done with it. Returns the decoder, holding the
/// interned stacks and thread names, and how the stream ended.
pub fn decode_in_background(
    mut decoder: Decoder,
    mut stream: ByteStream<'_>,
    consume: &mut dyn FnMut(&EventBatch),
    side: Option<SideConsumer<'_>>,
    progress: &mut dyn Progress,
) -> Result<(Decoder, StreamEnd), ReadError> {
    let position = AtomicU64::new(0);
    let position = &position;
    // Set when `progress` asks to stop: the decoder ends at its next window.
    let stop = AtomicBool::new(false);
    let stop = &stop;
    std::thread::scope(|scope| {
        let (batches_tx, batches_rx) = mpsc::sync_channel::<EventBatch>(IN_FLIGHT);
        let (spare_tx, spare_rx) = mpsc::channel();
        let worker = scope.spawn(move || {
            decoder.recycle_batches_from(spare_rx);
            let end = decoder.run(
                &mut stream,
                &mut |batch| {
                    // The receiver only goes away if the consumer panicked.
                    let _ = batches_tx.send(batch);
                },
                &mut |p| {
                    position.store(p, Ordering::Relaxed);
                    !stop.load(Ordering::Relaxed)
                },
            );
            end.map(|end| (decoder, end))
        });
        let (side_tx, side_worker) = match side {
            Some(side) => {
                let (tx, rx) = mpsc::sync_channel::<Arc<Recycled>>(IN_FLIGHT);
                let worker = scope.spawn(move || {
                    for shared in rx {
                        side(&shared);
                    }
                });
                (Some(tx), Some(worker))
            }
            None => (None, None),
        };
        for batch in batches_rx {
            let shared = Arc::new(Recycled::new(batch, &spare_tx));
            if let Some(tx) = &side_tx {
                // The receiver only goes away if the side consumer panicked (joined below).
                let _ = tx.send(Arc::clone(&shared));
            }
            consume(&shared);
            drop(shared);
            progress.update(position.load(Ordering::Relaxed));
            if progress.stopped() {
                // Leaving the loop drops the receiver: a decoder waiting to send is let go.
                stop.store(true, Ordering::Relaxed);
                break;
            }
        }
        drop(side_tx);
        if let Some(side_worker) = side_worker {
            if let Err(panic) = side_worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        match worker.join() {
            // The batches after the stop were not consumed, even if the decoder got to
            // the end of the stream before it saw the stop.
            Ok(_) if stop.load(Ordering::Relaxed) => Err(ReadError::Stopped),
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Runs `decoder` over `stream` on this thread, calling `consume` (then `side`) on every
/// batch as it is finished. Same results as [`decode_in_background`].
pub fn decode_inline(
    mut decoder: Decoder,
    mut stream: ByteStream<'_>,
    consume: &mut dyn FnMut(&EventBatch),
    mut side: Option<SideConsumer<'_>>,
    progress: &mut dyn Progress,
) -> Result<(Decoder, StreamEnd), ReadError> {
    let (spare_tx, spare_rx) = mpsc::channel();
    decoder.recycle_batches_from(spare_rx);
    let end = decoder.run(
        &mut stream,
        &mut |batch| {
            let recycled = Recycled::new(batch, &spare_tx);
            consume(&recycled);
            if let Some(side) = &mut side {
                side(&recycled);
            }
        },
        &mut |p| {
            progress.update(p);
            !progress.stopped()
        },
    )?;
    Ok((decoder, end))
}

/// A batch on its way through the consumers: when the last of them drops it, its columns
/// go back to the decoder for the next batches.
struct Recycled {
    /// Taken only when it is dropped.
    batch: Option<EventBatch>,
    spare: mpsc::Sender<Columns>,
}

impl Recycled {
    fn new(batch: EventBatch, spare: &mpsc::Sender<Columns>) -> Recycled {
        Recycled {
            batch: Some(batch),
            spare: spare.clone(),
        }
    }
}

impl std::ops::Deref for Recycled {
    type Target = EventBatch;

    fn deref(&self) -> &EventBatch {
        self.batch
            .as_ref()
            .expect("a batch is taken only when it is dropped")
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        if let Some(columns) = self.batch.take().and_then(EventBatch::into_columns) {
            // The decoder only stops listening once it has finished.
            let _ = self.spare.send(columns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{open_records, CaptureFile};
    use crate::progress::Silent;

    /// What a consumer saw: each batch's first event, length and bytes.
    type Seen = Vec<(u64, usize, u64)>;

    fn seen(batch: &EventBatch, into: &mut Seen) {
        let bytes = batch.size.values().iter().sum();
        into.push((batch.first_seq, batch.len(), bytes));
    }

    /// The main and the side consumer see the same batches in the same order, on one
    /// thread or on their own, and so do both ways of sharing the cores.
    #[test]
    fn side_consumer_sees_every_batch_in_order() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/captures/v1.20.0-py3.11-mixed.bin");
        let capture = CaptureFile::open(&path).expect("capture");
        let run = |threads| {
            let (stream, header) = open_records(&capture).expect("records");
            let (mut main, mut side) = (Seen::new(), Seen::new());
            let mut on_side = |b: &EventBatch| seen(b, &mut side);
            let (decoder, _) = decode(
                threads,
                Decoder::new(&header),
                stream,
                &mut |b| seen(b, &mut main),
                Some(&mut on_side),
                &mut Silent,
            )
            .expect("decoded");
            assert_eq!(main, side, "threads {threads}");
            let events: usize = main.iter().map(|&(_, n, _)| n).sum();
            assert_eq!(events as u64, decoder.allocations, "threads {threads}");
            assert!(events > 1000, "{events} events");
            main
        };
        assert_eq!(run(1), run(2));
    }

    /// Stops after its first update.
    struct StopAtOnce {
        updates: usize,
    }

    impl Progress for StopAtOnce {
        fn phase(&mut self, _: &'static str, _: u64) {}
        fn update(&mut self, _: u64) {
            self.updates += 1;
        }
        fn finish(&mut self) {}
        fn stopped(&self) -> bool {
            self.updates > 0
        }
    }

    /// A stop asked by the progress ends decoding with `ReadError::Stopped`, one thread or
    /// two, at the first update: the consumer sees no batch after the stop.
    #[test]
    fn a_stop_ends_decoding_with_stopped() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/captures/v1.20.0-py3.11-mixed.bin");
        let capture = CaptureFile::open(&path).expect("capture");
        for threads in [1, 2] {
            let (stream, header) = open_records(&capture).expect("records");
            let mut consumed = 0;
            let mut progress = StopAtOnce { updates: 0 };
            let decoded = decode(
                threads,
                Decoder::new(&header),
                stream,
                &mut |_| consumed += 1,
                None,
                &mut progress,
            );
            assert!(
                matches!(decoded, Err(ReadError::Stopped)),
                "threads {threads}: {:?}",
                decoded.map(|(_, end)| end)
            );
            if threads == 2 {
                // The consumer asks after each batch; the decoder, inline, after each window.
                assert_eq!(consumed, 1);
            }
            assert_eq!(progress.updates, 1, "threads {threads}");
        }
    }
}
