//! The tensor-product basis layer (Boltz's `TensorProductLayer`, DiffEqFlux's `TensorLayer`).

use super::{assert_x_len, Basis, Input, Layer, LayerError};
use sciml_core::rng::Xoshiro256pp;
use sciml_core::Scalar;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// `y = W (B_1(x_1) ⊗ B_2(x_2) ⊗ … ⊗ B_d(x_d))`: each input feature expanded in its own
/// [`Basis`], the expansions multiplied out into every product of one function per feature, and
/// a linear map (no bias) to `out_dim` outputs. A low-dimensional universal approximator that is
/// linear in its parameters.
///
/// Parameters: `weight`, `out_dim × K` row-major, `K = Π len(B_i)`; product index
/// `j = j_1 + len(B_1)·(j_2 + len(B_2)·(…))`. Initialised Glorot-uniform.
///
/// ```
/// use diffeqflux::nn::{Basis, Layer, TensorLayer};
/// let layer = TensorLayer::new(vec![Basis::Polynomial(2), Basis::Polynomial(2)], 1)?;
/// // Products 1, x1, x2, x1·x2: y = 3 + 2·x1·x2.
/// let y = layer.apply(&[2.0, 5.0], 1, &[3.0, 0.0, 0.0, 2.0])?;
/// assert_eq!(y, vec![23.0]);
/// # Ok::<(), diffeqflux::nn::LayerError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorLayer {
    bases: Vec<Basis>,
    out_dim: usize,
    /// `K`, the number of products.
    width: usize,
    /// Σ len(B_i), the basis values (or derivatives) of one sample.
    values: usize,
}

impl TensorLayer {
    /// One basis per input feature, `out_dim` outputs.
    ///
    /// # Errors
    /// [`LayerError::Invalid`] for no bases, an empty basis or no outputs.
    pub fn new(bases: Vec<Basis>, out_dim: usize) -> Result<Self, LayerError> {
        if bases.is_empty() || out_dim == 0 || bases.iter().any(Basis::is_empty) {
            return Err(LayerError::Invalid(
                "a TensorLayer needs at least one basis, every basis at least one function, \
                 and at least one output"
                    .into(),
            ));
        }
        Ok(TensorLayer {
            width: bases.iter().map(Basis::len).product(),
            values: bases.iter().map(Basis::len).sum(),
            bases,
            out_dim,
        })
    }

    /// The bases, one per input feature.
    pub fn bases(&self) -> &[Basis] {
        &self.bases
    }

    /// Basis values and derivatives of one sample into `v` and `d` (`values` each).
    fn expand<S: Scalar>(&self, x: &[S], v: &mut [S], d: &mut [S]) {
        let mut off = 0;
        for (b, &xi) in self.bases.iter().zip(x) {
            b.eval(xi, &mut v[off..off + b.len()], &mut d[off..off + b.len()]);
            off += b.len();
        }
    }

    /// Product `j` of the basis values, with basis `skip`'s factor taken from `d` instead.
    fn product<S: Scalar>(&self, j: usize, v: &[S], d: &[S], skip: Option<usize>) -> S {
        let (mut rest, mut off, mut z) = (j, 0, S::cst(1.0));
        for (i, b) in self.bases.iter().enumerate() {
            let ji = rest % b.len();
            rest /= b.len();
            z *= if skip == Some(i) {
                d[off + ji]
            } else {
                v[off + ji]
            };
            off += b.len();
        }
        z
    }
}

impl Layer for TensorLayer {
    fn in_dim(&self) -> usize {
        self.bases.len()
    }
    fn out_dim(&self) -> usize {
        self.out_dim
    }
    fn nparams(&self) -> usize {
        self.out_dim * self.width
    }
    fn workspace_len(&self, _batch: usize) -> usize {
        2 * self.values + 2 * self.width
    }
    fn init_params(&self, rng: &mut Xoshiro256pp, p: &mut [f64]) {
        let s = (6.0 / (self.width + self.out_dim) as f64).sqrt();
        p.iter_mut().for_each(|w| *w = rng.uniform_range(-s, s));
    }
    fn param_names(&self) -> Vec<(String, Range<usize>)> {
        vec![("weight".into(), 0..self.nparams())]
    }

