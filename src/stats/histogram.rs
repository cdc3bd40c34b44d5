//! The histogram of allocation sizes of memray's statistics (`get_histogram_databins`,
//! `describe_histogram_databins` and `draw_histogram` of `memray/reporters/stats.py`): ten
//! bins spaced evenly in the logarithm of the size, computed with the same floating-point
//! operations as Python's, so that every size falls in the bin memray puts it in.

/// Bins of the histogram memray draws and writes.
pub const BINS: usize = 10;
/// Characters of the longest bar.
pub const SCALE: usize = 25;

/// One bin: the sizes below `upper` (the last bin: up to and including it) and how many
/// allocations had them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bin {
    pub upper: u64,
    pub count: u64,
}

/// Python's `a // b` for floats (`float_floor_div` of CPython's `floatobject.c`).
fn python_floor_div(a: f64, b: f64) -> f64 {
    let mut m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        m += b;
        div -= 1.0;
    }
    let _ = m;
    if div != 0.0 {
        let mut floor = div.floor();
        if div - floor > 0.5 {
            floor += 1.0;
        }
        floor
    } else {
        0.0f64.copysign(a / b)
    }
}

/// `get_histogram_databins(data, bins)`: `counts` holds `(size, allocations)` pairs of
/// distinct sizes. `None` where memray fails: no sizes, or none above zero, or a step of 0
/// (every size 1).
pub fn bins(counts: &[(u64, u64)]) -> Option<Vec<Bin>> {
    let smallest = counts.iter().map(|&(s, _)| s).filter(|&s| s != 0).min()?;
    let largest = counts.iter().map(|&(s, _)| s).max()?;
    let mut low = (smallest as f64).ln();
    let high = (largest as f64).ln();
    if low == high {
        low /= 2.0;
    }
    let step = (high - low) / BINS as f64;
    if step == 0.0 {
        return None;
    }
    let uppers: Vec<u64> = (0..BINS)
        .map(|i| (low + step * (i + 1) as f64).exp() as u64)
        .collect();
    let mut dist = [0u64; BINS];
    for &(size, count) in counts {
        let bin = if size == 0 {
            0
        } else {
            let b = python_floor_div((size as f64).ln() - low, step);
            // int() of the quotient, then min(…, bins - 1); the quotient is never negative.
            (b as i64).clamp(0, BINS as i64 - 1) as usize
        };
        dist[bin] += count;
    }
    Some(
        uppers
            .into_iter()
            .zip(dist)
            .map(|(upper, count)| Bin { upper, count })
            .collect(),
    )
}

/// `describe_histogram_databins`: each bin's least and greatest size, for the JSON document.
pub fn ranges(bins: &[Bin]) -> Vec<(u64, u64, u64)> {
    let mut start = 0;
    bins.iter()
        .enumerate()
        .map(|(i, bin)| {
            let last = i + 1 == bins.len();
            let end = if last {
                bin.upper
            } else {
                bin.upper.wrapping_sub(1)
            };
            let range = (start, end, bin.count);
            start = bin.upper;
            range
        })
        .collect()
}

/// `draw_histogram(data, 10, hist_scale_factor=25)`, with `size_fmt` the version's size
/// format: the lines after the heading, joined with `"\n\t"` as memray joins them.
pub fn draw(counts: &[(u64, u64)], size_fmt: impl Fn(u64) -> String) -> Option<String> {
    if counts.is_empty() {
        return Some("<no data for histogram>".to_string());
    }
    let bins = bins(counts)?;
    let max_count = bins.iter().map(|b| b.count).max().unwrap_or(0);
    let count_width = bins
        .iter()
        .map(|b| b.count.to_string().len())
        .max()
        .unwrap_or(1);
    let width = 2 + 9 + 2 + count_width + 1 + SCALE;
    let smallest = counts.iter().map(|&(s, _)| s).min().unwrap_or(0);
    let largest = counts.iter().map(|&(s, _)| s).max().unwrap_or(0);
    let mut out = format!("min: {}\n\t{}\n\t", size_fmt(smallest), "-".repeat(width));
    for (i, bin) in bins.iter().enumerate() {
        let op = if i + 1 == bins.len() { "<=" } else { "< " };
        let bar = if max_count == 0 {
            0
        } else {
            (bin.count as f64 / max_count as f64 * SCALE as f64).ceil() as usize
        };
        out.push_str(&format!(
            "{op}{:<9}: {:>count_width$} {}\n\t",
            size_fmt(bin.upper),
            bin.count,
            "▇".repeat(bar)
        ));
    }
    out.push_str(&format!(
        "{}\n\tmax: {}",
        "-".repeat(width),
        size_fmt(largest)
    ));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_division_is_pythons() {
        assert_eq!(python_floor_div(7.0, 2.0), 3.0);
        assert_eq!(python_floor_div(-7.0, 2.0), -4.0);
        assert_eq!(python_floor_div(0.0, 2.0), 0.0);
        // 1.0 // 0.1 is 9.0 in Python (the quotient rounds to 10.0, the floor is not).
        assert_eq!(python_floor_div(1.0, 0.1), 9.0);
    }

    /// The bins of memray 1.20's JSON for the corpus' `functional` workload: sizes from 1 B
    /// to 100,033 B.
    #[test]
    fn bins_match_memrays_for_a_real_capture() {
        let counts = [
            (1, 13),
            (20, 1),
            (50, 6),
            (500, 217),
            (2000, 76),
            (5000, 23),
            (100_033, 4),
        ];
        let bins = bins(&counts).unwrap();
        let uppers: Vec<u64> = bins.iter().map(|b| b.upper).collect();
        assert_eq!(
            uppers,
            [3, 10, 31, 100, 316, 1000, 3163, 10002, 31632, 100_032]
        );
        let r = ranges(&bins);
        assert_eq!(r[0], (0, 2, 13));
        assert_eq!(r[9], (31632, 100_032, 4));
    }

    /// Where memray's statistics fail with a traceback, there are no bins: no sizes, only
    /// size 0, or 1 as the only size above 0 (a step of 0). Text with no sizes at all is
    /// memray's placeholder.
    #[test]
    fn no_bins_where_memray_fails() {
        assert_eq!(bins(&[]), None);
        assert_eq!(bins(&[(0, 4)]), None);
        assert_eq!(bins(&[(0, 4), (1, 2)]), None);
        assert!(bins(&[(1, 2), (2, 1)]).is_some());
        let fmt = |b: u64| b.to_string();
        assert_eq!(draw(&[], fmt).as_deref(), Some("<no data for histogram>"));
        assert_eq!(draw(&[(1, 3)], fmt), None);
    }
}
