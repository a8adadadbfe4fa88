//! Every derivative provider checked against an independent reference: the analytic derivatives
//! of a test field, and central finite differences.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use sciml_core::{
    DenseMatrix, FiniteDiff, FnField, ForwardAd, GenericRhs, Jacobian, Jvp, Scalar, VectorField,
    Vjp,
};

/// A nonlinear 3-state, 3-parameter field with every elementary function the layers use:
/// f0 = p0 sin(u0) u1 + tanh(u2),  f1 = exp(-p1 u0) - u1^3 + t,  f2 = sqrt(1 + u0^2) p2 / (1 + u1^2).
struct Test3;
impl GenericRhs for Test3 {
    fn dims(&self) -> (usize, usize) {
        (3, 3)
    }
    fn scratch_len(&self) -> usize {
        1
    }
    fn eval<S: Scalar>(&self, t: S::Re, u: &[S], p: &[S], du: &mut [S], ws: &mut [S]) {
        ws[0] = (S::one() + u[0] * u[0]).sqrt();
        du[0] = p[0] * u[0].sin() * u[1] + u[2].tanh();
        du[1] = (-(p[1] * u[0])).exp() - u[1].powi(3) + S::from_re(t);
        du[2] = ws[0] * p[2] / (S::one() + u[1] * u[1]);
    }
}

/// The analytic Jacobians of `Test3`: (∂f/∂u, ∂f/∂p), row-major 3x3 each.
fn analytic(u: &[f64], p: &[f64]) -> ([[f64; 3]; 3], [[f64; 3]; 3]) {
    let s = (1.0 + u[0] * u[0]).sqrt();
    let d = 1.0 + u[1] * u[1];
    let e = (-p[1] * u[0]).exp();
    let ju = [
        [
            p[0] * u[0].cos() * u[1],
            p[0] * u[0].sin(),
            1.0 - u[2].tanh().powi(2),
        ],
        [-p[1] * e, -3.0 * u[1] * u[1], 0.0],
        [u[0] / s * p[2] / d, -s * p[2] * 2.0 * u[1] / (d * d), 0.0],
    ];
    let jp = [
        [u[0].sin() * u[1], 0.0, 0.0],
        [0.0, -u[0] * e, 0.0],
        [0.0, 0.0, s / d],
    ];
    (ju, jp)
}

fn closure_field() -> impl Jvp<V = Vec<f64>, P = Vec<f64>> + Vjp + Jacobian {
    let rhs = |t: f64, u: &[f64], p: &[f64], du: &mut [f64]| {
        let mut ws = [0.0];
        Test3.eval(t, u, p, du, &mut ws);
    };
    FnField::new(3, 3, rhs)
        .with_jvp(|_t, u, p, vu, vp, out| {
            let (ju, jp) = analytic(u, p);
            for i in 0..3 {
                out[i] = (0..3).map(|j| ju[i][j] * vu[j] + jp[i][j] * vp[j]).sum();
            }
        })
        .with_vjp(|_t, u, p, w, gu, gp| {
            let (ju, jp) = analytic(u, p);
            for j in 0..3 {
                gu[j] += (0..3).map(|i| ju[i][j] * w[i]).sum::<f64>();
                gp[j] += (0..3).map(|i| jp[i][j] * w[i]).sum::<f64>();
            }
        })
        .with_jacobian(|_t, u, p, jac| {
            let (ju, _) = analytic(u, p);
            for i in 0..3 {
                for j in 0..3 {
                    jac[(i, j)] = ju[i][j];
                }
            }
        })
}

const U: [f64; 3] = [0.7, -0.4, 0.3];
const P: [f64; 3] = [1.3, 0.8, -0.6];
const T: f64 = 0.25;

