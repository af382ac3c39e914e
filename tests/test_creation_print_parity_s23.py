"""Tensor creation, dtype inference and printing against PyTorch (session 23 sweep).

Every expected value and string below was produced by PyTorch 2.x for the same expression
(``torch.`` written as ``democratising.`` in the dtype suffixes) and checked against
democratising side by side; the expressions are evaluated with ``T`` bound to the package.
"""

from __future__ import annotations

import array
import math
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising._format import get_printoptions

REPRS = [
    ("T.tensor([1.5, 2.25, -3.0])", "tensor([ 1.5000,  2.2500, -3.0000])"),
    ("T.tensor([1., 2., 3.])", "tensor([1., 2., 3.])"),
    ("T.tensor(2.5)", "tensor(2.5000)"),
    ("T.tensor(3.)", "tensor(3.)"),
    ("T.tensor([])", "tensor([])"),
    ("T.zeros(0, 3)", "tensor([], size=(0, 3))"),
    ("T.zeros(2, 0, dtype=T.int64)", "tensor([], size=(2, 0), dtype=democratising.int64)"),
    ("T.tensor([], dtype=T.int64)", "tensor([], dtype=democratising.int64)"),
    ("T.tensor([], dtype=T.bool)", "tensor([], dtype=democratising.bool)"),
    ("T.tensor([1e-5, 1.0])", "tensor([1.0000e-05, 1.0000e+00])"),
    ("T.tensor([1e9, 1.0])", "tensor([1.0000e+09, 1.0000e+00])"),
    ("T.tensor([0.1, 1000.])", "tensor([1.0000e-01, 1.0000e+03])"),
    ("T.tensor([0.1, 100.])", "tensor([  0.1000, 100.0000])"),
    ("T.tensor([-0.0, 0.0])", "tensor([-0., 0.])"),
    ("T.tensor([-0.0, 1.5])", "tensor([-0.0000, 1.5000])"),
    ("T.tensor(-0.0)", "tensor(-0.)"),
    (
        "T.tensor([float('nan'), 1.5, float('inf'), -float('inf')])",
        "tensor([   nan, 1.5000,    inf,   -inf])",
    ),
    ("T.tensor([float('nan'), 1., float('inf')])", "tensor([nan, 1., inf])"),
    ("T.tensor([float('inf'), -float('inf')])", "tensor([inf, -inf])"),
    (
        "T.tensor([1e20, -1e20], dtype=T.float64)",
        "tensor([ 1.0000e+20, -1.0000e+20], dtype=democratising.float64)",
    ),
    ("T.tensor([123456.789, 0.001])", "tensor([1.2346e+05, 1.0000e-03])"),
    (
        "T.tensor([1/3, 2/3], dtype=T.float64)",
        "tensor([0.3333, 0.6667], dtype=democratising.float64)",
    ),
    (
        "T.tensor([65504., 1.], dtype=T.float16)",
        "tensor([6.5504e+04, 1.0000e+00], dtype=democratising.float16)",
    ),
    (
        "T.tensor([0.1, 0.2], dtype=T.float16)",
        "tensor([0.1000, 0.2000], dtype=democratising.float16)",
    ),
    (
        "T.tensor([0.1, 1e6], dtype=T.bfloat16)",
        "tensor([1.0010e-01, 9.9942e+05], dtype=democratising.bfloat16)",
    ),
    (
        "T.tensor([1.5, 2.], dtype=T.bfloat16)",
        "tensor([1.5000, 2.0000], dtype=democratising.bfloat16)",
    ),
    ("T.tensor(1., dtype=T.float64)", "tensor(1., dtype=democratising.float64)"),
    ("T.tensor([1, 0, 1], dtype=T.int32)", "tensor([1, 0, 1], dtype=democratising.int32)"),
    ("T.tensor([-5, 100, 2**40])", "tensor([           -5,           100, 1099511627776])"),
    ("T.tensor([True, False])", "tensor([ True, False])"),
    ("T.tensor(True)", "tensor(True)"),
    ("T.tensor(7)", "tensor(7)"),
    (
        "T.arange(2000.)",
        "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n"
        "        1.9990e+03])",
    ),
    ("T.arange(1001)", "tensor([   0,    1,    2,  ...,  998,  999, 1000])"),
    (
        "T.arange(10000).reshape(100, 100)",
        "tensor([[   0,    1,    2,  ...,   97,   98,   99],\n"
        "        [ 100,  101,  102,  ...,  197,  198,  199],\n"
        "        [ 200,  201,  202,  ...,  297,  298,  299],\n"
        "        ...,\n"
        "        [9700, 9701, 9702,  ..., 9797, 9798, 9799],\n"
        "        [9800, 9801, 9802,  ..., 9897, 9898, 9899],\n"
        "        [9900, 9901, 9902,  ..., 9997, 9998, 9999]])",
    ),
    (
        "T.arange(2 * 3 * 1001).reshape(2, 3, 1001)",
        "tensor([[[   0,    1,    2,  ...,  998,  999, 1000],\n"
        "         [1001, 1002, 1003,  ..., 1999, 2000, 2001],\n"
        "         [2002, 2003, 2004,  ..., 3000, 3001, 3002]],\n"
        "\n"
        "        [[3003, 3004, 3005,  ..., 4001, 4002, 4003],\n"
        "         [4004, 4005, 4006,  ..., 5002, 5003, 5004],\n"
        "         [5005, 5006, 5007,  ..., 6003, 6004, 6005]]])",
    ),
    (
        "T.arange(24.).reshape(2, 3, 4) / 7",
        "tensor([[[0.0000, 0.1429, 0.2857, 0.4286],\n"
        "         [0.5714, 0.7143, 0.8571, 1.0000],\n"
        "         [1.1429, 1.2857, 1.4286, 1.5714]],\n"
        "\n"
        "        [[1.7143, 1.8571, 2.0000, 2.1429],\n"
        "         [2.2857, 2.4286, 2.5714, 2.7143],\n"
        "         [2.8571, 3.0000, 3.1429, 3.2857]]])",
    ),
    (
        "T.arange(30.).reshape(5, 6)",
        "tensor([[ 0.,  1.,  2.,  3.,  4.,  5.],\n"
        "        [ 6.,  7.,  8.,  9., 10., 11.],\n"
        "        [12., 13., 14., 15., 16., 17.],\n"
        "        [18., 19., 20., 21., 22., 23.],\n"
        "        [24., 25., 26., 27., 28., 29.]])",
    ),
    ("T.ones(2, requires_grad=True)", "tensor([1., 1.], requires_grad=True)"),
    (
        "T.tensor(1., dtype=T.float64, requires_grad=True)",
        "tensor(1., dtype=democratising.float64, requires_grad=True)",
    ),
    ("T.zeros(3, 0, requires_grad=True)", "tensor([], size=(3, 0), requires_grad=True)"),
    ("T.tensor([1.0000001], dtype=T.float64)", "tensor([1.0000], dtype=democratising.float64)"),
    ("T.tensor([5e-324], dtype=T.float64)", "tensor([4.9407e-324], dtype=democratising.float64)"),
    ("T.tensor([1e8, 1.])", "tensor([1.0000e+08, 1.0000e+00])"),
    ("T.tensor([99999999., 1.])", "tensor([1.0000e+08, 1.0000e+00])"),
    ("T.tensor([0.0001, 1.])", "tensor([1.0000e-04, 1.0000e+00])"),
    ("T.tensor([12345678.])", "tensor([12345678.])"),
    (
        "T.linspace(-1e-3, 1e3, 7)",
        "tensor([-1.0000e-03,  1.6667e+02,  3.3333e+02,  5.0000e+02,  6.6667e+02,\n"
        "         8.3333e+02,  1.0000e+03])",
    ),
    ("T.tensor([1.123456789])", "tensor([1.1235])"),
    ("T.ones(3000, dtype=T.bool)", "tensor([True, True, True,  ..., True, True, True])"),
    ("T.nn.Parameter(T.ones(2))", "Parameter containing:\ntensor([1., 1.], requires_grad=True)"),
    (
        "T.nn.Parameter(T.tensor([1., 2.], dtype=T.float64))",
        "Parameter containing:\ntensor([1., 2.], dtype=democratising.float64, requires_grad=True)",
    ),
    ("T.nn.Parameter(T.ones(2), requires_grad=False)", "Parameter containing:\ntensor([1., 1.])"),
    (
        "T.nn.Sequential(T.nn.Linear(2, 3), T.nn.ReLU(), T.nn.Sequential(T.nn.Linear(3, 1), "
        "T.nn.Sigmoid()))",
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Linear(in_features=3, out_features=1, bias=True)\n"
        "    (1): Sigmoid()\n"
        "  )\n"
        ")",
    ),
    (
        "T.nn.ModuleDict({'a': T.nn.ReLU(), 'b': T.nn.Linear(1, 2, bias=False)})",
        "ModuleDict(\n  (a): ReLU()\n  (b): Linear(in_features=1, out_features=2, bias=False)\n)",
    ),
    (
        "T.nn.Conv2d(3, 8, 3, stride=2, padding=1)",
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))",
    ),
    (
        "T.nn.Sequential(T.nn.Linear(2, 2), T.nn.Linear(2, 2), T.nn.Linear(2, 2), T.nn.ReLU())",
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=2, bias=True)\n"
        "  (1): Linear(in_features=2, out_features=2, bias=True)\n"
        "  (2): Linear(in_features=2, out_features=2, bias=True)\n"
        "  (3): ReLU()\n"
        ")",
    ),
]

