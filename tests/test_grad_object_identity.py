"""`.grad`, post-accumulate hooks and `.numpy()` give the objects PyTorch code expects."""

import democratising as dm


def test_grad_is_the_same_object_across_reads_and_accumulation() -> None:
    p = dm.nn.Parameter(dm.ones(3))
    (p * 2).sum().backward()
    g = p.grad
    assert p.grad is g
    (p * 3).sum().backward()  # accumulates into the same gradient tensor
    assert p.grad is g
    assert g.tolist() == [5.0, 5.0, 5.0]


def test_assigned_grad_is_returned_and_none_clears() -> None:
    p = dm.zeros(2, requires_grad=True)
    h = dm.tensor([1.0, 2.0])
    p.grad = h
    assert p.grad is h
    p.grad = None
    assert p.grad is None
    (p * 1).sum().backward()
    assert p.grad is not h and p.grad.tolist() == [1.0, 1.0]


def test_zero_grad_set_to_none_gives_a_fresh_gradient() -> None:
    m = dm.nn.Linear(2, 1)
    opt = dm.optim.SGD(m.parameters(), lr=0.1)
    m(dm.ones(1, 2)).sum().backward()
    old = m.weight.grad
    opt.zero_grad()
    assert m.weight.grad is None
    m(dm.ones(1, 2)).sum().backward()
    assert m.weight.grad is not old


def test_dtype_signedness_and_complexity() -> None:
    assert dm.float32.is_signed and dm.int64.is_signed and dm.bfloat16.is_signed
    assert not dm.bool.is_signed
    assert not any(d.is_complex for d in (dm.float16, dm.float64, dm.int32, dm.bool))


def test_post_accumulate_grad_hook_gets_the_parameter_itself() -> None:
    # As PyTorch's: an optimizer stepping inside the hook looks its state up by parameter.
    p = dm.nn.Parameter(dm.ones(3))
    state = {p: "found"}
    seen: list[str] = []
    p.register_post_accumulate_grad_hook(lambda t: seen.append(state.get(t, "missing")))
    (p * 2).sum().backward()
    assert seen == ["found"]


def test_numpy_shares_memory_and_outlives_the_tensor() -> None:
    import numpy as np

    x = dm.arange(6.0).reshape(2, 3)
    a = x.numpy()
    a[0, 0] = 7.0
    assert x[0, 0].item() == 7.0 and a.flags.writeable
    assert x.t().numpy().strides == (4, 12)
    kept = dm.arange(1000.0).numpy()  # the temporary tensor is gone; its memory is not
    assert kept.sum() == np.arange(1000.0).sum()
