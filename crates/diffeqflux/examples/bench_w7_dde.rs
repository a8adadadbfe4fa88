//! Workload W7: delay differential equations, as `benches/peers/w7_dde.py` defines them.
//!
//! - `linear`: `u'(t) = −u(t − 1)`, `u = 1` for `t ≤ 0`, on [0, 10] at rtol 1e-8, atol 1e-10;
//!   the error against the exact `u(10) = 10493/518400` (computed below in integers).
//! - `mackey_glass`: `u' = β u(t−τ)/(1 + u(t−τ)^n) − γ u`, β = 0.2, γ = 0.1, n = 10, τ = 17,
//!   `u = 0.5` for `t ≤ 0`, on [0, 500] at rtol 1e-6, atol 1e-9; the error against a tight
//!   reference computed here (Vern9 at rtol 1e-12 and 1e-13), printed beside the peer script's
//!   1.1539058555. One row keeps only the last 17 time units of history (`history_window`).
//! - `neural`: one forward + gradient of the neural DDE `x' = f_θ([x(t), x(t − 1)])`,
//!   `f_θ` = Linear(2, 32) → tanh → Linear(32, 1), batch of 64 constant histories, saved at 51
//!   times on [0, 5], mean squared error against the data, RK4 with fixed step 0.1; weights and
//!   data from the peers' `w7_neural_init.json`. Ours is `NeuralCdde` with the discrete
//!   adjoint (`DdeDiscreteAdjoint`), the batch of 64 as one state (sample i's history its own
//!   x0_i), in f64 (first row, the reference). Untimed, the gradient is checked against central
//!   differences of the loss (7 weights) and against forward mode (dual numbers through the
//!   same steps, all 129 weights); forward mode is not timed as a row (it takes seconds: one
//!   dual solve per weight and per sample). A second row runs the same iteration in f32
//!   (`NeuralCdde::new_in::<f32>`, as the f32 peers), its gradient checked against the f64 one.
//!
//! One JSON row per (problem, method): median time, RHS evaluations, steps, final state (or
//! final loss) and the error. The first row of each problem is that problem's reference for the
//! ratios in `cargo xtask bench W7`.
//!
//! `W7_ONLY=<text>` runs only the rows whose system or problem contains the text; `W7_FIXED=N`
//! replaces the timing by exactly `N` solves (for `valgrind --tool=callgrind`) and skips the
//! neural row's forward-mode check.
//! `SCIML_SHARED_PEERS` names the folder with `w7_neural_init.json` (default
//! `<workspace>/../shared/peers`).
#![allow(clippy::ptr_arg)]

use diffeqflux::neural_de::{CddeHistory, CddeSensitivity, NeuralCdde};
use diffeqflux::nn::{Activation, Chain, Dense};
use sciml_core::State;
use sciml_dde::{DdeField, DdeFn, DdeFunction, DdeProblem, History, InitialHistory, MethodOfSteps};
use sciml_ode::{Bs3, Dp5, OdeMethod, Rk4, SaveAt, SolveOptions, Tsit5, Vern6, Vern7, Vern9};
use std::path::PathBuf;
use std::time::Instant;

#[path = "../../sciml-ode/examples/common/timing.rs"]
mod timing;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Whether the row `system` of `problem` is to run (`W7_ONLY`).
fn wanted(problem: &str, system: &str) -> bool {
    match std::env::var("W7_ONLY") {
        Ok(only) => system.contains(&only) || problem.contains(&only),
        Err(_) => true,
    }
}

/// Median seconds per call of `f`, or the mean of exactly `W7_FIXED` calls.
fn time_it<T, E>(mut f: impl FnMut() -> std::result::Result<T, E>) -> std::result::Result<f64, E> {
    match std::env::var("W7_FIXED")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        Some(n) => {
            let t = Instant::now();
            for _ in 0..n {
                std::hint::black_box(f()?);
            }
            Ok(t.elapsed().as_secs_f64() / f64::from(n.max(1)))
        }
        None => timing::median_time(f),
    }
}

/// `u(10)` of the linear problem, exactly: `Σ_{j=0}^{11} (−1)^j (11 − j)^j / j!` (the closed
/// form of the method of steps), as a fraction in lowest terms.
fn linear_exact_at_10() -> (i128, i128) {
    let fact = |j: i128| (1..=j).product::<i128>();
    let d = fact(11);
    let n: i128 = (0..=11)
        .map(|j: i128| {
            let sign = if j % 2 == 0 { 1 } else { -1 };
            sign * (11 - j).pow(j as u32) * (d / fact(j))
        })
        .sum();
    let gcd = |mut a: i128, mut b: i128| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a.abs()
    };
    let g = gcd(n, d);
    (n / g, d / g)
}

