//! Training on minibatches: the trainer draws the next batch from a [`DataLoader`] before each
//! iteration.

use super::{TrainError, TrainReport, Trainer};
use crate::data::DataLoader;
use crate::optim::{BoxError, Optimiser};
use serde::Serialize;

impl<O: Optimiser> Trainer<O> {
    /// [`Trainer::train`] on minibatches: before each iteration the next batch of sample
    /// indices is drawn from `loader` (a new, reshuffled epoch when one runs out) and passed
    /// to the loss `f(params, grad, batch)`.
    ///
    /// # Errors
    /// As [`Trainer::train`].
    ///
    /// ```
    /// use diffeqflux::data::DataLoader;
    /// use diffeqflux::optim::Sgd;
    /// use diffeqflux::train::{TrainOptions, Trainer};
    /// // Fit the mean of 1..=8 from batches of 2: the minimiser of Σ (x − y_i)².
    /// let ys: Vec<f64> = (1..=8).map(f64::from).collect();
    /// let mut loader = DataLoader::new(ys.len(), 2, 0)?;
    /// let mut t = Trainer::new(Sgd::new(0.05)?, TrainOptions::new(400)?.with_progress(false));
    /// let mut p = vec![0.0];
    /// t.train_batches(&mut p, &mut loader, |x, g, batch| {
    ///     let r: Vec<f64> = batch.iter().map(|&i| x[0] - ys[i]).collect();
    ///     g[0] = r.iter().sum::<f64>();
    ///     Ok(r.iter().map(|v| 0.5 * v * v).sum())
    /// })?;
    /// assert!((p[0] - 4.5).abs() < 0.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn train_batches<F>(
        &mut self,
        params: &mut [f64],
        loader: &mut DataLoader,
        mut f: F,
    ) -> Result<TrainReport, TrainError>
    where
        F: FnMut(&[f64], &mut [f64], &[usize]) -> Result<f64, BoxError>,
        O: Serialize,
    {
        self.train(params, |p, g| {
            let batch = loader.next_batch();
            f(p, g, batch)
        })
    }
}