OPTION_REPRS = [
    ({"precision": 2}, "T.tensor([1.123456789, 2.5])", "tensor([1.12, 2.50])"),
    (
        {"precision": 2},
        "T.arange(30.).reshape(5, 6) / 7",
        "tensor([[0.00, 0.14, 0.29, 0.43, 0.57, 0.71],\n"
        "        [0.86, 1.00, 1.14, 1.29, 1.43, 1.57],\n"
        "        [1.71, 1.86, 2.00, 2.14, 2.29, 2.43],\n"
        "        [2.57, 2.71, 2.86, 3.00, 3.14, 3.29],\n"
        "        [3.43, 3.57, 3.71, 3.86, 4.00, 4.14]])",
    ),
    (
        {"precision": 8},
        "T.tensor([1.123456789, 2.5], dtype=T.float64)",
        "tensor([1.12345679, 2.50000000], dtype=democratising.float64)",
    ),
    ({"sci_mode": True}, "T.tensor([1., 2.])", "tensor([1.0000e+00, 2.0000e+00])"),
    ({"sci_mode": True}, "T.tensor([123.456, 0.5])", "tensor([1.2346e+02, 5.0000e-01])"),
    ({"sci_mode": False}, "T.tensor([1e-5, 1.])", "tensor([0.0000, 1.0000])"),
    ({"sci_mode": False}, "T.tensor([1e10, 1.])", "tensor([10000000000.,           1.])"),
    ({"threshold": 5}, "T.arange(10)", "tensor([0, 1, 2,  ..., 7, 8, 9])"),
    (
        {"threshold": 5},
        "T.arange(8.).reshape(2, 2, 2)",
        "tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])",
    ),
    (
        {"edgeitems": 1, "threshold": 5},
        "T.arange(40.).reshape(2, 20) / 3",
        "tensor([[ 0.0000,  ...,  6.3333],\n        [ 6.6667,  ..., 13.0000]])",
    ),
    ({"edgeitems": 0, "threshold": 5}, "T.arange(10)", "tensor([...], size=(10,))"),
    (
        {"linewidth": 30},
        "T.arange(20.) * 1000",
        "tensor([    0.,  1000.,\n"
        "         2000.,  3000.,\n"
        "         4000.,  5000.,\n"
        "         6000.,  7000.,\n"
        "         8000.,  9000.,\n"
        "        10000., 11000.,\n"
        "        12000., 13000.,\n"
        "        14000., 15000.,\n"
        "        16000., 17000.,\n"
        "        18000., 19000.])",
    ),
    (
        {"profile": "short"},
        "T.arange(30.).reshape(5, 6) / 7",
        "tensor([[0.00, 0.14, 0.29, 0.43, 0.57, 0.71],\n"
        "        [0.86, 1.00, 1.14, 1.29, 1.43, 1.57],\n"
        "        [1.71, 1.86, 2.00, 2.14, 2.29, 2.43],\n"
        "        [2.57, 2.71, 2.86, 3.00, 3.14, 3.29],\n"
        "        [3.43, 3.57, 3.71, 3.86, 4.00, 4.14]])",
    ),
    (
        {"profile": "short"},
        "T.arange(2000.)",
        "tensor([0.00e+00, 1.00e+00,  ..., 2.00e+03, 2.00e+03])",
    ),
    (
        {"profile": "full"},
        "T.arange(1100)",
        "tensor([   0,    1,    2,    3,    4,    5,    6,    7,    8,    9,   10,   11,\n"
        "          12,   13,   14,   15,   16,   17,   18,   19,   20,   21,   22,   23,\n"
        "          24,   25,   26,   27,   28,   29,   30,   31,   32,   33,   34,   35,\n"
        "          36,   37,   38,   39,   40,   41,   42,   43,   44,   45,   46,   47,\n"
        "          48,   49,   50,   51,   52,   53,   54,   55,   56,   57,   58,   59,\n"
        "          60,   61,   62,   63,   64,   65,   66,   67,   68,   69,   70,   71,\n"
        "          72,   73,   74,   75,   76,   77,   78,   79,   80,   81,   82,   83,\n"
        "          84,   85,   86,   87,   88,   89,   90,   91,   92,   93,   94,   95,\n"
        "          96,   97,   98,   99,  100,  101,  102,  103,  104,  105,  106,  107,\n"
        "         108,  109,  110,  111,  112,  113,  114,  115,  116,  117,  118,  119,\n"
        "         120,  121,  122,  123,  124,  125,  126,  127,  128,  129,  130,  131,\n"
        "         132,  133,  134,  135,  136,  137,  138,  139,  140,  141,  142,  143,\n"
        "         144,  145,  146,  147,  148,  149,  150,  151,  152,  153,  154,  155,\n"
        "         156,  157,  158,  159,  160,  161,  162,  163,  164,  165,  166,  167,\n"
        "         168,  169,  170,  171,  172,  173,  174,  175,  176,  177,  178,  179,\n"
        "         180,  181,  182,  183,  184,  185,  186,  187,  188,  189,  190,  191,\n"
        "         192,  193,  194,  195,  196,  197,  198,  199,  200,  201,  202,  203,\n"
        "         204,  205,  206,  207,  208,  209,  210,  211,  212,  213,  214,  215,\n"
        "         216,  217,  218,  219,  220,  221,  222,  223,  224,  225,  226,  227,\n"
        "         228,  229,  230,  231,  232,  233,  234,  235,  236,  237,  238,  239,\n"
        "         240,  241,  242,  243,  244,  245,  246,  247,  248,  249,  250,  251,\n"
        "         252,  253,  254,  255,  256,  257,  258,  259,  260,  261,  262,  263,\n"
        "         264,  265,  266,  267,  268,  269,  270,  271,  272,  273,  274,  275,\n"
        "         276,  277,  278,  279,  280,  281,  282,  283,  284,  285,  286,  287,\n"
        "         288,  289,  290,  291,  292,  293,  294,  295,  296,  297,  298,  299,\n"
        "         300,  301,  302,  303,  304,  305,  306,  307,  308,  309,  310,  311,\n"
        "         312,  313,  314,  315,  316,  317,  318,  319,  320,  321,  322,  323,\n"
        "         324,  325,  326,  327,  328,  329,  330,  331,  332,  333,  334,  335,\n"
        "         336,  337,  338,  339,  340,  341,  342,  343,  344,  345,  346,  347,\n"
        "         348,  349,  350,  351,  352,  353,  354,  355,  356,  357,  358,  359,\n"
        "         360,  361,  362,  363,  364,  365,  366,  367,  368,  369,  370,  371,\n"
        "         372,  373,  374,  375,  376,  377,  378,  379,  380,  381,  382,  383,\n"
        "         384,  385,  386,  387,  388,  389,  390,  391,  392,  393,  394,  395,\n"
        "         396,  397,  398,  399,  400,  401,  402,  403,  404,  405,  406,  407,\n"
        "         408,  409,  410,  411,  412,  413,  414,  415,  416,  417,  418,  419,\n"
        "         420,  421,  422,  423,  424,  425,  426,  427,  428,  429,  430,  431,\n"
        "         432,  433,  434,  435,  436,  437,  438,  439,  440,  441,  442,  443,\n"
        "         444,  445,  446,  447,  448,  449,  450,  451,  452,  453,  454,  455,\n"
        "         456,  457,  458,  459,  460,  461,  462,  463,  464,  465,  466,  467,\n"
        "         468,  469,  470,  471,  472,  473,  474,  475,  476,  477,  478,  479,\n"
        "         480,  481,  482,  483,  484,  485,  486,  487,  488,  489,  490,  491,\n"
        "         492,  493,  494,  495,  496,  497,  498,  499,  500,  501,  502,  503,\n"
        "         504,  505,  506,  507,  508,  509,  510,  511,  512,  513,  514,  515,\n"
        "         516,  517,  518,  519,  520,  521,  522,  523,  524,  525,  526,  527,\n"
        "         528,  529,  530,  531,  532,  533,  534,  535,  536,  537,  538,  539,\n"
        "         540,  541,  542,  543,  544,  545,  546,  547,  548,  549,  550,  551,\n"
        "         552,  553,  554,  555,  556,  557,  558,  559,  560,  561,  562,  563,\n"
        "         564,  565,  566,  567,  568,  569,  570,  571,  572,  573,  574,  575,\n"
        "         576,  577,  578,  579,  580,  581,  582,  583,  584,  585,  586,  587,\n"
        "         588,  589,  590,  591,  592,  593,  594,  595,  596,  597,  598,  599,\n"
        "         600,  601,  602,  603,  604,  605,  606,  607,  608,  609,  610,  611,\n"
        "         612,  613,  614,  615,  616,  617,  618,  619,  620,  621,  622,  623,\n"
        "         624,  625,  626,  627,  628,  629,  630,  631,  632,  633,  634,  635,\n"
        "         636,  637,  638,  639,  640,  641,  642,  643,  644,  645,  646,  647,\n"
        "         648,  649,  650,  651,  652,  653,  654,  655,  656,  657,  658,  659,\n"
        "         660,  661,  662,  663,  664,  665,  666,  667,  668,  669,  670,  671,\n"
        "         672,  673,  674,  675,  676,  677,  678,  679,  680,  681,  682,  683,\n"
        "         684,  685,  686,  687,  688,  689,  690,  691,  692,  693,  694,  695,\n"
        "         696,  697,  698,  699,  700,  701,  702,  703,  704,  705,  706,  707,\n"
        "         708,  709,  710,  711,  712,  713,  714,  715,  716,  717,  718,  719,\n"
        "         720,  721,  722,  723,  724,  725,  726,  727,  728,  729,  730,  731,\n"
        "         732,  733,  734,  735,  736,  737,  738,  739,  740,  741,  742,  743,\n"
        "         744,  745,  746,  747,  748,  749,  750,  751,  752,  753,  754,  755,\n"
        "         756,  757,  758,  759,  760,  761,  762,  763,  764,  765,  766,  767,\n"
        "         768,  769,  770,  771,  772,  773,  774,  775,  776,  777,  778,  779,\n"
        "         780,  781,  782,  783,  784,  785,  786,  787,  788,  789,  790,  791,\n"
        "         792,  793,  794,  795,  796,  797,  798,  799,  800,  801,  802,  803,\n"
        "         804,  805,  806,  807,  808,  809,  810,  811,  812,  813,  814,  815,\n"
        "         816,  817,  818,  819,  820,  821,  822,  823,  824,  825,  826,  827,\n"
        "         828,  829,  830,  831,  832,  833,  834,  835,  836,  837,  838,  839,\n"
        "         840,  841,  842,  843,  844,  845,  846,  847,  848,  849,  850,  851,\n"
        "         852,  853,  854,  855,  856,  857,  858,  859,  860,  861,  862,  863,\n"
        "         864,  865,  866,  867,  868,  869,  870,  871,  872,  873,  874,  875,\n"
        "         876,  877,  878,  879,  880,  881,  882,  883,  884,  885,  886,  887,\n"
        "         888,  889,  890,  891,  892,  893,  894,  895,  896,  897,  898,  899,\n"
        "         900,  901,  902,  903,  904,  905,  906,  907,  908,  909,  910,  911,\n"
        "         912,  913,  914,  915,  916,  917,  918,  919,  920,  921,  922,  923,\n"
        "         924,  925,  926,  927,  928,  929,  930,  931,  932,  933,  934,  935,\n"
        "         936,  937,  938,  939,  940,  941,  942,  943,  944,  945,  946,  947,\n"
        "         948,  949,  950,  951,  952,  953,  954,  955,  956,  957,  958,  959,\n"
        "         960,  961,  962,  963,  964,  965,  966,  967,  968,  969,  970,  971,\n"
        "         972,  973,  974,  975,  976,  977,  978,  979,  980,  981,  982,  983,\n"
        "         984,  985,  986,  987,  988,  989,  990,  991,  992,  993,  994,  995,\n"
        "         996,  997,  998,  999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007,\n"
        "        1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015, 1016, 1017, 1018, 1019,\n"
        "        1020, 1021, 1022, 1023, 1024, 1025, 1026, 1027, 1028, 1029, 1030, 1031,\n"
        "        1032, 1033, 1034, 1035, 1036, 1037, 1038, 1039, 1040, 1041, 1042, 1043,\n"
        "        1044, 1045, 1046, 1047, 1048, 1049, 1050, 1051, 1052, 1053, 1054, 1055,\n"
        "        1056, 1057, 1058, 1059, 1060, 1061, 1062, 1063, 1064, 1065, 1066, 1067,\n"
        "        1068, 1069, 1070, 1071, 1072, 1073, 1074, 1075, 1076, 1077, 1078, 1079,\n"
        "        1080, 1081, 1082, 1083, 1084, 1085, 1086, 1087, 1088, 1089, 1090, 1091,\n"
        "        1092, 1093, 1094, 1095, 1096, 1097, 1098, 1099])",
    ),
    ({"precision": 0}, "T.tensor([1.5, 2.25])", "tensor([2, 2])"),
]

