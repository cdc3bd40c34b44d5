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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use crate::capture::events::Columns;
use crate::capture::{ByteStream, Decoder, EventBatch, StreamEnd};
use crate::error::ReadError;
use crate::progress::Progress;

/// Batches in flight between the threads.
const IN_FLIGHT: usize = 2;

/// Runs `decoder` over `stream` as `threads` says (see [`crate::analysis::Options::threads`]):
/// on this thread for 1 ([`decode_inline`]), with a second one otherwise
/// ([`decode_in_background`]).
pub fn decode(
    threads: usize,
    decoder: Decoder,
    stream: ByteStream<'_>,
    consume: &mut dyn FnMut(&EventBatch),
    progress: &mut dyn Progress,
) -> Result<(Decoder, StreamEnd), ReadError> {
    if threads == 1 {
        decode_inline(decoder, stream, consume, progress)
    } else {
        decode_in_background(decoder, stream, consume, progress)
    }
}

/// Runs `decoder` over `stream` on a background thread and calls `consume` on every batch,
/// in order, on this one. Returns the decoder, holding the
/// interned stacks and thread names, and how the stream ended.
pub fn decode_in_background(
    mut decoder: Decoder,
    mut stream: ByteStream<'_>,
    consume: &mut dyn FnMut(&EventBatch),
    progress: &mut dyn Progress,
) -> Result<(Decoder, StreamEnd), ReadError> {
    let position = AtomicU64::new(0);
    let position = &position;
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
                &mut |p| position.store(p, Ordering::Relaxed),
            );
            end.map(|end| (decoder, end))
        });
        for batch in batches_rx {
            consume_and_recycle(batch, consume, &spare_tx);
            progress.update(position.load(Ordering::Relaxed));
        }
        match worker.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Runs `decoder` over `stream` on this thread, calling `consume` on every batch as it is
/// finished. Same results as [`decode_in_background`].
pub fn decode_inline(
    mut decoder: Decoder,
    mut stream: ByteStream<'_>,
    consume: &mut dyn FnMut(&EventBatch),
    progress: &mut dyn Progress,
) -> Result<(Decoder, StreamEnd), ReadError> {
    let (spare_tx, spare_rx) = mpsc::channel();
    decoder.recycle_batches_from(spare_rx);
    let end = decoder.run(
        &mut stream,
        &mut |batch| consume_and_recycle(batch, consume, &spare_tx),
        &mut |p| progress.update(p),
    )?;
    Ok((decoder, end))
}

/// Hands `batch` to `consume`, then its columns back to the decoder for the next batches.
fn consume_and_recycle(
    batch: EventBatch,
    consume: &mut dyn FnMut(&EventBatch),
    spare: &mpsc::Sender<Columns>,
) {
    consume(&batch);
    if let Some(columns) = batch.into_columns() {
        // The decoder only stops listening once it has finished.
        let _ = spare.send(columns);
    }
}
