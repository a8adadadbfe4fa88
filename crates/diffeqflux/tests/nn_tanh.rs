//! The vectorised `tanh_slice` kernels of `f64` and `f32` against libm's `tanh`: maximum ulp error
//! over a wide range, and the special values (±0, ±large, ±∞, NaN).

use sciml_core::rng::Xoshiro256pp;
use sciml_core::Scalar;

/// Distance in units in the last place between two finite `f64` of any sign.
fn ulp_f64(a: f64, b: f64) -> u64 {
    let key = |x: f64| {
        let i = x.to_bits() as i64;
        if i < 0 {
            i64::MIN - i
        } else {
            i
        }
    };
    key(a).abs_diff(key(b))
}

fn ulp_f32(a: f32, b: f32) -> u32 {
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 {
            i32::MIN - i
        } else {
            i
        }
    };
    key(a).abs_diff(key(b))
}

/// Points spread over `[-lim, lim]`: uniform, plus log-uniform magnitudes down to 1e-300.
fn sample_points(n: usize, lim: f64, seed: u64) -> Vec<f64> {
    let mut rng = Xoshiro256pp::new(seed);
    let mut xs = Vec::with_capacity(2 * n);
    for _ in 0..n {
        xs.push(rng.uniform_range(-lim, lim));
        let mag = 10f64.powf(rng.uniform_range(-300.0, 1.5));
        xs.push(if rng.uniform() < 0.5 { -mag } else { mag });
    }
    xs
}

#[test]
fn f64_tanh_slice_is_within_4_ulp_of_libm() {
    let xs = sample_points(1_000_000, 25.0, 1);
    let mut ys = xs.clone();
    f64::tanh_slice(&mut ys);
    let mut worst = (0_u64, 0.0_f64);
    for (&x, &y) in xs.iter().zip(&ys) {
        let u = ulp_f64(y, x.tanh());
        if u > worst.0 {
            worst = (u, x);
        }
    }
    eprintln!("f64 tanh_slice: max {} ulp at x = {:e}", worst.0, worst.1);
    // glibc's tanh is itself up to about 2 ulp off; against the correctly rounded value
    // (mpmath, 50 digits) the kernel's largest error measured is 2.8 ulp.
    assert!(worst.0 <= 4, "max {} ulp at x = {:e}", worst.0, worst.1);
}