VALUES = [
    ("T.full((2,), 3)", ((2,), "int64", [3, 3])),
    ("T.full((2,), True)", ((2,), "bool", [True, True])),
    ("T.full((2,), 3.5)", ((2,), "float32", [3.5, 3.5])),
    ("T.full((), 2)", ((), "int64", 2)),
    (
        "T.arange(0, 1, 0.1)",
        (
            (10,),
            "float32",
            [
                0.0,
                0.10000000149011612,
                0.20000000298023224,
                0.30000001192092896,
                0.4000000059604645,
                0.5,
                0.6000000238418579,
                0.699999988079071,
                0.800000011920929,
                0.8999999761581421,
            ],
        ),
    ),
    ("T.arange(1, 2.5, 0.5)", ((3,), "float32", [1.0, 1.5, 2.0])),
    ("T.arange(5, 0, -1.5)", ((4,), "float32", [5.0, 3.5, 2.0, 0.5])),
    ("T.arange(0, -3, -1)", ((3,), "int64", [0, -1, -2])),
    ("T.arange(0.5, 3)", ((3,), "float32", [0.5, 1.5, 2.5])),
    ("T.arange(0, 3.5, dtype=T.int64)", ((4,), "int64", [0, 1, 2, 3])),
    (
        "T.arange(0, 1.1, 0.1)",
        (
            (11,),
            "float32",
            [
                0.0,
                0.10000000149011612,
                0.20000000298023224,
                0.30000001192092896,
                0.4000000059604645,
                0.5,
                0.6000000238418579,
                0.699999988079071,
                0.800000011920929,
                0.8999999761581421,
                1.0,
            ],
        ),
    ),
    ("T.arange(0, 6, 2.0)", ((3,), "float32", [0.0, 2.0, 4.0])),
    ("T.linspace(0, 1, 1)", ((1,), "float32", [0.0])),
    ("T.linspace(0, 1, 0)", ((0,), "float32", [])),
    ("T.linspace(0, 10, 5, dtype=T.int64)", ((5,), "int64", [0, 2, 5, 7, 10])),
    ("T.linspace(0, -10, 4, dtype=T.int64)", ((4,), "int64", [0, -3, -6, -10])),
    ("T.logspace(0, 3, 4, base=2, dtype=T.int32)", ((4,), "int32", [1, 2, 4, 8])),
    ("T.eye(2, 3)", ((2, 3), "float32", [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])),
    ("T.eye(0)", ((0, 0), "float32", [])),
    ("T.tensor([])", ((0,), "float32", [])),
    ("T.tensor([[], []])", ((2, 0), "float32", [[], []])),
    ("T.tensor(3)", ((), "int64", 3)),
    ("T.tensor([True, 2])", ((2,), "int64", [1, 2])),
    ("T.tensor([True, 2.5])", ((2,), "float32", [1.0, 2.5])),
    ("T.tensor([[1, 2], [3.0, 4]])", ((2, 2), "float32", [[1.0, 2.0], [3.0, 4.0]])),
    ("T.tensor([T.tensor(1.5), T.tensor(2)])", ((2,), "float32", [1.5, 2.0])),
    ("T.tensor([np.float64(1), 2])", ((2,), "float64", [1.0, 2.0])),
    ("T.tensor([np.int32(1), 2])", ((2,), "int64", [1, 2])),
    (
        "T.tensor([np.array([1., 2], dtype=np.float32), np.array([3, 4], dtype=np.float32)])",
        ((2, 2), "float32", [[1.0, 2.0], [3.0, 4.0]]),
    ),
    ("T.tensor(np.float32(1.5))", ((), "float32", 1.5)),
    ("T.tensor(np.bool_(True))", ((), "bool", True)),
    ("T.tensor([1.7, -1.7], dtype=T.int64)", ((2,), "int64", [1, -1])),
    ("T.tensor([0.0, 2], dtype=T.bool)", ((2,), "bool", [False, True])),
    ("T.tensor([T.tensor([1.]), T.tensor([2.])])", ((2,), "float32", [1.0, 2.0])),
    ("T.tensor([[T.tensor([1.])], [T.tensor([2.])]])", ((2, 1), "float32", [[1.0], [2.0]])),
    ("T.tensor([T.tensor([1.], dtype=T.float64), T.tensor(2.)])", ((2,), "float64", [1.0, 2.0])),
    ("T.tensor([T.tensor([True])])", ((1,), "bool", [True])),
    ("T.tensor([T.tensor([1.5]), 2])", ((2,), "float32", [1.5, 2.0])),
    ("T.tensor([T.tensor([[3]]), T.tensor([4], dtype=T.int32)])", ((2,), "int64", [3, 4])),
    ("T.zeros(2, out=T.empty(5, dtype=T.int64))", ((2,), "int64", [0, 0])),
    ("T.arange(0, 1, 0.5, out=T.empty(0, dtype=T.int64))", ((2,), "int64", [0, 0])),
    ("T.linspace(0, 1, 3, out=T.empty(0, dtype=T.int64))", ((3,), "int64", [0, 0, 1])),
    ("T.eye(2, 3, out=T.empty(1, dtype=T.int64))", ((2, 3), "int64", [[1, 0, 0], [0, 1, 0]])),
    ("T.full((2,), 3.5, out=T.empty(0, dtype=T.int64))", ((2,), "int64", [3, 3])),
    ("T.logspace(0, 2, 3, out=T.empty(0, dtype=T.int64))", ((3,), "int64", [1, 10, 100])),
    ("T.ones((2, 2), out=T.empty(7))", ((2, 2), "float32", [[1.0, 1.0], [1.0, 1.0]])),
    ("T.empty(3, out=T.empty(0, dtype=T.int32)).shape", (3,)),
    (
        "T.frombuffer(bytearray(b'\\x01\\x00\\x00\\x00\\x02\\x00\\x00\\x00'), dtype=T.int32)",
        ((2,), "int32", [1, 2]),
    ),
    ("T.frombuffer(b'\\x00\\x00\\x80\\x3f', dtype=T.float32)", ((1,), "float32", [1.0])),
    ("T.frombuffer(bytearray(8), dtype=T.float32, count=1)", ((1,), "float32", [0.0])),
    ("T.frombuffer(bytearray(8), dtype=T.float32, offset=4)", ((1,), "float32", [0.0])),
    (
        "T.frombuffer(bytearray(b'\\x80\\x3f\\x00\\xc0'), dtype=T.bfloat16)",
        ((2,), "bfloat16", [1.0, -2.0]),
    ),
    (
        "T.frombuffer(bytearray(b'\\x01\\x00\\x02'), dtype=T.bool)",
        ((3,), "bool", [True, False, True]),
    ),
    ("T.frombuffer(bytearray(16), dtype=T.float64, offset=8, count=1)", ((1,), "float64", [0.0])),
    ("T.asarray(array.array('f', [1, 2]))", ((2,), "float32", [1.0, 2.0])),
    ("T.asarray(array.array('i', [1, 2]))", ((2,), "int32", [1, 2])),
    ("T.asarray(bytearray(b'\\x00\\x00\\x80\\x3f'), dtype=T.float32)", ((1,), "float32", [1.0])),
]


