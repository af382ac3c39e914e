"""Parity of the vision utilities with PyTorch, found by running tutorial-style vision programs
(CIFAR CNN, ResNet block, DCGAN, VAE, UNet, image utilities) under both libraries: bicubic and
volumetric ``grid_sample``, 3-D ``affine_grid``, and the ``area`` / antialiased resize weights.
Expected values were computed once with PyTorch 2.x (float32) and are hard-coded here."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising.errors import ShapeError
from democratising.nn import _interpolate

# A 3x4 image and a 2x2 grid with points outside [-1, 1] on both axes.
X = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4) ** 1.5 * 0.1
GRID = np.array([[[[-1.1, -0.9], [0.3, 0.2]], [[0.95, 1.2], [-0.4, 0.6]]]], dtype=np.float32)

BICUBIC = {
    ("zeros", False): [[[[-0.0267635, 2.3028502], [0.428854, 2.6688964]]]],
    ("zeros", True): [[[[0.0386015, 1.9279923], [3.3084097, 2.398108]]]],
    ("border", False): [[[[-0.0923072, 2.1321807], [3.7441545, 2.407382]]]],
    ("border", True): [[[[0.0462109, 1.8529109], [3.7926891, 2.0999322]]]],
    ("reflection", False): [[[[-0.1463905, 2.1321807], [3.9535589, 2.407382]]]],
    ("reflection", True): [[[[0.0092818, 1.8933489], [3.5325129, 2.2661707]]]],
}


def _close(got: dm.Tensor, want: object, atol: float = 1e-5) -> None:
    np.testing.assert_allclose(
        got.detach().numpy(), np.asarray(want, dtype=np.float32), rtol=1e-4, atol=atol
    )


@pytest.mark.parametrize(("padding_mode", "align_corners"), list(BICUBIC))
def test_grid_sample_bicubic_matches_torch(padding_mode: str, align_corners: bool) -> None:
    out = F.grid_sample(
        dm.tensor(X),
        dm.tensor(GRID),
        mode="bicubic",
        padding_mode=padding_mode,
        align_corners=align_corners,
    )
    _close(out, BICUBIC[(padding_mode, align_corners)])


def test_grid_sample_bicubic_gradients_match_torch() -> None:
    x = dm.tensor(X, requires_grad=True)
    grid = dm.tensor(GRID, requires_grad=True)
    F.grid_sample(x, grid, mode="bicubic", align_corners=False).pow(2).sum().backward()
    _close(
        x.grad,
        [
            [
                [
                    [-0.0253408, 0.0028645, -0.4930148, -0.0450652],
                    [0.1564906, 0.1609265, 3.6971281, 0.3249567],
                    [1.7044486, 4.2514706, 0.8761683, 0.2568663],
                ]
            ]
        ],
    )
    _close(
        grid.grad,
        [
            [
                [[0.0112425, 0.0008306], [8.6502781, 18.6616917]],
                [[-1.3183031, -3.2107348], [-0.589791, 0.41588]],
            ]
        ],
        atol=1e-4,
    )


def test_grid_sample_bicubic_reproduces_the_image_at_pixel_centres() -> None:
    # The cubic filter interpolates: sampled exactly at the pixel centres it returns the image.
    img = dm.tensor(np.random.default_rng(0).standard_normal((2, 3, 5, 6)).astype(np.float32))
    theta = dm.tensor(np.tile(np.eye(2, 3, dtype=np.float32), (2, 1, 1)))
    grid = F.affine_grid(theta, [2, 3, 5, 6], align_corners=False)
    out = F.grid_sample(img, grid, mode="bicubic", padding_mode="border", align_corners=False)
    np.testing.assert_allclose(out.numpy(), img.numpy(), atol=1e-5)


V = np.sin(np.arange(24, dtype=np.float32)).reshape(1, 1, 2, 3, 4)
G3 = np.array([[[[[-0.5, 0.25, 0.9], [0.7, -1.2, -0.1]]]]], dtype=np.float32)
VOLUME = {
    ("bilinear", "zeros"): [[[[[-0.0374138, 0.0808981]]]]],
    ("bilinear", "border"): [[[[[-0.0623563, 0.4044905]]]]],
    ("bilinear", "reflection"): [[[[[-0.0623563, 0.4044905]]]]],
    ("nearest", "zeros"): [[[[[-0.2879033, 0.0]]]]],
    ("nearest", "border"): [[[[[-0.2879033, 0.14112]]]]],
    ("nearest", "reflection"): [[[[[-0.2879033, 0.14112]]]]],
}


@pytest.mark.parametrize(("mode", "padding_mode"), list(VOLUME))
def test_grid_sample_volumetric_matches_torch(mode: str, padding_mode: str) -> None:
    out = F.grid_sample(
        dm.tensor(V), dm.tensor(G3), mode=mode, padding_mode=padding_mode, align_corners=False
    )
    assert out.shape == (1, 1, 1, 1, 2)
    _close(out, VOLUME[(mode, padding_mode)])


def test_grid_sample_volumetric_gradients_match_torch() -> None:
    v = dm.tensor(V, requires_grad=True)
    g = dm.tensor(G3, requires_grad=True)
    out = F.grid_sample(v, g, mode="bilinear", align_corners=True)
    _close(out, [[[[[-0.3889036, 0.5034272]]]]])
    out.sum().backward()
    _close(
        v.grad,
        [
            [
                [
                    [
                        [0.0, 0.0, 0.1979999, 0.2420001],
                        [0.009375, 0.028125, 0.0, 0.0],
                        [0.003125, 0.009375, 0.0, 0.0],
                    ],
                    [
                        [0.0, 0.0, 0.1619999, 0.198],
                        [0.178125, 0.534375, 0.0, 0.0],
                        [0.059375, 0.178125, 0.0, 0.0],
                    ],
                ]
            ]
        ],
    )
    _close(g.grad, [[[[[-0.7691678, 1.6395556, 0.0806762], [-0.6907695, 0.629284, 0.1266527]]]]])


def test_grid_sample_volumetric_argument_errors() -> None:
    vol = dm.zeros(1, 1, 2, 2, 2)
    with pytest.raises(ValueError, match="bicubic interpolation only supports 4D"):
        F.grid_sample(vol, dm.zeros(1, 1, 1, 1, 3), mode="bicubic", align_corners=False)
    with pytest.raises(ShapeError, match="size 3 in last dimension"):
        F.grid_sample(vol, dm.zeros(1, 1, 1, 1, 2), align_corners=False)
    with pytest.raises(ShapeError, match="same number of dimensions"):
        F.grid_sample(vol, dm.zeros(1, 1, 1, 2), align_corners=False)


THETA3 = np.array(
    [[[1.0, 0.2, -0.1, 0.3], [0.0, 0.9, 0.1, -0.2], [0.1, 0.0, 1.1, 0.05]]], dtype=np.float32
)
AFFINE3 = {
    False: [
        [
            [
                [[-0.4166667, -0.7, -0.5666667], [0.25, -0.7, -0.5], [0.9166667, -0.7, -0.4333333]],
                [[-0.2166666, 0.2, -0.5666667], [0.45, 0.2, -0.5], [1.1166668, 0.2, -0.4333333]],
            ],
            [
                [[-0.5166667, -0.6, 0.5333334], [0.15, -0.6, 0.6], [0.8166667, -0.6, 0.6666667]],
                [[-0.3166667, 0.3, 0.5333334], [0.35, 0.3, 0.6], [1.0166667, 0.3, 0.6666667]],
            ],
        ]
    ],
    True: [
        [
            [
                [[-0.8, -1.2, -1.1500001], [0.2, -1.2, -1.0500001], [1.2, -1.2, -0.95]],
                [[-0.4, 0.6, -1.1500001], [0.6, 0.6, -1.0500001], [1.6000001, 0.6, -0.95]],
            ],
            [
                [[-1.0, -0.9999999, 1.05], [0.0, -0.9999999, 1.15], [1.0, -0.9999999, 1.25]],
                [[-0.6, 0.8, 1.05], [0.4, 0.8, 1.15], [1.4000001, 0.8, 1.25]],
            ],
        ]
    ],
}


@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_3d_matches_torch(align_corners: bool) -> None:
    theta = dm.tensor(THETA3, requires_grad=True)
    grid = F.affine_grid(theta, [1, 1, 2, 2, 3], align_corners=align_corners)
    assert grid.shape == (1, 2, 2, 3, 3)
    _close(grid, AFFINE3[align_corners])
    grid.sum().backward()  # d(sum)/d(theta[i, j]) is the sum of base coordinate j
    assert theta.grad is not None and theta.grad.shape == (1, 3, 4)
    np.testing.assert_allclose(theta.grad.numpy()[0, :, 3], [12.0, 12.0, 12.0])


def test_affine_grid_3d_identity_resamples_the_volume() -> None:
    vol = dm.tensor(np.random.default_rng(1).standard_normal((2, 3, 3, 4, 5)).astype(np.float32))
    theta = dm.tensor(np.tile(np.eye(3, 4, dtype=np.float32), (2, 1, 1)))
    for align in (False, True):
        grid = F.affine_grid(theta, list(vol.shape), align_corners=align)
        out = F.grid_sample(vol, grid, align_corners=align)
        np.testing.assert_allclose(out.numpy(), vol.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="Nx3x4"):
        F.affine_grid(dm.zeros(2, 2, 3), [2, 1, 3, 3, 3], align_corners=False)


Y = np.cos(np.arange(30, dtype=np.float32)).reshape(1, 1, 5, 6)


def _resize(
    x: np.ndarray,
    mode: str,
    out: list[int],
    scales: list[float | None],
    align: bool = False,
    antialias: bool = False,
) -> dm.Tensor:
    return _interpolate.resize(dm.tensor(x), mode, out, scales, align, antialias)


def test_area_resize_matches_torch() -> None:
    # F.interpolate(mode="area") is adaptive average pooling; these are its resize weights.
    _close(
        _resize(Y, "area", [3, 4], [None, None]),
        [
            [
                [
                    [0.8135937, 0.1831394, -0.8484595, -0.3011568],
                    [0.8523991, 0.5082288, -0.8358732, -0.6000438],
                    [0.7661008, 0.7587272, -0.7006087, -0.8108643],
                ]
            ]
        ],
    )
    _close(
        _resize(Y, "area", [7, 9], [1.5, 1.5]),
        [
            [
                [
                    [
                        1.0,
                        0.7701511,
                        0.5403023,
                        -0.4161468,
                        -0.7030697,
                        -0.9899925,
                        -0.6536436,
                        -0.1849907,
                        0.2836622,
                    ],
                    [
                        0.9800851,
                        0.8135937,
                        0.6471023,
                        -0.2808234,
                        -0.6156924,
                        -0.9505614,
                        -0.7463576,
                        -0.3011568,
                        0.144044,
                    ],
                    [
                        0.9020121,
                        0.8663433,
                        0.8306745,
                        -0.0043814,
                        -0.4198952,
                        -0.835409,
                        -0.8983655,
                        -0.5168672,
                        -0.1353688,
                    ],
                    [
                        0.843854,
                        0.8756504,
                        0.9074468,
                        0.1367372,
                        -0.3114753,
                        -0.7596879,
                        -0.9576595,
                        -0.6164114,
                        -0.2751634,
                    ],
                    [
                        0.7520853,
                        0.8500805,
                        0.9480757,
                        0.2724096,
                        -0.1906495,
                        -0.6537086,
                        -0.9788102,
                        -0.6914042,
                        -0.4039982,
                    ],
                    [
                        0.5422479,
                        0.7661008,
                        0.9899538,
                        0.5275007,
                        0.0537833,
                        -0.419934,
                        -0.9812834,
                        -0.8108643,
                        -0.6404453,
                    ],
                    [
                        0.424179,
                        0.707691,
                        0.9912028,
                        0.6469193,
                        0.1773902,
                        -0.2921388,
                        -0.9626059,
                        -0.8553317,
                        -0.7480575,
                    ],
                ]
            ]
        ],
    )
    _close(
        _resize(Y[0], "area", [4], [None]),
        [
            [
                [0.7701511, 0.0620777, -0.8218181, -0.1849907],
                [0.8570362, 0.3042011, -0.8751009, -0.4173229],
                [0.8756504, 0.522092, -0.8586737, -0.6164114],
                [0.8245107, 0.6983933, -0.7738451, -0.7663969],
                [0.707691, 0.819061, -0.6273724, -0.8553317],
            ]
        ],
    )


def test_area_resize_gradient_is_the_transposed_average() -> None:
    x = dm.tensor(Y, requires_grad=True)
    _interpolate.resize(x, "area", [1, 3], [None, None], False).sum().backward()
    # One output row averages all 5 rows; each output column averages 2 input columns.
    np.testing.assert_allclose(x.grad.numpy(), np.full((1, 1, 5, 6), 0.1), rtol=1e-6)


ANTIALIAS = {
    ("bilinear", False): [
        [
            [
                [0.8573019, 0.0664113, -0.779083, -0.3020576],
                [0.7604625, 0.4818, -0.574631, -0.6881377],
            ]
        ]
    ],
    ("bilinear", True): [
        [
            [
                [0.8230339, 0.0541981, -0.7458301, -0.3353609],
                [0.7344686, 0.4062952, -0.7262076, -0.6939194],
            ]
        ]
    ],
    ("bicubic", False): [
        [
            [
                [0.9214935, 0.0716516, -0.9111683, -0.2500817],
                [0.7773326, 0.6065645, -0.6610621, -0.7337477],
            ]
        ]
    ],
    ("bicubic", True): [
        [
            [
                [0.872082, 0.0577288, -0.8083504, -0.2683723],
                [0.7491413, 0.5614344, -0.7689538, -0.8062074],
            ]
        ]
    ],
}


@pytest.mark.parametrize(("mode", "align_corners"), list(ANTIALIAS))
def test_antialias_resize_matches_torch(mode: str, align_corners: bool) -> None:
    out = _resize(Y, mode, [2, 4], [None, None], align_corners, antialias=True)
    _close(out, ANTIALIAS[(mode, align_corners)])


def test_antialias_resize_with_scale_factors_matches_torch() -> None:
    _close(
        _resize(Y, "bilinear", [7, 9], [1.5, 1.5], antialias=True),
        [
            [
                [
                    [
                        1.0,
                        0.7701511,
                        0.3808941,
                        -0.2567388,
                        -0.7030697,
                        -0.9339343,
                        -0.7097017,
                        -0.1849907,
                        0.2836622,
                    ],
                    [
                        0.9800851,
                        0.8135937,
                        0.4924479,
                        -0.1261693,
                        -0.6156924,
                        -0.9165274,
                        -0.7803915,
                        -0.3011568,
                        0.144044,
                    ],
                    [
                        0.9407842,
                        0.8601386,
                        0.6331673,
                        0.047865,
                        -0.4921751,
                        -0.8813809,
                        -0.8633451,
                        -0.4505043,
                        -0.0421725,
                    ],
                    [
                        0.86324,
                        0.872548,
                        0.7498296,
                        0.221724,
                        -0.3476153,
                        -0.8104227,
                        -0.9124004,
                        -0.5832301,
                        -0.2285652,
                    ],
                    [
                        0.7520853,
                        0.8500805,
                        0.8354647,
                        0.3850206,
                        -0.1906495,
                        -0.7078922,
                        -0.9246266,
                        -0.6914042,
                        -0.4039982,
                    ],
                    [
                        0.6209604,
                        0.8050407,
                        0.8989155,
                        0.5380936,
                        -0.0286213,
                        -0.5865649,
                        -0.9123011,
                        -0.7812194,
                        -0.5687038,
                    ],
                    [
                        0.4635353,
                        0.7271609,
                        0.9268409,
                        0.6710586,
                        0.136188,
                        -0.4404196,
                        -0.8631494,
                        -0.8405092,
                        -0.7121868,
                    ],
                ]
            ]
        ],
    )
    _close(
        _resize(Y, "bicubic", [2, 2], [0.4, 0.4], antialias=True),
        [[[[0.5914837, -0.6273585], [0.7594473, -0.4512088]]]],
    )
    with pytest.raises(ValueError, match="Anti-alias"):
        _resize(Y, "area", [2, 2], [None, None], antialias=True)


@pytest.mark.parametrize(
    ("layer", "transposed", "output_padding"),
    [
        (dm.nn.Conv1d(2, 4, 3), False, (0,)),
        (dm.nn.Conv2d(2, 4, 3, padding="same"), False, (0, 0)),
        (dm.nn.Conv3d(2, 4, 3), False, (0, 0, 0)),
        (dm.nn.ConvTranspose1d(2, 4, 3, stride=2, output_padding=1), True, (1,)),
        (dm.nn.ConvTranspose2d(2, 4, 3), True, (0, 0)),
        (dm.nn.ConvTranspose3d(2, 4, 3, stride=2, output_padding=(1, 0, 1)), True, (1, 0, 1)),
    ],
)
def test_conv_layers_carry_pytorchs_transposed_and_output_padding(
    layer: dm.nn.Module, transposed: bool, output_padding: tuple[int, ...]
) -> None:
    # Initialisers and fusers written for PyTorch read these on every convolution.
    assert layer.transposed is transposed
    assert layer.output_padding == output_padding
    assert "output_padding" not in repr(layer) or any(output_padding)


@pytest.mark.parametrize(
    "layer",
    [dm.nn.MaxPool1d(3), dm.nn.MaxPool2d(3), dm.nn.MaxPool3d(3), dm.nn.AvgPool2d(3)],
)
def test_pools_store_the_kernel_size_as_the_default_stride(layer: dm.nn.Module) -> None:
    assert layer.stride == 3
    assert "kernel_size=3, stride=3" in repr(layer)


def test_max_pool2d_given_stride_is_kept() -> None:
    pool = dm.nn.MaxPool2d((2, 3), stride=(1, 2))
    assert pool.stride == (1, 2)
    assert repr(pool) == (
        "MaxPool2d(kernel_size=(2, 3), stride=(1, 2), padding=0, dilation=1, ceil_mode=False)"
    )


# ``((arange * 7) % 11 - 5) / 4``: few distinct values, so most windows hold tied maxima.
X3 = (((np.arange(120) * 7) % 11) - 5).reshape(1, 2, 3, 4, 5).astype(np.float32) / 4
MP_VALS = [
    [
        [
            [[-0.75, 1.0, 1.25], [0.25, 1.0, 1.25]],
            [[1.25, 1.0, 1.25], [0.25, 1.25, 1.25]],
            [[1.25, 1.25, 1.0], [1.0, 1.25, 1.25]],
            [[0.5, 1.25, 0.25], [1.0, 0.5, 1.25]],
        ],
        [
            [[-0.25, 1.0, 1.25], [0.75, 1.0, 0.5]],
            [[1.25, 1.0, 1.25], [0.75, 1.25, 1.0]],
            [[1.25, 1.25, 1.0], [0.0, 1.25, 1.25]],
            [[1.0, 1.25, 0.75], [-0.75, 1.0, 1.25]],
        ],
    ]
]
MP_IDX = [
    [
        [
            [[5, 6, 3], [15, 17, 14]],
            [[25, 6, 3], [15, 36, 14]],
            [[25, 47, 28], [50, 36, 58]],
            [[45, 47, 48], [50, 56, 58]],
        ],
        [
            [[5, 1, 9], [15, 12, 18]],
            [[20, 1, 9], [15, 31, 34]],
            [[20, 42, 23], [35, 31, 53]],
            [[45, 42, 48], [55, 56, 53]],
        ],
    ]
]


def test_max_pool3d_return_indices_matches_torch_on_ties() -> None:
    x = dm.tensor(X3, requires_grad=True)
    vals, idx = F.max_pool3d(x, 2, stride=(1, 2, 2), padding=(1, 0, 1), return_indices=True)
    assert idx.dtype == dm.int64
    _close(vals, MP_VALS)
    assert idx.numpy().tolist() == MP_IDX
    vals.sum().backward()  # each maximum's gradient goes to the one position PyTorch picked
    grad = x.grad.numpy().ravel()
    np.testing.assert_array_equal(
        np.flatnonzero(grad),
        [
            3,
            5,
            6,
            14,
            15,
            17,
            25,
            28,
            36,
            45,
            47,
            48,
            50,
            56,
            58,
            61,
            65,
            69,
            72,
            75,
            78,
            80,
            83,
            91,
            94,
            95,
            102,
            105,
            108,
            113,
            115,
            116,
        ],
    )
    np.testing.assert_array_equal(
        grad[np.flatnonzero(grad)],
        [
            2.0,
            1.0,
            2.0,
            2.0,
            2.0,
            1.0,
            2.0,
            1.0,
            2.0,
            1.0,
            2.0,
            1.0,
            2.0,
            1.0,
            2.0,
            2.0,
            1.0,
            2.0,
            1.0,
            2.0,
            1.0,
            2.0,
            1.0,
            2.0,
            1.0,
            1.0,
            2.0,
            1.0,
            1.0,
            2.0,
            1.0,
            1.0,
        ],
    )
    layer = dm.nn.MaxPool3d(2, stride=(1, 2, 2), padding=(1, 0, 1), return_indices=True)
    assert layer(dm.tensor(X3))[1].numpy().tolist() == MP_IDX


def test_adaptive_max_pool3d_return_indices_matches_torch() -> None:
    vals, idx = F.adaptive_max_pool3d(dm.tensor(X3), (2, 3, 2), return_indices=True)
    assert idx.numpy().tolist() == [
        [
            [[[25, 3], [25, 14], [36, 14]], [[25, 47], [25, 47], [36, 58]]],
            [[[20, 9], [31, 9], [31, 12]], [[20, 42], [31, 53], [31, 53]]],
        ]
    ]
    picked = np.take_along_axis(X3.reshape(2, -1), idx.numpy().reshape(2, -1), 1)
    np.testing.assert_array_equal(picked.reshape(vals.shape), vals.numpy())
    unbatched = F.adaptive_max_pool3d(dm.tensor(X3[0]), (2, 3, 2), return_indices=True)
    assert unbatched[1].shape == (2, 2, 3, 2)


def test_max_unpool3d_inverts_max_pool3d() -> None:
    vals, idx = F.max_pool3d(dm.tensor(X3), 2, return_indices=True)
    out = dm.nn.MaxUnpool3d(2)(vals, idx, output_size=(3, 4, 5))
    assert out.shape == (1, 2, 3, 4, 5)
    assert np.flatnonzero(out.numpy()).tolist() == [3, 17, 25, 36, 72, 80, 83, 91]
    assert repr(dm.nn.MaxUnpool3d(2, stride=(1, 2, 2))) == (
        "MaxUnpool3d(kernel_size=(2, 2, 2), stride=(1, 2, 2), padding=(0, 0, 0))"
    )
    with pytest.raises(ValueError, match="output_size"):
        dm.nn.MaxUnpool3d(2)(vals, idx, output_size=(9, 4, 5))


def _np_conv2d_same(x: np.ndarray, w: np.ndarray, dilation: tuple[int, int]) -> np.ndarray:
    """Reference ``padding="same"``: total padding ``d * (k - 1)`` per axis, the odd extra
    element on the bottom/right (PyTorch's rule), then a valid cross-correlation."""
    (dh, dw), (kh, kw) = dilation, w.shape[2:]
    th, tw = dh * (kh - 1), dw * (kw - 1)
    xp = np.pad(x, ((0, 0), (0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2)))
    h, wd = x.shape[2], x.shape[3]
    out = np.zeros((x.shape[0], w.shape[0], h, wd))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dh : i * dh + h, j * dw : j * dw + wd]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out


