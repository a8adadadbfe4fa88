//! The discontinuities of state-dependent lags, located as events: the deviating argument
//! `α(t) = t − τ(u(t), p, t)` crossing an earlier discontinuity `ξ` makes `t` a discontinuity of
//! one order more (the right-hand side reads `u` at `ξ` there). Each lag is one continuous
//! callback on the shared loop with the condition `α(t) − ξ_next`, where `ξ_next` is the first
//! known discontinuity ahead of `α`; its affect records the new discontinuity and moves
//! `ξ_next` on. The state is not changed.

use crate::lags::LagFn;
use sciml_core::{One, Re, Real, State};
use sciml_ode::{ContinuousCallback, Crossing};
use std::sync::{Arc, Mutex, PoisonError};

/// The known discontinuities `(ξ, order)`, sorted by time, and what each lag's deviating
/// argument approaches next.
pub(crate) struct Tracked<R> {
    points: Vec<(R, u8)>,
    next: Vec<Option<usize>>,
    /// Times the events located (each is also in `points` if its order is tracked).
    pub(crate) located: Vec<R>,
    max_order: u8,
}

impl<R: Real> Tracked<R> {
    /// Starts from `t0` (a discontinuity of order `order0`), for `lags` lags, tracking orders
    /// up to `max_order`.
    pub(crate) fn new(t0: R, order0: u8, lags: usize, max_order: u8) -> Self {
        Tracked {
            points: vec![(t0, order0)],
            next: vec![None; lags],
            located: Vec::new(),
            max_order,
        }
    }

    /// The first discontinuity strictly ahead of `alpha` (beyond rounding).
    fn ahead(&self, alpha: R) -> Option<usize> {
        let slack = R::c(100.0) * R::epsilon() * alpha.abs().max(R::one());
        self.points.iter().position(|(x, _)| *x > alpha + slack)
    }
}

pub(crate) type SharedTracked<R> = Arc<Mutex<Tracked<R>>>;

fn lock<R>(s: &SharedTracked<R>) -> std::sync::MutexGuard<'_, Tracked<R>> {
    // A panic elsewhere cannot leave the list half-written: each update is one push or insert.
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sets every lag's next discontinuity from the state `(t, u)`.
fn refresh_next<V: State, P>(
    tr: &mut Tracked<Re<V>>,
    lags: &[LagFn<V, P>],
    u: &V,
    p: &P,
    t: Re<V>,
) {
    for (i, lag) in lags.iter().enumerate() {
        let alpha = t - lag(u, p, t);
        tr.next[i] = tr.ahead(alpha);
    }
}

/// One continuous callback per state-dependent lag, sharing `tracked`.
pub(crate) fn callbacks<V: State, P: Clone + Send + 'static>(
    lags: &[LagFn<V, P>],
    p: &P,
    u0: &V,
    t0: Re<V>,
    tracked: &SharedTracked<Re<V>>,
) -> Vec<ContinuousCallback<V>> {
    refresh_next(&mut lock(tracked), lags, u0, p, t0);
    (0..lags.len())
        .map(|i| {
            let (lag, p1, tr1) = (lags[i].clone(), p.clone(), tracked.clone());
            let (all, p2, tr2) = (lags.to_vec(), p.clone(), tracked.clone());
            ContinuousCallback::new(
                move |t: Re<V>, u: &V| {
                    let tr = lock(&tr1);
                    match tr.next[i] {
                        // α − ξ: crosses zero upwards when α reaches ξ.
                        Some(k) => t - lag(u, &p1, t) - tr.points[k].0,
                        None => -Re::<V>::one(),
                    }
                },
                move |ctx| {
                    let mut tr = lock(&tr2);
                    let crossed = tr.next[i].map(|k| tr.points[k]);
                    if let Some((_, order)) = crossed {
                        let order = order.saturating_add(1);
                        tr.located.push(ctx.t);
                        if order <= tr.max_order {
                            let pos = tr.points.partition_point(|(x, _)| *x <= ctx.t);
                            tr.points.insert(pos, (ctx.t, order));
                        }
                    }
                    refresh_next(&mut tr, &all, &*ctx.u, &p2, ctx.t);
                    // The event is located to a time tolerance, so α may sit a hair before
                    // the point it crossed: this lag moves past it regardless.
                    if let Some((xi, _)) = crossed {
                        tr.next[i] = tr.ahead(xi);
                    }
                },
            )
            .direction(Crossing::Up)
            .land_on_root(true)
        })
        .collect()
}
