//! Continuous adjoints: the adjoint ODE `λ' = −(∂f/∂u)ᵀλ`, `μ' = −(∂f/∂p)ᵀλ` integrated backwards
//! from the end of the span, with `λ` jumping by the cotangent of each saved state at its time.
//! They differentiate the exact solution, so they agree with the discrete adjoint to the solver
//! tolerance, not to rounding. Step control of the backward solve uses the seminorm that leaves
//! the parameter adjoint `μ` out (as torchdiffeq and diffrax do).

mod backsolve;
mod fields;
mod gauss;
mod implicit;
mod interpolating;
mod quadrature;

pub use backsolve::{BacksolveAdjoint, BacksolveTape};
pub use fields::{InterpolatedAdjoint, LambdaAdjoint, NoCost};
pub use gauss::{GaussAdjoint, GaussTape};
pub use implicit::{InterpolatingAdjointWith, PackedAdjoint};
pub use interpolating::{InterpolatingAdjoint, InterpolatingTape};
pub use quadrature::{QuadratureAdjoint, QuadratureTape};

use sciml_core::{Error, Re, Real, Solution, SolveError, State, Stats, Tolerance, VectorField};
use sciml_ode::{OdeMethod, OdeProblem, SaveAt, SolveOptions};

/// Options of a backward (adjoint) solve: the forward tolerances as a seminorm over the first
/// `norm_len` components, saving only the end.
pub(crate) fn backward_opts<R: Real>(
    opts: &SolveOptions<R>,
    tb: R,
    norm_len: usize,
) -> SolveOptions<R> {
    let mut o = opts.clone();
    o.tol = Tolerance::clone(&opts.tol).with_norm_len(Some(norm_len));
    o.saveat = SaveAt::Times(vec![tb]);
    o.save_start = Some(false);
    o.save_end = None;
    o.dense = Some(false);
    o.tstops = Vec::new();
    o.dt = None;
    o.adaptive = None;
    o
}

/// Solves `field` from `y` over `(ta, tb)` and returns the state at `tb`, adding the work to
/// `stats`.
pub(crate) fn solve_segment<G: VectorField, M: OdeMethod<G>>(
    field: G,
    y: G::V,
    (ta, tb): (Re<G::V>, Re<G::V>),
    p: G::P,
    method: &M,
    opts: &SolveOptions<Re<G::V>>,
    stats: &mut Stats,
) -> Result<(G::V, G), SolveError<G::V>> {
    let mut prob = OdeProblem::new(field, y, (ta, tb), p)?;
    let sol = prob.solve(method.clone(), opts)?;
    *stats += &sol.stats;
    let end = sol.u.into_iter().last().ok_or(Error::Unsupported {
        method: "adjoint solve",
        what: "return its end state".into(),
    })?;
    Ok((end, prob.into_parts().0))
}

/// Rejects per-step saving, whose save times are not known before the solve and which a
/// continuous adjoint cannot jump at reliably.
pub(crate) fn require_saveat<R: Real>(
    method: &'static str,
    opts: &SolveOptions<R>,
) -> Result<(), Error> {
    if matches!(opts.saveat, SaveAt::Steps) {
        return Err(Error::Unsupported {
            method,
            what: "differentiate per-step saving (SaveAt::Steps); give the save times with SaveAt::Times or SaveAt::Every".into(),
        });
    }
    Ok(())
}

/// Rejects a problem with a mass matrix: the continuous adjoints integrate `λ′ = −Jᵀλ`, which
/// is not the adjoint of `M u′ = f` (a singular `M` needs the adjoint DAE), so their gradient
/// would be silently wrong.
pub(crate) fn refuse_mass<F: VectorField>(
    method: &'static str,
    prob: &OdeProblem<F>,
) -> Result<(), Error> {
    if prob.mass().is_some() {
        return Err(Error::Unsupported {
            method,
            what: "differentiate a problem with a mass matrix (its adjoint is a DAE); use \
                   DiscreteAdjoint with a Rosenbrock method or \
                   ForwardDiffSensitivity"
                .into(),
        });
    }
    Ok(())
}

/// The backward sweep every continuous adjoint shares: from the end of the span, integrate the
/// adjoint state down to each save time (last to first) with `segment(y, hi, lo, k)` (`k`: the
/// save at the lower end, `None` for the start of the span), add that save's cotangent with
/// `jump(y, k)`, and finally integrate down to the start. While the state is still zero (before
/// the first cotangent) nothing is integrated, unless `live` (a running cost forces the adjoint).
pub(crate) fn sweep<R: Real, Y, E>(
    save_times: &[R],
    (t0, t1): (R, R),
    mut y: Y,
    mut live: bool,
    mut segment: impl FnMut(Y, R, R, Option<usize>) -> Result<Y, E>,
    mut jump: impl FnMut(&mut Y, usize),
) -> Result<Y, E> {
    let mut t_cur = t1;
    for k in (0..save_times.len()).rev() {
        let tk = save_times[k];
        if live && tk != t_cur {
            y = segment(y, t_cur, tk, Some(k))?;
        }
        t_cur = tk;
        jump(&mut y, k);
        live = true;
    }
    if live && t_cur != t0 {
        y = segment(y, t_cur, t0, None)?;
    }
    Ok(y)
}

/// Converts an error of an adjoint solve (whose state type differs) into one of the forward type.
/// A failure of a backward (adjoint) solve, as an error of the forward state type: the code and
/// time are kept; the adjoint states saved so far are of another type and not a forward
/// solution, so the partial solution is empty.
pub(crate) fn lift_err<A: State, V: State>(e: SolveError<A>) -> SolveError<V> {
    match e {
        SolveError::Input(e) => SolveError::Input(e),
        SolveError::Failed { code, t, .. } => SolveError::Failed {
            code,
            t,
            partial: Box::new(Solution::empty()),
        },
    }
}

/// `dst += x`.
pub(crate) fn add_to<V: State>(dst: &mut V, x: &V) {
    use sciml_core::One;
    dst.axpy(Re::<V>::one(), x);
}

/// Gauss–Legendre nodes and weights on `[0, 1]` (`n` points, exact for degree `2n − 1`), from
/// Newton's method on the Legendre polynomial `P_n` (Golub–Welsch would do as well).
pub(crate) fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    for i in 0..n {
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 0.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, 0.0);
            for j in 0..n {
                let p2 = p1;
                p1 = p0;
                p0 = ((2 * j + 1) as f64 * z * p1 - j as f64 * p2) / (j + 1) as f64;
            }
            dp = n as f64 * (z * p0 - p1) / (z * z - 1.0);
            let dz = p0 / dp;
            z -= dz;
            if dz.abs() < 1e-16 {
                break;
            }
        }
        x[i] = 0.5 * (1.0 - z);
        w[i] = 1.0 / ((1.0 - z * z) * dp * dp);
    }
    (x, w)
}

#[cfg(test)]
mod tests {
    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        for n in 1..=10 {
            let (x, w) = super::gauss_legendre(n);
            for deg in 0..2 * n {
                let q: f64 = x.iter().zip(&w).map(|(x, w)| w * x.powi(deg as i32)).sum();
                assert!(
                    (q - 1.0 / (deg as f64 + 1.0)).abs() < 1e-14,
                    "n {n} deg {deg}: {q}"
                );
            }
        }
    }
}
