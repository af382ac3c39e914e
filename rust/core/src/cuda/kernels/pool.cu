// 2-D max and average pooling over planes of [N*C, H, W], forward and backward, with the
// window rules of ops/nn/pool.rs (padding, dilation for max, ceil_mode handled by the host's
// output size, count_include_pad). The backward passes gather over the windows that cover
// each input element, so they need no atomics and are deterministic.
#include "common.cuh"

// Mirrors `cuda::launch::PoolGeom` (repr(C)).
struct PoolGeom {
    long long planes;
    int h, w, ho, wo, kh, kw, sh, sw, ph, pw, dh, dw, count_include_pad, pad_;
};

// Output rows/cols whose window can contain input coordinate i (window start o*s - p, taps at
// start + k*d): o in [lo, hi].
__device__ __forceinline__ void covering(int i, int k, int s, int p, int d, int out, int* lo,
                                         int* hi) {
    const int a = i + p - d * (k - 1);  // smallest start that still reaches i
    *lo = a <= 0 ? 0 : (a + s - 1) / s;
    const int b = (i + p) / s;
    *hi = b < out - 1 ? b : out - 1;
}

// idx: flat index (iy * w + ix) of each window's first maximum; -1 for an all-padding window.
template <class T> __device__ void max_pool_forward(PoolGeom g, const T* x, T* y, long long* idx) {
    typedef typename Num<T>::acc A;
    const long long total = g.planes * g.ho * g.wo;
    DM_GRID_LOOP(i, total) {
        const int ox = (int)(i % g.wo), oy = (int)((i / g.wo) % g.ho);
        const T* plane = x + (i / ((long long)g.ho * g.wo)) * g.h * g.w;
        A best = -dm_inf<A>();
        long long bi = -1;
        for (int ki = 0; ki < g.kh; ++ki) {
            const int iy = oy * g.sh + ki * g.dh - g.ph;
            if (iy < 0 || iy >= g.h) continue;
            for (int kj = 0; kj < g.kw; ++kj) {
                const int ix = ox * g.sw + kj * g.dw - g.pw;
                if (ix < 0 || ix >= g.w) continue;
                const A v = Num<T>::load(plane[iy * g.w + ix]);
                if (bi < 0 || v > best || dm_isnan(v)) {  // the last NaN wins, as in PyTorch
                    best = v;
                    bi = (long long)iy * g.w + ix;
                }
            }
        }
        y[i] = Num<T>::store(best);
        idx[i] = bi;
    }
}

template <class T>
__device__ void max_pool_backward(PoolGeom g, const T* gy, const long long* idx, T* gx) {
    typedef typename Num<T>::acc A;
    const long long total = g.planes * g.h * g.w;
    DM_GRID_LOOP(i, total) {
        const int ix = (int)(i % g.w), iy = (int)((i / g.w) % g.h);
        const long long pl = i / ((long long)g.h * g.w), self = (long long)iy * g.w + ix;
        int y0, y1, x0, x1;
        covering(iy, g.kh, g.sh, g.ph, g.dh, g.ho, &y0, &y1);
        covering(ix, g.kw, g.sw, g.pw, g.dw, g.wo, &x0, &x1);
        A s = 0;
        for (int oy = y0; oy <= y1; ++oy)
            for (int ox = x0; ox <= x1; ++ox) {
                const long long o = (pl * g.ho + oy) * g.wo + ox;
                if (idx[o] == self) s += Num<T>::load(gy[o]);
            }
        gx[i] = Num<T>::store(s);
    }
}

// Window [ys, ye) x [xs, xe) of output (oy, ox) clipped to the input, and its divisor.
__device__ __forceinline__ int avg_window(const PoolGeom& g, int oy, int ox, int* ys, int* ye,
                                          int* xs, int* xe) {
    const int y0 = oy * g.sh - g.ph, x0 = ox * g.sw - g.pw;
    const int y1 = (y0 + g.kh < g.h + g.ph) ? y0 + g.kh : g.h + g.ph;
    const int x1 = (x0 + g.kw < g.w + g.pw) ? x0 + g.kw : g.w + g.pw;
    const int pool = (y1 - y0) * (x1 - x0);
    *ys = y0 > 0 ? y0 : 0;
    *xs = x0 > 0 ? x0 : 0;
    *ye = y1 < g.h ? y1 : g.h;
    *xe = x1 < g.w ? x1 : g.w;
    return g.count_include_pad ? pool : (*ye - *ys) * (*xe - *xs);
}

template <class T> __device__ void avg_pool_forward(PoolGeom g, const T* x, T* y) {
    typedef typename Num<T>::acc A;
    const long long total = g.planes * g.ho * g.wo;
    DM_GRID_LOOP(i, total) {
        const int ox = (int)(i % g.wo), oy = (int)((i / g.wo) % g.ho);
        const T* plane = x + (i / ((long long)g.ho * g.wo)) * g.h * g.w;
        int ys, ye, xs, xe;
        const int div = avg_window(g, oy, ox, &ys, &ye, &xs, &xe);
        A s = 0;
        for (int iy = ys; iy < ye; ++iy)
            for (int ix = xs; ix < xe; ++ix) s += Num<T>::load(plane[iy * g.w + ix]);
        y[i] = Num<T>::store(s / (A)div);
    }
}

template <class T> __device__ void avg_pool_backward(PoolGeom g, const T* gy, T* gx) {
    typedef typename Num<T>::acc A;
    const long long total = g.planes * g.h * g.w;
    DM_GRID_LOOP(i, total) {
        const int ix = (int)(i % g.w), iy = (int)((i / g.w) % g.h);
        const long long pl = i / ((long long)g.h * g.w);
        int y0, y1, x0, x1;
        covering(iy, g.kh, g.sh, g.ph, 1, g.ho, &y0, &y1);
        covering(ix, g.kw, g.sw, g.pw, 1, g.wo, &x0, &x1);
        A s = 0;
        for (int oy = y0; oy <= y1; ++oy)
            for (int ox = x0; ox <= x1; ++ox) {
                int ys, ye, xs, xe;
                const int div = avg_window(g, oy, ox, &ys, &ye, &xs, &xe);
                if (iy < ys || iy >= ye || ix < xs || ix >= xe) continue;
                s += Num<T>::load(gy[(pl * g.ho + oy) * g.wo + ox]) / (A)div;
            }
        gx[i] = Num<T>::store(s);
    }
}

#define DM_POOL_KERNELS(S, T)                                                                   \
    extern "C" __global__ void max_pool2d_forward_##S(PoolGeom g, const T* x, T* y,             \
                                                      long long* idx) {                         \
        max_pool_forward<T>(g, x, y, idx);                                                      \
    }                                                                                           \
    extern "C" __global__ void max_pool2d_backward_##S(PoolGeom g, const T* gy,                 \
                                                       const long long* idx, T* gx) {           \
        max_pool_backward<T>(g, gy, idx, gx);                                                   \
    }                                                                                           \
    extern "C" __global__ void avg_pool2d_forward_##S(PoolGeom g, const T* x, T* y) {           \
        avg_pool_forward<T>(g, x, y);                                                           \
    }                                                                                           \
    extern "C" __global__ void avg_pool2d_backward_##S(PoolGeom g, const T* gy, T* gx) {        \
        avg_pool_backward<T>(g, gy, gx);                                                        \
    }
DM_POOL_KERNELS(f32, float)
DM_POOL_KERNELS(f64, double)
DM_POOL_KERNELS(f16, dm_f16)
DM_POOL_KERNELS(bf16, dm_bf16)