/// `(x, tanh x)` as bit patterns, `tanh x` correctly rounded (mpmath with 60 digits): the
/// kernel's worst cases found in a search over 4·10⁶ points, the reduction's switch points and
/// random magnitudes from 1e-6 to 20.
const CORRECTLY_ROUNDED: [(u64, u64); 64] = [
    (0x3fc008238a78ed88, 0x3fbfe59fb0078b72), // tanh(0.12524837743135842)
    (0xc00850cc0bea6cf2, 0xbfefda8e1e8df0fc), // tanh(-3.0394516879001623)
    (0x3fe17f9999c50cc0, 0x3fdfe17d033f8e58), // tanh(0.5468261721911389)
    (0xbfd01e3952ad54d0, 0xbfcf924a7648fd6f), // tanh(-0.2518447215455355)
    (0x3fd02081840abb32, 0x3fcf9693ba8d784b), // tanh(0.25198400397032394)
    (0xbfcc3a4041ac4b00, 0xbfcbc757a479da51), // tanh(-0.220527679507164)
    (0x3feecdcaeecd4d40, 0x3fe7daace4fa57f0), // tanh(0.9626211799717694)
    (0x403235e1c0466e70, 0x3feffffffffffffd), // tanh(18.210475938029447)
    (0xbfe04e7cb25d2f20, 0xbfde0e3b48f8fc0b), // tanh(-0.5095809444114572)
    (0x3fcea959b8eeb780, 0x3fce169577fcb7af), // tanh(0.2395431664457952)
    (0x3e45798ee2308c3a, 0x3e45798ee2308c3a), // tanh(1e-08)
    (0xbeff75104d551d69, 0xbeff75104d2c951e), // tanh(-3e-05)
    (0x3fd62e42fefa39ee, 0x3fd5555555555554), // tanh(0.3465735902799726)
    (0x3fd62e42fefa39ef, 0x3fd5555555555555), // tanh(0.34657359027997264)
    (0x3fe62e42fefa39ef, 0x3fe3333333333333), // tanh(0.6931471805599453)
    (0x3ff0a2b23f3bab73, 0x3fe8e38e38e38e39), // tanh(1.0397207708399179)
    (0x4033000000000000, 0x3fefffffffffffff), // tanh(19.0)
    (0x40330f5c28f5c28f, 0x3fefffffffffffff), // tanh(19.06)
    (0xc01d2d21499496c8, 0xbfeffffe1026caf6), // tanh(-7.29407229394355)
    (0x3f2e4da156a6fe9d, 0x3f2e4da14d9812ac), // tanh(0.00023119539703308082)
    (0x3face9b3a3d8506a, 0x3face1d80c30cacc), // tanh(0.05647050261555438)
    (0x3f80b8a3720dea53, 0x3f80b88b188a7282), // tanh(0.00816466991249346)
    (0xbec63cbfadef85eb, 0xbec63cbfadef4ca5), // tanh(-2.650892710218764e-06)
    (0x3ebf825edb7d9e65, 0x3ebf825edb7d75a9), // tanh(1.8780982440016848e-06)
    (0x3ecb243bfe201d45, 0x3ecb243bfe1fb522), // tanh(3.2355237502588822e-06)
    (0xbf54940d19f7ff66, 0xbf54940c646c05ac), // tanh(-0.00125600127637423)
    (0x3ee0cd8acf6b394e, 0x3ee0cd8acf69adf7), // tanh(8.012246764191194e-06)
    (0xbfa37a3b4c80e995, 0xbfa377d3e36c70cd), // tanh(-0.03804192837602042)
    (0x3f90b77c012be667, 0x3f90b71ab1451b4f), // tanh(0.01632493741178678)
    (0x402ac5d00cfceff8, 0x3fefffffffff59fd), // tanh(13.386352926136155)
    (0x3ffd93760ec720e3, 0x3fee738b80197a3f), // tanh(1.8485012604961006)
    (0x3ee7b269c2b66414, 0x3ee7b269c2b20f2c), // tanh(1.1299574984845565e-05)
    (0xbf27695101509b9f, 0xbf276950fd234e40), // tanh(-0.00017861474830846173)
    (0xbef5df6990c84868, 0xbef5df6990baa854), // tanh(-2.0859436562111275e-05)
    (0x3fa79f887506ecb7, 0x3fa79b3ece944dd8), // tanh(0.046139015470055104)
    (0x3f84693820190ee3, 0x3f84690bd6a781ea), // tanh(0.009966314773130097)
    (0x3ec6d82610c46d54, 0x3ec6d82610c42f3d), // tanh(2.723256448911778e-06)
    (0x3fb7b8f34e1b39c9, 0x3fb7a7a08e93b772), // tanh(0.09266586930173228)
    (0xbf29c01b57c1cfad, 0xbf29c01b5232eba5), // tanh(-0.00019646009230067426)
    (0x3f60a893736e5c38, 0x3f60a891f23234ea), // tanh(0.002033508291286814)
    (0xbfe4248f9cffc4d1, 0xbfe1d888a5e67eeb), // tanh(-0.6294630113972294)
    (0xbf0fbaf638ec35f0, 0xbf0fbaf63845d299), // tanh(-6.052078162186922e-05)
    (0xbf7bf1c2aa74ea1c, 0xbf7bf1a640c7ebf4), // tanh(-0.006822357572043216)
    (0x3fcb0cb1814585b3, 0x3fcaa76bad03587c), // tanh(0.2113248711785168)
    (0x402c98982d3b5731, 0x3fefffffffffe531), // tanh(14.298036015981411)
    (0xbf527b09ea698d34, 0xbf527b0966eaea5f), // tanh(-0.0011279675324196827)
    (0x3eeafc12eda67155, 0x3eeafc12eda00be0), // tanh(1.2867290412548494e-05)
    (0xbec036e7cc2d9934, 0xbec036e7cc2d8300), // tanh(-1.932915979652129e-06)
    (0xbfd868aa50c8dcfc, 0xbfd74a579a0499fc), // tanh(-0.3813882626449894)
    (0x4003aeb1a5980fbe, 0x3fef8959271d77df), // tanh(2.460299771979378)
    (0xbfbe78bed36b44a8, 0xbfbe541cc3fc1332), // tanh(-0.11902992879483298)
    (0x3f918520f4f3f828, 0x3f9184b0eeb2b0f3), // tanh(0.0171094083316278)
    (0xbff5abd9b739aa47, 0xbfec00d38e9e663c), // tanh(-1.354455676768923)
    (0xbf67ad0c764a4fef, 0xbf67ad082453b3d6), // tanh(-0.0028901332282860108)
    (0xbec7421b931dc92d, 0xbec7421b931d87a6), // tanh(-2.77259746266872e-06)
    (0xbfab1f0de947fcee, 0xbfab1891514b4523), // tanh(-0.05297130081816613)
    (0x3ff0007b01059379, 0x3fe85f6203e1a0e8), // tanh(1.0001173057473507)
    (0xbf4576ff22e9340e, 0xbf4576feef66f5fd), // tanh(-0.0006550546439229048)
    (0x3eb883cd52876b0b, 0x3eb883cd528757dc), // tanh(1.4611990285437212e-06)
    (0x3ef1acbbe1b2fe99, 0x3ef1acbbe1abce17), // tanh(1.6855947347903415e-05)
    (0xbec698eabbb0e692, 0xbec698eabbb0aa79), // tanh(-2.6938118629332893e-06)
    (0x3ee27136406b5340, 0x3ee271364069488b), // tanh(8.793942482135408e-06)
    (0xbf4768b3e48451ac, 0xbf4768b3a1b4bdeb), // tanh(-0.0007143858320284766)
    (0x3ed0407ab55bea04, 0x3ed0407ab55b9097), // tanh(3.874748321081818e-06)
];

