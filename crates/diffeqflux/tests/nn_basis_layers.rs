//! Basis layers: the bases against closed forms, TensorLayer and SplineLayer VJPs and JVPs
//! against central differences, spline interpolation and smoothness, and the fit tests of the
//! issue.

use diffeqflux::nn::{Basis, Input, Layer, SplineKind, SplineLayer, TensorLayer};
use diffeqflux::optim::{Adam, Optimiser};
use sciml_core::rng::Xoshiro256pp;

#[test]
fn bases_match_their_closed_forms_and_derivatives_match_differences() {
    let n = 6;
    let (mut v, mut d) = (vec![0.0; n], vec![0.0; n]);
    for &x in &[-0.9, -0.3, 0.0, 0.45, 0.8] {
        Basis::Chebyshev(n).eval(x, &mut v, &mut d);
        for (k, vk) in v.iter().enumerate() {
            assert!((vk - (k as f64 * f64::acos(x)).cos()).abs() < 1e-13);
        }
        Basis::Legendre(n).eval(x, &mut v, &mut d);
        let p = [
            1.0,
            x,
            0.5 * (3.0 * x * x - 1.0),
            0.5 * (5.0 * x * x * x - 3.0 * x),
            (35.0 * x.powi(4) - 30.0 * x * x + 3.0) / 8.0,
            (63.0 * x.powi(5) - 70.0 * x.powi(3) + 15.0 * x) / 8.0,
        ];
        for (a, b) in v.iter().zip(p) {
            assert!((a - b).abs() < 1e-14);
        }
        Basis::Fourier(5).eval(x, &mut v, &mut d);
        let f = [1.0, x.sin(), x.cos(), (2.0 * x).sin(), (2.0 * x).cos()];
        for (a, b) in v.iter().zip(f) {
            assert!((a - b).abs() < 1e-15);
        }
    }
    let bases = [
        Basis::Chebyshev(n),
        Basis::Sin(n),
        Basis::Cos(n),
        Basis::Fourier(n),
        Basis::Legendre(n),
        Basis::Polynomial(n),
    ];
    let h = 1e-6;
    for b in bases {
        let (mut vp, mut vm, mut scratch) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        for &x in &[-0.7, 0.2, 0.9] {
            b.eval(x, &mut v, &mut d);
            b.eval(x + h, &mut vp, &mut scratch);
            b.eval(x - h, &mut vm, &mut scratch);
            for k in 0..n {
                let fd = (vp[k] - vm[k]) / (2.0 * h);
                assert!(
                    (fd - d[k]).abs() < 1e-7 * (1.0 + fd.abs()),
                    "{b:?} k {k} at {x}"
                );
            }
        }
    }
}

