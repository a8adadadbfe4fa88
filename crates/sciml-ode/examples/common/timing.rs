//! The benchmark examples' timing: what `cargo xtask bench` reports as a median.

use std::time::Instant;

/// Median seconds per call of `solve` over 15 repeats of an inner loop sized to about 0.2 s
/// (as the peers' scripts time), after 0.05 s of warm-up that sizes the loop.
pub fn median_time<T, E>(mut solve: impl FnMut() -> Result<T, E>) -> Result<f64, E> {
    let t = Instant::now();
    let mut n = 0u32;
    while t.elapsed().as_secs_f64() < 0.05 {
        std::hint::black_box(solve()?);
        n += 1;
    }
    let per = t.elapsed().as_secs_f64() / f64::from(n);
    let inner = ((0.2 / per) as u32).max(1);
    let mut samples = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..inner {
            std::hint::black_box(solve()?);
        }
        samples.push(t.elapsed().as_secs_f64() / f64::from(inner));
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[7])
}
