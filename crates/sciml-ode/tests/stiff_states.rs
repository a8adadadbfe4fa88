//! Rosenbrock, ESDIRK, BDF and auto-switching methods with the dense and the Jacobian-free Krylov linear
//! strategies on any slice state: `Vec`, fixed-size arrays and `Batch`, bitwise the same solve.

use sciml_core::linalg::{SparseMatrix, SparsityPattern};
use sciml_core::{Batch, DenseMatrix, Jacobian, Jvp, SliceState, SparseJacobian, VectorField};
use sciml_ode::{
    AutoTsit5Rodas5P, Bdf, KenCarp4, KrylovSolve, Kvaerno5, OdeMethod, OdeProblem, Rodas5P,
    Rosenbrock23, SaveAt, SolveOptions, SparseSolve, Trbdf2,
};
use std::sync::Arc;

/// Robertson's kinetics with its exact Jacobian (dense, sparse and as products), on any slice
/// state of length 3.
struct Robertson<V> {
    pattern: Arc<SparsityPattern>,
    state: std::marker::PhantomData<V>,
}

impl<V> Robertson<V> {
    fn new() -> Self {
        let mask = [true, true, true, true, true, true, false, true, false];
        Robertson {
            pattern: Arc::new(SparsityPattern::from_dense_mask(3, 3, &mask).expect("3 x 3")),
            state: std::marker::PhantomData,
        }
    }
}

impl<V: SliceState<S = f64>> VectorField for Robertson<V> {
    type V = V;
    type P = V;
    fn dims(&self) -> (usize, usize) {
        (3, 3)
    }
    fn rhs(&mut self, _t: f64, u: &V, p: &V, du: &mut V) {
        let (u, p, du) = (u.as_slice(), p.as_slice(), du.as_mut_slice());
        du[0] = -p[0] * u[0] + p[1] * u[1] * u[2];
        du[1] = p[0] * u[0] - p[1] * u[1] * u[2] - p[2] * u[1] * u[1];
        du[2] = p[2] * u[1] * u[1];
    }
}

impl<V: SliceState<S = f64>> Jacobian for Robertson<V> {
    const EXACT: bool = true;
    fn jacobian(&mut self, _t: f64, u: &V, p: &V, j: &mut DenseMatrix<f64>) {
        let (u, p) = (u.as_slice(), p.as_slice());
        j[(0, 0)] = -p[0];
        j[(0, 1)] = p[1] * u[2];
        j[(0, 2)] = p[1] * u[1];
        j[(1, 0)] = p[0];
        j[(1, 1)] = -p[1] * u[2] - 2.0 * p[2] * u[1];
        j[(1, 2)] = -p[1] * u[1];
        j[(2, 0)] = 0.0;
        j[(2, 1)] = 2.0 * p[2] * u[1];
        j[(2, 2)] = 0.0;
    }
}

impl<V: SliceState<S = f64>> Jvp for Robertson<V> {
    const EXACT: bool = true;
    fn jvp_u(&mut self, t: f64, u: &V, p: &V, v: &V, out: &mut V) {
        let mut j = DenseMatrix::zeros(3, 3);
        self.jacobian(t, u, p, &mut j);
        j.mul_vec_to(v.as_slice(), out.as_mut_slice());
    }
    fn jvp_p(&mut self, _t: f64, u: &V, _p: &V, v: &V, out: &mut V) {
        let (u, v, out) = (u.as_slice(), v.as_slice(), out.as_mut_slice());
        let r = [u[0] * v[0], u[1] * u[2] * v[1], u[1] * u[1] * v[2]];
        out[0] = -r[0] + r[1];
        out[1] = r[0] - r[1] - r[2];
        out[2] = r[2];
    }
}

impl<V: SliceState<S = f64>> SparseJacobian for Robertson<V> {
    const EXACT: bool = true;
    fn jacobian_pattern(&self) -> &Arc<SparsityPattern> {
        &self.pattern
    }
    fn sparse_jacobian(&mut self, t: f64, u: &V, p: &V, j: &mut SparseMatrix<f64>) {
        let mut dense = DenseMatrix::zeros(3, 3);
        self.jacobian(t, u, p, &mut dense);
        *j = SparseMatrix::from_dense(self.pattern.clone(), &dense).expect("3 x 3");
    }
}

const P: [f64; 3] = [0.04, 1e4, 3e7];

fn opts() -> SolveOptions<f64> {
    SolveOptions::default()
        .tolerances(1e-6, 1e-10)
        .saveat(SaveAt::Times(vec![1.0, 100.0, 1e5]))
}

