// Layer norm over the last d elements of each row and batch norm over [N, C, inner], forward
// and backward, with the statistics and closed-form gradients of ops/nn/norm.rs. Means and
// inverse standard deviations are kept in the accumulation type (`Num<T>::acc`: float, or
// double for f64) so half-precision inputs lose nothing in the statistics.
#include "common.cuh"

// One block per row: y = (x - mean) * rstd * w + b; saves mean and rstd for the backward.
// Row r reads the affine row r % period of `w` and `b` ([period, d]: 1 for layer norm, the
// group count for group norm, whose per-channel weights are spread over their positions).
template <class T>
__device__ void layer_norm_forward(long long rows, long long d, long long period, const T* x,
                                   const T* w, const T* b, double eps, T* y,
                                   typename Num<T>::acc* mean, typename Num<T>::acc* rstd) {
    typedef typename Num<T>::acc A;
    DM_ROW_LOOP(r, rows) {
        const T* xr = x + r * d;
        const long long wo = (r % period) * d;
        A s = 0;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) s += Num<T>::load(xr[j]);
        const A m = block_sum(s) / (A)d;
        A ss = 0;  // two passes: the variance of x - m, not E[x^2] - m^2
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            const A c = Num<T>::load(xr[j]) - m;
            ss += c * c;
        }
        const A rs = (A)1 / dm_sqrt(block_sum(ss) / (A)d + (A)eps);
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            A v = (Num<T>::load(xr[j]) - m) * rs;
            if (w) v *= Num<T>::load(w[wo + j]);
            if (b) v += Num<T>::load(b[wo + j]);
            y[r * d + j] = Num<T>::store(v);
        }
        if (threadIdx.x == 0) {
            mean[r] = m;
            rstd[r] = rs;
        }
    }
}

// dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) with gw = g * w; one block per row
// (row r reads the weight row r % period, as the forward).
template <class T>
__device__ void layer_norm_backward(long long rows, long long d, long long period, const T* x,
                                    const T* w, const typename Num<T>::acc* mean,
                                    const typename Num<T>::acc* rstd, const T* g, T* dx) {
    typedef typename Num<T>::acc A;
    DM_ROW_LOOP(r, rows) {
        const T *xr = x + r * d, *gr = g + r * d;
        const T* wr = w ? w + (r % period) * d : w;
        const A m = mean[r], rs = rstd[r];
        A s1 = 0, s2 = 0;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            const A gw = Num<T>::load(gr[j]) * (wr ? Num<T>::load(wr[j]) : (A)1);
            s1 += gw;
            s2 += gw * (Num<T>::load(xr[j]) - m) * rs;
        }
        s1 = block_sum(s1);
        s2 = block_sum(s2);
        const A inv_d = (A)1 / (A)d;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            const A gw = Num<T>::load(gr[j]) * (wr ? Num<T>::load(wr[j]) : (A)1);
            const A xh = (Num<T>::load(xr[j]) - m) * rs;
            dx[r * d + j] = Num<T>::store(rs * (gw - inv_d * s1 - xh * inv_d * s2));
        }
    }
}

// dw[p, j] = sum g * xhat, db[p, j] = sum g over the rows r with r % period == p: one thread
// per column of the [period, d] gradients (coalesced across threads).
template <class T>
__device__ void layer_norm_backward_affine(long long rows, long long d, long long period,
                                           const T* x, const typename Num<T>::acc* mean,
                                           const typename Num<T>::acc* rstd, const T* g, T* dw,
                                           T* db) {
    typedef typename Num<T>::acc A;
    DM_GRID_LOOP(col, period * d) {
        const long long p = col / d, j = col % d;
        A sw = 0, sb = 0;
        for (long long r = p; r < rows; r += period) {
            const A gv = Num<T>::load(g[r * d + j]);
            sw += gv * (Num<T>::load(x[r * d + j]) - mean[r]) * rstd[r];
            sb += gv;
        }
        if (dw) dw[col] = Num<T>::store(sw);
        if (db) db[col] = Num<T>::store(sb);
    }
}

