//! Vector-Jacobian products of a delay right-hand side `f(u, h, p, t)` with respect to the
//! state, every history value it read, and the parameters: what the discrete adjoint pulls a
//! stage's cotangent through.

use sciml_core::{Dual64, Error, Real};
use sciml_dde::{DdeFunction, History, HistorySource};

/// Where a right-hand side is evaluated, and the cotangent `v` of its output.
#[derive(Clone, Copy, Debug)]
pub struct DdeVjpArgs<'a, R = f64> {
    /// The time.
    pub t: R,
    /// The state.
    pub u: &'a [R],
    /// The parameters.
    pub p: &'a [R],
    /// The values the right-hand side read from its history at `(u, p, t)`, in the order it
    /// read them (one state-length vector per read).
    pub reads: &'a [Vec<R>],
    /// The cotangent of `du`.
    pub v: &'a [R],
}

/// Where a VJP adds its results.
#[derive(Debug)]
pub struct DdeVjpBars<'a, R = f64> {
    /// `+= vᵀ ∂f/∂u`.
    pub ubar: &'a mut [R],
    /// `hbar[r] += vᵀ ∂f/∂h_r` for the `r`-th history read.
    pub hbar: &'a mut [Vec<R>],
    /// `+= vᵀ ∂f/∂p`.
    pub pbar: &'a mut [R],
}

/// A delay right-hand side over `Vec<f64>` with a vector-Jacobian product: what
/// [`crate::dde::DdeDiscreteAdjoint`] needs. The history reads are inputs like `u` and `p`;
/// the derivative of a read's *time* (a state-dependent lag's dependence on `u`) is not part of
/// it, as it is not in the dual-number path either, since the history takes a real time.
///
/// Implement it with a hand-written reverse pass, or in one line with [`dual_vjp`] (forward
/// columns in dual numbers) for a function that is [`crate::dde::DualDde`]:
///
/// ```
/// use sciml_dde::{DdeFunction, History};
/// use sciml_core::{Dual64, Scalar};
/// use sciml_sensitivity::dde::{dual_vjp, DdeVjp, DdeVjpArgs, DdeVjpBars};
/// #[derive(Clone)]
/// struct Lin<S>(std::marker::PhantomData<S>);
/// impl<S: Scalar<Re = f64>> DdeFunction for Lin<S> {
///     type V = Vec<S>;
///     type P = Vec<S>;
///     fn dims(&self) -> (usize, usize) { (1, 1) }
///     fn rhs(&mut self, du: &mut Vec<S>, _u: &Vec<S>, h: &mut History<'_, Vec<S>, Vec<S>>, p: &Vec<S>, t: f64) {
///         du[0] = -(p[0] * h.value(t - 1.0)[0]);
///     }
/// }
/// impl DdeVjp for Lin<f64> {
///     fn vjp(&mut self, a: DdeVjpArgs<'_>, b: DdeVjpBars<'_>) -> Result<(), sciml_core::Error> {
///         dual_vjp(&mut Lin::<Dual64>(std::marker::PhantomData), a, b)
///     }
/// }
/// // d(-p h)/dh = -p, d/dp = -h.
/// let (mut ub, mut hb, mut pb) = (vec![0.0], vec![vec![0.0]], vec![0.0]);
/// let args = DdeVjpArgs { t: 2.0, u: &[0.3], p: &[0.5], reads: &[vec![4.0]], v: &[1.0] };
/// Lin::<f64>(std::marker::PhantomData)
///     .vjp(args, DdeVjpBars { ubar: &mut ub, hbar: &mut hb, pbar: &mut pb })?;
/// assert_eq!((ub[0], hb[0][0], pb[0]), (0.0, -0.5, -4.0));
/// # Ok::<(), sciml_core::Error>(())
/// ```
/// `R` is the real scalar of the state (`f64` by default; `f32` for single-precision training).
pub trait DdeVjp<R: Real = f64>: DdeFunction<V = Vec<R>, P = Vec<R>> {
    /// Adds `vᵀ ∂f/∂u`, `vᵀ ∂f/∂h_r` and `vᵀ ∂f/∂p` at `args` into `bars`. An `Err` when the
    /// right-hand side, replayed with the recorded reads, read a different number of times.
    fn vjp(&mut self, args: DdeVjpArgs<'_, R>, bars: DdeVjpBars<'_, R>) -> Result<(), Error>;

