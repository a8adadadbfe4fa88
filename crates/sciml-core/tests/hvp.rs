//! Hessian-vector products of `ForwardAd` against central differences of its exact VJP.
#![allow(clippy::unwrap_used)]

use sciml_core::{ForwardAd, GenericRhs, Hvp, Scalar, Vjp};

/// Nonlinear in u and p, coupling both: f = (p0 u0² u1 + sin u1, p1 exp(u0) u1 − u0 u1³).
struct Field;
impl GenericRhs for Field {
    fn dims(&self) -> (usize, usize) {
        (2, 2)
    }
    fn eval<S: Scalar>(&self, _t: S::Re, u: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        du[0] = p[0] * u[0] * u[0] * u[1] + u[1].sin();
        du[1] = p[1] * u[0].exp() * u[1] - u[0] * u[1].powi(3);
    }
}

#[test]
fn hvp_matches_differences_of_the_vjp() {
    let (u, p) = (vec![0.3, -0.7], vec![1.3, 0.4]);
    let (w, v) = (vec![0.6, -1.1], vec![0.25, 0.8]);
    let mut f = ForwardAd::new(Field);
    let (mut gu, mut gp) = (vec![0.0; 2], vec![0.0; 2]);
    f.hvp(0.0, &u, &p, &w, &v, &mut gu, &mut gp);
    // ∇_x (wᵀ J(u) v) = d/dε [J(u + εv)ᵀ w] (symmetry of second derivatives).
    let h = 1e-5;
    let vjp_at = |eps: f64| {
        let mut f = ForwardAd::new(Field);
        let ue: Vec<f64> = u.iter().zip(&v).map(|(a, b)| a + eps * b).collect();
        let (mut a, mut b) = (vec![0.0; 2], vec![0.0; 2]);
        f.vjp(0.0, &ue, &p, &w, &mut a, &mut b);
        (a, b)
    };
    let ((ap, bp), (am, bm)) = (vjp_at(h), vjp_at(-h));
    for k in 0..2 {
        let fdu = (ap[k] - am[k]) / (2.0 * h);
        let fdp = (bp[k] - bm[k]) / (2.0 * h);
        assert!(
            (gu[k] - fdu).abs() < 1e-8 * fdu.abs().max(1.0),
            "u {k}: {} vs {fdu}",
            gu[k]
        );
        assert!(
            (gp[k] - fdp).abs() < 1e-8 * fdp.abs().max(1.0),
            "p {k}: {} vs {fdp}",
            gp[k]
        );
    }
    // Accumulates.
    f.hvp(0.0, &u, &p, &w, &v, &mut gu, &mut gp);
    let mut once = (vec![0.0; 2], vec![0.0; 2]);
    f.hvp(0.0, &u, &p, &w, &v, &mut once.0, &mut once.1);
    assert!((gu[0] - 2.0 * once.0[0]).abs() < 1e-14);
}