def _eval(expr: str) -> Any:
    return eval(expr, {"T": dm, "np": np, "array": array, "math": math})


@pytest.fixture(autouse=True)
def _default_printing() -> Any:
    yield
    dm.set_printoptions(profile="default", sci_mode=None)
    dm.set_default_dtype(dm.float32)


@pytest.mark.parametrize(("expr", "want"), REPRS, ids=[e for e, _ in REPRS])
def test_repr_matches_torch(expr: str, want: str) -> None:
    dm.manual_seed(0)
    assert repr(_eval(expr)) == want


@pytest.mark.parametrize(("opts", "expr", "want"), OPTION_REPRS)
def test_repr_under_printoptions_matches_torch(opts: dict[str, Any], expr: str, want: str) -> None:
    dm.set_printoptions(**opts)
    assert repr(_eval(expr)) == want
    dm.set_printoptions(profile="default")
    assert get_printoptions()["precision"] == 4 and get_printoptions()["threshold"] == 1000


def test_str_is_repr_and_parameter_str() -> None:
    t = dm.tensor([1.5, 2.0])
    assert str(t) == repr(t) == "tensor([1.5000, 2.0000])"
    assert (
        str(dm.nn.Parameter(dm.ones(2)))
        == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    )


def test_dtype_suffix_follows_the_default_dtype() -> None:
    dm.set_default_dtype(dm.float64)
    assert repr(dm.tensor([1.5])) == "tensor([1.5000])"
    assert (
        repr(dm.tensor([1.5], dtype=dm.float32)) == "tensor([1.5000], dtype=democratising.float32)"
    )
    assert repr(dm.tensor([])) == "tensor([])"
    assert repr(dm.tensor([], dtype=dm.float32)) == "tensor([], dtype=democratising.float32)"
    dm.set_default_dtype(dm.float16)
    assert repr(dm.tensor([1.5])) == "tensor([1.5000])"
    assert (
        repr(dm.tensor([1.5], dtype=dm.float64)) == "tensor([1.5000], dtype=democratising.float64)"
    )


