//! Low-order explicit Runge–Kutta tableaus: Euler, explicit midpoint, Heun, Ralston and
//! the classical RK4. All use cubic Hermite dense output.

use super::{Interp, Tableau};

/// Forward Euler: one stage, order 1, no error estimate.
///
/// `u1 = u0 + h f(t0, u0)`. Dense output is cubic Hermite.
// Source: L. Euler, Institutionum calculi integralis, vol. I (1768); see also
// E. Hairer, S. P. Nørsett, G. Wanner, Solving Ordinary Differential Equations I,
// 2nd ed., Springer (1993), Sect. II.1.
#[rustfmt::skip]
pub const EULER: Tableau = Tableau {
    name: "Euler",
    order: 1,
    error_order: 0,
    fsal: false,
    c: &[0.0],
    a: &[],
    b: &[1.0],
    btilde: None,
    interp: Interp::Hermite,
};

/// Explicit midpoint rule: two stages, order 2, no error estimate.
///
/// `k2 = f(t0 + h/2, u0 + h/2 k1)`, `u1 = u0 + h k2`. Dense output is cubic Hermite.
// Source: C. Runge, "Ueber die numerische Auflösung von Differentialgleichungen",
// Math. Ann. 46 (1895) 167-178; see Hairer, Nørsett & Wanner, Solving ODEs I,
// 2nd ed. (1993), Sect. II.1.
#[rustfmt::skip]
pub const MIDPOINT: Tableau = Tableau {
    name: "Midpoint",
    order: 2,
    error_order: 0,
    fsal: false,
    c: &[0.0, 1.0 / 2.0],
    a: &[1.0 / 2.0],
    b: &[0.0, 1.0],
    btilde: None,
    interp: Interp::Hermite,
};

/// Heun's method (explicit trapezoidal rule): two stages, order 2, with the
/// first-order Euler solution embedded for error estimation.
///
/// `btilde = b - [1, 0]` (Euler weights as `bhat`). Dense output is cubic Hermite.
// Source: K. Heun, "Neue Methoden zur approximativen Integration der
// Differentialgleichungen einer unabhängigen Veränderlichen", Z. Math. Phys. 45 (1900)
// 23-38; see Hairer, Nørsett & Wanner, Solving ODEs I, 2nd ed. (1993), Sect. II.1.
// Embedded pair: forward Euler (bhat = [1, 0]).
#[rustfmt::skip]
pub const HEUN: Tableau = Tableau {
    name: "Heun",
    order: 2,
    error_order: 1,
    fsal: false,
    c: &[0.0, 1.0],
    a: &[1.0],
    b: &[1.0 / 2.0, 1.0 / 2.0],
    btilde: Some(&[-1.0 / 2.0, 1.0 / 2.0]),
    interp: Interp::Hermite,
};

/// Ralston's second-order method (c2 = 2/3, minimum truncation-error bound): two
/// stages, order 2, with the first-order Euler solution embedded for error estimation.
///
/// `btilde = b - [1, 0]` (Euler weights as `bhat`). Dense output is cubic Hermite.
// Source: A. Ralston, "Runge-Kutta methods with minimum error bounds",
// Math. Comp. 16 (1962) 431-437 (two-stage case: c2 = 2/3, b = [1/4, 3/4]).
// Embedded pair: forward Euler (bhat = [1, 0]).
#[rustfmt::skip]
pub const RALSTON: Tableau = Tableau {
    name: "Ralston",
    order: 2,
    error_order: 1,
    fsal: false,
    c: &[0.0, 2.0 / 3.0],
    a: &[2.0 / 3.0],
    b: &[1.0 / 4.0, 3.0 / 4.0],
    btilde: Some(&[-3.0 / 4.0, 3.0 / 4.0]),
    interp: Interp::Hermite,
};

/// The classical fourth-order Runge–Kutta method: four stages, order 4, no error
/// estimate. Dense output is cubic Hermite.
// Source: W. Kutta, "Beitrag zur näherungsweisen Integration totaler
// Differentialgleichungen", Z. Math. Phys. 46 (1901) 435-453; see Hairer, Nørsett &
// Wanner, Solving ODEs I, 2nd ed. (1993), Sect. II.1.
#[rustfmt::skip]
pub const RK4: Tableau = Tableau {
    name: "RK4",
    order: 4,
    error_order: 0,
    fsal: false,
    c: &[0.0, 1.0 / 2.0, 1.0 / 2.0, 1.0],
    a: &[
        1.0 / 2.0,
        0.0, 1.0 / 2.0,
        0.0, 0.0, 1.0,
    ],
    b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    btilde: None,
    interp: Interp::Hermite,
};
