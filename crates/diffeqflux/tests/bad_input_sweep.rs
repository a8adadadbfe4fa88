//! A sweep of bad inputs through the newer layers' public API: each gives an `Err` naming what
//! is wrong, never a panic or a silent NaN (complements the `bad_input_is_an_error` tests of
//! each layer's own file).

use diffeqflux::collocation::CollocationLoss;
use diffeqflux::multiple_shooting::{MultipleShooting, ShootingError};
use diffeqflux::neural_de::{
    CddeError, CddeHistory, CddeSensitivity, Constraints, DaeSensitivity, DiagonalNormal,
    NeuralCdde, NeuralDae, NeuralOdeMm,
};
use diffeqflux::nn::{Activation, Chain, Dense, SplineKind, SplineLayer};
use diffeqflux::NeuralOde;
use sciml_core::{DenseMatrix, Scalar};
use sciml_dae::DaeInit;
use sciml_ode::{Rodas5P, Tsit5};

type Net = Chain<(Dense, Dense)>;

fn net(inputs: usize, outputs: usize) -> Net {
    Chain::new((
        Dense::new(inputs, 3, Activation::Tanh),
        Dense::new(3, outputs, Activation::Identity),
    ))
    .expect("sizes chain")
}

/// A loss whose cotangents are NaN in the first component of every saved state.
fn nan_cotangents(_t: &[f64], us: &[Vec<f64>]) -> (f64, Vec<Vec<f64>>) {
    let ubar = us
        .iter()
        .map(|u| {
            let mut b = vec![0.0; u.len()];
            b[0] = f64::NAN;
            b
        })
        .collect();
    (1.0, ubar)
}

fn cdde(sensitivity: CddeSensitivity) -> NeuralCdde<Net, Tsit5> {
    let history = CddeHistory::Constant(vec![0.0, 0.0]);
    NeuralCdde::new(
        net(4, 2),
        (0.0, 1.0),
        history,
        vec![0.5],
        Tsit5,
        vec![0.5, 1.0],
    )
    .expect("valid layer")
    .with_sensitivity(sensitivity)
}

#[test]
fn cdde_non_finite_cotangents_are_refused() {
    for s in [
        CddeSensitivity::ForwardDiff,
        CddeSensitivity::DiscreteAdjoint,
    ] {
        let layer = cdde(s);
        let p = layer.init_params(0);
        let e = layer
            .loss_and_gradient(&[1.0, 0.0], &p, nan_cotangents)
            .expect_err("NaN cotangent");
        assert!(
            matches!(e, CddeError::NonFiniteCotangent { save: 0, index: 0 }),
            "{s:?}: {e}"
        );
        assert!(e.to_string().contains("cotangent"), "{e}");
    }
    let layer = cdde(CddeSensitivity::DiscreteAdjoint);
    let p = layer.init_params(0);
    let e = layer
        .adjoint_loss_and_gradient(&[1.0, 0.0], &p, nan_cotangents)
        .expect_err("NaN cotangent");
    assert!(matches!(e, CddeError::NonFiniteCotangent { .. }), "{e}");
}

#[derive(Clone)]
struct Conservation;
impl Constraints for Conservation {
    fn len(&self) -> usize {
        1
    }
    fn residual<S: Scalar>(&self, u: &[S], out: &mut [S]) {
        out[0] = u[0] + u[1] + u[2] - S::cst(1.0);
    }
}

#[test]
fn neural_dae_non_finite_cotangents_are_refused() {
    for s in [DaeSensitivity::Forward, DaeSensitivity::DiscreteAdjoint] {
        let layer = NeuralDae::new(
            net(3, 2),
            Conservation,
            (0.0, 1.0),
            vec![true, true, false],
            vec![1.0],
        )
        .expect("valid layer")
        .init(DaeInit::BrownFullBasicInit)
        .sensitivity(s);
        let p = layer.init_params(0);
        let e = layer
            .loss_and_gradient(&[0.5, 0.3, 0.2], &[0.0; 3], &p, nan_cotangents)
            .expect_err("NaN cotangent");
        assert!(e.to_string().contains("cotangent"), "{s:?}: {e}");
    }
}