/// Checks a layer's VJP and JVP against central differences of its forward pass, in `x` and `p`.
fn check_derivatives<L: Layer>(layer: &L, x: &[f64], batch: usize, p: &[f64]) {
    let (n_in, n_out) = (layer.in_dim() * batch, layer.out_dim() * batch);
    let f = |x: &[f64], p: &[f64]| layer.apply(x, batch, p).expect("forward");
    let mut ws = vec![0.0; layer.workspace_len(batch)];
    let mut rng = Xoshiro256pp::new(11);
    let ybar: Vec<f64> = (0..n_out).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let (mut xbar, mut pbar) = (vec![0.0; n_in], vec![0.0; p.len()]);
    layer
        .try_vjp(Input { x, batch, p }, &ybar, &mut xbar, &mut pbar, &mut ws)
        .expect("vjp");
    let xdot: Vec<f64> = (0..n_in).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let pdot: Vec<f64> = (0..p.len()).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let (mut y, mut ydot) = (vec![0.0; n_out], vec![0.0; n_out]);
    layer
        .try_jvp(
            Input { x, batch, p },
            &xdot,
            Some(&pdot),
            &mut y,
            &mut ydot,
            &mut ws,
        )
        .expect("jvp");
    assert_eq!(y, f(x, p));
    let h = 1e-6;
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
    // VJP, one input or parameter at a time.
    for i in 0..n_in {
        let (mut a, mut b) = (x.to_vec(), x.to_vec());
        a[i] += h;
        b[i] -= h;
        let fd = (dot(&ybar, &f(&a, p)) - dot(&ybar, &f(&b, p))) / (2.0 * h);
        assert!(
            (fd - xbar[i]).abs() < 1e-7 * (1.0 + fd.abs()),
            "xbar[{i}]: {} vs {fd}",
            xbar[i]
        );
    }
    for i in 0..p.len() {
        let (mut a, mut b) = (p.to_vec(), p.to_vec());
        a[i] += h;
        b[i] -= h;
        let fd = (dot(&ybar, &f(x, &a)) - dot(&ybar, &f(x, &b))) / (2.0 * h);
        assert!(
            (fd - pbar[i]).abs() < 1e-7 * (1.0 + fd.abs()),
            "pbar[{i}]: {} vs {fd}",
            pbar[i]
        );
    }
    // JVP along (xdot, pdot).
    let shift = |s: f64| {
        let xs: Vec<f64> = x.iter().zip(&xdot).map(|(a, b)| a + s * b).collect();
        let ps: Vec<f64> = p.iter().zip(&pdot).map(|(a, b)| a + s * b).collect();
        f(&xs, &ps)
    };
    let (yp, ym) = (shift(h), shift(-h));
    for k in 0..n_out {
        let fd = (yp[k] - ym[k]) / (2.0 * h);
        assert!(
            (fd - ydot[k]).abs() < 1e-7 * (1.0 + fd.abs()),
            "ydot[{k}]: {} vs {fd}",
            ydot[k]
        );
    }
}

#[test]
fn tensor_layer_vjp_and_jvp_match_differences() {
    let layer = TensorLayer::new(
        vec![Basis::Chebyshev(3), Basis::Fourier(4), Basis::Legendre(2)],
        2,
    )
    .expect("layer");
    assert_eq!((layer.in_dim(), layer.nparams()), (3, 2 * 24));
    let p = layer.initial_params(&mut Xoshiro256pp::new(5));
    let x = [0.3, -0.7, 0.5, -0.2, 0.9, 0.1, 0.8, 0.4, -0.6];
    check_derivatives(&layer, &x, 3, &p);
    let poly = TensorLayer::new(vec![Basis::Sin(3), Basis::Cos(2), Basis::Polynomial(3)], 1)
        .expect("layer");
    let p = poly.initial_params(&mut Xoshiro256pp::new(6));
    check_derivatives(&poly, &x, 3, &p);
}

#[test]
fn spline_layer_vjp_and_jvp_match_differences_inside_and_outside_the_grid() {
    for kind in [SplineKind::Linear, SplineKind::Quadratic, SplineKind::Cubic] {
        let layer = SplineLayer::new(2, (-1.0, 1.0), 6, kind).expect("layer");
        let mut rng = Xoshiro256pp::new(9);
        let p: Vec<f64> = (0..layer.nparams())
            .map(|_| rng.uniform_range(-1.0, 1.0))
            .collect();
        // Away from the knots (x = -1, -0.6, ..., 1), where the linear spline has kinks.
        let x = [-0.93, 0.27, 0.51, -0.45, 1.3, -1.2];
        check_derivatives(&layer, &x, 3, &p);
    }
}