/// Solves a scalar DDE problem with `method`, times it and prints the row.
fn scalar_row<F, M, C, V>(
    problem: &str,
    name: &str,
    prob: &mut DdeProblem<F>,
    method: M,
    (opts, rtol): (&SolveOptions<f64>, f64),
    reference: f64,
) -> Result<()>
where
    F: DdeFunction<V = V>,
    V: State<S = f64> + std::ops::Index<usize, Output = f64>,
    M: for<'h> OdeMethod<DdeField<'h, F>, Cache = C> + Copy,
    C: Clone + Send,
{
    let system = format!("sciml-rs MethodOfSteps({name}){}", state_note::<V>());
    let alg = MethodOfSteps::new(method);
    alg_row(problem, &system, prob, alg, (opts, rtol), reference)
}

/// Solves a scalar DDE problem with `alg`, times it and prints the row named `system`.
fn alg_row<F, M, C, V>(
    problem: &str,
    system: &str,
    prob: &mut DdeProblem<F>,
    alg: MethodOfSteps<M>,
    (opts, rtol): (&SolveOptions<f64>, f64),
    reference: f64,
) -> Result<()>
where
    F: DdeFunction<V = V>,
    V: State<S = f64> + std::ops::Index<usize, Output = f64>,
    M: for<'h> OdeMethod<DdeField<'h, F>, Cache = C> + Clone,
    C: Clone + Send,
{
    if !wanted(problem, system) {
        return Ok(());
    }
    let sol = prob.solve(alg.clone(), opts)?;
    let median = time_it(|| prob.solve(alg.clone(), opts))?;
    let u = sol.u.last().ok_or("empty solution")?[0];
    let err = (u - reference).abs();
    let s = &sol.stats;
    println!(
        "{{\"system\": \"{system}\", \"problem\": \"{problem}\", \"median_s\": {median:e}, \"nfe\": {}, \"steps\": {}, \"accepted_steps\": {}, \"rejected_steps\": {}, \"rtol\": {:e}, \"final_state\": [{u:.17e}], \"reference\": {reference:.17e}, \"abs_error_vs_reference\": {err:e}, \"error_vs_reference\": {err:e}, \"rel_error_vs_reference\": {:e}}}",
        s.nf, s.steps, s.accepted, s.rejected, rtol, err / reference.abs()
    );
    Ok(())
}

/// What the system name says about the state: nothing for `Vec<f64>`, the type otherwise.
fn state_note<V: 'static>() -> &'static str {
    if std::any::TypeId::of::<V>() == std::any::TypeId::of::<Vec<f64>>() {
        ""
    } else {
        ", [f64; 1] state"
    }
}

/// The linear problem on a `[f64; 1]` state (nothing allocated per step for the record).
fn linear_array(t1: f64) -> Result<DdeProblem<impl DdeFunction<V = [f64; 1], P = [f64; 0]>>> {
    let f = DdeFn::new(
        1,
        0,
        |du: &mut [f64; 1],
         _u: &[f64; 1],
         h: &mut History<'_, [f64; 1], [f64; 0]>,
         _p: &[f64; 0],
         t: f64| {
            du[0] = -h.value(t - 1.0)[0];
        },
    );
    Ok(
        DdeProblem::new(f, [1.0], InitialHistory::constant([1.0]), (0.0, t1), [])?
            .with_lags(vec![1.0])?,
    )
}

/// Mackey–Glass on a `[f64; 1]` state.
fn mackey_glass_array(t1: f64) -> Result<DdeProblem<impl DdeFunction<V = [f64; 1], P = [f64; 0]>>> {
    let f = DdeFn::new(
        1,
        0,
        |du: &mut [f64; 1],
         u: &[f64; 1],
         h: &mut History<'_, [f64; 1], [f64; 0]>,
         _p: &[f64; 0],
         t: f64| {
            let ud = h.value(t - 17.0)[0];
            du[0] = 0.2 * ud / (1.0 + ud.powi(10)) - 0.1 * u[0];
        },
    );
    Ok(
        DdeProblem::new(f, [0.5], InitialHistory::constant([0.5]), (0.0, t1), [])?
            .with_lags(vec![17.0])?,
    )
}