// One block per channel: mean, biased variance and 1/sqrt(var + eps) over n * inner values.
template <class T>
__device__ void batch_norm_stats(long long n, long long c, long long inner, const T* x, double eps,
                                 typename Num<T>::acc* mean, typename Num<T>::acc* var,
                                 typename Num<T>::acc* invstd) {
    typedef typename Num<T>::acc A;
    const long long count = n * inner;
    DM_ROW_LOOP(ch, c) {
        A s = 0;
        for (long long k = threadIdx.x; k < count; k += blockDim.x)
            s += Num<T>::load(x[((k / inner) * c + ch) * inner + k % inner]);
        const A m = block_sum(s) / (A)count;
        A ss = 0;
        for (long long k = threadIdx.x; k < count; k += blockDim.x) {
            const A v = Num<T>::load(x[((k / inner) * c + ch) * inner + k % inner]) - m;
            ss += v * v;
        }
        const A vr = block_sum(ss) / (A)count;
        if (threadIdx.x == 0) {
            mean[ch] = m;
            var[ch] = vr;
            invstd[ch] = (A)1 / dm_sqrt(vr + (A)eps);
        }
    }
}

// running = (1 - momentum) * running + momentum * batch (unbiased variance), as PyTorch.
template <class T>
__device__ void batch_norm_update_running(long long c, long long count, double momentum,
                                          const typename Num<T>::acc* mean,
                                          const typename Num<T>::acc* var, T* running_mean,
                                          T* running_var) {
    typedef typename Num<T>::acc A;
    const A mo = (A)momentum;
    DM_GRID_LOOP(ch, c) {
        const A unbiased = var[ch] * (A)count / (A)(count - 1);
        running_mean[ch] =
            Num<T>::store(Num<T>::load(running_mean[ch]) * ((A)1 - mo) + mean[ch] * mo);
        running_var[ch] = Num<T>::store(Num<T>::load(running_var[ch]) * ((A)1 - mo) + unbiased * mo);
    }
}

// y = (x - mean[ch]) * invstd[ch] * w[ch] + b[ch], elementwise (batch or running statistics).
template <class T>
__device__ void batch_norm_forward(long long n, long long c, long long inner, const T* x,
                                   const typename Num<T>::acc* mean,
                                   const typename Num<T>::acc* invstd, const T* w, const T* b,
                                   T* y) {
    typedef typename Num<T>::acc A;
    DM_GRID_LOOP(i, n * c * inner) {
        const long long ch = (i / inner) % c;
        const A scale = invstd[ch] * (w ? Num<T>::load(w[ch]) : (A)1);
        const A shift = (b ? Num<T>::load(b[ch]) : (A)0) - mean[ch] * scale;
        y[i] = Num<T>::store(Num<T>::load(x[i]) * scale + shift);
    }
}

// Per channel: sum_g = sum(g) (= db) and sum_gx = sum(g * xhat) (= dw).
template <class T>
__device__ void batch_norm_backward_reduce(long long n, long long c, long long inner, const T* x,
                                           const T* g, const typename Num<T>::acc* mean,
                                           const typename Num<T>::acc* invstd,
                                           typename Num<T>::acc* sum_g,
                                           typename Num<T>::acc* sum_gx) {
    typedef typename Num<T>::acc A;
    const long long count = n * inner;
    DM_ROW_LOOP(ch, c) {
        A s1 = 0, s2 = 0;
        for (long long k = threadIdx.x; k < count; k += blockDim.x) {
            const long long i = ((k / inner) * c + ch) * inner + k % inner;
            const A gv = Num<T>::load(g[i]);
            s1 += gv;
            s2 += gv * (Num<T>::load(x[i]) - mean[ch]) * invstd[ch];
        }
        s1 = block_sum(s1);
        s2 = block_sum(s2);
        if (threadIdx.x == 0) {
            sum_g[ch] = s1;
            sum_gx[ch] = s2;
        }
    }
}