@pytest.mark.parametrize(
    ("kernel_size", "dilation"), [(4, 1), ((4, 3), (1, 3)), ((3, 2), (2, 1)), (2, 1)]
)
def test_conv2d_same_padding_with_an_even_effective_kernel(
    kernel_size: object, dilation: object
) -> None:
    # Tutorial U-Nets use Conv2d(..., kernel_size=4, padding="same"); PyTorch pads the odd
    # extra zero on the bottom/right.
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 6)).astype(np.float32)
    conv = dm.nn.Conv2d(3, 4, kernel_size, padding="same", dilation=dilation, bias=False)
    want = _np_conv2d_same(x, conv.weight.detach().numpy(), conv.dilation)
    got = conv(dm.tensor(x))
    assert got.shape == (2, 4, 5, 6)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-4, atol=1e-5)
    unbatched = conv(dm.tensor(x[0]))
    np.testing.assert_allclose(unbatched.detach().numpy(), want[0], rtol=1e-4, atol=1e-5)


# ``((arange * 5) % 13 - 6)``: integer values with ties; samples fix the pseudo-random windows.
X_FMP = (((np.arange(126) * 5) % 13) - 6).reshape(1, 2, 7, 9).astype(np.float32)
SAMPLES_FMP = np.array([[[0.3, 0.8], [0.95, 0.05]]], dtype=np.float32)
FMP2_VALS = [
    [
        [[5, 4, 6, 6, 3], [6, 3, 5, 5, 2], [5, 2, 6, 4, 6], [4, 6, 5, 3, 5]],
        [[3, 5, 4, 2, 6], [3, 6, 3, 2, 5], [2, 5, 2, 6, 4], [6, 4, 6, 6, 3]],
    ]
]
FMP2_IDX = [
    [
        [[10, 2, 5, 5, 7], [18, 20, 23, 23, 25], [36, 38, 31, 41, 44], [54, 57, 49, 59, 62]],
        [[9, 12, 4, 14, 7], [9, 20, 22, 14, 25], [27, 38, 40, 33, 43], [46, 56, 59, 59, 61]],
    ]
]