fn linear(t1: f64) -> Result<DdeProblem<impl DdeFunction<V = Vec<f64>, P = Vec<f64>>>> {
    let f = DdeFn::new(
        1,
        0,
        |du: &mut Vec<f64>,
         _u: &Vec<f64>,
         h: &mut History<'_, Vec<f64>, Vec<f64>>,
         _p: &Vec<f64>,
         t: f64| {
            du[0] = -h.value(t - 1.0)[0];
        },
    );
    Ok(DdeProblem::new(
        f,
        vec![1.0],
        InitialHistory::constant(vec![1.0]),
        (0.0, t1),
        vec![],
    )?
    .with_lags(vec![1.0])?)
}

fn mackey_glass(t1: f64) -> Result<DdeProblem<impl DdeFunction<V = Vec<f64>, P = Vec<f64>>>> {
    let f = DdeFn::new(
        1,
        0,
        |du: &mut Vec<f64>,
         u: &Vec<f64>,
         h: &mut History<'_, Vec<f64>, Vec<f64>>,
         _p: &Vec<f64>,
         t: f64| {
            let ud = h.value(t - 17.0)[0];
            du[0] = 0.2 * ud / (1.0 + ud.powi(10)) - 0.1 * u[0];
        },
    );
    Ok(DdeProblem::new(
        f,
        vec![0.5],
        InitialHistory::constant(vec![0.5]),
        (0.0, t1),
        vec![],
    )?
    .with_lags(vec![17.0])?)
}

fn linear_rows() -> Result<()> {
    let (num, den) = linear_exact_at_10();
    if (num, den) != (10493, 518400) {
        return Err(format!("exact u(10) = {num}/{den}, expected 10493/518400").into());
    }
    let exact = num as f64 / den as f64;
    let mut prob = linear(10.0)?;
    let opts = SolveOptions::default()
        .tolerances(1e-8, 1e-10)
        .saveat(SaveAt::Times(vec![10.0]));
    let p = "linear";
    let mut array = linear_array(10.0)?;
    scalar_row(p, "Vern7", &mut array, Vern7, (&opts, 1e-8), exact)?;
    scalar_row(p, "Dp5", &mut array, Dp5, (&opts, 1e-8), exact)?;
    scalar_row(p, "Vern7", &mut prob, Vern7, (&opts, 1e-8), exact)?;
    scalar_row(p, "Bs3", &mut prob, Bs3, (&opts, 1e-8), exact)?;
    scalar_row(p, "Dp5", &mut prob, Dp5, (&opts, 1e-8), exact)?;
    scalar_row(p, "Tsit5", &mut prob, Tsit5, (&opts, 1e-8), exact)?;
    scalar_row(p, "Vern6", &mut prob, Vern6, (&opts, 1e-8), exact)?;
    scalar_row(p, "Vern9", &mut prob, Vern9, (&opts, 1e-8), exact)?;
    Ok(())
}

fn mackey_glass_rows() -> Result<()> {
    if !wanted("mackey_glass", "sciml-rs") {
        return Ok(());
    }
    // The reference: Vern9 at rtol 1e-12 and 1e-13 (atol 1e-2 × rtol); the two must agree.
    let mut prob = mackey_glass(500.0)?;
    let at = |rtol: f64| {
        SolveOptions::default()
            .tolerances(rtol, rtol * 1e-2)
            .saveat(SaveAt::Times(vec![500.0]))
    };
    let mut refs = Vec::new();
    for rtol in [1e-12, 1e-13] {
        let sol = prob.solve(MethodOfSteps::new(Vern9), &at(rtol))?;
        refs.push(sol.u.last().ok_or("empty solution")?[0]);
    }
    let reference = refs[1];
    let peer_reference = 1.153_905_855_5;
    eprintln!(
        "Mackey-Glass reference u(500): Vern9 rtol 1e-12 {:.12}, 1e-13 {:.12} (differ by {:.1e}); peer script's {peer_reference} (differs by {:.1e})",
        refs[0],
        refs[1],
        (refs[0] - refs[1]).abs(),
        (reference - peer_reference).abs()
    );
    if (refs[0] - refs[1]).abs() > 1e-8 || (reference - peer_reference).abs() > 1e-8 {
        return Err(
            format!("Mackey-Glass references disagree: {refs:?} and {peer_reference}").into(),
        );
    }
    let opts = SolveOptions::default()
        .tolerances(1e-6, 1e-9)
        .saveat(SaveAt::Times(vec![500.0]));
    let p = "mackey_glass";
    let mut array = mackey_glass_array(500.0)?;
    scalar_row(p, "Vern7", &mut array, Vern7, (&opts, 1e-6), reference)?;
    scalar_row(p, "Dp5", &mut array, Dp5, (&opts, 1e-6), reference)?;
    scalar_row(p, "Vern7", &mut prob, Vern7, (&opts, 1e-6), reference)?;
    scalar_row(p, "Bs3", &mut prob, Bs3, (&opts, 1e-6), reference)?;
    scalar_row(p, "Dp5", &mut prob, Dp5, (&opts, 1e-6), reference)?;
    // The same with only the last 17 time units (the lag) of history kept: the store reuses
    // the dropped steps' vectors instead of allocating new ones.
    let windowed = MethodOfSteps::new(Dp5).history_window(17.0);
    let system = "sciml-rs MethodOfSteps(Dp5).history_window(17)";
    alg_row(p, system, &mut prob, windowed, (&opts, 1e-6), reference)?;
    scalar_row(p, "Tsit5", &mut prob, Tsit5, (&opts, 1e-6), reference)?;
    scalar_row(p, "Vern6", &mut prob, Vern6, (&opts, 1e-6), reference)?;
    scalar_row(p, "Vern9", &mut prob, Vern9, (&opts, 1e-6), reference)?;
    Ok(())
}