#[test]
fn splines_interpolate_their_values_with_the_smoothness_of_their_kind() {
    let m = 7;
    let mut rng = Xoshiro256pp::new(2);
    let values: Vec<f64> = (0..m).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    for kind in [SplineKind::Linear, SplineKind::Quadratic, SplineKind::Cubic] {
        let s = SplineLayer::new(1, (0.0, 3.0), m, kind).expect("layer");
        let grid = s.grid();
        let y = s.apply(&grid, m, &values).expect("forward");
        for (a, b) in y.iter().zip(&values) {
            assert!((a - b).abs() < 1e-14, "{kind:?} interpolates");
        }
        // One-sided derivatives at interior knots agree from C¹ on (quadratic, cubic).
        let slope = |x: f64| {
            let (mut yv, mut yd) = ([0.0], [0.0]);
            let mut ws = vec![0.0; s.workspace_len(1)];
            s.jvp(
                Input {
                    x: &[x],
                    batch: 1,
                    p: &values,
                },
                &[1.0],
                None,
                &mut yv,
                &mut yd,
                &mut ws,
            );
            yd[0]
        };
        let e = 1e-9;
        for &knot in &grid[1..m - 1] {
            let jump = (slope(knot + e) - slope(knot - e)).abs();
            if kind == SplineKind::Linear {
                continue;
            }
            assert!(jump < 1e-6, "{kind:?} slope jumps by {jump} at {knot}");
            if kind == SplineKind::Cubic {
                let curv = |x: f64| (slope(x + 1e-5) - slope(x - 1e-5)) / 2e-5;
                let cj = (curv(knot + 1e-4) - curv(knot - 1e-4)).abs();
                assert!(cj < 1e-2, "cubic curvature jumps by {cj} at {knot}");
            }
        }
        if kind == SplineKind::Cubic {
            // Natural end conditions: zero curvature at both ends.
            for end in [grid[0], grid[m - 1]] {
                let c = (slope(end + 1e-5) - slope(end - 1e-5)) / 2e-5;
                assert!(c.abs() < 1e-4, "curvature {c} at {end}");
            }
        }
    }
}

