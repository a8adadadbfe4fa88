//! [`NeuralField`]: a network as a vector field, `du/dt = model(u; p)`, with the exact VJPs,
//! JVPs, Jacobians and Hessian-vector products every ODE method and sensitivity asks for.

use super::{ModelField, NeuralParams};
use crate::nn::{Input, Layer};
use sciml_core::{
    rng::Xoshiro256pp, DenseMatrix, Dual64, Error, Hvp, Jacobian, Jvp, Scalar, SliceState, State,
    VectorField, Vjp, Zero,
};
use sciml_sensitivity::DualField;

/// A neural network as a vector field, `du/dt = model(u; p)`, over a single state (`Vec<S>`)
/// or a batch of states solved as one system (`sciml_core::Batch<S>`, one step size for all).
/// VJPs and JVPs come from the layers' hand-written passes.
///
/// ```
/// use diffeqflux::nn::{Activation, Dense};
/// use diffeqflux::NeuralField;
/// use sciml_core::VectorField;
/// let mut f = NeuralField::<_, Vec<f64>>::new(Dense::new(2, 2, Activation::Tanh), 1)?;
/// assert_eq!(f.dims(), (2, 6));
/// let mut du = vec![0.0; 2];
/// f.rhs(0.0, &vec![1.0, 0.0], &vec![0.0; 6], &mut du);
/// assert_eq!(du, [0.0, 0.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct NeuralField<L, V: State> {
    model: L,
    batch: usize,
    ws: Vec<V::S>,
    xbar: Vec<V::S>,
    y: Vec<V::S>,
    zx: Vec<V::S>,
}

impl<L: Layer + Clone, V: State> Clone for NeuralField<L, V> {
    fn clone(&self) -> Self {
        NeuralField {
            model: self.model.clone(),
            batch: self.batch,
            ws: self.ws.clone(),
            xbar: self.xbar.clone(),
            y: self.y.clone(),
            zx: self.zx.clone(),
        }
    }
}

impl<L: Layer, V: SliceState> NeuralField<L, V> {
    /// Wraps `model` (whose input and output sizes must agree) for `batch` samples per state.
    pub fn new(model: L, batch: usize) -> Result<Self, Error> {
        if model.in_dim() != model.out_dim() {
            return Err(Error::InvalidOption {
                option: "model",
                reason: format!(
                    "a vector field maps the state to its derivative, so input and output sizes must agree (got {} -> {})",
                    model.in_dim(),
                    model.out_dim()
                ),
            });
        }
        if batch == 0 {
            return Err(Error::InvalidOption {
                option: "batch",
                reason: "must be at least 1".into(),
            });
        }
        let n = model.in_dim() * batch;
        let z = V::S::zero();
        Ok(NeuralField {
            ws: vec![z; model.workspace_len(batch)],
            xbar: vec![z; n],
            y: vec![z; n],
            zx: vec![z; n],
            batch,
            model,
        })
    }
    /// The model.
    pub fn model(&self) -> &L {
        &self.model
    }
}

impl<L: Layer, V: SliceState> VectorField for NeuralField<L, V> {
    type V = V;
    type P = Vec<V::S>;
    fn dims(&self) -> (usize, usize) {
        (self.model.in_dim() * self.batch, self.model.nparams())
    }
    #[inline]
    fn rhs(&mut self, _t: <V::S as Scalar>::Re, u: &V, p: &Vec<V::S>, du: &mut V) {
        let inp = Input {
            x: u.as_slice(),
            batch: self.batch,
            p,
        };
        self.model.forward(inp, du.as_mut_slice(), &mut self.ws);
    }
}

impl<L: Layer, V: SliceState> Vjp for NeuralField<L, V> {
    const EXACT: bool = true;
    fn vjp(
        &mut self,
        _t: <V::S as Scalar>::Re,
        u: &V,
        p: &Vec<V::S>,
        w: &V,
        gu: &mut V,
        gp: &mut Vec<V::S>,
    ) {
        let inp = Input {
            x: u.as_slice(),
            batch: self.batch,
            p,
        };
        self.model
            .vjp(inp, w.as_slice(), &mut self.xbar, gp, &mut self.ws);
        for (g, x) in gu.as_mut_slice().iter_mut().zip(&self.xbar) {
            *g += *x;
        }
    }
}

