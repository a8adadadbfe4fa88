#!/usr/bin/env python3
"""Check the Butcher tableaus written as Rust data in `src/tableaus/*.rs`.

Usage: python3 check_tableaus.py FILE.rs [FILE.rs ...]

Pure Python 3 (no third-party packages). The Rust files are parsed, not retyped: every
`pub const NAME: Tableau = Tableau { ... };` in the given files is read (float literals and
`+ - * /` expressions of them, `[x; N]` repeats, optionally via named `const` f64 values / arrays defined in
the same file) and checked against the conventions of `src/tableaus/mod.rs`:

  * shapes, c[0] = 0, row sums  sum_j a_ij = c_i;
  * rooted-tree order conditions of b up to `order` (and that order+1 fails: order is exact);
  * embedded weights bhat = b - btilde satisfy the conditions up to `error_order`
    (and fail at error_order+1);
  * FSAL: c_last = 1, last a-row = b, b_last = 0;
  * Interp::Free: shapes, extra-stage row sums, P_j(1) = b_j (0 for the f(t1,u1) vector and
    extra stages), sum_j P_j(theta) = theta, continuous order conditions
    sum_j P_j(theta) Psi_j(t) = theta^|t| / gamma(t) for |t| <= interpolant order at
    several theta;
  * numerically: observed order of global convergence on y' = y and y' = -y^2 + t,
    local order of the embedded solution, and local order of the dense output at
    theta = 0.3, 0.7 (cubic Hermite for Interp::Hermite, order min(order, 3)).

Prints one `PASS` / `FAIL` line per check and exits non-zero if any check failed.
"""

import math
import re
import sys
from decimal import Decimal as Dec, getcontext, localcontext

# --------------------------------------------------------------------------- parsing


