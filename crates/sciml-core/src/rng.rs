//! Seeded, reproducible random numbers with no dependencies: xoshiro256++ (Blackman & Vigna,
//! "Scrambled linear pseudorandom number generators", ACM TOMS 47, 2021) seeded through
//! SplitMix64, with uniform and standard normal draws. The same seed gives the same stream on
//! every platform and thread count.

use serde::{Deserialize, Serialize};

/// The xoshiro256++ generator.
///
/// ```
/// use sciml_core::rng::Xoshiro256pp;
/// let mut a = Xoshiro256pp::new(42);
/// let mut b = Xoshiro256pp::new(42);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let x = a.uniform();
/// assert!((0.0..1.0).contains(&x));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xoshiro256pp {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Xoshiro256pp {
    /// A generator from a 64-bit seed (expanded by SplitMix64, as the authors recommend).
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        Xoshiro256pp {
            s: [
                splitmix64(&mut st),
                splitmix64(&mut st),
                splitmix64(&mut st),
                splitmix64(&mut st),
            ],
        }
    }

    /// An independent stream for index `k` (seeded from `seed` and `k`): one per thread or per
    /// trajectory, so results do not depend on how work is split.
    pub fn stream(seed: u64, k: u64) -> Self {
        let mut st = seed ^ k.wrapping_mul(0xd1b5_4a32_d192_ed03);
        let mixed = splitmix64(&mut st);
        Self::new(mixed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform on `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform on `[a, b)`.
    pub fn uniform_range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.uniform()
    }

    /// A standard normal draw (Marsaglia's polar method).
    pub fn normal(&mut self) -> f64 {
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return u * (-2.0 * s.ln() / s).sqrt();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_of_uniform_and_normal_draws() {
        let mut r = Xoshiro256pp::new(7);
        let n = 200_000;
        let (mut su, mut sn, mut sn2) = (0.0, 0.0, 0.0);
        for _ in 0..n {
            su += r.uniform();
            let z = r.normal();
            sn += z;
            sn2 += z * z;
        }
        let nf = n as f64;
        // Standard errors: uniform mean 0.29/sqrt(n) = 6.5e-4; normal mean 2.2e-3, variance 3.2e-3.
        assert!((su / nf - 0.5).abs() < 4e-3);
        assert!((sn / nf).abs() < 1e-2);
        assert!((sn2 / nf - 1.0).abs() < 1.5e-2);
    }

    #[test]
    fn streams_differ_and_repeat() {
        let a: Vec<u64> = (0..4)
            .map(|_| Xoshiro256pp::stream(1, 0).next_u64())
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Xoshiro256pp::stream(1, 0).next_u64(),
            Xoshiro256pp::stream(1, 1).next_u64()
        );
    }
}
