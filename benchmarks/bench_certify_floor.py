"""How low a per-neuron convex relaxation can take the LeNet-300-100 certificate (a measured
floor, not a bound; proofs/certificate-differential.md, Findings).

    python benchmarks/bench_certify_floor.py [--shrink 0.95] [--rows 20]

The 2l ticket (ε' = 0.01, ρ = 60, seed 0) on the box [-0.4242, 2.8215]^784. For each output
row ±Δ_2,k the script solves the linear programme over the input (lifted u = (σ(x), σ(−x)) in
its per-coordinate hull) in which every hidden neuron's (z, Δ, x = σ(z), δ = σ(z+Δ) − σ(z))
lies in the convex hull of that map's graph over its rectangle [z⁻, z⁺] × [Δ⁻, Δ⁺] (qhull
facets of the graph's 9 break points): the tightest relaxation that treats each neuron of the
pair (target, ticket) on its own, hence below every CROWN / α-CROWN / ReluDiff-style bound
with the same intervals (a larger rectangle only enlarges the hull, so the value is monotone
in the intervals). Intervals used, each no wider than any sound method of the family can
certify: layer 0 exact (an affine map's range over the box), layer 1's z the range sampled
at 4·10⁴ inputs (narrower than the true range), layer 1's Δ the back-substituted interval
shrunk about its midpoint by ``--shrink`` (the per-row hull LP of layer 1 alone gives
0.960–0.981 of its endpoints on the 34 measured). Needs scipy (HiGHS, qhull), present with
scikit-learn. Prints each row's LP value, the certified value and the true error at the LP's
input; ~15 s CPU per row on the shared machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.spatial import ConvexHull

from lotteryproofs import construct, io
from lotteryproofs.certify import crown
from lotteryproofs.certify.bound import rigorous_preactivation_bounds
from lotteryproofs.certify.candidates import ticket_layers


def graph_points(zl, zh, dl, dh):
    """(z, Δ, σ(z), σ(z+Δ) − σ(z)) at the break points of the map over the rectangle."""
    pts = [(zl, dl), (zl, dh), (zh, dl), (zh, dh)]
    if zl < 0 < zh:
        pts += [(0.0, dl), (0.0, dh)]
    for d in (dl, dh):
        if zl < -d < zh:
            pts.append((-d, d))
    for z in (zl, zh):
        if dl < -z < dh:
            pts.append((z, -z))
    if zl < 0 < zh and dl < 0 < dh:
        pts.append((0.0, 0.0))
    return np.array([(z, d, max(z, 0.0), max(z + d, 0.0) - max(z, 0.0)) for z, d in pts])


def facets(zl, zh, dl, dh):
    """A·(z, Δ, x, δ) ≤ b: the facets of the graph's convex hull."""
    p = graph_points(zl, zh, dl, dh)
    sc = np.maximum(np.abs(p).max(0), 1e-12)
    eq = ConvexHull(p / sc, qhull_options="QJ").equations
    return eq[:, :4] / sc, -eq[:, 4]


