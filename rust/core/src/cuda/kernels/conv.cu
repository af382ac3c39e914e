// im2col / col2im for convolution as GEMM (matmul through cuBLAS on the host side). The
// column matrix of sample b and group g is [C/groups * kh * kw, Ho * Wo], rows ordered
// (channel, ki, kj) as in ops/nn/conv.rs; col2im gathers (no atomics, deterministic).
#include "common.cuh"

// Mirrors `cuda::launch::ConvGeom` (repr(C)): batch n, channels c of one group (c = C/groups),
// groups, input h/w, kernel, stride, padding, dilation and output ho/wo.
struct ConvGeom {
    int n, c, groups, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo;
};

// x: [n, groups * c, h, w]; col: [n, groups, c * kh * kw, ho * wo].
template <class T> __device__ void im2col(ConvGeom g, const T* x, T* col) {
    const long long cols = (long long)g.ho * g.wo;
    const long long krows = (long long)g.c * g.kh * g.kw;
    const long long total = (long long)g.n * g.groups * krows * cols;
    DM_GRID_LOOP(i, total) {
        const long long p = i % cols, row = (i / cols) % krows, bg = i / (cols * krows);
        const int oy = (int)(p / g.wo), ox = (int)(p % g.wo);
        const int kj = (int)(row % g.kw), ki = (int)((row / g.kw) % g.kh), ci = (int)(row / (g.kw * g.kh));
        const int iy = oy * g.sh + ki * g.dh - g.ph, ix = ox * g.sw + kj * g.dw - g.pw;
        T v = Num<T>::store((typename Num<T>::acc)0);
        if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) v = x[((bg * g.c + ci) * g.h + iy) * g.w + ix];
        col[i] = v;
    }
}

// The adjoint of im2col: x[b, ch, iy, ix] = sum of the column entries that read it.
template <class T> __device__ void col2im(ConvGeom g, const T* col, T* x) {
    typedef typename Num<T>::acc A;
    const long long cols = (long long)g.ho * g.wo;
    const long long krows = (long long)g.c * g.kh * g.kw;
    const long long total = (long long)g.n * g.groups * g.c * g.h * g.w;
    DM_GRID_LOOP(i, total) {
        const int ix = (int)(i % g.w), iy = (int)((i / g.w) % g.h);
        const long long plane = i / ((long long)g.h * g.w);  // (b * groups + grp) * c + ci
        const int ci = (int)(plane % g.c);
        const long long bg = plane / g.c;
        A s = 0;
        for (int ki = 0; ki < g.kh; ++ki) {
            const int ty = iy + g.ph - ki * g.dh;
            if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.ho) continue;
            for (int kj = 0; kj < g.kw; ++kj) {
                const int tx = ix + g.pw - kj * g.dw;
                if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.wo) continue;
                const long long row = ((long long)ci * g.kh + ki) * g.kw + kj;
                s += Num<T>::load(col[(bg * krows + row) * cols + (ty / g.sh) * g.wo + tx / g.sw]);
            }
        }
        x[i] = Num<T>::store(s);
    }
}

#define DM_CONV_KERNELS(S, T)                                                                \
    extern "C" __global__ void im2col_##S(ConvGeom g, const T* x, T* col) { im2col<T>(g, x, col); } \
    extern "C" __global__ void col2im_##S(ConvGeom g, const T* col, T* x) { col2im<T>(g, col, x); }
DM_CONV_KERNELS(f32, float)
DM_CONV_KERNELS(f64, double)
DM_CONV_KERNELS(f16, dm_f16)
DM_CONV_KERNELS(bf16, dm_bf16)