def test_fractional_max_pool2d_matches_torch() -> None:
    x = dm.tensor(X_FMP, requires_grad=True)
    samples = dm.tensor(SAMPLES_FMP)
    vals, idx = F.fractional_max_pool2d(
        x, 2, output_size=(4, 5), return_indices=True, _random_samples=samples
    )
    assert vals.detach().numpy().tolist() == FMP2_VALS
    assert idx.numpy().tolist() == FMP2_IDX
    vals.sum().backward()  # overlapping windows may pick one position twice
    want = np.zeros((2, 63))
    for c in range(2):
        np.add.at(want[c], np.asarray(FMP2_IDX)[0, c].ravel(), 1.0)
    np.testing.assert_array_equal(x.grad.numpy().reshape(2, 63), want)
    layer = dm.nn.FractionalMaxPool2d(2, output_size=(4, 5), _random_samples=samples)
    assert layer(dm.tensor(X_FMP)).numpy().tolist() == FMP2_VALS
    # Unbatched input reads the same windows.
    one = F.fractional_max_pool2d(dm.tensor(X_FMP[0]), 2, (4, 5), _random_samples=samples)
    assert one.numpy().tolist() == FMP2_VALS[0]


def test_fractional_max_pool3d_matches_torch() -> None:
    x = (((np.arange(420) * 5) % 13) - 6).reshape(1, 2, 5, 6, 7).astype(np.float32)
    samples = dm.tensor(np.array([[[0.3, 0.8, 0.5], [0.95, 0.05, 0.6]]], dtype=np.float32))
    layer = dm.nn.FractionalMaxPool3d(
        (2, 2, 3), output_size=(3, 4, 3), return_indices=True, _random_samples=samples
    )
    vals, idx = layer(dm.tensor(x))
    assert idx.numpy().tolist() == [
        [
            [
                [[44, 44, 5], [57, 18, 18], [57, 18, 18], [70, 31, 83]],
                [[44, 44, 96], [57, 101, 96], [57, 109, 109], [70, 122, 83]],
                [[135, 135, 174], [135, 135, 187], [148, 192, 187], [161, 200, 200]],
            ],
            [
                [[42, 3, 55], [16, 16, 55], [16, 16, 68], [29, 81, 81]],
                [[42, 94, 55], [99, 94, 55], [107, 107, 68], [120, 81, 81]],
                [[133, 172, 172], [133, 185, 146], [190, 185, 146], [198, 198, 159]],
            ],
        ]
    ]
    picked = np.take_along_axis(x.reshape(2, -1), idx.numpy().reshape(2, -1), 1)
    np.testing.assert_array_equal(vals.numpy().reshape(2, -1), picked)


