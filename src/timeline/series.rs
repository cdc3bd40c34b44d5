//! The timeline's series and their bounds: the heap's size after every event kept as runs of
//! consecutive events ([`Runs`]: the smallest and largest size of each run and the events
//! they came at, at most [`MAX_RUNS`] runs whatever the capture's length), the events placed
//! in time between the memory records around them ([`Clock`]), and any series of points
//! reduced to the smallest and largest value of each pixel column ([`reduce_to_columns`]).

/// The most runs [`Runs`] keeps: past that, neighbours are merged two by two and each run
/// covers twice as many events. Sixteen thousand runs are finer than any pixel column of
/// the picture (about a thousand) unless the events crowd into a small part of the time.
pub const MAX_RUNS: usize = 1 << 14;

/// The extremes of a run of consecutive events: the smallest heap size after one of them
/// (the first event to reach it) and the largest (the last event to reach it, as memray's
/// high-water mark takes the last of equal maxima).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub min: u64,
    pub min_at: u64,
    pub max: u64,
    pub max_at: u64,
}

impl Run {
    fn one(event: u64, value: u64) -> Run {
        Run {
            min: value,
            min_at: event,
            max: value,
            max_at: event,
        }
    }

    #[inline]
    fn add(&mut self, event: u64, value: u64) {
        if value < self.min {
            self.min = value;
            self.min_at = event;
        }
        if value >= self.max {
            self.max = value;
            self.max_at = event;
        }
    }

    /// This run followed by `next`.
    fn merge(self, next: Run) -> Run {
        let (min, min_at) = if next.min < self.min {
            (next.min, next.min_at)
        } else {
            (self.min, self.min_at)
        };
        let (max, max_at) = if next.max >= self.max {
            (next.max, next.max_at)
        } else {
            (self.max, self.max_at)
        };
        Run {
            min,
            min_at,
            max,
            max_at,
        }
    }
}

/// The heap's size after each event, in at most [`MAX_RUNS`] runs of `width` events each
/// (a power of two, doubled whenever the runs would be too many).
#[derive(Debug, Clone)]
pub struct Runs {
    width: u64,
    runs: Vec<Run>,
    open: Option<Run>,
    open_len: u64,
    limit: usize,
}

impl Default for Runs {
    fn default() -> Self {
        Runs::with_limit(MAX_RUNS)
    }
}

impl Runs {
    /// Runs of which at most `limit` (at least 2) are kept.
    pub fn with_limit(limit: usize) -> Runs {
        Runs {
            width: 1,
            runs: Vec::new(),
            open: None,
            open_len: 0,
            limit: limit.max(2),
        }
    }

    /// The heap's size `value` after event `event` (the events in order).
    #[inline]
    pub fn push(&mut self, event: u64, value: u64) {
        match &mut self.open {
            Some(run) => run.add(event, value),
            None => self.open = Some(Run::one(event, value)),
        }
        self.open_len += 1;
        if self.open_len == self.width {
            self.close();
        }
    }

    #[cold]
    fn close(&mut self) {
        if let Some(run) = self.open.take() {
            self.runs.push(run);
        }
        self.open_len = 0;
        if self.runs.len() >= self.limit {
            self.runs = self
                .runs
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => a.merge(*b),
                    [a] => *a,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
            self.width *= 2;
        }
    }

    /// Every run, the last one perhaps shorter than the others.
    pub fn finish(mut self) -> Vec<Run> {
        if let Some(run) = self.open.take() {
            self.runs.push(run);
        }
        self.runs
    }
}

/// Where events fall in time: between the memory records around them. The events after
/// one record (or the capture's start) and up to the next record (or the capture's end)
/// are spread evenly over that interval, the last of them at the next record's time, so the
/// heap's size at a record's time is the one memray's snapshot of it gives.
#[derive(Debug, Clone)]
pub struct Clock {
    /// `(events before, milliseconds since the capture's start)`, both non-decreasing: the
    /// capture's start, each memory record, the capture's end.
    anchors: Vec<(u64, f64)>,
}

impl Clock {
    /// The clock of a capture of `events` events, whose memory records are `records`
    /// (`(events before it, ms since the start)`, in the capture's order) and which ended
    /// `end_ms` after its start (ignored if before the last record).
    pub fn new(records: &[(u64, f64)], events: u64, end_ms: f64) -> Clock {
        let mut anchors = Vec::with_capacity(records.len() + 2);
        anchors.push((0u64, 0.0f64));
        for &(before, ms) in records.iter().chain([(events, end_ms)].iter()) {
            let (last_before, last_ms) = anchors[anchors.len() - 1];
            let ms = if ms.is_finite() {
                ms.max(last_ms)
            } else {
                last_ms
            };
            anchors.push((before.clamp(last_before, events), ms));
        }
        Clock { anchors }
    }

    /// The time of event `event` (0-based), in seconds since the capture's start.
    pub fn seconds(&self, event: u64) -> f64 {
        // The first anchor with more events before it than `event`: the event is among
        // those between the anchor before it and this one.
        let next = self.anchors.partition_point(|&(before, _)| before <= event);
        let Some(&(to_events, to_ms)) = self.anchors.get(next) else {
            return self.end_seconds();
        };
        let (from_events, from_ms) = self.anchors[next - 1];
        let share = (event + 1 - from_events) as f64 / (to_events - from_events) as f64;
        (from_ms + share * (to_ms - from_ms)) / 1000.0
    }

    /// The capture's length in seconds.
    pub fn end_seconds(&self) -> f64 {
        self.anchors.last().map_or(0.0, |&(_, ms)| ms / 1000.0)
    }
}