// Training: dx = w * invstd * (g - sum_g / count - xhat * sum_gx / count); eval: w * invstd * g.
template <class T>
__device__ void batch_norm_backward(long long n, long long c, long long inner, int training,
                                    const T* x, const T* g, const typename Num<T>::acc* mean,
                                    const typename Num<T>::acc* invstd, const T* w,
                                    const typename Num<T>::acc* sum_g,
                                    const typename Num<T>::acc* sum_gx, T* dx) {
    typedef typename Num<T>::acc A;
    const A inv = (A)1 / (A)(n * inner);
    DM_GRID_LOOP(i, n * c * inner) {
        const long long ch = (i / inner) % c;
        const A k = (w ? Num<T>::load(w[ch]) : (A)1) * invstd[ch];
        const A gv = Num<T>::load(g[i]);
        A v = k * gv;
        if (training) {
            const A xh = (Num<T>::load(x[i]) - mean[ch]) * invstd[ch];
            v = k * (gv - inv * sum_g[ch] - xh * inv * sum_gx[ch]);
        }
        dx[i] = Num<T>::store(v);
    }
}

#define DM_NORM_KERNELS(S, T)                                                                     \
    typedef Num<T>::acc acc_##S;                                                                  \
    extern "C" __global__ void __launch_bounds__(DM_BLOCK) layer_norm_forward_##S(                 \
        long long rows, long long d, long long period, const T* x, const T* w, const T* b,        \
        double eps, T* y, acc_##S* mean, acc_##S* rstd) {                                         \
        layer_norm_forward<T>(rows, d, period, x, w, b, eps, y, mean, rstd);                      \
    }                                                                                             \
    extern "C" __global__ void __launch_bounds__(DM_BLOCK) layer_norm_backward_##S(                \
        long long rows, long long d, long long period, const T* x, const T* w,                    \
        const acc_##S* mean, const acc_##S* rstd, const T* g, T* dx) {                            \
        layer_norm_backward<T>(rows, d, period, x, w, mean, rstd, g, dx);                         \
    }                                                                                             \
    extern "C" __global__ void layer_norm_backward_affine_##S(                                    \
        long long rows, long long d, long long period, const T* x, const acc_##S* mean,           \
        const acc_##S* rstd, const T* g, T* dw, T* db) {                                          \
        layer_norm_backward_affine<T>(rows, d, period, x, mean, rstd, g, dw, db);                 \
    }                                                                                             \
    extern "C" __global__ void __launch_bounds__(DM_BLOCK) batch_norm_stats_##S(                   \
        long long n, long long c, long long inner, const T* x, double eps, acc_##S* mean,         \
        acc_##S* var, acc_##S* invstd) {                                                          \
        batch_norm_stats<T>(n, c, inner, x, eps, mean, var, invstd);                              \
    }                                                                                             \
    extern "C" __global__ void batch_norm_update_running_##S(                                     \
        long long c, long long count, double momentum, const acc_##S* mean, const acc_##S* var,   \
        T* running_mean, T* running_var) {                                                        \
        batch_norm_update_running<T>(c, count, momentum, mean, var, running_mean, running_var);   \
    }                                                                                             \
    extern "C" __global__ void batch_norm_forward_##S(long long n, long long c, long long inner,   \
                                                      const T* x, const acc_##S* mean,            \
                                                      const acc_##S* invstd, const T* w,          \
                                                      const T* b, T* y) {                         \
        batch_norm_forward<T>(n, c, inner, x, mean, invstd, w, b, y);                             \
    }                                                                                             \
    extern "C" __global__ void __launch_bounds__(DM_BLOCK) batch_norm_backward_reduce_##S(         \
        long long n, long long c, long long inner, const T* x, const T* g, const acc_##S* mean,   \
        const acc_##S* invstd, acc_##S* sum_g, acc_##S* sum_gx) {                                 \
        batch_norm_backward_reduce<T>(n, c, inner, x, g, mean, invstd, sum_g, sum_gx);            \
    }                                                                                             \
    extern "C" __global__ void batch_norm_backward_##S(                                           \
        long long n, long long c, long long inner, int training, const T* x, const T* g,          \
        const acc_##S* mean, const acc_##S* invstd, const T* w, const acc_##S* sum_g,             \
        const acc_##S* sum_gx, T* dx) {                                                           \
        batch_norm_backward<T>(n, c, inner, training, x, g, mean, invstd, w, sum_g, sum_gx, dx);  \
    }
DM_NORM_KERNELS(f32, float)
DM_NORM_KERNELS(f64, double)
DM_NORM_KERNELS(f16, dm_f16)
DM_NORM_KERNELS(bf16, dm_bf16)
