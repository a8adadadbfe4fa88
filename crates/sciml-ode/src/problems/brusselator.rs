//! The 2-D Brusselator reaction–diffusion system on a periodic grid.

use super::TestProblem;
use sciml_core::{Error, GenericRhs, Real, Scalar};

/// The Brusselator with diffusion in two space dimensions (Hairer and Wanner, *Solving ODEs II*,
/// section IV.10, "BRUSS-2D"), discretised by central differences on a periodic N × N grid:
///
/// ```text
/// u_t = B + u² v − (A + 1) u + α Δu + f(x, y, t)
/// v_t = A u − u² v + α Δv,               (x, y) in [0, 1)², periodic
/// f(x, y, t) = 5 if (x − 0.3)² + (y − 0.6)² ≤ 0.1² and t ≥ 1.1, else 0
/// u(x, y, 0) = 22 (y (1 − y))^{3/2},   v(x, y, 0) = 27 (x (1 − x))^{3/2}
/// ```
///
/// with parameters `p = (A, B, α) = (3.4, 1, 10)` and t in [0, 11.5]. These are the constants,
/// inhomogeneity, initial values and span of SciML's 2-D Brusselator benchmark (the
/// `brusselator_2d` problem of SciMLBenchmarks). The grid is the truly periodic one,
/// `x_i = i/N`, `y_j = j/N` for `i, j = 0..N`, spacing `Δx = 1/N` (SciML's benchmark instead
/// puts N points on [0, 1] including both ends and wraps index N to 1, so its x = 0 and x = 1
/// are distinct unknowns); `Δu` is the five-point Laplacian `(u_E + u_W + u_N + u_S − 4u)/Δx²`.
///
/// Unknowns are interleaved per grid point: `u` of point `k = i + N j` is component `2k`, `v`
/// is `2k + 1`, so N = 32 gives 2048 unknowns and a Jacobian with 6 entries per row
/// ([`Brusselator2d::sparsity`]). The stiffness grows as `α/Δx²` (about 1e4 for N = 32). The
/// forcing switches on at t = [`Brusselator2d::T_FORCING`]; an adaptive solver handles the jump
/// by rejecting steps, or it can be given as a `tstop`.
///
/// ```
/// use sciml_ode::problems::{Brusselator2d, TestProblem};
/// let b = Brusselator2d::new(32).unwrap();
/// assert_eq!(b.u0().len(), 2048);
/// assert_eq!(b.sparsity().len(), 6 * 2048);
/// assert!(Brusselator2d::new(2).is_err());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Brusselator2d {
    n: usize,
}

impl Brusselator2d {
    /// The default parameters `(A, B, α)`.
    pub const P: [f64; 3] = [3.4, 1.0, 10.0];
    /// The time at which the inhomogeneity `f` switches on.
    pub const T_FORCING: f64 = 1.1;

    /// The problem on an `n × n` grid (`2 n²` unknowns). `n` must be at least 3, so that the
    /// four neighbours of a grid point are distinct.
    pub fn new(n: usize) -> Result<Self, Error> {
        if n < 3 {
            return Err(Error::InvalidOption {
                option: "n",
                reason: format!("the grid needs at least 3 points per side, got {n}"),
            });
        }
        Ok(Brusselator2d { n })
    }

    /// Points per side.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The index of `u` at grid point `(i, j)` (`v` is the next one).
    pub fn index_u(&self, i: usize, j: usize) -> usize {
        2 * (i + self.n * j)
    }

    /// The grid coordinate of index `i`.
    fn coord(&self, i: usize) -> f64 {
        i as f64 / self.n as f64
    }

    /// The four periodic neighbours `(east, west, north, south)` of point `(i, j)`, as point
    /// indices `i + N j`.
    fn neighbours(&self, i: usize, j: usize) -> [usize; 4] {
        let n = self.n;
        let (ie, iw) = ((i + 1) % n, (i + n - 1) % n);
        let (jn, js) = ((j + 1) % n, (j + n - 1) % n);
        [ie + n * j, iw + n * j, i + n * jn, i + n * js]
    }

    /// The sparsity pattern of `∂f/∂u` as `(row, column)` pairs, sorted by row then column:
    /// row `u_k` has `u_k`, `v_k` and `u` at the four neighbours; row `v_k` has `u_k`, `v_k`
    /// and `v` at the four neighbours.
    pub fn sparsity(&self) -> Vec<(usize, usize)> {
        let n = self.n;
        let mut out = Vec::with_capacity(12 * n * n);
        for j in 0..n {
            for i in 0..n {
                let k = i + n * j;
                let nb = self.neighbours(i, j);
                for c in 0..2 {
                    let row = 2 * k + c;
                    let mut cols = [2 * k, 2 * k + 1, 0, 0, 0, 0];
                    for (slot, &m) in cols[2..].iter_mut().zip(&nb) {
                        *slot = 2 * m + c;
                    }
                    cols.sort_unstable();
                    out.extend(cols.iter().map(|&col| (row, col)));
                }
            }
        }
        out.sort_unstable();
        out
    }
}

impl GenericRhs for Brusselator2d {
    fn dims(&self) -> (usize, usize) {
        (2 * self.n * self.n, 3)
    }
    fn eval<S: Scalar>(&self, t: S::Re, y: &[S], p: &[S], du: &mut [S], _ws: &mut [S]) {
        let n = self.n;
        let (a, b) = (p[0], p[1]);
        let dx = 1.0 / n as f64;
        // α/Δx², applied once per point.
        let alpha = p[2] * S::cst(1.0 / (dx * dx));
        let forcing_on = t >= <S::Re as Real>::c(Self::T_FORCING);
        let four = S::cst(4.0);
        for j in 0..n {
            let yc = self.coord(j);
            for i in 0..n {
                let k = i + n * j;
                let (u, v) = (y[2 * k], y[2 * k + 1]);
                let [e, w, no, so] = self.neighbours(i, j);
                let lap_u = y[2 * e] + y[2 * w] + y[2 * no] + y[2 * so] - four * u;
                let lap_v = y[2 * e + 1] + y[2 * w + 1] + y[2 * no + 1] + y[2 * so + 1] - four * v;
                let uuv = u * u * v;
                let mut fu = b + uuv - (a + S::one()) * u + alpha * lap_u;
                if forcing_on {
                    let xc = self.coord(i);
                    if (xc - 0.3).powi(2) + (yc - 0.6).powi(2) <= 0.1 * 0.1 {
                        fu += S::cst(5.0);
                    }
                }
                du[2 * k] = fu;
                du[2 * k + 1] = a * u - uuv + alpha * lap_v;
            }
        }
    }
}

impl TestProblem for Brusselator2d {
    fn name(&self) -> &'static str {
        "bruss2d"
    }
    fn u0(&self) -> Vec<f64> {
        let n = self.n;
        let mut out = vec![0.0; 2 * n * n];
        for j in 0..n {
            let y = self.coord(j);
            for i in 0..n {
                let x = self.coord(i);
                let k = 2 * (i + n * j);
                out[k] = 22.0 * (y * (1.0 - y)).powf(1.5);
                out[k + 1] = 27.0 * (x * (1.0 - x)).powf(1.5);
            }
        }
        out
    }
    fn params(&self) -> Vec<f64> {
        Self::P.to_vec()
    }
    fn tspan(&self) -> (f64, f64) {
        (0.0, 11.5)
    }
    fn reference(&self) -> Option<Vec<f64>> {
        None
    }
}