#[test]
fn rodas5p_on_arrays_and_batches_is_bitwise_the_vec_solve() {
    same_on_every_state(Rodas5P::new(), 1e-5);
}

#[test]
fn rosenbrock23_with_a_mass_matrix_on_arrays() {
    // 2u' = -u on a [f64; 1] state: u(1) = e^{-1/2}.
    struct Decay;
    impl VectorField for Decay {
        type V = [f64; 1];
        type P = [f64; 0];
        fn dims(&self) -> (usize, usize) {
            (1, 0)
        }
        fn rhs(&mut self, _t: f64, u: &[f64; 1], _p: &[f64; 0], du: &mut [f64; 1]) {
            du[0] = -u[0];
        }
    }
    impl Jacobian for Decay {
        const EXACT: bool = true;
        fn jacobian(&mut self, _t: f64, _u: &[f64; 1], _p: &[f64; 0], j: &mut DenseMatrix<f64>) {
            j[(0, 0)] = -1.0;
        }
    }
    let mut m = DenseMatrix::zeros(1, 1);
    m[(0, 0)] = 2.0;
    let mut prob = OdeProblem::new(Decay, [1.0], (0.0, 1.0), [])
        .expect("valid")
        .with_mass_matrix(m)
        .expect("1 x 1");
    let sol = prob
        .solve(
            Rosenbrock23::new(),
            &SolveOptions::default().tolerances(1e-8, 1e-10),
        )
        .expect("solves");
    let end = sol.u.last().expect("saved")[0];
    assert!((end - (-0.5f64).exp()).abs() < 1e-6, "{end}");
}

/// One method on Robertson over `Vec`, `[f64; 3]` and `Batch` states: the same steps and
/// bitwise the same states.
fn same_on_every_state<M>(method: M, rel_tol: f64)
where
    M: OdeMethod<Robertson<Vec<f64>>>
        + OdeMethod<Robertson<[f64; 3]>>
        + OdeMethod<Robertson<Batch<f64>>>,
{
    let mut on_vec = OdeProblem::new(
        Robertson::<Vec<f64>>::new(),
        vec![1.0, 0.0, 0.0],
        (0.0, 1e5),
        P.to_vec(),
    )
    .expect("valid");
    let mut on_array =
        OdeProblem::new(Robertson::<[f64; 3]>::new(), [1.0, 0.0, 0.0], (0.0, 1e5), P)
            .expect("valid");
    let batch = |x: &[f64]| Batch::new(3, 1, x.to_vec()).expect("3 x 1");
    let mut on_batch = OdeProblem::new(
        Robertson::<Batch<f64>>::new(),
        batch(&[1.0, 0.0, 0.0]),
        (0.0, 1e5),
        batch(&P),
    )
    .expect("valid");
    let a = on_vec.solve(method.clone(), &opts()).expect("solves");
    let b = on_array.solve(method.clone(), &opts()).expect("solves");
    let c = on_batch.solve(method, &opts()).expect("solves");
    assert_eq!(a.stats, b.stats);
    assert_eq!(a.stats, c.stats);
    for ((x, y), z) in a.u.iter().zip(&b.u).zip(&c.u) {
        assert_eq!(x.as_slice(), y.as_slice());
        assert_eq!(x.as_slice(), z.as_slice());
    }
    // Robertson at t = 1e5 (Hairer & Wanner, Solving ODEs II, the IVP test set's reference), to
    // each method's accuracy at rtol 1e-6.
    let reference = [1.786592e-2, 7.274751e-8, 9.821340e-1];
    for (x, r) in b.u[2].iter().zip(reference) {
        assert!((x - r).abs() / r < rel_tol, "{x} against {r}");
    }
}

#[test]
fn esdirk_methods_on_arrays_and_batches_are_bitwise_the_vec_solve() {
    same_on_every_state(KenCarp4::new(), 1e-4);
    same_on_every_state(Kvaerno5::new(), 1e-4);
    same_on_every_state(Trbdf2::new(), 1e-4);
}

#[test]
fn bdf_on_arrays_and_batches_is_bitwise_the_vec_solve() {
    same_on_every_state(Bdf::new(), 1e-4);
}

#[test]
fn the_krylov_strategy_on_arrays_and_batches_is_bitwise_the_vec_solve() {
    // GMRES to a tight residual so that every method keeps its accuracy on Robertson.
    let krylov = || KrylovSolve {
        rtol: 1e-12,
        ..KrylovSolve::default()
    };
    same_on_every_state(Rodas5P::new().with_linear(krylov()), 1e-5);
    same_on_every_state(KenCarp4::new().with_linear(krylov()), 1e-4);
    same_on_every_state(Bdf::new().with_linear(krylov()), 1e-4);
}

