//! Shared test fixtures: the linear delay equation and its exact solution in rationals.
#![allow(clippy::ptr_arg)]
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
        Self::with_rate(1, t_max)
    }
    /// The solution of `u'(t) = -λ u(t - 1)` (`λ` an integer), `u = 1` for `t <= 0`.
    pub fn with_rate(lambda: i128, t_max: usize) -> Self {
        let mut prev = vec![Q(1, 1)];
        let mut pieces = Vec::new();
        for _ in 0..t_max {
            let start = peval(&prev, Q(1, 1));
            let mut next = vec![start];
            for (i, c) in prev.iter().enumerate() {
                next.push(c.neg().mul(Q::new(lambda, i as i128 + 1)));
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
    p: &Vec<f64>,
    t: f64,
) {
    du[0] = -p[0] * h.value(t - 1.0)[0];
}

/// `u'(t) = -u(t - 1)`, `u = 1` before 0, on `[0, t1]`.
pub fn linear_problem(t1: f64) -> DdeProblem<LinearField> {
    scaled_linear_problem(1.0, t1)
}

/// `u'(t) = -λ u(t - 1)`, `u = 1` before 0, on `[0, t1]` (`λ` is the parameter).
pub fn scaled_linear_problem(lambda: f64, t1: f64) -> DdeProblem<LinearField> {
    let f: LinearField = DdeFn::new(1, 1, linear_rhs);
    let history = InitialHistory::constant(vec![1.0]);
    DdeProblem::new(f, vec![1.0], history, (0.0, t1), vec![lambda])
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

/// `u'(t) = -λ u(t - 1)` with the history `u = e^{μt}` before 0: not polynomial on any piece,
/// so no method integrates a piece exactly. By the method of steps, on `[k, k + 1]`
/// (`s = t - k`) `u = e^{μs} A_k(s) + B_k(s)` with polynomials `A_k`, `B_k`:
/// `u_k(s) = u_{k-1}(1) - λ ∫_0^s u_{k-1}`, where `∫_0^s e^{μσ} A = e^{μs} Ã(s) - Ã(0)` with
/// `μÃ + Ã' = A`, i.e. `Ã = (1/μ) Σ_m (-1/μ)^m A^(m)`. Coefficients in f64.
pub struct ExpHistoryExact {
    mu: f64,
    pieces: Vec<(Vec<f64>, Vec<f64>)>,
}

fn pval(p: &[f64], s: f64) -> f64 {
    p.iter().rev().fold(0.0, |acc, c| acc * s + c)
}

impl ExpHistoryExact {
    pub fn new(lambda: f64, mu: f64, t_max: usize) -> Self {
        let (mut a, mut b) = (vec![(-mu).exp()], vec![0.0]);
        let mut pieces = Vec::new();
        for _ in 0..t_max {
            let end = mu.exp() * pval(&a, 1.0) + pval(&b, 1.0);
            let mut at = vec![0.0; a.len()];
            let mut d = a.clone();
            let mut w = 1.0 / mu;
            while !d.is_empty() {
                for (x, y) in at.iter_mut().zip(&d) {
                    *x += w * y;
                }
                d = d
                    .iter()
                    .enumerate()
                    .skip(1)
                    .map(|(i, c)| c * i as f64)
                    .collect();
                w *= -1.0 / mu;
            }
            let new_a: Vec<f64> = at.iter().map(|c| -lambda * c).collect();
            let mut new_b = vec![end + lambda * at[0]];
            for (i, c) in b.iter().enumerate() {
                new_b.push(-lambda * c / (i as f64 + 1.0));
            }
            a = new_a;
            b = new_b;
            pieces.push((a.clone(), b.clone()));
        }
        ExpHistoryExact { mu, pieces }
    }
    /// `u(t)` for `0 <= t <= t_max`.
    pub fn at(&self, t: f64) -> f64 {
        let k = (t.floor() as usize).min(self.pieces.len() - 1);
        let s = t - k as f64;
        let (a, b) = &self.pieces[k];
        (self.mu * s).exp() * pval(a, s) + pval(b, s)
    }
}

pub type ExpField = DdeFn<
    Vec<f64>,
    Vec<f64>,
    fn(&mut Vec<f64>, &Vec<f64>, &mut History<'_, Vec<f64>, Vec<f64>>, &Vec<f64>, f64),
>;

/// `u'(t) = -λ u(t - 1)`, `u = e^{μt}` before 0 (`λ` is the parameter), on `[0, t1]`.
pub fn exp_history_problem(lambda: f64, mu: f64, t1: f64) -> DdeProblem<ExpField> {
    let f: ExpField = DdeFn::new(1, 1, linear_rhs);
    let history = InitialHistory::function(move |_p: &Vec<f64>, t: f64, out: &mut Vec<f64>| {
        out[0] = (mu * t).exp();
    });
    DdeProblem::new(f, vec![1.0], history, (0.0, t1), vec![lambda])
        .expect("valid problem")
        .with_lags(vec![1.0])
        .expect("valid lag")
}