impl<L: Layer, V: SliceState> Jvp for NeuralField<L, V> {
    const EXACT: bool = true;
    fn jvp_u(&mut self, _t: <V::S as Scalar>::Re, u: &V, p: &Vec<V::S>, v: &V, out: &mut V) {
        let inp = Input {
            x: u.as_slice(),
            batch: self.batch,
            p,
        };
        self.model.jvp(
            inp,
            v.as_slice(),
            None,
            &mut self.y,
            out.as_mut_slice(),
            &mut self.ws,
        );
    }
    fn jvp_p(
        &mut self,
        _t: <V::S as Scalar>::Re,
        u: &V,
        p: &Vec<V::S>,
        v: &Vec<V::S>,
        out: &mut V,
    ) {
        let inp = Input {
            x: u.as_slice(),
            batch: self.batch,
            p,
        };
        self.model.jvp(
            inp,
            &self.zx,
            Some(v),
            &mut self.y,
            out.as_mut_slice(),
            &mut self.ws,
        );
    }
}

impl<L: Layer, S: Scalar> Jacobian for NeuralField<L, Vec<S>>
where
    Vec<S>: SliceState<S = S>,
{
    const EXACT: bool = true;
    /// Column by column from the layers' forward-mode JVPs (`n` JVPs): what implicit solvers
    /// with a dense linear solve need. In any scalar, so dual numbers pass through an implicit
    /// method (`ForwardDiffSensitivity`, and `AutoSensitivity`'s forward mode, with `Rodas5P`).
    fn jacobian(&mut self, _t: S::Re, u: &Vec<S>, p: &Vec<S>, j: &mut DenseMatrix<S>) {
        let n = u.len();
        let mut e = vec![S::zero(); n];
        for c in 0..n {
            e[c] = S::one();
            let inp = Input {
                x: u,
                batch: self.batch,
                p,
            };
            self.model
                .jvp(inp, &e, None, &mut self.y, j.col_mut(c), &mut self.ws);
            e[c] = S::zero();
        }
    }
}

impl<L: Layer> Hvp for NeuralField<L, Vec<f64>> {
    const EXACT: bool = true;
    /// Dual numbers through the layers' hand-written VJP (`nn::layer_hvp`): with the input
    /// seeded `u + εv`, the tangents of `(∂y/∂x)ᵀ w` and `(∂y/∂p)ᵀ w` are `∇_u (wᵀ J v)` and
    /// `∇_p (wᵀ J v)`. One VJP in dual numbers per call (its buffers are allocated per call).
    fn hvp(
        &mut self,
        _t: f64,
        u: &Vec<f64>,
        p: &Vec<f64>,
        w: &Vec<f64>,
        v: &Vec<f64>,
        gu: &mut Vec<f64>,
        gp: &mut Vec<f64>,
    ) {
        crate::nn::layer_hvp(&self.model, self.batch, u, p, w, v, gu, gp);
    }
}

impl<L: Layer + Clone> DualField for NeuralField<L, Vec<f64>> {
    type Dual = NeuralField<L, Vec<Dual64>>;
    fn to_dual(&self) -> Self::Dual {
        let n = self.model.in_dim() * self.batch;
        let z = Dual64::constant(0.0);
        NeuralField {
            model: self.model.clone(),
            batch: self.batch,
            ws: vec![z; self.model.workspace_len(self.batch)],
            xbar: vec![z; n],
            y: vec![z; n],
            zx: vec![z; n],
        }
    }
}

impl<L: Layer, V: State> NeuralParams for NeuralField<L, V> {
    fn nparams(&self) -> usize {
        self.model.nparams()
    }
    fn init_params_with(&self, rng: &mut Xoshiro256pp, p: &mut [f64]) {
        self.model.init_params(rng, p);
    }
}

impl<L: Layer + Clone> ModelField for NeuralField<L, Vec<f64>> {
    type Model = L;
    fn model(&self) -> &L {
        &self.model
    }
}