/// The neural workload's initial weights, initial values, save times and data.
struct NeuralInit {
    params: Vec<f64>,
    x0: Vec<f64>,
    ts: Vec<f64>,
    data: Vec<Vec<f64>>,
}

fn read_neural_init() -> Result<NeuralInit> {
    let dir = std::env::var_os("SCIML_SHARED_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peers"));
    let path = dir.join("w7_neural_init.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read {} ({e}); set SCIML_SHARED_PEERS",
            path.display()
        )
    })?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let nums = |key: &str| -> Result<Vec<f64>> {
        let mut out = Vec::new();
        let mut stack = vec![v.get(key).ok_or_else(|| format!("{key} missing"))?];
        // Flattens nested arrays row-major (W1 is 32 × 2, W2 1 × 32).
        while let Some(x) = stack.pop() {
            match x {
                serde_json::Value::Array(a) => stack.extend(a.iter().rev()),
                serde_json::Value::Number(n) => out.push(n.as_f64().ok_or("not a number")?),
                _ => return Err(format!("{key}: not numbers").into()),
            }
        }
        Ok(out)
    };
    let mut params = nums("W1")?;
    params.extend(nums("b1")?);
    params.extend(nums("W2")?);
    params.extend(nums("b2")?);
    if params.len() != 32 * 2 + 32 + 32 + 1 {
        return Err(format!("{} weights, expected 129", params.len()).into());
    }
    let x0 = nums("x0")?;
    let ts = nums("ts")?;
    let flat = nums("data")?;
    if flat.len() != x0.len() * ts.len() {
        return Err("data is not batch × times".into());
    }
    let data = flat.chunks(ts.len()).map(<[f64]>::to_vec).collect();
    Ok(NeuralInit {
        params,
        x0,
        ts,
        data,
    })
}

/// Relative difference of `a` from `b`, against `b`'s size (at least 1e-8).
fn rel_diff(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-8)
}

