//! The default [`super::Layer::vjp_tangent`]: the layer's VJP in dual numbers, the reference
//! that the plain-scalar implementations are tested against.

use super::{Input, Layer};
use sciml_core::{Dual, Scalar};

/// `xbar`, `xbar_dot` (overwritten) and `pbar_dot` (accumulated) from one [`Layer::vjp`] in
/// dual numbers, seeded `x + δ·xdot`, `ybar + δ·ybar_dot`, parameters constant. Allocates its
/// dual buffers per call.
pub(crate) fn vjp_tangent_by_duals<L: Layer + ?Sized, S: Scalar>(
    layer: &L,
    inp: Input<'_, S>,
    xdot: &[S],
    (ybar, ybar_dot): (&[S], &[S]),
    xbar: &mut [S],
    xbar_dot: &mut [S],
    pbar_dot: &mut [S],
) {
    let zero = Dual::<S, S::Re>::constant(S::zero());
    let dual = |v: &[S], t: &[S]| -> Vec<Dual<S, S::Re>> {
        v.iter().zip(t).map(|(a, b)| Dual::new(*a, *b)).collect()
    };
    let xd = dual(inp.x, xdot);
    let yd = dual(ybar, ybar_dot);
    let pd: Vec<Dual<S, S::Re>> = inp.p.iter().map(|a| Dual::constant(*a)).collect();
    let mut xb = vec![zero; xd.len()];
    let mut pb = vec![zero; pd.len()];
    let mut ws = vec![zero; layer.workspace_len(inp.batch)];
    let dinp = Input {
        x: &xd,
        batch: inp.batch,
        p: &pd,
    };
    layer.vjp(dinp, &yd, &mut xb, &mut pb, &mut ws);
    for ((v, t), d) in xbar.iter_mut().zip(xbar_dot.iter_mut()).zip(&xb) {
        *v = d.value();
        *t = d.eps();
    }
    for (g, d) in pbar_dot.iter_mut().zip(&pb) {
        *g += d.eps();
    }
}