@pytest.mark.parametrize(("expr", "want"), VALUES, ids=[e for e, _ in VALUES])
def test_creation_matches_torch(expr: str, want: Any) -> None:
    got = _eval(expr)
    if isinstance(want[0], tuple):  # (shape, dtype name, values)
        assert (tuple(got.shape), got.dtype.name, got.tolist()) == want
    else:
        assert tuple(got) == want


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
def test_default_dtype_reaches_every_factory(dtype: str) -> None:
    d = getattr(dm, dtype)
    dm.set_default_dtype(d)
    floats = [
        dm.tensor([1.5]), dm.tensor(1.5), dm.tensor([True, 1.5]), dm.zeros(2), dm.ones(2),
        dm.empty(2), dm.full((2,), 1.5), dm.arange(3.0), dm.arange(0, 1, 0.25),
        dm.linspace(0, 1, 5), dm.logspace(0, 1, 3), dm.eye(2), dm.rand(2), dm.randn(2),
        dm.as_tensor([1.5]), dm.asarray([1.5]), dm.asarray(1.5), dm.tensor([1, 2]) / 2,
    ]  # fmt: skip
    assert [t.dtype for t in floats] == [d] * len(floats)
    ints = [dm.tensor([1, 2]), dm.full((2,), 1), dm.arange(3), dm.randint(3, (2,)), dm.randperm(3)]
    assert [t.dtype for t in ints] == [dm.int64] * len(ints)
    # (NumPy data and explicitly typed tensors keep their dtype)
    assert dm.tensor(np.float32(1.5)).dtype == dm.float32
    assert dm.tensor(np.array([1.5])).dtype == dm.float64
    assert dm.zeros_like(dm.ones(2, dtype=dm.float32)).dtype == dm.float32
    assert dm.arange(0, 1, 0.1).shape == (10,)