    /// Makes the history reads `rhs` makes at `(u, p, t)`, in the same order; the adjoint
    /// calls it to learn where each read comes from before the VJP. Returns whether it
    /// evaluated the right-hand side (counted in the statistics). The default evaluates `rhs`
    /// (into `du`); a field whose reads do not depend on the rest of its evaluation (constant
    /// lags) can make the reads alone and return `false`.
    fn replay_reads(
        &mut self,
        du: &mut Vec<R>,
        u: &Vec<R>,
        h: &mut History<'_, Vec<R>, Vec<R>>,
        p: &Vec<R>,
        t: R,
    ) -> bool {
        self.rhs(du, u, h, p, t);
        true
    }
}

/// Serves recorded history values in order, one of their components carrying the tangent.
struct SeededReads<'a> {
    reads: &'a [Vec<f64>],
    next: usize,
    /// `(read, component)` whose tangent is 1.
    seed: Option<(usize, usize)>,
}

impl HistorySource<Vec<Dual64>> for SeededReads<'_> {
    fn read(&mut self, _t: f64, _tq: f64, out: &mut Vec<Dual64>) {
        let r = self.next;
        self.next += 1;
        match self.reads.get(r) {
            Some(v) if v.len() == out.len() => {
                for (i, (o, x)) in out.iter_mut().zip(v).enumerate() {
                    let eps = if self.seed == Some((r, i)) { 1.0 } else { 0.0 };
                    *o = Dual64::new(*x, eps);
                }
            }
            // More reads than recorded: NaNs, and the count check reports it.
            _ => out.iter_mut().for_each(|o| *o = Dual64::constant(f64::NAN)),
        }
    }
}

/// `vᵀ ∂f` by forward mode: one evaluation of the dual-valued right-hand side `g` per input
/// component (`n` state, `n` per history read, `np` parameters), each seeding one tangent.
/// Exact, and cheap for small systems; a hand-written reverse pass is one evaluation instead.
pub fn dual_vjp<G>(g: &mut G, args: DdeVjpArgs<'_>, bars: DdeVjpBars<'_>) -> Result<(), Error>
where
    G: DdeFunction<V = Vec<Dual64>, P = Vec<Dual64>>,
{
    let DdeVjpArgs { t, u, p, reads, v } = args;
    let (n, np) = (u.len(), p.len());
    let lift = |x: &[f64]| x.iter().map(|y| Dual64::constant(*y)).collect::<Vec<_>>();
    let (mut ud, mut pd) = (lift(u), lift(p));
    let mut du = vec![Dual64::constant(0.0); v.len()];
    let mut scratch = vec![Dual64::constant(0.0); n];
    let mut column = |g: &mut G,
                      ud: &Vec<Dual64>,
                      pd: &Vec<Dual64>,
                      seed: Option<(usize, usize)>|
     -> Result<f64, Error> {
        let mut src = SeededReads {
            reads,
            next: 0,
            seed,
        };
        {
            let mut h = History::replay(&mut src, t, &mut scratch);
            g.rhs(&mut du, ud, &mut h, pd, t);
        }
        if src.next != reads.len() {
            return Err(Error::DimensionMismatch {
                what: "history reads of a replayed right-hand side (it must read the same times \
                       in the same order for the same inputs)"
                    .into(),
                expected: reads.len(),
                got: src.next,
            });
        }
        Ok(du.iter().zip(v).map(|(d, w)| d.eps() * w).sum())
    };
    for i in 0..n {
        ud[i] = Dual64::new(u[i], 1.0);
        bars.ubar[i] += column(g, &ud, &pd, None)?;
        ud[i] = Dual64::constant(u[i]);
    }
    for (r, hb) in bars.hbar.iter_mut().enumerate() {
        for (i, x) in hb.iter_mut().enumerate() {
            *x += column(g, &ud, &pd, Some((r, i)))?;
        }
    }
    for k in 0..np {
        pd[k] = Dual64::new(p[k], 1.0);
        bars.pbar[k] += column(g, &ud, &pd, None)?;
        pd[k] = Dual64::constant(p[k]);
    }
    Ok(())
}