#[test]
fn f64_tanh_slice_is_within_3_ulp_of_correctly_rounded_values() {
    let xs: Vec<f64> = CORRECTLY_ROUNDED
        .iter()
        .map(|&(x, _)| f64::from_bits(x))
        .collect();
    let mut ys = xs.clone();
    f64::tanh_slice(&mut ys);
    for ((&x, &y), &(_, t)) in xs.iter().zip(&ys).zip(&CORRECTLY_ROUNDED) {
        let u = ulp_f64(y, f64::from_bits(t));
        assert!(
            u <= 3,
            "tanh({x:e}): {u} ulp from the correctly rounded value"
        );
    }
}

#[test]
fn f64_tanh_slice_dense_grid_near_branch_points() {
    // Densely around the reduction's switch points (|x| = k·ln2/2), near 0 and at the cap at 20.
    let mut xs: Vec<f64> = (0..400_000).map(|i| 2.2 * i as f64 / 400_000.0).collect();
    xs.extend((0..200_000).map(|i| 18.0 + 3.0 * i as f64 / 200_000.0));
    xs.extend((0..200_000).map(|i| 1e-3 * i as f64 / 200_000.0));
    let mut ys = xs.clone();
    f64::tanh_slice(&mut ys);
    let worst = xs
        .iter()
        .zip(&ys)
        .map(|(&x, &y)| ulp_f64(y, x.tanh()))
        .max()
        .unwrap_or(0);
    assert!(worst <= 4, "max {worst} ulp");
}

/// The `f32` kernel computes in `f32` (twice the lanes of the `f64` kernel, issue 5's W4); its
/// design bound is 2 `f32` ulp from the correctly rounded value (it was 1 ulp when it went
/// through the `f64` kernel at half the throughput).
#[test]
fn f32_tanh_slice_is_within_2_ulp_of_rounded_f64_libm() {
    let xs = sample_points(500_000, 12.0, 2);
    let xs: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
    let mut ys = xs.clone();
    f32::tanh_slice(&mut ys);
    let worst = xs
        .iter()
        .zip(&ys)
        .map(|(&x, &y)| ulp_f32(y, (f64::from(x)).tanh() as f32))
        .max()
        .unwrap_or(0);
    assert!(worst <= 2, "max {worst} ulp");
}

#[test]
fn special_values() {
    let mut xs = [
        0.0,
        -0.0,
        1e-310,
        -1e-310,
        20.0,
        -20.0,
        40.0,
        710.0,
        -710.0,
        1e300,
        -1e300,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
    ];
    let orig = xs;
    f64::tanh_slice(&mut xs);
    assert_eq!(xs[0].to_bits(), 0.0_f64.to_bits());
    assert_eq!(xs[1].to_bits(), (-0.0_f64).to_bits());
    assert_eq!(xs[2], 1e-310);
    assert_eq!(xs[3], -1e-310);
    for (i, &x) in orig.iter().enumerate().skip(4).take(9) {
        assert_eq!(xs[i], x.signum(), "tanh({x})");
    }
    assert!(xs[13].is_nan() && xs[14].is_nan());

    let mut fs = [
        0.0_f32,
        -0.0,
        100.0,
        -100.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ];
    f32::tanh_slice(&mut fs);
    assert_eq!(fs[1].to_bits(), (-0.0_f32).to_bits());
    assert_eq!(&fs[..6], &[0.0, -0.0, 1.0, -1.0, 1.0, -1.0]);
    assert!(fs[6].is_nan());
}

#[test]
fn odd_symmetry_is_exact() {
    let xs = sample_points(100_000, 25.0, 3);
    let mut a = xs.clone();
    let mut b: Vec<f64> = xs.iter().map(|x| -x).collect();
    f64::tanh_slice(&mut a);
    f64::tanh_slice(&mut b);
    assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == (-q).to_bits()));
}
