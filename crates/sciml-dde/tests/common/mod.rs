//! Shared test fixtures: the linear delay equation and its exact solution in rationals.
#![allow(dead_code)]

use sciml_dde::{DdeFn, DdeFunction, DdeProblem, History, InitialHistory};

/// A fraction of `i128`s in lowest terms (enough for the method of steps up to t = 10).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Q(pub i128, pub i128);

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

impl Q {
    pub fn new(n: i128, d: i128) -> Q {
        let g = gcd(n, d).max(1) * d.signum();
        Q(n / g, d / g)
    }
    pub fn add(self, o: Q) -> Q {
        Q::new(self.0 * o.1 + o.0 * self.1, self.1 * o.1)
    }
    pub fn neg(self) -> Q {
        Q(-self.0, self.1)
    }
    pub fn mul(self, o: Q) -> Q {
        Q::new(self.0 * o.0, self.1 * o.1)
    }
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / self.1 as f64
    }
}

/// The exact solution of `u'(t) = -u(t - 1)`, `u = 1` for `t <= 0`, by the method of steps in
/// exact rational arithmetic: on `[k, k + 1]`, with `s = t - k`,
/// `u_k(s) = u_{k-1}(1) - ∫_0^s u_{k-1}(σ) dσ`, starting from `u_{-1} = 1`.
pub struct LinearExact {
    /// Coefficients (in `s`, ascending) of the polynomial on `[k, k + 1]`.
    pieces: Vec<Vec<Q>>,
}

fn peval(p: &[Q], s: Q) -> Q {
    p.iter().rev().fold(Q(0, 1), |acc, c| acc.mul(s).add(*c))
}

impl LinearExact {
    pub fn new(t_max: usize) -> Self {
        let mut prev = vec![Q(1, 1)];
        let mut pieces = Vec::new();
        for _ in 0..t_max {
            let start = peval(&prev, Q(1, 1));
            let mut next = vec![start];
            for (i, c) in prev.iter().enumerate() {
                next.push(c.neg().mul(Q::new(1, i as i128 + 1)));
            }
            pieces.push(next.clone());
            prev = next;
        }
        LinearExact { pieces }
    }
    /// `u(k)` exactly, for an integer `k >= 1`.
    pub fn at_integer(&self, k: usize) -> Q {
        peval(&self.pieces[k - 1], Q(1, 1))
    }
    /// `u(t)` for `0 <= t <= t_max` (coefficients exact, evaluated in f64).
    pub fn at(&self, t: f64) -> f64 {
        let k = (t.floor() as usize).min(self.pieces.len() - 1);
        let s = t - k as f64;
        self.pieces[k]
            .iter()
            .rev()
            .fold(0.0, |acc, c| acc * s + c.to_f64())
    }
}

pub type LinearField = DdeFn<
    Vec<f64>,
    Vec<f64>,
    fn(&mut Vec<f64>, &Vec<f64>, &mut History<'_, Vec<f64>, Vec<f64>>, &Vec<f64>, f64),
>;

fn linear_rhs(
    du: &mut Vec<f64>,
    _u: &Vec<f64>,
    h: &mut History<'_, Vec<f64>, Vec<f64>>,
    _p: &Vec<f64>,
    t: f64,
) {
    du[0] = -h.value(t - 1.0)[0];
}

/// `u'(t) = -u(t - 1)`, `u = 1` before 0, on `[0, t1]`.
pub fn linear_problem(t1: f64) -> DdeProblem<LinearField> {
    let f: LinearField = DdeFn::new(1, 0, linear_rhs);
    DdeProblem::new(
        f,
        vec![1.0],
        InitialHistory::constant(vec![1.0]),
        (0.0, t1),
        vec![],
    )
    .expect("valid problem")
    .with_lags(vec![1.0])
    .expect("valid lag")
}

/// Least-squares slope of `log(err)` against `log(h)`.
pub fn fitted_order(hs: &[f64], errs: &[f64]) -> f64 {
    let xs: Vec<f64> = hs.iter().map(|h| h.ln()).collect();
    let ys: Vec<f64> = errs.iter().map(|e| e.ln()).collect();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let num: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    num / den
}

/// Silences "unused" for helpers a test file does not use.
pub fn _dims<F: DdeFunction>(f: &F) -> (usize, usize) {
    f.dims()
}