#[test]
fn a_non_finite_point_of_the_base_distribution_is_refused() {
    let e = DiagonalNormal::standard(2)
        .log_pdf(&[f64::NAN, 0.0])
        .expect_err("NaN point");
    assert!(
        matches!(e, sciml_core::Error::NonFinite { index: 0, .. }),
        "{e}"
    );
}

#[test]
fn a_non_finite_mass_matrix_is_refused() {
    let mut m = DenseMatrix::zeros(3, 3);
    m[(0, 0)] = 1.0;
    m[(1, 1)] = f64::NAN;
    let e = NeuralOdeMm::new(
        net(3, 2),
        Conservation,
        (0.0, 1.0),
        m,
        Rodas5P::new(),
        vec![1.0],
    )
    .err()
    .expect("NaN mass matrix");
    assert!(e.to_string().contains("mass_matrix"), "{e}");
}

fn shooting_data() -> (Vec<f64>, Vec<Vec<f64>>) {
    let t: Vec<f64> = (0..6).map(|i| 0.2 * f64::from(i)).collect();
    let data = t.iter().map(|&s| vec![s, 1.0 - s]).collect();
    (t, data)
}

#[test]
fn multiple_shooting_refuses_bad_parameters_starts_and_data() {
    let (t, data) = shooting_data();
    let node = NeuralOde::new(net(2, 2), (0.0, 1.0), Tsit5, t.clone()).expect("node");
    let p = node.init_params(0);
    let ms = MultipleShooting::new(node.clone(), t.clone(), data.clone(), 3).expect("valid");
    let starts = ms.data_starts();
    // Wrong parameter length: refused up front, not reported as a failed window.
    let e = ms.loss_and_gradient(&p[1..], &starts).expect_err("short p");
    assert!(
        matches!(&e, ShootingError::Length { expected, found, .. } if *expected == p.len() && *found == p.len() - 1),
        "{e}"
    );
    let mut bad = p.clone();
    bad[3] = f64::NAN;
    let e = ms.loss_and_gradient(&bad, &starts).expect_err("NaN p");
    assert!(e.to_string().contains('p'), "{e}");
    let mut bad = starts.clone();
    bad[1][0] = f64::INFINITY;
    let e = ms.loss_and_gradient(&p, &bad).expect_err("inf start");
    assert!(e.to_string().contains("starts[1]"), "{e}");
    let mut bad = data;
    bad[2][1] = f64::NAN;
    let e = MultipleShooting::new(node, t, bad, 3)
        .err()
        .expect("NaN data");
    assert!(e.to_string().contains("data[2]"), "{e}");
}

#[test]
fn a_spline_grid_too_fine_or_too_wide_for_f64_is_refused() {
    for grid in [(0.0, 1e-320), (-1e308, 1e308)] {
        let e = SplineLayer::new(1, grid, 4, SplineKind::Cubic).expect_err("degenerate spacing");
        assert!(e.to_string().contains("spacing"), "{grid:?}: {e}");
    }
}

#[test]
fn collocation_pairs_of_empty_states_are_refused() {
    assert!(CollocationLoss::from_pairs(&[vec![]], &[vec![]]).is_err());
}

/// General noise with no Brownian motion is refused as such, whatever the diffusion network's
/// shape (the shape check used to come first and asked for "a 2 × 0 matrix").
#[test]
fn general_noise_without_brownian_motions_is_refused_as_such() {
    use diffeqflux::NeuralSde;
    for outputs in [0, 2, 6] {
        let e = NeuralSde::new(
            Dense::new(2, 2, Activation::Tanh),
            Dense::new(2, outputs, Activation::Identity),
            0,
            (0.0, 1.0),
            0.01,
            vec![1.0],
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("at least one Brownian motion"), "{outputs}: {e}");
    }
}