def test_factory_out_errors_match_torch() -> None:
    with pytest.raises(RuntimeError, match="does not match dtype of out"):
        dm.zeros(2, dtype=dm.float64, out=dm.empty(5))
    with pytest.raises(RuntimeError, match="automatic differentiation"):
        dm.ones(2, out=dm.empty(1, requires_grad=True))
    with pytest.raises(TypeError, match="must be Tensor"):
        dm.zeros(2, out=[1])
    leaf = dm.empty(1, requires_grad=True)
    with dm.no_grad():  # (allowed where no graph is recorded; the flag is dropped, as PyTorch's)
        assert dm.ones(2, out=leaf) is leaf and leaf.tolist() == [1.0, 1.0]
    assert not leaf.requires_grad
    out = dm.empty(0)
    assert dm.arange(4, out=out) is out and out.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert dm.ones(2, out=dm.empty(0), requires_grad=True).requires_grad


@pytest.mark.parametrize(
    "name",
    [
        "zeros_like",
        "ones_like",
        "empty_like",
        "rand_like",
        "randn_like",
        "full_like",
        "randint_like",
    ],
)
def test_like_factories_reject_non_tensors(name: str) -> None:
    args: tuple[Any, ...] = (3,) if name in ("full_like", "randint_like") else ()
    with pytest.raises(
        TypeError, match=f"{name}\\(\\): argument 'input' \\(position 1\\) must be Tensor, not list"
    ):
        getattr(dm, name)([1, 2], *args)