def strip_comments(text):
    out = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:\\.|[^"\\])*")
  | (?P<num>(?:\d[\d_]*\.?[\d_]*(?:[eE][+-]?\d+)?|\.\d[\d_]*(?:[eE][+-]?\d+)?)(?:_?f64|_?f32)?)
  | (?P<path>[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>[\[\]{}(),:;&+\-*/=#!<>.])
""", re.X)


def tokenize(text):
    toks = []
    pos = 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise SyntaxError(f"cannot tokenize near {text[pos:pos + 40]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        toks.append((kind, m.group()))
    return toks


class Parser:
    def __init__(self, toks, consts):
        self.t = toks
        self.i = 0
        self.consts = consts

    def peek(self, k=0):
        return self.t[self.i + k] if self.i + k < len(self.t) else (None, None)

    def next(self):
        tok = self.t[self.i]
        self.i += 1
        return tok

    def expect(self, val):
        tok = self.next()
        if tok[1] != val:
            raise SyntaxError(f"expected {val!r}, got {tok[1]!r}")
        return tok

    # value := '&' value | '[' list ']' | 'Some' '(' value ')' | 'None' | true | false | string
    #        | Path '{' fields '}' | Path | expr
    def value(self):
        kind, v = self.peek()
        if v == "&":
            self.next()
            return self.value()
        if v == "[":
            self.next()
            items = []
            while self.peek()[1] != "]":
                items.append(self.value())
                if self.peek()[1] == ";":  # repeat expression `[x; N]`
                    self.next()
                    count = int(self.expr())
                    self.expect("]")
                    return items * count
                if self.peek()[1] == ",":
                    self.next()
            self.next()
            return items
        if kind == "path":
            if v == "Some":
                self.next()
                self.expect("(")
                x = self.value()
                self.expect(")")
                return x
            if v == "None":
                self.next()
                return None
            if v in ("true", "false"):
                self.next()
                return v == "true"
            if self.peek(1)[1] == "{":
                self.next()
                return (v, self.fields())
            if v not in self.consts:
                self.next()
                return ("variant", v)
        if kind == "str":
            self.next()
            return v[1:-1]
        return self.expr()

    def fields(self):
        self.expect("{")
        out = {}
        while self.peek()[1] != "}":
            name = self.next()[1]
            self.expect(":")
            out[name] = self.value()
            if self.peek()[1] == ",":
                self.next()
        self.next()
        return out

    # arithmetic with f64 semantics (Python floats are IEEE binary64)
    def expr(self):
        x = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.next()[1]
            y = self.term()
            x = x + y if op == "+" else x - y
        return x

    def term(self):
        x = self.unary()
        while self.peek()[1] in ("*", "/"):
            op = self.next()[1]
            y = self.unary()
            x = x * y if op == "*" else x / y
        return x

    def unary(self):
        if self.peek()[1] == "-":
            self.next()
            return -self.unary()
        if self.peek()[1] == "+":
            self.next()
            return self.unary()
        return self.atom()

    def atom(self):
        kind, v = self.next()
        if v == "(":
            x = self.expr()
            self.expect(")")
            return x
        if kind == "num":
            s = re.sub(r"_?f(64|32)$", "", v).replace("_", "")
            return float(s)
        if kind == "path" and v in self.consts:
            val = self.consts[v]
            # allow indexing NAME[k]
            if self.peek()[1] == "[":
                self.next()
                k = int(self.expr())
                self.expect("]")
                return val[k]
            return val
        raise SyntaxError(f"unexpected token {v!r}")


def skip_type(p):
    """Skip a type after ':' up to the '=' at depth 0."""
    depth = 0
    while True:
        v = p.peek()[1]
        if v in ("[", "(", "<"):
            depth += 1
        elif v in ("]", ")", ">"):
            depth -= 1
        elif v == "=" and depth == 0:
            return
        p.next()


def parse_rust(path):
    text = strip_comments(open(path, encoding="utf-8").read())
    toks = tokenize(text)
    consts = {}
    tableaus = []
    p = Parser(toks, consts)
    while p.i < len(toks):
        kind, v = p.peek()
        if v == "const" and p.peek(1)[0] == "path":
            p.next()
            name = p.next()[1]
            p.expect(":")
            is_tab = p.peek()[1] == "Tableau"
            skip_type(p)
            p.expect("=")
            val = p.value()
            p.expect(";")
            if is_tab:
                if not (isinstance(val, tuple) and val[0] == "Tableau"):
                    raise SyntaxError(f"{name}: expected a `Tableau {{ .. }}` literal")
                tableaus.append((name, val[1]))
            else:
                consts[name] = val
        else:
            p.next()
    return tableaus


def normalize(name, f):
    t = {
        "const": name,
        "name": f["name"],
        "order": int(f["order"]),
        "error_order": int(f["error_order"]),
        "fsal": f["fsal"],
        "c": list(f["c"]),
        "a": list(f["a"]),
        "b": list(f["b"]),
        "btilde": None if f["btilde"] is None else list(f["btilde"]),
    }
    it = f["interp"]
    if isinstance(it, tuple) and it[0] == "variant" and it[1].endswith("Hermite"):
        t["interp"] = None
    elif isinstance(it, tuple) and it[0].endswith("Free"):
        g = it[1]
        t["interp"] = {
            "order": int(g["order"]),
            "extra_c": list(g["extra_c"]),
            "extra_a": list(g["extra_a"]),
            "bstar": [list(r) for r in g["bstar"]],
        }
    else:
        raise SyntaxError(f"{name}: unknown interp {it!r}")
    return t


# --------------------------------------------------------------------------- trees


def trees_up_to(pmax):
    """All rooted trees of order 1..pmax as canonical nested tuples; returns list of
    (tree, order, gamma)."""
    by_order = {1: [()]}
    allt = [((), 1)]  # ordered list used for canonical child multisets

    def combos(start, remaining, idx_list):
        # nondecreasing sequences of indices into allt whose orders sum to remaining
        if remaining == 0:
            yield list(idx_list)
            return
        for k in range(start, len(allt)):
            o = allt[k][1]
            if o <= remaining:
                idx_list.append(k)
                yield from combos(k, remaining - o, idx_list)
                idx_list.pop()

    for n in range(2, pmax + 1):
        cur = []
        for seq in combos(0, n - 1, []):
            cur.append(tuple(allt[k][0] for k in seq))
        by_order[n] = cur
        allt.extend((t, n) for t in cur)

    def order(t):
        return 1 + sum(order(c) for c in t)

    def gamma(t):
        g = order(t)
        for c in t:
            g *= gamma(c)
        return g

    return [(t, n, gamma(t)) for n in range(1, pmax + 1) for t in by_order[n]]


def psi(A, t, memo):
    """Psi_i(t): Psi(leaf) = 1, Psi([t1..tm])_i = prod_k (A Psi(t_k))_i (A holds Decimals)."""
    if t in memo:
        return memo[t]
    n = len(A)
    v = [Dec(1)] * n
    for ch in t:
        pc = psi(A, ch, memo)
        for i in range(n):
            v[i] *= sum((A[i][j] * pc[j] for j in range(i)), Dec(0))
    memo[t] = v
    return v


def order_residuals(A, w, pmax, scale_theta=1.0):
    """Per order n (list index n-1): max over trees t of |t| = n of the scaled residual
    |sum_i w_i Psi_i(t) - theta^|t|/gamma(t)| / max(1, sum_i |w_i Psi_i(t)|), so that the
    tolerance is a multiple of the f64 rounding of the terms (large, cancelling
    coefficients are not penalised)."""
    return order_residuals_abs(A, w, pmax, scale_theta)[0]


def order_residuals_abs(A, w, pmax, scale_theta=1.0):
    """(scaled, absolute) residuals per order; see `order_residuals`. Evaluated in 60-digit
    decimal arithmetic on the exact f64 values, so the residuals are those of the f64
    coefficients themselves (not of a float evaluation)."""
    with localcontext() as ctx:
        ctx.prec = 60
        Ad = [[Dec(x) for x in row] for row in A]
        wd = [Dec(x) for x in w]
        th = Dec(str(scale_theta))
        memo = {}
        res = [0.0] * pmax
        ares = [0.0] * pmax
        for t, n, g in trees_up_to(pmax):
            pv = psi(Ad, t, memo)
            terms = [wd[i] * pv[i] for i in range(len(wd))]
            r = abs(sum(terms, Dec(0)) - th ** n / g)
            ares[n - 1] = max(ares[n - 1], float(r))
            r /= max(Dec(1), sum((abs(x) for x in terms), Dec(0)))
            res[n - 1] = max(res[n - 1], float(r))
    return res, ares


TOL = 2e-14  # scaled order-condition residual regarded as satisfied (about 90 ulp)


# --------------------------------------------------------------------------- helpers


def full_A(tab):
    s = len(tab["c"])
    A = [[0.0] * s for _ in range(s)]
    k = 0
    for i in range(s):
        for j in range(i):
            A[i][j] = tab["a"][k]
            k += 1
    return A


def interp_system(tab):
    """Extended (c, A) over all interpolation vectors: stages, f(t1,u1) if not FSAL, extras."""
    s = len(tab["c"])
    c = list(tab["c"])
    A = full_A(tab)
    if not tab["fsal"]:
        c.append(1.0)
        A = [row + [0.0] for row in A]
        A.append(list(tab["b"]) + [0.0])
    it = tab["interp"]
    if it is not None:
        k = 0
        for ec in it["extra_c"]:
            n = len(c)
            row = it["extra_a"][k:k + n]
            k += n
            A = [r + [0.0] for r in A]
            A.append(list(row) + [0.0])
            c.append(ec)
    return c, A


def poly(coeffs, th):
    return sum(cf * th ** (m + 1) for m, cf in enumerate(coeffs))


RESULTS = []


def report(ok, tabname, what, detail=""):
    RESULTS.append(ok)
    print(f"{'PASS' if ok else 'FAIL'}  {tabname:8s} {what}" + (f"  [{detail}]" if detail else ""))


# --------------------------------------------------------------------------- stepping
# The numerical experiments run in 50-digit decimal arithmetic on the exact f64 values of the
# coefficients, so that round-off does not hide the asymptotic regime (Tsit5, for instance,
# has a tiny error constant on y' = y); the only floor left is the f64 rounding of the
# coefficients themselves.

getcontext().prec = 50


def to_dec(tab):
    d = dict(tab)
    for key in ("c", "a", "b"):
        d[key] = [Dec(x) for x in tab[key]]
    d["btilde"] = None if tab["btilde"] is None else [Dec(x) for x in tab["btilde"]]
    if tab["interp"] is not None:
        it = tab["interp"]
        d["interp"] = {
            "order": it["order"],
            "extra_c": [Dec(x) for x in it["extra_c"]],
            "extra_a": [Dec(x) for x in it["extra_a"]],
            "bstar": [[Dec(x) for x in r] for r in it["bstar"]],
        }
    return d


def rk_step(tab, f, t0, y0, h):
    """One step; returns (y1, err or None, stage vectors)."""
    c, a, b = tab["c"], tab["a"], tab["b"]
    s = len(c)
    ks = []
    idx = 0
    for i in range(s):
        yi = y0 + h * sum((a[idx + j] * ks[j] for j in range(i)), Dec(0))
        idx += i
        ks.append(f(t0 + c[i] * h, yi))
    y1 = y0 + h * sum(b[i] * ks[i] for i in range(s))
    err = None
    if tab["btilde"] is not None:
        err = h * sum(tab["btilde"][i] * ks[i] for i in range(s))
    return y1, err, ks


def dense(tab, f, t0, y0, h, y1, ks, th):
    """u(t0 + th h) following mod.rs: Hermite, or sum_j P_j(th) k_j over the interpolation
    vectors (stages, f(t1, u1) if not FSAL, lazily computed extra stages)."""
    if tab["interp"] is None:
        f0 = ks[0]
        f1 = ks[-1] if tab["fsal"] else f(t0 + h, y1)
        h00 = (1 + 2 * th) * (1 - th) ** 2
        h10 = th * (1 - th) ** 2
        h01 = th * th * (3 - 2 * th)
        h11 = th * th * (th - 1)
        return h00 * y0 + h01 * y1 + h * (h10 * f0 + h11 * f1)
    it = tab["interp"]
    vecs = list(ks)
    if not tab["fsal"]:
        vecs.append(f(t0 + h, y1))
    k = 0
    for ec in it["extra_c"]:
        n = len(vecs)
        row = it["extra_a"][k:k + n]
        k += n
        vecs.append(f(t0 + ec * h, y0 + h * sum(row[j] * vecs[j] for j in range(n))))
    return y0 + h * sum(poly(it["bstar"][j], th) * vecs[j] for j in range(len(vecs)))


def integrate(tab, f, y0, T, N):
    h = T / N
    y, t = y0, Dec(0)
    for n in range(N):
        y, _, _ = rk_step(tab, f, t, y, h)
        t = (n + 1) * h
    return y


def riccati_exact(t):
    """y' = -y^2 + t, y(0) = 1, by a 40-term Taylor series method (steps <= 1/32)."""
    t = Dec(t)
    y, t0 = Dec(1), Dec(0)
    nsteps = max(1, int(math.ceil(float(t) * 32)))
    h = t / nsteps
    for _ in range(nsteps):
        co = [y]
        for n in range(40):
            s = -sum(co[k] * co[n - k] for k in range(n + 1))
            if n == 0:
                s += t0
            elif n == 1:
                s += 1
            co.append(s / (n + 1))
        acc = Dec(0)
        for cf in reversed(co):
            acc = acc * h + cf
        y, t0 = acc, t0 + h
    return y


PROBLEMS = [
    ("y'=y", lambda t, y: y, lambda t: Dec(t).exp()),
    ("y'=-y^2+t", lambda t, y: -y * y + t, riccati_exact),
]


def slope_ok(obs, expected):
    return expected - 0.3 <= obs <= expected + 1.0


def make_floor(abs_res, global_=False):
    """Error floor caused by the f64 rounding of the coefficients: a residual r_n in the
    order-n conditions adds about r_n h^n per step (r_n h^(n-1) globally on [0, 1]); the
    derivatives of both test problems are O(1) near t = 0. A generous factor keeps the
    fitted pairs well inside the asymptotic regime."""
    def floor(h):
        v = sum(r * h ** (n + (0 if global_ else 1)) for n, r in enumerate(abs_res))
        return 30.0 * (3.0 if global_ else 1.0) * v + 1e-34
    return floor


def fit_slope(hs, errs, floor):
    """Observed order from the last pair of step sizes whose errors are above `floor(h)`."""
    pairs = [(hs[i], errs[i], hs[i + 1], errs[i + 1]) for i in range(len(hs) - 1)
             if errs[i + 1] > floor(hs[i + 1]) and errs[i] > floor(hs[i])]
    if not pairs:
        return None
    h1, e1, h2, e2 = pairs[-1]
    return math.log(e1 / e2) / math.log(h1 / h2)


# --------------------------------------------------------------------------- checks


def check(tab):
    nm = tab["const"]
    c, b, a = tab["c"], tab["b"], tab["a"]
    s = len(c)
    p, pe = tab["order"], tab["error_order"]

    ok = (len(a) == s * (s - 1) // 2 and len(b) == s and c[0] == 0.0
          and (tab["btilde"] is None) == (pe == 0)
          and (tab["btilde"] is None or len(tab["btilde"]) == s))
    report(ok, nm, f"shapes (s={s}, len(a)=s(s-1)/2, c0=0, btilde<->error_order)")

    A = full_A(tab)
    rs = max(abs(math.fsum(A[i]) - c[i]) / max(1.0, math.fsum(map(abs, A[i]))) for i in range(s))
    report(rs < TOL, nm, "row sums sum_j a_ij = c_i", f"max scaled dev {rs:.1e}")

    res = order_residuals(A, b, p + 1)
    worst = max(res[:p])
    report(worst < TOL, nm, f"b satisfies all tree conditions up to order {p}",
           f"max scaled residual {worst:.1e}")
    report(res[p] > 1e-8, nm, f"b fails some order-{p + 1} condition (order is exact)",
           f"max scaled residual {res[p]:.1e}")

    if tab["btilde"] is not None:
        bhat = [b[i] - tab["btilde"][i] for i in range(s)]
        rh = order_residuals(A, bhat, pe + 1)
        worst = max(rh[:pe])
        report(worst < TOL, nm, f"bhat = b - btilde satisfies conditions up to order {pe}",
               f"max scaled residual {worst:.1e}")
        report(rh[pe] > 1e-8, nm, f"bhat fails some order-{pe + 1} condition",
               f"max scaled residual {rh[pe]:.1e}")
        sb = abs(math.fsum(tab["btilde"])) / max(1.0, math.fsum(map(abs, tab["btilde"])))
        report(sb < TOL, nm, "sum btilde = 0", f"scaled {sb:.1e}")

    if tab["fsal"]:
        dev = max(abs(A[s - 1][j] - b[j]) for j in range(s - 1))
        ok = c[-1] == 1.0 and dev == 0.0 and b[-1] == 0.0
        report(ok, nm, "FSAL: c_last = 1, last a-row == b, b_last = 0", f"max dev {dev:.1e}")

    it = tab["interp"]
    if it is not None:
        q = it["order"]
        nbase = s if tab["fsal"] else s + 1
        ne = len(it["extra_c"])
        exp_ea = sum(nbase + j for j in range(ne))
        ok = len(it["extra_a"]) == exp_ea and len(it["bstar"]) == nbase + ne
        report(ok, nm, f"interp shapes ({nbase} base + {ne} extra vectors, "
               f"{len(it['bstar'])} bstar rows, {len(it['extra_a'])} extra_a)")
        if not ok:
            return
        ci, Ai = interp_system(tab)
        rs = max((abs(math.fsum(Ai[i]) - ci[i]) / max(1.0, math.fsum(map(abs, Ai[i])))
                  for i in range(s, len(ci))), default=0.0)
        report(rs < TOL, nm, "interp extra-stage row sums = extra_c", f"max scaled dev {rs:.1e}")
        target = list(b) + [0.0] * (len(ci) - s)
        dev = max(abs(poly(it["bstar"][j], 1.0) - target[j])
                  / max(1.0, math.fsum(map(abs, it["bstar"][j]))) for j in range(len(ci)))
        report(dev < TOL, nm, "P_j(1) = b_j (0 for f(t1,u1)/extra vectors)",
               f"max scaled dev {dev:.1e}")
        dev = max(abs(math.fsum(poly(r, th) for r in it["bstar"]) - th)
                  / max(1.0, math.fsum(abs(poly(r, th)) for r in it["bstar"]))
                  for th in (0.1, 0.3, 0.5, 0.7, 0.9, 1.0))
        report(dev < TOL, nm, "sum_j P_j(theta) = theta", f"max scaled dev {dev:.1e}")
        worst, nxt = 0.0, 0.0
        for th in (0.1, 0.3, 0.5, 0.7, 0.9, 1.0):
            w = [poly(r, th) for r in it["bstar"]]
            r = order_residuals(Ai, w, q + 1, th)
            worst = max(worst, max(r[:q]))
            if th == 0.5:
                nxt = r[q]
        report(worst < TOL, nm, f"continuous order conditions up to order {q} "
               "at theta in {.1,.3,.5,.7,.9,1}", f"max scaled residual {worst:.1e}")
        report(nxt > 1e-10, nm, f"interpolant fails some order-{q + 1} condition at theta=.5",
               f"max scaled residual {nxt:.1e}")

    # ---- numerical experiments (decimal arithmetic, see `to_dec`)
    td = to_dec(tab)
    ab = order_residuals_abs(A, b, p)[1]
    gfloor, lfloor = make_floor(ab, True), make_floor(ab)
    if tab["btilde"] is not None:
        bhat = [b[i] - tab["btilde"][i] for i in range(s)]
        hfloor = make_floor(order_residuals_abs(A, bhat, pe)[1])
    q = min(p, 3) if it is None else it["order"]
    dfloor = {}
    for th in (0.3, 0.7):
        if it is None:
            dfloor[th] = lfloor
        else:
            w = [poly(r, th) for r in it["bstar"]]
            dfloor[th] = make_floor(order_residuals_abs(Ai, w, q, th)[1])
    for pname, f, ex in PROBLEMS:
        T = Dec(1)
        yT = ex(T)
        hs, errs = [], []
        for k in range(1, 12):
            N = 2 ** k
            e = float(abs(integrate(td, f, Dec(1), T, N) - yT))
            hs.append(1.0 / N)
            errs.append(e)
            if e < gfloor(1.0 / N) or e < 1e-30:
                break
        obs = fit_slope(hs, errs, gfloor)
        ok = obs is not None and slope_ok(obs, p)
        report(ok, nm, f"global convergence on {pname} over [0,1]: observed order ~ {p}",
               f"observed {obs if obs is None else round(obs, 2)}, "
               f"err {errs[-1]:.1e} at N={int(round(1 / hs[-1]))}")

        hsl = [0.4 / 2 ** k for k in range(9)]
        loc_b, loc_hat, loc_est, loc_d = [], [], [], {0.3: [], 0.7: []}
        for h in hsl:
            hd = Dec(h)
            y1, err, ks = rk_step(td, f, Dec(0), Dec(1), hd)
            ex1 = ex(hd)
            loc_b.append(float(abs(y1 - ex1)))
            if err is not None:
                loc_hat.append(float(abs((y1 - err) - ex1)))
                loc_est.append(float(abs(err)))
            for th in (0.3, 0.7):
                thd = Dec(str(th))
                ud = dense(td, f, Dec(0), Dec(1), hd, y1, ks, thd)
                loc_d[th].append(float(abs(ud - ex(thd * hd))))
        obs = fit_slope(hsl, loc_b, lfloor)
        report(obs is not None and slope_ok(obs, p + 1), nm,
               f"local error of b on {pname}: order {p + 1} in h",
               f"observed {obs if obs is None else round(obs, 2)}")
        if tab["btilde"] is not None:
            obs = fit_slope(hsl, loc_hat, hfloor)
            report(obs is not None and slope_ok(obs, pe + 1), nm,
                   f"local error of bhat on {pname}: order {pe + 1} in h",
                   f"observed {obs if obs is None else round(obs, 2)}")
            obs = fit_slope(hsl, loc_est, hfloor)
            report(obs is not None and slope_ok(obs, pe + 1), nm,
                   f"error estimate h*sum(btilde k) on {pname}: order {pe + 1} in h",
                   f"observed {obs if obs is None else round(obs, 2)}")
        kind = "Hermite" if it is None else "free interpolant"
        for th in (0.3, 0.7):
            obs = fit_slope(hsl, loc_d[th], dfloor[th])
            report(obs is not None and slope_ok(obs, q + 1), nm,
                   f"dense output ({kind}) at theta={th} on {pname}: local order {q + 1}",
                   f"observed {obs if obs is None else round(obs, 2)}")


def main(paths):
    if not paths:
        print(__doc__)
        return 2
    for path in paths:
        try:
            tabs = parse_rust(path)
        except Exception as e:  # noqa: BLE001
            report(False, "-", f"parse {path}: {e}")
            continue
        report(len(tabs) > 0, "-", f"parsed {path}: {', '.join(n for n, _ in tabs)}")
        for name, fields in tabs:
            try:
                tab = normalize(name, fields)
            except Exception as e:  # noqa: BLE001
                report(False, name, f"normalize: {e}")
                continue
            check(tab)
    nfail = RESULTS.count(False)
    print(f"{len(RESULTS) - nfail} passed, {nfail} failed")
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
