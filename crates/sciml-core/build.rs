//! Build script: enables the AVX-512 kernels of `simd_fn!` on compilers where the AVX-512 target
//! features are stable (Rust 1.89), keeping the crate building on older ones (rust-version).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(sciml_avx512)");
    let ac = autocfg::new();
    if ac.probe_rustc_version(1, 89) {
        println!("cargo::rustc-cfg=sciml_avx512");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