def test_fractional_max_pool_sizes_and_errors() -> None:
    x = dm.randn(2, 3, 11, 13)
    assert dm.nn.FractionalMaxPool2d(3, output_ratio=0.5)(x).shape == (2, 3, 5, 6)
    assert repr(dm.nn.FractionalMaxPool2d(3, output_ratio=0.5)) == "FractionalMaxPool2d()"
    with pytest.raises(ValueError, match="either an output size"):
        dm.nn.FractionalMaxPool2d(3)
    with pytest.raises(ValueError, match="only one of"):
        dm.nn.FractionalMaxPool2d(3, output_size=3, output_ratio=0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        dm.nn.FractionalMaxPool2d(3, output_ratio=1.5)
    with pytest.raises(ShapeError, match="too large"):
        F.fractional_max_pool2d(x, 3, output_size=11)
    with pytest.raises(ShapeError, match="_random_samples"):
        F.fractional_max_pool2d(x, 2, output_size=4, _random_samples=dm.rand(1, 3, 2))


def test_group_norm_names_a_channel_count_that_does_not_match_its_weight():
    with pytest.raises(
        dm.ShapeError, match=r"weight of shape \[6\] and input of shape \[1, 4, 2, 2\]"
    ):
        dm.nn.GroupNorm(2, 6)(dm.randn(1, 4, 2, 2))