fn neural_row() -> Result<()> {
    let system = "sciml-rs NeuralCdde RK4 dt 0.1, discrete adjoint, f64, batch of 64 in one solve";
    if !wanted("neural", system) {
        return Ok(());
    }
    let init = read_neural_init()?;
    let (nb, nt) = (init.x0.len(), init.ts.len());
    let scale = 1.0 / (nb * nt) as f64;
    let model = Chain::new((
        Dense::new(2, 32, Activation::Tanh),
        Dense::new(32, 1, Activation::Identity),
    ))?;
    // One layer for the whole batch: sample i's history is its own constant x0_i.
    let build = |sensitivity: CddeSensitivity| -> Result<_> {
        let mut l = NeuralCdde::new(
            model.clone(),
            (0.0, 5.0),
            CddeHistory::Constant(init.x0.clone()),
            vec![1.0],
            Rk4,
            init.ts.clone(),
        )?
        .with_sensitivity(sensitivity);
        *l.options_mut() = l.options_mut().clone().fixed_step(0.1);
        Ok(l)
    };
    let adjoint = build(CddeSensitivity::DiscreteAdjoint)?;
    // Mean over (batch, time) of the squared error; its cotangents of the saved states.
    let mse = |_t: &[f64], us: &[Vec<f64>]| {
        let mut l = 0.0;
        let mut bars = Vec::with_capacity(us.len());
        for (k, u) in us.iter().enumerate() {
            let mut bar = vec![0.0; u.len()];
            for ((b, x), d) in bar.iter_mut().zip(u).zip(&init.data) {
                let r = x - d[k];
                l += scale * r * r;
                *b = 2.0 * scale * r;
            }
            bars.push(bar);
        }
        (l, bars)
    };
    let iteration = |layer: &NeuralCdde<_, Rk4>, p: &[f64]| -> Result<(f64, Vec<f64>, usize)> {
        let g = layer.loss_and_gradient(&init.x0, p, mse)?;
        Ok((g.loss, g.dp, g.forward.nf + g.backward.nf))
    };
    let loss_only = |p: &[f64]| -> Result<f64> {
        let sol = adjoint.solve(&init.x0, p)?;
        Ok(mse(&sol.t, &sol.u).0)
    };
    let (loss, grad, nfe) = iteration(&adjoint, &init.params)?;
    // Untimed checks: central differences of the loss in a few weights of each layer, and
    // forward mode (dual numbers through the same fixed-step solve) once, every weight.
    let mut worst_fd: f64 = 0.0;
    for &i in &[0usize, 7, 64, 80, 96, 110, 128] {
        let h = 1e-6;
        let mut p = init.params.clone();
        p[i] += h;
        let up = loss_only(&p)?;
        p[i] -= 2.0 * h;
        let down = loss_only(&p)?;
        worst_fd = worst_fd.max(rel_diff(grad[i], (up - down) / (2.0 * h)));
    }
    // `W7_FIXED` (profiling) skips the forward-mode check: it costs seconds.
    let profiling = std::env::var_os("W7_FIXED").is_some();
    let forward = build(CddeSensitivity::ForwardDiff)?;
    let t = Instant::now();
    let (fwd_loss, fwd_grad, _) = if profiling {
        (loss, grad.clone(), 0)
    } else {
        iteration(&forward, &init.params)?
    };
    let forward_s = t.elapsed().as_secs_f64();
    let gmax = fwd_grad.iter().fold(0.0_f64, |a, g| a.max(g.abs()));
    let worst_fwd = grad
        .iter()
        .zip(&fwd_grad)
        .fold(0.0_f64, |a, (x, y)| a.max((x - y).abs()))
        / gmax.max(1e-300);
    eprintln!(
        "W7 neural: adjoint loss {loss:.15e}, forward-mode loss {fwd_loss:.15e}; \
         max |adjoint - forward mode| / max |gradient| = {worst_fwd:.1e} over 129 weights; \
         max relative difference from central differences (7 weights) {worst_fd:.1e}; \
         one forward-mode iteration took {forward_s:.2} s (untimed, not a row)"
    );
    let norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
    let mut times = Vec::new();
    let repeats = std::env::var("W7_FIXED")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(21);
    for _ in 0..repeats {
        let t = Instant::now();
        std::hint::black_box(iteration(&adjoint, &init.params)?);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{{\"system\": \"{system}\", \"problem\": \"neural\", \"median_s\": {median:e}, \"min_s\": {:e}, \"max_s\": {:e}, \"repeats\": {repeats}, \"nfe\": {nfe}, \"final_loss\": {loss:.10e}, \"grad_norm_weights\": {norm:e}, \"grad_max_rel_diff_vs_central_differences\": {worst_fd:e}, \"grad_max_diff_vs_forward_mode\": {worst_fwd:e}, \"forward_mode_iteration_s\": {forward_s:e}, \"error_vs_reference\": {worst_fd:e}, \"error_kind\": \"gradient against central differences of the loss (7 weights)\", \"dtype\": \"float64\", \"note\": \"nfe = batched network evaluations, forward solve plus the adjoint's replay and reverse passes; grad_max_diff_vs_forward_mode is max|adjoint - dual numbers| / max|gradient| over all 129 weights\"}}",
        times[0],
        times[times.len() - 1]
    );
    // Untimed: the f64 forward solve's steps, compared with the f32 row's.
    let g = adjoint.loss_and_gradient(&init.x0, &init.params, mse)?;
    let steps = (g.forward.accepted, g.forward.nf, g.backward.nf);
    neural_row_f32(&init, &model, (loss, &grad, steps), repeats)
}

/// The same iteration in single precision (`NeuralCdde::new_in::<f32>`: state, weights, time,
/// network passes and adjoint in f32, as the torchdde peer), same RK4 steps. Its loss and
/// gradient are checked against the f64 row's (the reference).
fn neural_row_f32(
    init: &NeuralInit,
    model: &Chain<(Dense, Dense)>,
    (loss64, grad64, steps64): (f64, &[f64], (usize, usize, usize)),
    repeats: usize,
) -> Result<()> {
    let system = "sciml-rs NeuralCdde RK4 dt 0.1, discrete adjoint, f32, batch of 64 in one solve";
    if !wanted("neural", system) {
        return Ok(());
    }
    let (nb, nt) = (init.x0.len(), init.ts.len());
    let scale = 1.0 / (nb * nt) as f64;
    let mut layer = NeuralCdde::new_in::<f32>(
        model.clone(),
        (0.0, 5.0),
        CddeHistory::Constant(init.x0.clone()),
        vec![1.0],
        Rk4,
        init.ts.clone(),
    )?;
    *layer.options_mut() = layer.options_mut().clone().fixed_step(0.1);
    let x0: Vec<f32> = init.x0.iter().map(|x| *x as f32).collect();
    let params: Vec<f32> = init.params.iter().map(|x| *x as f32).collect();
    // The f64 row's loss; residuals in f32, the sum in f64 (as the f32 peer's mean is cheap
    // either way).
    let mse = |_t: &[f32], us: &[Vec<f32>]| {
        let mut l = 0.0;
        let mut bars = Vec::with_capacity(us.len());
        for (k, u) in us.iter().enumerate() {
            let mut bar = vec![0.0f32; u.len()];
            for ((b, x), d) in bar.iter_mut().zip(u).zip(&init.data) {
                let r = *x - d[k] as f32;
                l += scale * f64::from(r * r);
                *b = (2.0 * scale) as f32 * r;
            }
            bars.push(bar);
        }
        (l, bars)
    };
    let iteration = || -> Result<(f64, Vec<f32>, usize)> {
        let g = layer.adjoint_loss_and_gradient(&x0, &params, mse)?;
        Ok((g.loss, g.dp, g.forward.nf + g.backward.nf))
    };
    let (loss, grad, nfe) = iteration()?;
    let g = layer.adjoint_loss_and_gradient(&x0, &params, mse)?;
    let steps = (g.forward.accepted, g.forward.nf, g.backward.nf);
    let gmax = grad64.iter().fold(0.0_f64, |a, g| a.max(g.abs()));
    let worst = grad
        .iter()
        .zip(grad64)
        .fold(0.0_f64, |a, (x, y)| a.max((f64::from(*x) - y).abs()))
        / gmax.max(1e-300);
    let loss_diff = rel_diff(loss, loss64);
    eprintln!(
        "W7 neural f32: loss {loss:.8e} (f64 {loss64:.8e}, rel diff {loss_diff:.1e}); \
         max |grad f32 - grad f64| / max |grad f64| = {worst:.1e} over 129 weights; \
         (steps, forward nfe, backward nfe): f32 {steps:?}, f64 {steps64:?}"
    );
    let norm = grad
        .iter()
        .map(|g| f64::from(*g).powi(2))
        .sum::<f64>()
        .sqrt();
    let mut times = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        std::hint::black_box(iteration()?);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{{\"system\": \"{system}\", \"problem\": \"neural\", \"median_s\": {median:e}, \"min_s\": {:e}, \"max_s\": {:e}, \"repeats\": {repeats}, \"nfe\": {nfe}, \"final_loss\": {loss:.10e}, \"grad_norm_weights\": {norm:e}, \"loss_rel_diff_vs_f64\": {loss_diff:e}, \"grad_max_diff_vs_f64\": {worst:e}, \"error_vs_reference\": {worst:e}, \"error_kind\": \"max|gradient f32 - gradient f64 (first row)| / max|gradient f64| over all 129 weights\", \"dtype\": \"float32\", \"note\": \"same RK4 steps as the f64 row; nfe = batched network evaluations, forward solve plus the adjoint's replay and reverse passes\"}}",
        times[0],
        times[times.len() - 1]
    );
    Ok(())
}

fn main() -> Result<()> {
    linear_rows()?;
    mackey_glass_rows()?;
    neural_row()?;
    Ok(())
}
