//! Dormand–Prince 5(4) tableau with its free fourth-order dense output.

use super::{Interp, Tableau};

/// Dormand–Prince 5(4) pair (DOPRI5): seven stages (FSAL), fifth-order solution with
/// an embedded fourth-order error estimate and Shampine's free fourth-order
/// continuous extension (no extra stages).
// Sources: J. R. Dormand, P. J. Prince, "A family of embedded Runge-Kutta formulae",
// J. Comput. Appl. Math. 6 (1980) 19-26 (the RK5(4)7M pair); tableau as in Hairer,
// Nørsett & Wanner, Solving ODEs I, 2nd ed. (1993), Sect. II.5, Table 5.2.
// Dense output: L. F. Shampine, "Some practical Runge-Kutta formulas", Math. Comp. 46
// (1986) 135-150, in the form of Hairer, Nørsett & Wanner, Sect. II.6 (dense output of
// DOPRI5, coefficients d1..d7 as in Hairer's dopri5 code). The polynomial weights below
// are that formula expanded in powers of θ (exact rationals, derived here):
//   u(θ) = u0 + θ r2 + θ(1-θ) r3 + θ²(1-θ) r4 + θ²(1-θ)² r5, r2 = u1 - u0,
//   r3 = h k1 - r2, r4 = 2 r2 - h k1 - h k7, r5 = h Σ d_j k_j.
#[rustfmt::skip]
pub const DP5: Tableau = Tableau {
    name: "DP5",
    order: 5,
    error_order: 4,
    fsal: true,
    c: &[0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0],
    a: &[
        1.0 / 5.0,
        3.0 / 40.0, 9.0 / 40.0,
        44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0,
        19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0,
        9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0,
        35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0,
    ],
    b: &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0, 0.0],
    btilde: Some(&[
        71.0 / 57600.0,
        0.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ]),
    interp: Interp::Free {
        order: 4,
        extra_c: &[],
        extra_a: &[],
        bstar: &[
            &[
                1.0,
                -8048581381.0 / 2820520608.0,
                8663915743.0 / 2820520608.0,
                -12715105075.0 / 11282082432.0,
            ],
            &[0.0, 0.0, 0.0, 0.0],
            &[
                0.0,
                131558114200.0 / 32700410799.0,
                -68118460800.0 / 10900136933.0,
                87487479700.0 / 32700410799.0,
            ],
            &[
                0.0,
                -1754552775.0 / 470086768.0,
                14199869525.0 / 1410260304.0,
                -10690763975.0 / 1880347072.0,
            ],
            &[
                0.0,
                127303824393.0 / 49829197408.0,
                -318862633887.0 / 49829197408.0,
                701980252875.0 / 199316789632.0,
            ],
            &[
                0.0,
                -282668133.0 / 205662961.0,
                2019193451.0 / 616988883.0,
                -1453857185.0 / 822651844.0,
            ],
            &[0.0, 40617522.0 / 29380423.0, -110615467.0 / 29380423.0, 69997945.0 / 29380423.0],
        ],
    },
};
