//! Tsitouras 5(4) tableau with its free fourth-order dense output.

use super::{Interp, Tableau};

/// Tsitouras 5(4) pair (Tsit5): seven stages (FSAL), fifth-order solution with an
/// embedded fourth-order error estimate and a free fourth-order continuous extension
/// (no extra stages).
// Source: Ch. Tsitouras, "Runge-Kutta pairs of order 5(4) satisfying only the first
// column simplifying assumption", Computers & Mathematics with Applications 62 (2011)
// 770-775: the coefficient table of the new pair and its interpolant b_j(θ) given there.
// Values rounded to f64 from the extended-precision transcription of that table used by
// OrdinaryDiffEq.jl (tsit_tableaus.jl). The paper lists the fourth-order weights bhat
// (bhat_7 = 1/66); here btilde = b - bhat, so btilde_7 = -1/66 (OrdinaryDiffEq.jl stores
// the opposite sign, bhat - b).
#[rustfmt::skip]
pub const TSIT5: Tableau = Tableau {
    name: "Tsit5",
    order: 5,
    error_order: 4,
    fsal: true,
    c: &[0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0],
    a: &[
        0.161,
        -0.008480655492356989, 0.335480655492357,
        2.8971530571054935, -6.359448489975075, 4.3622954328695815,
        5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525,
        // stage 6
        5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401,
        -0.028269050394068383,
        // stage 7
        0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081,
        2.324710524099774,
    ],
    b: &[
        0.09646076681806523,
        0.01,
        0.4798896504144996,
        1.379008574103742,
        -3.290069515436081,
        2.324710524099774,
        0.0,
    ],
    btilde: Some(&[
        0.0017800110522257714,
        0.0008164344596567469,
        -0.007880878010261995,
        0.1447110071732629,
        -0.5823571654525552,
        0.45808210592918697,
        -1.0 / 66.0,
    ]),
    interp: Interp::Free {
        order: 4,
        extra_c: &[],
        extra_a: &[],
        bstar: &[
            &[1.0, -2.763706197274826, 2.9132554618219126, -1.0530884977290216],
            &[0.0, 0.13169999999999998, -0.2234, 0.1017],
            &[0.0, 3.9302962368947516, -5.941033872131505, 2.490627285651253],
            &[0.0, -12.411077166933676, 30.33818863028232, -16.548102889244902],
            &[0.0, 37.50931341651104, -88.1789048947664, 47.37952196281928],
            &[0.0, -27.896526289197286, 65.09189467479366, -34.87065786149661],
            &[0.0, 1.5, -4.0, 2.5],
        ],
    },
};
