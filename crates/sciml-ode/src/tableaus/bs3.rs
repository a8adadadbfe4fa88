//! Bogacki–Shampine 3(2) tableau.

use super::{Interp, Tableau};

/// Bogacki–Shampine 3(2) pair: four stages (FSAL), third-order solution with an
/// embedded second-order error estimate. Dense output is cubic Hermite, which is the
/// natural continuous extension of this pair.
// Source: P. Bogacki, L. F. Shampine, "A 3(2) pair of Runge-Kutta formulas",
// Appl. Math. Lett. 2 (1989) 321-325. Embedded weights
// bhat = [7/24, 1/4, 1/3, 1/8]; btilde = b - bhat.
#[rustfmt::skip]
pub const BS3: Tableau = Tableau {
    name: "BS3",
    order: 3,
    error_order: 2,
    fsal: true,
    c: &[0.0, 1.0 / 2.0, 3.0 / 4.0, 1.0],
    a: &[
        1.0 / 2.0,
        0.0, 3.0 / 4.0,
        2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0,
    ],
    b: &[2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0],
    btilde: Some(&[-5.0 / 72.0, 1.0 / 12.0, 1.0 / 9.0, -1.0 / 8.0]),
    interp: Interp::Hermite,
};