#[test]
fn the_sparse_strategy_on_arrays_and_batches_is_bitwise_the_vec_solve() {
    same_on_every_state(Rodas5P::new().with_linear(SparseSolve), 1e-5);
    same_on_every_state(KenCarp4::new().with_linear(SparseSolve), 1e-4);
    same_on_every_state(Bdf::new().with_linear(SparseSolve), 1e-4);
}

#[test]
fn auto_switching_on_arrays_and_batches_is_bitwise_the_vec_solve() {
    same_on_every_state(AutoTsit5Rodas5P::new(), 1e-5);
}

/// Robertson on a state that is not one slice: `Pair((y1, y2), (y3,))`, with its exact JVP.
struct RobertsonPair;

type Split = sciml_core::Pair<Vec<f64>, Vec<f64>>;

fn flat(u: &Split) -> [f64; 3] {
    [u.0[0], u.0[1], u.1[0]]
}

impl VectorField for RobertsonPair {
    type V = Split;
    type P = Vec<f64>;
    fn dims(&self) -> (usize, usize) {
        (3, 3)
    }
    fn rhs(&mut self, t: f64, u: &Split, p: &Vec<f64>, du: &mut Split) {
        let mut out = vec![0.0; 3];
        Robertson::<Vec<f64>>::new().rhs(t, &flat(u).to_vec(), p, &mut out);
        (du.0[0], du.0[1], du.1[0]) = (out[0], out[1], out[2]);
    }
}

impl Jvp for RobertsonPair {
    const EXACT: bool = true;
    fn jvp_u(&mut self, t: f64, u: &Split, p: &Vec<f64>, v: &Split, out: &mut Split) {
        let mut o = vec![0.0; 3];
        let (u, v) = (flat(u).to_vec(), flat(v).to_vec());
        Robertson::<Vec<f64>>::new().jvp_u(t, &u, p, &v, &mut o);
        (out.0[0], out.0[1], out.1[0]) = (o[0], o[1], o[2]);
    }
    fn jvp_p(&mut self, t: f64, u: &Split, p: &Vec<f64>, v: &Vec<f64>, out: &mut Split) {
        let mut o = vec![0.0; 3];
        Robertson::<Vec<f64>>::new().jvp_p(t, &flat(u).to_vec(), p, v, &mut o);
        (out.0[0], out.0[1], out.1[0]) = (o[0], o[1], o[2]);
    }
}

