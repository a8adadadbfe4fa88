//! An initial-value problem: a vector field, an initial state, parameters and a time span.

use sciml_core::{check_state, DenseMatrix, Error, Re, Real, State, VectorField};

/// `du/dt = f(t, u, p)`, `u(t0) = u0`, integrated over `tspan = (t0, t1)` (`t1 < t0` integrates
/// backwards). Built through [`OdeProblem::new`], which validates everything before any work.
///
/// ```
/// use sciml_core::FnField;
/// use sciml_ode::OdeProblem;
/// let f = FnField::new(1, 1, |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| du[0] = -p[0] * u[0]);
/// assert!(OdeProblem::new(f, vec![1.0], (0.0, 1.0), vec![0.5]).is_ok());
/// let f = FnField::new(1, 1, |_t: f64, u: &[f64], p: &[f64], du: &mut [f64]| du[0] = -p[0] * u[0]);
/// let err = OdeProblem::new(f, vec![1.0, 2.0], (0.0, 1.0), vec![0.5]).err().unwrap();
/// assert!(err.to_string().contains("u0 has length 2, expected 1"));
/// ```
pub struct OdeProblem<F: VectorField> {
    // Private to users (every value goes through a validating constructor or setter); the
    // integrator reads them directly.
    pub(crate) f: F,
    pub(crate) u0: F::V,
    pub(crate) p: F::P,
    pub(crate) tspan: (Re<F::V>, Re<F::V>),
    pub(crate) mass: Option<DenseMatrix<Re<F::V>>>,
}

/// Borrows of a problem's parts at once: the field mutably (its methods keep scratch), the rest
/// shared. From [`OdeProblem::parts_mut`].
pub struct ProblemParts<'a, F: VectorField> {
    /// The vector field.
    pub f: &'a mut F,
    /// Initial state.
    pub u0: &'a F::V,
    /// Parameters.
    pub p: &'a F::P,
    /// `(t0, t1)`.
    pub tspan: (Re<F::V>, Re<F::V>),
    /// The mass matrix, if any.
    pub mass: Option<&'a DenseMatrix<Re<F::V>>>,
}

impl<F: VectorField> Clone for OdeProblem<F>
where
    F: Clone,
{
    fn clone(&self) -> Self {
        OdeProblem {
            f: self.f.clone(),
            u0: self.u0.clone(),
            p: self.p.clone(),
            tspan: self.tspan,
            mass: self.mass.clone(),
        }
    }
}

/// Checks a time span.
pub fn check_span<R: Real>(t0: R, t1: R) -> Result<(), Error> {
    let bad = |reason: &str| {
        Err(Error::InvalidSpan {
            t0: t0.to_f64_lossy(),
            t1: t1.to_f64_lossy(),
            reason: reason.into(),
        })
    };
    if !t0.is_finite() || !t1.is_finite() {
        return bad("both ends must be finite numbers");
    }
    if t0 == t1 {
        return bad("the span is empty (t0 == t1); give t1 != t0");
    }
    Ok(())
}

impl<F: VectorField> OdeProblem<F> {
    /// A problem, validated: `u0` and `p` have the lengths `f.dims()` declares and are finite, and
    /// the span is finite and non-empty.
    pub fn new(f: F, u0: F::V, tspan: (Re<F::V>, Re<F::V>), p: F::P) -> Result<Self, Error> {
        let (n, np) = f.dims();
        check_state("u0", &u0, n)?;
        check_state("p", &p, np)?;
        check_span(tspan.0, tspan.1)?;
        Ok(OdeProblem {
            f,
            u0,
            p,
            tspan,
            mass: None,
        })
    }

