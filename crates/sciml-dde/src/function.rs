//! The right-hand side of a delay equation: `du = f(u, h, p, t)`, where `h` reads the state at
//! earlier times.

use crate::history::History;
use sciml_core::{Re, State};
use std::marker::PhantomData;

/// A delay equation's right-hand side: writes `du = f(u, h, p, t)`; `h` ([`History`]) gives
/// `u` at earlier times. Implement it on a type of your own to be generic over the scalar
/// (f32, f64, dual numbers); [`DdeFn`] wraps a closure for one state type.
pub trait DdeFunction {
    /// The state.
    type V: State;
    /// The (flat) parameters, with the same scalar as the state.
    type P: State<S = <Self::V as State>::S>;
    /// `(number of state components, number of parameters)`.
    fn dims(&self) -> (usize, usize);
    /// `du = f(u, h, p, t)`.
    fn rhs(
        &mut self,
        du: &mut Self::V,
        u: &Self::V,
        h: &mut History<'_, Self::V, Self::P>,
        p: &Self::P,
        t: Re<Self::V>,
    );
}

/// A closure as a [`DdeFunction`]: `f(du, u, h, p, t)`.
///
/// ```
/// use sciml_dde::{DdeFn, History};
/// // u'(t) = -u(t - 1)
/// let f = DdeFn::new(1, 0, |du: &mut Vec<f64>, _u: &Vec<f64>, h: &mut History<'_, Vec<f64>, Vec<f64>>, _p: &Vec<f64>, t: f64| {
///     du[0] = -h.value(t - 1.0)[0];
/// });
/// # let _ = f;
/// ```
pub struct DdeFn<V, P, C> {
    n: usize,
    np: usize,
    f: C,
    _types: PhantomData<fn(V, P)>,
}

impl<V, P, C> DdeFn<V, P, C>
where
    V: State,
    P: State<S = V::S>,
    C: FnMut(&mut V, &V, &mut History<'_, V, P>, &P, Re<V>),
{
    /// `f` on states of length `n` with `np` parameters.
    pub fn new(n: usize, np: usize, f: C) -> Self {
        DdeFn {
            n,
            np,
            f,
            _types: PhantomData,
        }
    }
}

impl<V, P, C> DdeFunction for DdeFn<V, P, C>
where
    V: State,
    P: State<S = V::S>,
    C: FnMut(&mut V, &V, &mut History<'_, V, P>, &P, Re<V>),
{
    type V = V;
    type P = P;
    fn dims(&self) -> (usize, usize) {
        (self.n, self.np)
    }
    #[inline]
    fn rhs(&mut self, du: &mut V, u: &V, h: &mut History<'_, V, P>, p: &P, t: Re<V>) {
        (self.f)(du, u, h, p, t)
    }
}