#[test]
fn stiff_methods_with_gmres_run_on_a_state_that_is_not_a_slice() {
    // GMRES works through the state's own operations (`InnerProduct`, `axpy`, `scale`), so a
    // `Pair` (or a device vector) needs no slice. Bitwise the same solve as on `Vec`: every
    // sum runs in the same order, component by component (a `Pair`'s inner product adds its
    // parts' sums, each from zero).
    let krylov = || KrylovSolve {
        rtol: 1e-12,
        ..KrylovSolve::default()
    };
    fn compare<M>(method: M) -> Split
    where
        M: OdeMethod<Robertson<Vec<f64>>> + OdeMethod<RobertsonPair> + Clone,
    {
        let mut on_vec = OdeProblem::new(
            Robertson::<Vec<f64>>::new(),
            vec![1.0, 0.0, 0.0],
            (0.0, 1e5),
            P.to_vec(),
        )
        .expect("problem");
        let want = on_vec.solve(method.clone(), &opts()).expect("Vec solve");
        let u0 = sciml_core::Pair(vec![1.0, 0.0], vec![0.0]);
        let mut on_pair =
            OdeProblem::new(RobertsonPair, u0, (0.0, 1e5), P.to_vec()).expect("problem");
        let got = on_pair.solve(method, &opts()).expect("Pair solve");
        assert_eq!(got.stats.accepted, want.stats.accepted);
        assert_eq!(got.stats.nf, want.stats.nf);
        for (g, w) in got.u.iter().zip(&want.u) {
            assert_eq!(flat(g)[..], w[..]);
        }
        got.u.last().expect("saved").clone()
    }
    let got = compare(Rodas5P::new().with_linear(krylov()));
    // The ESDIRK methods (their stage Newton iteration runs on the state's operations too).
    for end in [
        compare(KenCarp4::new().with_linear(krylov())),
        compare(Kvaerno5::new().with_linear(krylov())),
        compare(Trbdf2::new().with_linear(krylov())),
    ] {
        let (e, r) = (flat(&end), sciml_ode::problems::Robertson::REF_T1E5);
        for (a, b) in e.iter().zip(&r) {
            assert!(((a - b) / b).abs() < 1e-3, "{e:?} vs {r:?}");
        }
    }
    // Against the test set's value at 1e5 (`sciml_ode::problems::Robertson::REF_T1E5`).
    let end = flat(&got);
    let reference = sciml_ode::problems::Robertson::REF_T1E5;
    for (a, b) in end.iter().zip(&reference) {
        assert!(((a - b) / b).abs() < 1e-4, "{end:?} vs {reference:?}");
    }
    // BDF: the same method; its error norms divide by the weights on a state that is not one
    // slice (`State::err_norm`) where over slices they multiply by precomputed inverses, so the
    // two solves agree to rounding in the norms, not bitwise.
    let bdf = || Bdf::new().with_linear(krylov());
    let mut on_vec = OdeProblem::new(
        Robertson::<Vec<f64>>::new(),
        vec![1.0, 0.0, 0.0],
        (0.0, 1e5),
        P.to_vec(),
    )
    .expect("problem");
    let want = on_vec.solve(bdf(), &opts()).expect("Vec solve");
    let u0 = sciml_core::Pair(vec![1.0, 0.0], vec![0.0]);
    let mut on_pair = OdeProblem::new(RobertsonPair, u0, (0.0, 1e5), P.to_vec()).expect("problem");
    let got = on_pair.solve(bdf(), &opts()).expect("Pair solve");
    println!(
        "BDF steps: Vec {}, Pair {}",
        want.stats.accepted, got.stats.accepted
    );
    for (g, w) in got.u.iter().zip(&want.u) {
        let g = flat(g);
        for (a, b) in g.iter().zip(w) {
            assert!((a - b).abs() <= 1e-6 * b.abs(), "{g:?} vs {w:?}");
        }
    }
    // The auto-switching method: its power iteration starts from u0 on a state that is not
    // one slice (from a fixed pattern over slices), so the switches may differ; the answer
    // agrees with the test set's value to the tolerance.
    let mut on_pair = OdeProblem::new(
        RobertsonPair,
        sciml_core::Pair(vec![1.0, 0.0], vec![0.0]),
        (0.0, 1e5),
        P.to_vec(),
    )
    .expect("problem");
    let d = AutoTsit5Rodas5P::default();
    let auto = AutoTsit5Rodas5P {
        stiff: Rodas5P::new().with_linear(krylov()),
        stiff_steps: d.stiff_steps,
        nonstiff_steps: d.nonstiff_steps,
        stiffness_bound: d.stiffness_bound,
    };
    let got = on_pair.solve(auto, &opts()).expect("Pair solve");
    let end = flat(got.u.last().expect("saved"));
    println!("auto on a Pair: {end:?}, {} steps", got.stats.accepted);
    for (a, b) in end.iter().zip(&reference) {
        assert!(((a - b) / b).abs() < 1e-3, "{end:?} vs {reference:?}");
    }
    // A mass matrix needs the state as one slice: refused when it is given.
    let pair = OdeProblem::new(
        RobertsonPair,
        sciml_core::Pair(vec![1.0, 0.0], vec![0.0]),
        (0.0, 1.0),
        P.to_vec(),
    )
    .expect("problem");
    let mut m = DenseMatrix::zeros(3, 3);
    for i in 0..3 {
        m[(i, i)] = 1.0;
    }
    match pair.with_mass_matrix(m) {
        Err(e) => assert!(e.to_string().contains("slice"), "{e}"),
        Ok(_) => panic!("a mass matrix on a Pair state was accepted"),
    }
    // So does a preconditioner: the factorisation refuses it and the solve fails cleanly.
    #[derive(Clone, Debug)]
    struct Identity;
    impl sciml_ode::stiff::KrylovPreconditioner<f64> for Identity {
        fn setup(&mut self, _t: f64, _u: &[f64], _g: f64) {}
        fn apply(&mut self, _v: &mut [f64]) {}
    }
    let mut pair = OdeProblem::new(
        RobertsonPair,
        sciml_core::Pair(vec![1.0, 0.0], vec![0.0]),
        (0.0, 1.0),
        P.to_vec(),
    )
    .expect("problem");
    let r = pair.solve(
        Rodas5P::new().with_linear(krylov().with_preconditioner(Identity)),
        &opts(),
    );
    assert!(r.is_err());
}