/// The transpose pass against the tangent pass: `ȳ·(J_p ṗ) = (J_pᵀ ȳ)·ṗ` for random `ȳ`, `ṗ`,
/// on a small grid and on one of 100 001 points (whose dense value-to-slope map would take
/// 80 GB: the layer keeps `O(m)` work and memory).
#[test]
fn spline_layer_transpose_matches_its_tangent_on_small_and_large_grids() {
    for m in [5, 100_001] {
        for kind in [SplineKind::Linear, SplineKind::Quadratic, SplineKind::Cubic] {
            let layer = SplineLayer::new(2, (-1.0, 1.0), m, kind).expect("layer");
            let mut rng = Xoshiro256pp::new(4);
            let mut draw =
                |n: usize| -> Vec<f64> { (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect() };
            let (p, pdot) = (draw(layer.nparams()), draw(layer.nparams()));
            let batch = 40;
            let x: Vec<f64> = draw(2 * batch).iter().map(|v| 1.2 * v).collect();
            let ybar = draw(2 * batch);
            let mut ws = vec![0.0; layer.workspace_len(batch)];
            let inp = Input {
                x: &x,
                batch,
                p: &p,
            };
            let (mut y, mut ydot) = (vec![0.0; 2 * batch], vec![0.0; 2 * batch]);
            let zeros = vec![0.0; x.len()];
            layer.jvp(inp, &zeros, Some(&pdot), &mut y, &mut ydot, &mut ws);
            let (mut xbar, mut pbar) = (vec![0.0; x.len()], vec![0.0; p.len()]);
            layer.vjp(inp, &ybar, &mut xbar, &mut pbar, &mut ws);
            let lhs: f64 = ybar.iter().zip(&ydot).map(|(a, b)| a * b).sum();
            let rhs: f64 = pbar.iter().zip(&pdot).map(|(a, b)| a * b).sum();
            assert!(
                (lhs - rhs).abs() <= 1e-12 * lhs.abs().max(1.0),
                "{kind:?}, m = {m}: ȳ·Jṗ = {lhs}, Jᵀȳ·ṗ = {rhs}"
            );
        }
    }
}

/// The natural cubic spline through `sin` on 100 001 points of `[0, π]` reproduces it between
/// the knots to within `h⁴`-order error (h = π·1e-5; the natural end condition is exact here
/// since `sin″(0) = sin″(π) = 0`).
#[test]
fn cubic_spline_on_a_fine_grid_reproduces_a_smooth_function() {
    let (m, pi) = (100_001, std::f64::consts::PI);
    let layer = SplineLayer::new(1, (0.0, pi), m, SplineKind::Cubic).expect("layer");
    let values: Vec<f64> = layer.grid().iter().map(|x| x.sin()).collect();
    let x: Vec<f64> = (0..1000).map(|i| pi * (i as f64 + 0.37) / 1000.0).collect();
    let y = layer.apply(&x, x.len(), &values).expect("forward");
    let worst = x
        .iter()
        .zip(&y)
        .map(|(a, b)| (a.sin() - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-12, "largest error {worst:e}");
}

#[test]
fn invalid_shapes_are_errors() {
    assert!(TensorLayer::new(vec![], 1).is_err());
    assert!(TensorLayer::new(vec![Basis::Sin(0)], 1).is_err());
    assert!(TensorLayer::new(vec![Basis::Sin(2)], 0).is_err());
    assert!(SplineLayer::new(1, (0.0, 1.0), 1, SplineKind::Cubic).is_err());
    assert!(SplineLayer::new(1, (1.0, 0.0), 5, SplineKind::Cubic).is_err());
    assert!(SplineLayer::new(0, (0.0, 1.0), 5, SplineKind::Cubic).is_err());
    assert!(SplineLayer::new(1, (0.0, f64::NAN), 5, SplineKind::Linear).is_err());
}

/// Trains `layer` by Adam on `Σ (layer(x) − target)²` and returns the mean absolute error.
fn fit<L: Layer>(
    layer: &L,
    x: &[f64],
    target: &[f64],
    p: &mut [f64],
    iters: usize,
    lr: f64,
) -> f64 {
    let batch = target.len();
    let mut adam = Adam::new(lr).expect("adam");
    let mut ws = vec![0.0; layer.workspace_len(batch)];
    let mut xbar = vec![0.0; x.len()];
    for _ in 0..iters {
        let y = layer.apply(x, batch, p).expect("forward");
        let ybar: Vec<f64> = y
            .iter()
            .zip(target)
            .map(|(a, b)| 2.0 * (a - b) / batch as f64)
            .collect();
        let mut g = vec![0.0; p.len()];
        layer.vjp(Input { x, batch, p }, &ybar, &mut xbar, &mut g, &mut ws);
        adam.step(p, &g).expect("step");
    }
    let y = layer.apply(x, batch, p).expect("forward");
    y.iter()
        .zip(target)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / batch as f64
}

/// DiffEqFlux's TensorLayer test: Chebyshev(10) ⊗ Polynomial(10), one output, fitted to an
/// affine target; mean absolute error below 0.05.
#[test]
fn tensor_layer_fits_an_affine_target() {
    let layer =
        TensorLayer::new(vec![Basis::Chebyshev(10), Basis::Polynomial(10)], 1).expect("layer");
    let mut rng = Xoshiro256pp::new(1);
    let n = 100;
    let x: Vec<f64> = (0..2 * n).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let target: Vec<f64> = x.chunks(2).map(|c| 0.5 * c[0] - 0.3 * c[1] + 0.2).collect();
    let mut p = vec![0.0; layer.nparams()];
    let mae = fit(&layer, &x, &target, &mut p, 400, 0.01);
    assert!(mae < 0.05, "mean absolute error {mae}");
}

/// Splines of each kind on 10 grid points fitted to sin on [-π, π]: mean absolute error below 0.1.
#[test]
fn spline_layer_fits_a_smooth_function() {
    for kind in [SplineKind::Linear, SplineKind::Quadratic, SplineKind::Cubic] {
        let pi = std::f64::consts::PI;
        let layer = SplineLayer::new(1, (-pi, pi), 10, kind).expect("layer");
        let x: Vec<f64> = (0..60)
            .map(|i| -pi + 2.0 * pi * (i as f64 + 0.5) / 60.0)
            .collect();
        let target: Vec<f64> = x.iter().map(|v| v.sin()).collect();
        let mut p = vec![0.0; layer.nparams()];
        let mae = fit(&layer, &x, &target, &mut p, 500, 0.05);
        assert!(mae < 0.1, "{kind:?}: mean absolute error {mae}");
    }
}