    fn forward<S: Scalar>(&self, inp: Input<'_, S>, y: &mut [S], ws: &mut [S]) {
        let (d_in, k) = (self.in_dim(), self.width);
        assert_x_len(inp.x.len(), d_in * inp.batch);
        let (v, rest) = ws.split_at_mut(self.values);
        let (d, rest) = rest.split_at_mut(self.values);
        let z = &mut rest[..k];
        for b in 0..inp.batch {
            self.expand(&inp.x[b * d_in..(b + 1) * d_in], v, d);
            for (j, zj) in z.iter_mut().enumerate() {
                *zj = self.product(j, v, d, None);
            }
            for o in 0..self.out_dim {
                let w = &inp.p[o * k..(o + 1) * k];
                y[b * self.out_dim + o] = w
                    .iter()
                    .zip(z.iter())
                    .fold(S::cst(0.0), |a, (w, z)| a + *w * *z);
            }
        }
    }

    fn vjp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        ybar: &[S],
        xbar: &mut [S],
        pbar: &mut [S],
        ws: &mut [S],
    ) {
        let (d_in, k, m) = (self.in_dim(), self.width, self.out_dim);
        assert_x_len(inp.x.len(), d_in * inp.batch);
        let (v, rest) = ws.split_at_mut(self.values);
        let (d, rest) = rest.split_at_mut(self.values);
        let (z, rest) = rest.split_at_mut(k);
        let zbar = &mut rest[..k];
        for b in 0..inp.batch {
            self.expand(&inp.x[b * d_in..(b + 1) * d_in], v, d);
            let yb = &ybar[b * m..(b + 1) * m];
            for j in 0..k {
                z[j] = self.product(j, v, d, None);
                // zbar = Wᵀ ybar; pbar[o, j] += ybar_o z_j.
                let mut acc = S::cst(0.0);
                for (o, &yo) in yb.iter().enumerate() {
                    acc += inp.p[o * k + j] * yo;
                    pbar[o * k + j] += yo * z[j];
                }
                zbar[j] = acc;
            }
            for i in 0..d_in {
                xbar[b * d_in + i] = (0..k).fold(S::cst(0.0), |a, j| {
                    a + zbar[j] * self.product(j, v, d, Some(i))
                });
            }
        }
    }

    fn jvp<S: Scalar>(
        &self,
        inp: Input<'_, S>,
        xdot: &[S],
        pdot: Option<&[S]>,
        y: &mut [S],
        ydot: &mut [S],
        ws: &mut [S],
    ) {
        let (d_in, k, m) = (self.in_dim(), self.width, self.out_dim);
        assert_x_len(inp.x.len(), d_in * inp.batch);
        let (v, rest) = ws.split_at_mut(self.values);
        let (d, rest) = rest.split_at_mut(self.values);
        let (z, rest) = rest.split_at_mut(k);
        let zdot = &mut rest[..k];
        for b in 0..inp.batch {
            let xd = &xdot[b * d_in..(b + 1) * d_in];
            self.expand(&inp.x[b * d_in..(b + 1) * d_in], v, d);
            for j in 0..k {
                z[j] = self.product(j, v, d, None);
                zdot[j] = (0..d_in).fold(S::cst(0.0), |a, i| {
                    a + xd[i] * self.product(j, v, d, Some(i))
                });
            }
            for o in 0..m {
                let w = &inp.p[o * k..(o + 1) * k];
                let mut yo = S::cst(0.0);
                let mut yd = S::cst(0.0);
                for j in 0..k {
                    yo += w[j] * z[j];
                    yd += w[j] * zdot[j];
                    if let Some(pd) = pdot {
                        yd += pd[o * k + j] * z[j];
                    }
                }
                y[b * m + o] = yo;
                ydot[b * m + o] = yd;
            }
        }
    }
}
