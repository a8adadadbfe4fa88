//! How the samples are cut into windows that share their end points.

use super::ShootingError;
use std::ops::Range;

/// DiffEqFlux's `group_ranges(n, g)`: windows of `group_size` consecutive samples out of `n`,
/// each starting where the previous one ends (the last may be shorter). Ranges are 0-based and
/// half-open: DiffEqFlux's `[1:4, 4:7, 7:10]` is `[0..4, 3..7, 6..10]` here.
///
/// # Errors
/// [`ShootingError::GroupSize`] when `group_size < 2` or `group_size > n`.
///
/// ```
/// use diffeqflux::multiple_shooting::group_ranges;
/// assert_eq!(group_ranges(10, 4)?, vec![0..4, 3..7, 6..10]);
/// assert_eq!(group_ranges(10, 5)?, vec![0..5, 4..9, 8..10]);
/// assert!(group_ranges(10, 1).is_err());
/// # Ok::<(), diffeqflux::multiple_shooting::ShootingError>(())
/// ```
pub fn group_ranges(n: usize, group_size: usize) -> Result<Vec<Range<usize>>, ShootingError> {
    if group_size < 2 || group_size > n {
        return Err(ShootingError::GroupSize { group_size, n });
    }
    Ok((0..n - 1)
        .step_by(group_size - 1)
        .map(|start| start..(start + group_size).min(n))
        .collect())
}

/// `windows` windows sharing their end points over `n` samples, as even as possible: the
/// `n − 1` intervals between samples are dealt out, the first windows taking one more when they
/// do not divide evenly.
///
/// # Errors
/// [`ShootingError::WindowCount`] when `windows` is 0 or above `n − 1` (every window needs two
/// samples).
///
/// ```
/// use diffeqflux::multiple_shooting::windows_by_count;
/// assert_eq!(windows_by_count(10, 3)?, vec![0..4, 3..7, 6..10]);
/// assert_eq!(windows_by_count(9, 3)?, vec![0..4, 3..7, 6..9]); // 8 intervals: 3, 3, 2
/// assert!(windows_by_count(10, 10).is_err());
/// # Ok::<(), diffeqflux::multiple_shooting::ShootingError>(())
/// ```
pub fn windows_by_count(n: usize, windows: usize) -> Result<Vec<Range<usize>>, ShootingError> {
    if windows == 0 || n < 2 || windows > n - 1 {
        return Err(ShootingError::WindowCount { windows, n });
    }
    let (base, extra) = ((n - 1) / windows, (n - 1) % windows);
    let mut start = 0;
    Ok((0..windows)
        .map(|k| {
            let len = base + usize::from(k < extra);
            let r = start..start + len + 1;
            start += len;
            r
        })
        .collect())
}
