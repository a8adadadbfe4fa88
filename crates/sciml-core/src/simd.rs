//! Runtime selection of wider SIMD instruction sets for hot kernels.
//!
//! The workspace compiles for baseline x86-64 (SSE2: two `f64` per vector register), which every
//! x86-64 machine runs. Hot kernels are written once as plain, vectorisable Rust; [`simd_fn!`]
//! compiles such a body a second time with AVX2 and FMA enabled (four `f64` or eight `f32` per
//! register, sixteen registers) and picks that copy at run time when the CPU has them.
//!
//! Both copies compute bitwise the same results: IEEE arithmetic is lane-wise, Rust never
//! contracts `a * b + c` into a fused multiply-add unless `mul_add` is written (and `mul_add` is
//! correctly rounded either way), and the copies execute the same operations in the same order,
//! only more lanes at a time.

use std::sync::atomic::{AtomicU8, Ordering};

/// The instruction-set level kernels built with [`simd_fn!`] run at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// The baseline the crate was compiled for (SSE2 on x86-64).
    Portable,
    /// x86-64 with AVX2 and FMA.
    Avx2,
}

/// Cached level: 0 = not yet detected, else `1 + SimdLevel as u8`.
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// The level in use: the best the CPU supports, unless the environment variable `SCIML_SIMD` is
/// `portable` (to compare against, or to rule the wide kernels out). Detected once per process.
///
/// ```
/// use sciml_core::simd::{simd_level, SimdLevel};
/// assert!(simd_level() >= SimdLevel::Portable);
/// ```
#[inline]
pub fn simd_level() -> SimdLevel {
    match LEVEL.load(Ordering::Relaxed) {
        1 => SimdLevel::Portable,
        2 => SimdLevel::Avx2,
        _ => {
            let l = detect();
            LEVEL.store(1 + l as u8, Ordering::Relaxed);
            l
        }
    }
}

fn detect() -> SimdLevel {
    if std::env::var("SCIML_SIMD").is_ok_and(|v| v.eq_ignore_ascii_case("portable")) {
        return SimdLevel::Portable;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return SimdLevel::Avx2;
        }
    }
    SimdLevel::Portable
}

/// Defines a function whose body is compiled twice, for the baseline target and (on x86-64) with
/// AVX2 and FMA enabled, and which runs the copy [`simd_level`](crate::simd::simd_level) selects.
///
/// The body should be plain loops over fixed-size blocks that the compiler vectorises, calling
/// only `#[inline(always)]` helpers (those are compiled into each copy; other calls are not).
/// Generic parameters go in square brackets and must all be inferable from the arguments; the
/// function returns `()`.
///
/// ```
/// sciml_core::simd_fn! {
///     /// `y += a x`.
///     pub fn axpy[T: Copy + std::ops::Mul<Output = T> + std::ops::AddAssign](
///         a: T, x: &[T], y: &mut [T]
///     ) {
///         for (yi, &xi) in y.iter_mut().zip(x) {
///             *yi += a * xi;
///         }
///     }
/// }
/// let mut y = [1.0, 2.0];
/// axpy(2.0, &[1.0, 1.0], &mut y);
/// assert_eq!(y, [3.0, 4.0]);
/// ```
#[macro_export]
macro_rules! simd_fn {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident $([$($gen:tt)*])? ($($arg:ident : $ty:ty),* $(,)?) $body:block
    ) => {
        $(#[$meta])*
        $vis fn $name $(<$($gen)*>)? ($($arg: $ty),*) {
            #[inline(always)]
            fn body $(<$($gen)*>)? ($($arg: $ty),*) $body

            #[cfg(target_arch = "x86_64")]
            {
                // Not `#[inline]`: a target-feature function is only inlined into callers with
                // the same features; the body is inlined into it instead.
                #[target_feature(enable = "avx2,fma")]
                #[allow(unsafe_code)]
                unsafe fn avx2 $(<$($gen)*>)? ($($arg: $ty),*) {
                    body($($arg),*)
                }
                if $crate::simd::simd_level() == $crate::simd::SimdLevel::Avx2 {
                    // SAFETY: the CPU has AVX2 and FMA (checked at run time by `simd_level`).
                    #[allow(unsafe_code)]
                    unsafe {
                        avx2($($arg),*)
                    };
                    return;
                }
            }
            body($($arg),*)
        }
    };
}