/// A point of a series: seconds since the start and bytes.
pub type Point = (f64, u64);

/// `points` (in time order) reduced to at most two a column of `columns` equal columns over
/// `[from, to]` seconds: each column's smallest and largest value, at their times, in time
/// order (one point where they are the same). Every column's extremes are kept, so a spike
/// as narrow as one event stays as high as it was.
pub fn reduce_to_columns(points: &[Point], from: f64, to: f64, columns: usize) -> Vec<Point> {
    let columns = columns.max(1);
    let span = to - from;
    let column_of = |t: f64| -> usize {
        if span > 0.0 && span.is_finite() {
            let c = ((t - from) / span * columns as f64).floor();
            if c.is_nan() || c < 0.0 {
                0
            } else {
                (c as usize).min(columns - 1)
            }
        } else {
            0
        }
    };
    let mut out = Vec::with_capacity(points.len().min(2 * columns));
    // The column being gathered: its index, then its smallest and largest point.
    let mut current: Option<(usize, Point, Point)> = None;
    let flush = |(_, low, high): (usize, Point, Point), out: &mut Vec<Point>| {
        if low == high {
            out.push(low);
        } else if low.0 <= high.0 {
            out.extend([low, high]);
        } else {
            out.extend([high, low]);
        }
    };
    for &point in points {
        let column = column_of(point.0);
        match &mut current {
            Some((c, low, high)) if *c == column => {
                if point.1 < low.1 {
                    *low = point;
                }
                if point.1 >= high.1 {
                    *high = point;
                }
            }
            _ => {
                if let Some(done) = current.take() {
                    flush(done, &mut out);
                }
                current = Some((column, point, point));
            }
        }
    }
    if let Some(done) = current {
        flush(done, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs keep each run's extremes exactly, however many merges: the largest of all is
    /// the last event to reach it, the smallest the first.
    #[test]
    fn runs_keep_the_extremes_of_every_event() {
        let mut runs = Runs::with_limit(8);
        let mut state = 7u64;
        let mut values = Vec::new();
        for event in 0..10_000u64 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let value = (state >> 33) % 1000;
            values.push(value);
            runs.push(event, value);
        }
        let runs = runs.finish();
        assert!(runs.len() <= 8, "{} runs", runs.len());
        let max = *values.iter().max().unwrap();
        let last_max = values.iter().rposition(|&v| v == max).unwrap() as u64;
        let top = runs.iter().fold(runs[0], |a, b| a.merge(*b));
        assert_eq!((top.max, top.max_at), (max, last_max));
        let min = *values.iter().min().unwrap();
        let first_min = values.iter().position(|&v| v == min).unwrap() as u64;
        assert_eq!((top.min, top.min_at), (min, first_min));
        // Every run's extremes are those of its events.
        for run in &runs {
            assert_eq!(values[run.max_at as usize], run.max);
            assert_eq!(values[run.min_at as usize], run.min);
        }
    }

    #[test]
    fn events_spread_between_records() {
        // Records after 4 and after 6 events, at 10 and 20 ms; 8 events in all, end 30 ms.
        let clock = Clock::new(&[(4, 10.0), (6, 20.0)], 8, 30.0);
        let ms = |e| clock.seconds(e) * 1000.0;
        assert_eq!([ms(0), ms(1), ms(3)], [2.5, 5.0, 10.0]);
        assert_eq!([ms(4), ms(5)], [15.0, 20.0]);
        assert_eq!([ms(6), ms(7)], [25.0, 30.0]);
        assert_eq!(clock.end_seconds(), 0.03);
        // An end before the last record (a killed capture's header): the last record.
        let clock = Clock::new(&[(2, 10.0)], 4, 0.0);
        assert_eq!(clock.seconds(3), 0.01);
        assert_eq!(clock.end_seconds(), 0.01);
        // No record, no time: everything at 0.
        let clock = Clock::new(&[], 3, 0.0);
        assert_eq!(clock.seconds(2), 0.0);
    }

    /// Each column keeps its smallest and largest point, at their times, in time order.
    #[test]
    fn reduction_keeps_min_and_max_per_column() {
        let points: Vec<Point> = (0..1000)
            .map(|i| (i as f64 / 1000.0, ((i * 7919) % 1009) as u64))
            .collect();
        let reduced = reduce_to_columns(&points, 0.0, 1.0, 10);
        assert!(reduced.len() <= 20);
        assert!(reduced.windows(2).all(|w| w[0].0 <= w[1].0), "time order");
        for column in 0..10 {
            let of = |p: &&Point| (p.0 * 10.0).floor() as usize == column;
            let all: Vec<&Point> = points.iter().filter(of).collect();
            let kept: Vec<&Point> = reduced.iter().filter(of).collect();
            let max = all.iter().map(|p| p.1).max().unwrap();
            let min = all.iter().map(|p| p.1).min().unwrap();
            assert_eq!(kept.iter().map(|p| p.1).max(), Some(max), "column {column}");
            assert_eq!(kept.iter().map(|p| p.1).min(), Some(min), "column {column}");
            assert!(
                kept.iter().all(|k| all.contains(k)),
                "kept points are points"
            );
        }
        // A one-point spike survives.
        let mut flat: Vec<Point> = (0..100_000).map(|i| (i as f64, 5)).collect();
        flat[31_337].1 = 1 << 40;
        let reduced = reduce_to_columns(&flat, 0.0, 100_000.0, 100);
        assert!(reduced.contains(&(31_337.0, 1 << 40)));
        assert!(reduced.len() <= 200);
    }
}
