//! Minibatches: a [`DataLoader`] that deals out indices of samples (trajectories, time points or
//! time windows) in shuffled batches with a fixed seed, and [`time_windows`] to cut a
//! trajectory into windows.
//!
//! Minibatching over time points (DiffEqFlux's minibatch tutorial) deals out indices of the
//! saved times; each batch is fitted by a solve saved at those times only:
//!
//! ```
//! use diffeqflux::data::DataLoader;
//! let t: Vec<f64> = (0..10).map(|i| 0.1 * i as f64).collect();
//! // Consecutive batches of 4 time points, in order, as in the tutorial.
//! let mut loader = DataLoader::new(t.len(), 4, 0)?.shuffle(false);
//! let times: Vec<f64> = loader.next_batch().iter().map(|&i| t[i]).collect();
//! assert_eq!(times, [0.0, 0.1, 0.2, 0.30000000000000004]);
//! assert_eq!(loader.next_batch(), &[4, 5, 6, 7]);
//! assert_eq!(loader.next_batch(), &[8, 9]); // the last batch of the epoch is shorter
//! assert_eq!(loader.next_batch(), &[0, 1, 2, 3]); // a new epoch, in order again
//! assert_eq!(loader.epoch(), 1);
//! # Ok::<(), diffeqflux::data::DataError>(())
//! ```

use sciml_core::rng::Xoshiro256pp;
use std::ops::Range;

/// What is wrong with a loader's or a window's setup.
///
/// ```
/// use diffeqflux::data::{DataError, DataLoader};
/// assert!(matches!(DataLoader::new(0, 4, 0), Err(DataError::Empty)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// No samples to deal out.
    #[error("the data set has no samples")]
    Empty,
    /// A batch, window or stride size of zero, or one larger than the data allow.
    #[error("{what} is {value}; it must be between 1 and {max}")]
    Size {
        /// Which size.
        what: &'static str,
        /// The value given.
        value: usize,
        /// The largest value allowed.
        max: usize,
    },
}

/// Deals out the indices `0..n` in batches, reshuffled at the start of every epoch (unless
/// shuffling is off) by a generator with a fixed seed, so a run is reproducible. The last batch
/// of an epoch is shorter when the batch size does not divide `n`, unless
/// [`DataLoader::drop_last`] drops it.
///
/// ```
/// use diffeqflux::data::DataLoader;
/// let mut a = DataLoader::new(10, 3, 42)?;
/// let mut b = DataLoader::new(10, 3, 42)?;
/// let epoch: Vec<Vec<usize>> = (0..4).map(|_| a.next_batch().to_vec()).collect();
/// let mut seen: Vec<usize> = epoch.concat();
/// seen.sort();
/// assert_eq!(seen, (0..10).collect::<Vec<_>>()); // every sample once per epoch
/// assert_eq!(b.next_batch(), &epoch[0][..]);       // same seed, same batches
/// # Ok::<(), diffeqflux::data::DataError>(())
/// ```
#[derive(Clone, Debug)]
pub struct DataLoader {
    order: Vec<usize>,
    batch_size: usize,
    shuffle: bool,
    drop_last: bool,
    rng: Xoshiro256pp,
    /// Where the next batch starts in `order`; `None` before the first batch.
    pos: Option<usize>,
    epoch: usize,
}

impl DataLoader {
    /// A loader over `n` samples in batches of `batch_size`, shuffled with `seed`.
    ///
    /// # Errors
    /// [`DataError::Empty`] for `n = 0`; [`DataError::Size`] for a batch size of 0 or above `n`.
    pub fn new(n: usize, batch_size: usize, seed: u64) -> Result<Self, DataError> {
        if n == 0 {
            return Err(DataError::Empty);
        }
        if batch_size == 0 || batch_size > n {
            return Err(DataError::Size {
                what: "batch size",
                value: batch_size,
                max: n,
            });
        }
        Ok(DataLoader {
            order: (0..n).collect(),
            batch_size,
            shuffle: true,
            drop_last: false,
            rng: Xoshiro256pp::new(seed),
            pos: None,
            epoch: 0,
        })
    }

    /// Whether to reshuffle at each epoch (default `true`); `false` deals `0..n` in order.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Whether to drop an epoch's last, shorter batch (default `false`).
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether there are no samples (never, for a loader that was built).
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let n = self.order.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The epoch the last batch came from (0-based).
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The next batch of sample indices; a new epoch (reshuffled) starts when one runs out.
    pub fn next_batch(&mut self) -> &[usize] {
        let n = self.order.len();
        let start = match self.pos {
            None => {
                self.begin_epoch();
                0
            }
            Some(p) if p >= n || (self.drop_last && p + self.batch_size > n) => {
                self.epoch += 1;
                self.begin_epoch();
                0
            }
            Some(p) => p,
        };
        let end = (start + self.batch_size).min(n);
        self.pos = Some(end);
        &self.order[start..end]
    }

    /// Fisher–Yates shuffle of the order (Knuth, TAOCP vol. 2, Algorithm 3.4.2 P).
    fn begin_epoch(&mut self) {
        if !self.shuffle {
            return;
        }
        for i in (1..self.order.len()).rev() {
            // Uniform in 0..=i; the modulo bias is below 2^-50 for any realistic n.
            let j = (self.rng.next_u64() % (i as u64 + 1)) as usize;
            self.order.swap(i, j);
        }
    }
}

/// Windows of `len` consecutive samples out of `n`, starting every `stride` samples (the last
/// window ends at or before `n`): the items a [`DataLoader`] shuffles when training on windows
/// of one long trajectory.
///
/// # Errors
/// [`DataError::Size`] for `len` of 0 or above `n`, or `stride` of 0.
///
/// ```
/// use diffeqflux::data::time_windows;
/// assert_eq!(time_windows(10, 4, 3)?, vec![0..4, 3..7, 6..10]);
/// assert_eq!(time_windows(10, 4, 4)?, vec![0..4, 4..8]);
/// # Ok::<(), diffeqflux::data::DataError>(())
/// ```
pub fn time_windows(n: usize, len: usize, stride: usize) -> Result<Vec<Range<usize>>, DataError> {
    if len == 0 || len > n {
        return Err(DataError::Size {
            what: "window length",
            value: len,
            max: n,
        });
    }
    if stride == 0 {
        return Err(DataError::Size {
            what: "stride",
            value: 0,
            max: n,
        });
    }
    Ok((0..=n - len).step_by(stride).map(|s| s..s + len).collect())
}