def sampled_ranges(target, rep, box, n=40_000, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([box.sample(n // 2, rng),
                        np.where(rng.random((n // 2, box.dim)) < 0.5, box.lower, box.upper)]).T
    z_out, d_out, h, hh = [], [], x, None
    for t in range(target.depth):
        z = target.weights[t] @ h + target.biases[t][:, None]
        r = rep[t]
        if t == 0:
            zh = r.positive[0] @ np.maximum(x, 0) + r.negative[0] @ np.maximum(-x, 0)
        else:
            zh = r.positive[0] @ np.maximum(hh, 0)
        zh = zh + r.bias[0][:, None]
        z_out.append((z.min(1), z.max(1)))
        d_out.append(((zh - z).min(1), (zh - z).max(1)))
        h, hh = np.maximum(z, 0), zh
    return z_out, d_out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shrink", type=float, default=0.95)
    parser.add_argument("--rows", type=int, default=20, help="output rows ±k (at most 20)")
    args = parser.parse_args(argv)
    target, tmeta = io.read_target("lenet300100")
    box = io.target_box(tmeta, target.widths[0])
    ticket = construct.construct(target, "2l", eps_param=0.01, delta=0.1, rng=0, domain=box,
                                 rho=60)
    rep, slack = ticket_layers(ticket)
    cr = crown.DifferenceCrown(target, box, rep, slack,
                               rigorous_preactivation_bounds(target, box), variants=(0.0,))
    zs, _ = sampled_ranges(target, rep, box)
    (w0, w1, w2), (b0, b1, b2) = target.weights, target.biases
    p0, n0m, bh0 = rep[0].positive[0], rep[0].negative[0], rep[0].bias[0]
    p1, bh1, p2, bh2 = rep[1].positive[0], rep[1].bias[0], rep[2].positive[0], rep[2].bias[0]
    lo, hi = box.lower, box.upper
    n_in, n1, n2 = w0.shape[1], w0.shape[0], w1.shape[0]
    zlo, zhi = cr.z[0]
    dlo, dhi = cr.d[0]
    z1lo, z1hi = zs[1]
    mid, half = (cr.d[1][0] + cr.d[1][1]) / 2, (cr.d[1][1] - cr.d[1][0]) / 2 * args.shrink
    d1lo, d1hi = mid - half, mid + half
    widths = {"u": 2 * n_in, "x0": n1, "d0": n1, "x1": n2, "d1": n2}
    offset = dict(zip(widths, np.cumsum([0, *widths.values()])[:-1], strict=True))
    nv = sum(widths.values())

    def lin(cols):
        nr = next(iter(cols.values())).shape[0]
        return sp.hstack([sp.csr_matrix(cols[k]) if k in cols else sp.csr_matrix((nr, w))
                          for k, w in widths.items()])

    zp = sp.csr_matrix(np.concatenate([w0, -w0], 1))
    dp = sp.csr_matrix(np.concatenate([p0 - w0, n0m + w0], 1))
    db0, db1 = bh0 - b0, bh1 - b1
    z0e, d0e, z1e, d1e = {"u": zp}, {"u": dp}, {"x0": w1}, {"x0": p1 - w1, "d0": p1}
    rows = [lin({"u": sp.hstack([sp.diags(1 / hi), sp.diags(1 / (-lo))])})]
    rhs = [np.ones(n_in)]
    for expr, off, a, b in ((z0e, b0, zlo, zhi), (d0e, db0, dlo, dhi),
                            (z1e, b1, z1lo, z1hi), (d1e, db1, d1lo, d1hi)):
        rows += [lin(expr), lin({k: -v for k, v in expr.items()})]
        rhs += [b - off, -(a - off)]
    for ze, zo, de, do, xk, dk, zl, zh, dl, dh, n in (
            (z0e, b0, d0e, db0, "x0", "d0", zlo, zhi, dlo, dhi, n1),
            (z1e, b1, d1e, db1, "x1", "d1", z1lo, z1hi, d1lo, d1hi, n2)):
        for i in range(n):
            af, bf = facets(zl[i], zh[i], dl[i], dh[i])
            for a, bb in zip(af, bf, strict=True):
                cols = {}
                for key, m in ze.items():
                    cols[key] = cols.get(key, 0) + a[0] * sp.csr_matrix(m[i])
                for key, m in de.items():
                    cols[key] = cols.get(key, 0) + a[1] * sp.csr_matrix(m[i])
                for key, coef in ((xk, a[2]), (dk, a[3])):
                    e = np.zeros((1, n))
                    e[0, i] = coef
                    cols[key] = cols.get(key, 0) + sp.csr_matrix(e)
                rows.append(lin(cols))
                rhs.append(np.array([bb - a[0] * zo[i] - a[1] * do[i] + 1e-9 * abs(bb)]))
    a_ub, b_ub = sp.vstack(rows).tocsr(), np.concatenate(rhs)
    bounds = ([(0, max(v, 0)) for v in hi] + [(0, max(-v, 0)) for v in lo]
              + [(0, max(v, 0)) for v in zhi]
              + [(min(a, 0), max(b, 0)) for a, b in zip(dlo, dhi, strict=True)]
              + [(0, max(v, 0)) for v in z1hi]
              + [(min(a, 0), max(b, 0)) for a, b in zip(d1lo, d1hi, strict=True)])

    def true_out(x):
        z0 = w0 @ x + b0
        zh0 = p0 @ np.maximum(x, 0) + n0m @ np.maximum(-x, 0) + bh0
        z1, zh1 = w1 @ np.maximum(z0, 0) + b1, p1 @ np.maximum(zh0, 0) + bh1
        return p2 @ np.maximum(zh1, 0) + bh2 - (w2 @ np.maximum(z1, 0) + b2)

    best = 0.0
    for k, sign in [(k, s) for k in range(w2.shape[0]) for s in (1, -1)][: args.rows]:
        c = np.zeros(nv)
        c[offset["x1"]: offset["x1"] + n2] = -sign * (p2[k] - w2[k])
        c[offset["d1"]: offset["d1"] + n2] = -sign * p2[k]
        t0 = time.process_time()
        res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
        value = -res.fun + sign * (bh2[k] - b2[k])
        best = max(best, value)
        x = np.clip(res.x[:n_in] - res.x[n_in:2 * n_in], lo, hi)
        cert = cr.d[2][1][k] if sign > 0 else -cr.d[2][0][k]
        print(f"row {k} {sign:+d}: floor LP {value:.3f}  certified {cert:.3f}  "
              f"true error at the LP's input {sign * true_out(x)[k]:.3f}  "
              f"cpu {time.process_time() - t0:.1f} s", flush=True)
    print(f"shrink {args.shrink}: floor (max over rows) {best:.3f}; "
          f"back-substitution {cr.output_error():.3f}")


if __name__ == "__main__":
    main()
