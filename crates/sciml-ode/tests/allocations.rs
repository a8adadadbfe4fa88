//! A solve allocates a bounded number of times plus the growth of its own output: counted with a
//! global allocator that counts the allocations of the calling thread.

// A counting allocator must implement the unsafe `GlobalAlloc` trait; it only forwards to the
// system allocator. The library itself stays free of unsafe code.
#![allow(unsafe_code)]

use sciml_core::{FnField, VectorField};
use sciml_ode::{OdeProblem, SaveAt, SolveOptions, Tsit5};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        COUNT.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        COUNT.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_of<T>(run: impl FnOnce() -> T) -> (usize, T) {
    let before = COUNT.with(|c| c.get());
    let out = run();
    (COUNT.with(|c| c.get()) - before, out)
}

/// The harmonic oscillator on a fixed-size state: nothing of the state itself is on the heap.
fn oscillator() -> impl VectorField<V = [f64; 2], P = [f64; 0]> + Clone {
    #[derive(Clone)]
    struct Osc;
    impl VectorField for Osc {
        type V = [f64; 2];
        type P = [f64; 0];
        fn dims(&self) -> (usize, usize) {
            (2, 0)
        }
        fn rhs(&mut self, _t: f64, u: &[f64; 2], _p: &[f64; 0], du: &mut [f64; 2]) {
            du[0] = u[1];
            du[1] = -u[0];
        }
    }
    Osc
}

/// Allocations and steps of a Tsit5 solve over `periods` periods.
fn solve(periods: f64, opts: SolveOptions<f64>) -> (usize, usize) {
    let mut prob = OdeProblem::new(
        oscillator(),
        [1.0, 0.0],
        (0.0, periods * std::f64::consts::TAU),
        [],
    )
    .expect("valid");
    let (n, sol) = allocations_of(|| prob.solve(Tsit5, &opts).expect("solves"));
    (n, sol.stats.accepted)
}

#[test]
fn dense_output_allocates_only_as_its_store_grows() {
    // Ten times the steps: the stored segments grow tenfold, the allocations only by the
    // doublings of the store's buffers (about log2(10) ≈ 3.3 per buffer).
    let opts = SolveOptions::default().tolerances(1e-8, 1e-8).dense(true);
    let (a_short, steps_short) = solve(2.0, opts.clone());
    let (a_long, steps_long) = solve(20.0, opts);
    assert!(
        steps_long > 9 * steps_short,
        "{steps_short} vs {steps_long}"
    );
    assert!(
        a_long - a_short <= 20,
        "{a_short} allocations for {steps_short} steps, {a_long} for {steps_long}"
    );
}

#[test]
fn saving_at_many_times_allocates_only_as_the_solution_grows() {
    // A fixed-size state is stored inline, so ten times the saves cost only the doublings of
    // the solution's two vectors.
    let times = |n: usize| SaveAt::Times((0..=n).map(|i| i as f64 * 12.0 / n as f64).collect());
    let opts = SolveOptions::default().tolerances(1e-8, 1e-8);
    let (a_few, _) = solve(2.0, opts.clone().saveat(times(100)));
    let (a_many, _) = solve(2.0, opts.clone().saveat(times(1000)));
    assert!(a_many - a_few <= 20, "{a_few:?} against {a_many:?}");
}

#[test]
fn a_vec_state_allocates_once_per_saved_state() {
    // A `Vec` state allocates each saved copy (the output itself) and nothing else per save.
    let f = FnField::new(1, 0, |_t: f64, u: &[f64], _p: &[f64], du: &mut [f64]| {
        du[0] = -u[0]
    });
    let run = |n: usize| {
        let mut prob = OdeProblem::new(f.clone(), vec![1.0], (0.0, 1.0), vec![]).expect("valid");
        let saves = SaveAt::Times((0..=n).map(|i| i as f64 / n as f64).collect());
        let opts = SolveOptions::default().saveat(saves);
        // The save times are the caller's (built before counting).
        allocations_of(move || prob.solve(Tsit5, &opts).expect("solves")).0
    };
    let (few, many) = (run(100), run(1000));
    assert!(
        many - few <= 900 + 20,
        "{few} allocations for 101 saves, {many} for 1001"
    );
}