@pytest.mark.parametrize("data", [None, [None], [1, None], (x for x in range(2)), object()])
def test_tensor_of_uninferable_data_is_torch_runtime_error(data: Any) -> None:
    with pytest.raises(RuntimeError, match="could not infer dtype of"):
        dm.tensor(data)
    with pytest.raises(TypeError):  # (and still a TypeError, as before)
        dm.tensor([None])


def test_frombuffer_shares_memory_and_checks_bounds() -> None:
    buf = bytearray(8)
    t = dm.frombuffer(buf, dtype=dm.float32)
    t[0] = 1.0
    assert bytes(buf[:4]) == b"\x00\x00\x80\x3f"
    buf[4:8] = b"\x00\x00\x00\x40"
    assert t.tolist() == [1.0, 2.0]
    assert dm.frombuffer(buf, dtype=dm.float32, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="must be a multiple of element size"):
        dm.frombuffer(bytearray(7), dtype=dm.float32)
    with pytest.raises(ValueError, match="must not be 0"):
        dm.frombuffer(bytearray(0), dtype=dm.float32)
    with pytest.raises(ValueError, match="must not be 0"):
        dm.frombuffer(bytearray(8), dtype=dm.float32, count=0)
    with pytest.raises(ValueError, match="no greater than buffer length"):
        dm.frombuffer(bytearray(8), dtype=dm.float32, offset=8)
    with pytest.raises(ValueError, match="must not be greater than actual buffer length"):
        dm.frombuffer(bytearray(8), dtype=dm.float32, count=3)
    with pytest.raises(TypeError, match="buffer protocol"):
        dm.frombuffer([1, 2], dtype=dm.int32)
    assert dm.frombuffer(bytearray(8), dtype=dm.float32, count=-2).shape == (2,)


