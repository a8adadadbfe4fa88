//! Runtime selection of wider SIMD instruction sets for hot kernels.
//!
//! The workspace compiles for baseline x86-64 (SSE2: two `f64` per vector register), which every
//! x86-64 machine runs. Hot kernels are written once as plain, vectorisable Rust; [`simd_fn!`](crate::simd_fn)
//! compiles such a body again with AVX2 and FMA enabled (four `f64` or eight `f32` per register)
//! and, on compilers that support it (Rust 1.89), with AVX-512 (eight `f64` or sixteen `f32`),
//! and picks the widest copy the CPU runs, once per process.
//!
//! All copies compute bitwise the same results: IEEE arithmetic is lane-wise, Rust never
//! contracts `a * b + c` into a fused multiply-add unless `mul_add` is written (and `mul_add` is
//! correctly rounded either way), and the copies execute the same operations in the same order,
//! only more lanes at a time.

use std::sync::atomic::{AtomicU8, Ordering};

/// The instruction-set level kernels built with [`simd_fn!`](crate::simd_fn) run at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// The baseline the crate was compiled for (SSE2 on x86-64).
    Portable,
    /// x86-64 with AVX2 and FMA.
    Avx2,
    /// x86-64 with AVX-512 (F, DQ, VL, BW) as well (only where the compiler supports it).
    Avx512,
}

/// Cached level: 0 = not yet detected, else `1 + SimdLevel as u8`.
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// The level in use: the best the CPU supports, capped by the environment variable `SCIML_SIMD`
/// (`portable` or `avx2`; to compare against, or to rule wide kernels out). Detected once.
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
        3 => SimdLevel::Avx512,
        _ => {
            let l = detect();
            LEVEL.store(1 + l as u8, Ordering::Relaxed);
            l
        }
    }
}

/// Sets the level to `level`, or to the best the CPU supports if that is lower, and returns the
/// level set: for tests that compare the copies (all give the same results, so other threads are
/// unaffected).
#[doc(hidden)]
pub fn force_simd_level(level: SimdLevel) -> SimdLevel {
    let l = cpu_level().min(level);
    LEVEL.store(1 + l as u8, Ordering::Relaxed);
    l
}

fn detect() -> SimdLevel {
    let cap = match std::env::var("SCIML_SIMD") {
        Ok(v) if v.eq_ignore_ascii_case("portable") => SimdLevel::Portable,
        Ok(v) if v.eq_ignore_ascii_case("avx2") => SimdLevel::Avx2,
        _ => SimdLevel::Avx512,
    };
    cpu_level().min(cap)
}

#[cfg(target_arch = "x86_64")]
fn cpu_level() -> SimdLevel {
    use std::arch::is_x86_feature_detected as has;
    if !(has!("avx2") && has!("fma")) {
        return SimdLevel::Portable;
    }
    if cfg!(sciml_avx512)
        && has!("avx512f")
        && has!("avx512dq")
        && has!("avx512vl")
        && has!("avx512bw")
    {
        return SimdLevel::Avx512;
    }
    SimdLevel::Avx2
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_level() -> SimdLevel {
    SimdLevel::Portable
}

/// Defines a function whose body is compiled for the baseline target and, on x86-64, again with
/// AVX2 and FMA and (Rust ≥ 1.89) with AVX-512 enabled, and which runs the copy that
/// [`simd_level`](crate::simd::simd_level) selects.
///
/// The body should be plain loops over fixed-size blocks that the compiler vectorises, calling
/// only `#[inline(always)]` helpers (those are compiled into each copy; other calls are not).
/// Generic parameters go in square brackets and must all be inferable from the arguments;
/// arguments are plain identifiers; the function returns `()`.
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
                $crate::__simd_fn_avx512! { [$($($gen)*)?] ($($arg: $ty),*) }
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

/// The AVX-512 copy of a [`simd_fn!`](crate::simd_fn) body and its dispatch (a part of `simd_fn!`).
#[cfg(sciml_avx512)]
#[doc(hidden)]
#[macro_export]
macro_rules! __simd_fn_avx512 {
    ([$($gen:tt)*] ($($arg:ident : $ty:ty),*)) => {
        #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
        #[allow(unsafe_code)]
        unsafe fn avx512<$($gen)*>($($arg: $ty),*) {
            body($($arg),*)
        }
        if $crate::simd::simd_level() == $crate::simd::SimdLevel::Avx512 {
            // SAFETY: the CPU has these features (checked at run time by `simd_level`).
            #[allow(unsafe_code)]
            unsafe {
                avx512($($arg),*)
            };
            return;
        }
    };
}

/// Compilers before Rust 1.89 have no stable AVX-512 target features: no AVX-512 copy.
#[cfg(not(sciml_avx512))]
#[doc(hidden)]
#[macro_export]
macro_rules! __simd_fn_avx512 {
    ($($t:tt)*) => {};
}