    /// The vector field.
    pub fn f(&self) -> &F {
        &self.f
    }
    /// The vector field, mutably (its methods keep scratch space).
    pub fn f_mut(&mut self) -> &mut F {
        &mut self.f
    }
    /// The initial state.
    pub fn u0(&self) -> &F::V {
        &self.u0
    }
    /// The parameters.
    pub fn p(&self) -> &F::P {
        &self.p
    }
    /// The time span `(t0, t1)`.
    pub fn tspan(&self) -> (Re<F::V>, Re<F::V>) {
        self.tspan
    }
    /// The mass matrix (`None`: the identity).
    pub fn mass(&self) -> Option<&DenseMatrix<Re<F::V>>> {
        self.mass.as_ref()
    }
    /// The field mutably and the other parts shared, at once.
    pub fn parts_mut(&mut self) -> ProblemParts<'_, F> {
        ProblemParts {
            f: &mut self.f,
            u0: &self.u0,
            p: &self.p,
            tspan: self.tspan,
            mass: self.mass.as_ref(),
        }
    }
    /// The field, initial state, parameters and span, by value.
    #[allow(clippy::type_complexity)]
    pub fn into_parts(self) -> (F, F::V, F::P, (Re<F::V>, Re<F::V>)) {
        (self.f, self.u0, self.p, self.tspan)
    }

    /// Replaces the initial state, validated as [`OdeProblem::new`] validates it.
    ///
    /// ```
    /// use sciml_core::FnField;
    /// use sciml_ode::OdeProblem;
    /// let f = FnField::new(1, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| du[0] = -u[0]);
    /// let mut prob = OdeProblem::new(f, vec![1.0], (0.0, 1.0), vec![]).unwrap();
    /// assert!(prob.set_u0(vec![2.0]).is_ok());
    /// assert!(prob.set_u0(vec![2.0, 3.0]).is_err());
    /// assert!(prob.set_u0(vec![f64::NAN]).is_err());
    /// assert_eq!(prob.u0(), &vec![2.0]);
    /// ```
    pub fn set_u0(&mut self, u0: F::V) -> Result<(), Error> {
        check_state("u0", &u0, self.f.dims().0)?;
        self.u0 = u0;
        Ok(())
    }
    /// Replaces the parameters, validated as [`OdeProblem::new`] validates them.
    pub fn set_p(&mut self, p: F::P) -> Result<(), Error> {
        check_state("p", &p, self.f.dims().1)?;
        self.p = p;
        Ok(())
    }
    /// Replaces the time span, validated as [`OdeProblem::new`] validates it.
    pub fn set_tspan(&mut self, tspan: (Re<F::V>, Re<F::V>)) -> Result<(), Error> {
        check_span(tspan.0, tspan.1)?;
        self.tspan = tspan;
        Ok(())
    }

    /// Gives the problem a mass matrix: `M u' = f(t, u, p)`. A singular `M` makes the problem a
    /// differential-algebraic equation of index 1 (rows of zeros are algebraic constraints),
    /// which the Rosenbrock and BDF methods integrate from consistent initial values.
    ///
    /// ```
    /// use sciml_core::{DenseMatrix, FnField};
    /// use sciml_ode::OdeProblem;
    /// let f = FnField::new(2, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
    ///     du[0] = -u[0];
    ///     du[1] = u[0] - u[1];
    /// });
    /// let prob = OdeProblem::new(f, vec![1.0, 1.0], (0.0, 1.0), vec![]).unwrap();
    /// let mut m = DenseMatrix::zeros(2, 2);
    /// m[(0, 0)] = 1.0;
    /// assert!(prob.with_mass_matrix(m).is_ok());
    /// ```
    pub fn with_mass_matrix(mut self, mass: DenseMatrix<Re<F::V>>) -> Result<Self, Error> {
        let n = self.u0.len();
        if mass.nrows() != n || mass.ncols() != n {
            return Err(Error::DimensionMismatch {
                what: format!("mass matrix ({}×{})", mass.nrows(), mass.ncols()),
                expected: n,
                got: mass.nrows().max(mass.ncols()),
            });
        }
        if self.u0.host_slice().is_none() {
            return Err(Error::InvalidOption {
                option: "mass matrix",
                reason: "the state is not stored as one slice (a Pair, a device vector), and a \
                         mass matrix multiplies it as one; give the state as a Vec, an array or \
                         a Batch"
                    .into(),
            });
        }
        if let Some(index) = mass.as_slice().iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what: "mass matrix".into(),
                index,
            });
        }
        self.mass = Some(mass);
        Ok(self)
    }
}