/// Checks a provider's JVPs, VJPs and Jacobian against the analytic derivatives to `tol`.
fn check_provider<F>(f: &mut F, tol: f64)
where
    F: VectorField<V = Vec<f64>, P = Vec<f64>> + Jvp + Vjp + Jacobian,
{
    let (u, p) = (U.to_vec(), P.to_vec());
    let (ju, jp) = analytic(&u, &p);
    let vu = vec![0.3, -1.1, 0.5];
    let vp = vec![-0.2, 0.9, 1.7];
    let w = vec![1.5, -0.5, 0.25];
    let close = |a: f64, b: f64, what: &str| {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what}: {a} vs {b}");
    };

    let mut out = vec![0.0; 3];
    f.jvp_u(T, &u, &p, &vu, &mut out);
    for i in 0..3 {
        close(out[i], (0..3).map(|j| ju[i][j] * vu[j]).sum(), "jvp_u");
    }
    f.jvp_p(T, &u, &p, &vp, &mut out);
    for i in 0..3 {
        close(out[i], (0..3).map(|j| jp[i][j] * vp[j]).sum(), "jvp_p");
    }
    // VJPs accumulate: start from a non-zero gradient.
    let mut gu = vec![1.0; 3];
    let mut gp = vec![-1.0; 3];
    f.vjp(T, &u, &p, &w, &mut gu, &mut gp);
    for j in 0..3 {
        close(
            gu[j],
            1.0 + (0..3).map(|i| ju[i][j] * w[i]).sum::<f64>(),
            "vjp u",
        );
        close(
            gp[j],
            -1.0 + (0..3).map(|i| jp[i][j] * w[i]).sum::<f64>(),
            "vjp p",
        );
    }
    let mut jac = DenseMatrix::zeros(3, 3);
    f.jacobian(T, &u, &p, &mut jac);
    for i in 0..3 {
        for j in 0..3 {
            close(jac[(i, j)], ju[i][j], "jacobian");
        }
    }
}

#[test]
fn forward_ad_matches_analytic_derivatives_to_rounding() {
    let mut f = ForwardAd::new(Test3);
    check_provider(&mut f, 1e-14);
    const { assert!(<ForwardAd<Test3> as Jvp>::EXACT) };
}

#[test]
fn user_closures_match_analytic_derivatives() {
    let mut f = closure_field();
    check_provider(&mut f, 1e-14);
}

#[test]
fn finite_differences_match_analytic_derivatives_to_truncation_error() {
    // Central differences with h ~ eps^(1/3): error ~ eps^(2/3) ~ 4e-11 times the scale.
    let mut f = FiniteDiff::new(closure_field());
    check_provider(&mut f, 1e-8);
    const { assert!(!<FiniteDiff<ForwardAd<Test3>> as Jvp>::EXACT) };
}

#[test]
fn forward_ad_agrees_with_finite_differences_of_itself() {
    // Independent of the analytic formulas: AD against central differences of the same field.
    let mut ad = ForwardAd::new(Test3);
    let mut fd = FiniteDiff::new(ForwardAd::new(Test3));
    let (u, p) = (U.to_vec(), P.to_vec());
    let w = vec![0.3, 0.6, -0.9];
    let (mut gu1, mut gp1) = (vec![0.0; 3], vec![0.0; 3]);
    let (mut gu2, mut gp2) = (vec![0.0; 3], vec![0.0; 3]);
    ad.vjp(T, &u, &p, &w, &mut gu1, &mut gp1);
    fd.vjp(T, &u, &p, &w, &mut gu2, &mut gp2);
    for i in 0..3 {
        assert!((gu1[i] - gu2[i]).abs() < 1e-8, "{gu1:?} {gu2:?}");
        assert!((gp1[i] - gp2[i]).abs() < 1e-8, "{gp1:?} {gp2:?}");
    }
}

#[test]
fn forward_ad_over_dual_states_nests() {
    // A field evaluated in dual numbers (as when duals flow through a solver) still has exact JVPs:
    // d/dε [J(u + ε a) v] = (∂²f/∂u²)[a, v], checked against differences of analytic J.
    use sciml_core::Dual64;
    let mut f = ForwardAd::<Test3, Dual64>::with_scalar(Test3);
    let a = [0.2, -0.3, 0.1];
    let u: Vec<Dual64> = (0..3).map(|i| Dual64::new(U[i], a[i])).collect();
    let p: Vec<Dual64> = P.iter().map(|x| Dual64::constant(*x)).collect();
    let v: Vec<Dual64> = vec![
        Dual64::constant(1.0),
        Dual64::constant(0.0),
        Dual64::constant(0.0),
    ];
    let mut out = vec![Dual64::constant(0.0); 3];
    f.jvp_u(T, &u, &p, &v, &mut out);
    let h = 1e-6;
    let col0 = |s: f64| {
        let up: Vec<f64> = (0..3).map(|i| U[i] + s * a[i]).collect();
        let (ju, _) = analytic(&up, &P);
        [ju[0][0], ju[1][0], ju[2][0]]
    };
    let (cp, cm, c0) = (col0(h), col0(-h), col0(0.0));
    for i in 0..3 {
        assert!((out[i].re() - c0[i]).abs() < 1e-14);
        let fd = (cp[i] - cm[i]) / (2.0 * h);
        assert!((out[i].eps() - fd).abs() < 1e-7, "{} vs {fd}", out[i].eps());
    }
}
