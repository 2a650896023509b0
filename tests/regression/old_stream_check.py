"""Rebuild every regression case with the *old* sequential full draw plugged into the new
construction path, and compare with a baseline recorded before the keyed streams.

The keyed streams (proofs/lazy-source.md) change every source value, hence every ticket; this
check shows that nothing else changed: with the previous ``lotteryproofs/init.py`` (the
sequential draw, widening continuing on the same generator) substituted for the streams, the
new construction, file and certificate code reproduce the old baseline exactly.

    git show b526ef3:lotteryproofs/init.py > /tmp/oldcheck/oldinit.py
    git show b526ef3:tests/regression/baseline.json > /tmp/oldcheck/baseline.json
    PYTHONPATH=. python tests/regression/old_stream_check.py
"""
import hashlib, importlib.util, json, sys, tempfile
from pathlib import Path
import numpy as np
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
spec_ = importlib.util.spec_from_file_location("oldinit", "/tmp/oldcheck/oldinit.py")
oldinit = importlib.util.module_from_spec(spec_); sys.modules["oldinit"] = oldinit; spec_.loader.exec_module(oldinit)
import lotteryproofs.init as newinit
import lotteryproofs.construct as C

state = {}
def old_draw(self):
    gen = np.random.default_rng(np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key))
    user = {k: v for k, v in self.options.items() if k not in newinit.SCHEMES[self.scheme].fixed}
    d = oldinit.draw_source(self.scheme, self.widths, rng=gen, **user)
    state["gen"] = gen   # the old code went on drawing (widening) from the same generator
    return newinit.SourceDraw(d.scheme, d.options, d.network, d.unit_network, d.layer_scales)
newinit.SourceSpec.draw = old_draw
newinit.SourceSpec.tiled = property(lambda self: False)

class _NP:  # construct's np, with default_rng replaced by the generator the old draw left
    def __getattr__(self, name): return getattr(np, name)
class _Random:
    def __getattr__(self, name): return getattr(np.random, name)
    def default_rng(self, seed=None): return _Lazy()
class _Lazy:  # resolved when first used (after the draw)
    def __getattr__(self, name): return getattr(state["gen"], name)
shim = _NP(); shim.random = _Random()
C.np = shim
sys.path.insert(0, str(ROOT / "tests" / "regression"))
import record
from lotteryproofs import io
from lotteryproofs.certify import certify

baseline = json.loads(Path("/tmp/oldcheck/baseline.json").read_text())
ok = True
for case in baseline["cases"]:
    target, metadata = io.read_target(case["target"])
    domain = io.target_box(metadata, target.widths[0])
    ticket = C.construct(target, case["method"], eps_param=record.EPS_PARAM, delta=record.DELTA,
                         rng=np.random.SeedSequence(record.SEED), domain=domain, **case["options"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.npz"
        io.save_ticket(ticket, path, store_source=True)
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: hashlib.sha256(np.ascontiguousarray(data[k]).tobytes()).hexdigest()
                      for k in sorted(data.files) if k != "metadata"}
    errors = certify(ticket, target, domain).to_json()["errors"]
    errors = {k: errors[k] for k in case["errors"]}
    same = (arrays == case["array_sha256"], int(ticket.count_nonzero()) == case["nonzero"],
            int(ticket.rss_log.failed.sum()) == case["failures"], errors == case["errors"])
    print(case["target"], case["method"], case["options"], "arrays/nonzero/failures/errors equal:", same)
    ok &= all(same)
print("ALL EQUAL" if ok else "DIFFERENCES")