def test_asarray_of_a_buffer_shares_memory() -> None:
    buf = bytearray(8)
    t = dm.asarray(buf, dtype=dm.float32)
    buf[2:4] = b"\x80\x3f"
    assert t.tolist() == [1.0, 0.0]
    a = array.array("f", [1.0, 2.0])
    t = dm.asarray(a)
    a[0] = 7.0
    assert t.dtype == dm.float32 and t.tolist() == [7.0, 2.0]
    buf = bytearray(4)
    t = dm.asarray(buf, dtype=dm.int32, copy=True)
    buf[0] = 1
    assert t.tolist() == [0]


@pytest.mark.parametrize(
    "call",
    [
        lambda: dm.randint(10, (3,), dtype=dm.bool),
        lambda: dm.randint(-1, 1, (3,), dtype=dm.bool),
        lambda: dm.randint(2**40, (2,), dtype=dm.int32),
        lambda: dm.randint(-(2**31) - 1, 0, (2,), dtype=dm.int32),
        lambda: dm.randint(2**40, (2,), dtype=dm.float16),
        lambda: dm.randint(low=0, high=10, size=(2,), dtype=dm.bool),
        lambda: dm.randint(high=10, size=(2,), dtype=dm.bool),
        lambda: dm.randint(3, 10, size=(2,), dtype=dm.bool),
        lambda: dm.randint(10, (2,), out=dm.empty(0, dtype=dm.bool)),
        lambda: dm.randint_like(dm.ones(2, dtype=dm.bool), 10),
        lambda: dm.randint_like(dm.ones(2, dtype=dm.int32), 2**40),
    ],
)
def test_randint_bounds_the_dtype_cannot_hold_raise(call: Any) -> None:
    # (PyTorch: RuntimeError "to - 1 is out of bounds for bool"; the draws used to wrap)
    with pytest.raises(RuntimeError, match="out of bounds"):
        call()


def test_randint_bounds_the_dtype_holds_draw() -> None:
    assert set(dm.randint(0, 2, (64,), dtype=dm.bool).tolist()) <= {False, True}
    assert dm.randint(2**31, (2,), dtype=dm.int32).dtype == dm.int32
    assert dm.randint_like(dm.ones(2, dtype=dm.bool), 2).dtype == dm.bool
    assert dm.randint(-(2**31), -(2**31) + 1, (2,), dtype=dm.int32).tolist() == [-(2**31)] * 2
