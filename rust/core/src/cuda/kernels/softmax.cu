// Row-wise softmax / log-softmax over a contiguous [rows, cols] view and their backward, plus
// the fused softmax cross-entropy (class weights, ignore_index, label smoothing) forward and
// backward. One block per row; statistics in float (double for f64). Formulas mirror
// ops/softmax.rs and ops/nn/loss.rs.
#include "common.cuh"

// Row max m (0 when the row is all -inf, so exp(x - m) stays finite), the sum of exp(x - m)
// and the log-sum-exp m + log(sum).
template <class T, class A>
__device__ A row_lse(const T* row, long long cols, A* max_out, A* sum_out = 0) {
    A m = -dm_inf<A>();
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) m = dm_max(m, Num<T>::load(row[j]));
    m = block_max(m);
    if (m == -dm_inf<A>()) m = (A)0;
    A s = 0;
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) s += dm_exp(Num<T>::load(row[j]) - m);
    s = block_sum(s);
    if (max_out) *max_out = m;
    if (sum_out) *sum_out = s;
    return m + dm_log(s);
}

template <class T>
__device__ void softmax_forward(int log, long long rows, long long cols, const T* x, T* y) {
    typedef typename Num<T>::acc A;
    DM_ROW_LOOP(r, rows) {
        const T* row = x + r * cols;
        A m, s;
        row_lse<T, A>(row, cols, &m, &s);
        // (x - m) - log(s), not x - (m + log(s)): m + log(s) rounds away log(s)'s low bits
        // when m is large ([1000, 1000, -1000] gave -0.693176 for -0.6931472 in float32).
        const A inv = (A)1 / s, ls = dm_log(s);
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
            const A v = Num<T>::load(row[j]);
            y[r * cols + j] = Num<T>::store(log ? (v - m) - ls : dm_exp(v - m) * inv);
        }
    }
}

// softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g).
template <class T>
__device__ void softmax_backward(int log, long long rows, long long cols, const T* y, const T* g,
                                 T* dx) {
    typedef typename Num<T>::acc A;
    DM_ROW_LOOP(r, rows) {
        const T *yr = y + r * cols, *gr = g + r * cols;
        A s = 0;
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
            const A gv = Num<T>::load(gr[j]);
            s += log ? gv : gv * Num<T>::load(yr[j]);
        }
        s = block_sum(s);
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
            const A yv = Num<T>::load(yr[j]), gv = Num<T>::load(gr[j]);
            dx[r * cols + j] = Num<T>::store(log ? gv - dm_exp(yv) * s : yv * (gv - s));
        }
    }
}

// Per-row loss and the row's target weight (0 for ignored rows; the host's mean divides the
// summed loss by the summed weights). An out-of-range label is written to `bad_label` (the
// host initialises it to ignore_index and raises an IndexError naming it).
template <class T>
__device__ void cross_entropy_forward(long long n, long long c, const T* x, const long long* target,
                                      const T* weight, long long ignore_index, double smoothing,
                                      T* loss, T* row_weight, long long* bad_label) {
    typedef typename Num<T>::acc A;
    const A eps = (A)smoothing;
    DM_ROW_LOOP(r, n) {
        const long long t = target[r];
        if (t == ignore_index || t < 0 || t >= c) {
            if (threadIdx.x == 0) {
                loss[r] = Num<T>::store((A)0);
                row_weight[r] = Num<T>::store((A)0);
                if (t != ignore_index) *bad_label = t;
            }
            continue;
        }
        const T* row = x + r * c;
        // (m - x) + log(s), not lse - x: lse rounds away a confident prediction's small loss
        // at the magnitude of m (logits [10, 0, 0] lost 0.2% of 9.08e-5 in float32).
        A m, s;
        row_lse<T, A>(row, c, &m, &s);
        const A ls = dm_log(s);
        A smooth = 0;
        if (smoothing > 0.0) {
            for (long long j = threadIdx.x; j < c; j += blockDim.x) {
                const A w = weight ? Num<T>::load(weight[j]) : (A)1;
                smooth += w * ((m - Num<T>::load(row[j])) + ls);
            }
        }
        smooth = block_sum(smooth);
        if (threadIdx.x == 0) {
            const A wt = weight ? Num<T>::load(weight[t]) : (A)1;
            const A nll = wt * ((m - Num<T>::load(row[t])) + ls);
            loss[r] = Num<T>::store(((A)1 - eps) * nll + eps / (A)c * smooth);
            row_weight[r] = Num<T>::store(wt);
        }
    }
}

// dx[r, j] = scale_r * (a p_j + b (wsum p_j - w_j) - a [j == t]) with a = (1 - eps) w_t,
// b = eps / C, scale_r = grad_out[r * grad_stride] * grad_scale (grad_stride 0 broadcasts a
// scalar upstream gradient; grad_scale is 1/denominator for the mean reduction).
template <class T>
__device__ void cross_entropy_backward(long long n, long long c, const T* x,
                                       const long long* target, const T* weight,
                                       long long ignore_index, double smoothing, const T* grad_out,
                                       long long grad_stride, double grad_scale, T* dx) {
    typedef typename Num<T>::acc A;
    const A eps = (A)smoothing;
    DM_ROW_LOOP(r, n) {
        const long long t = target[r];
        T* d = dx + r * c;
        const T* row = x + r * c;
        const A lse = row_lse<T, A>(row, c, (A*)0);
        if (t == ignore_index || t < 0 || t >= c) {
            // 0 * softmax, as PyTorch's: NaN where the ignored row's logits are not finite.
            for (long long j = threadIdx.x; j < c; j += blockDim.x)
                d[j] = Num<T>::store((A)0 * dm_exp(Num<T>::load(row[j]) - lse));
            continue;
        }
        A wsum = 0;
        if (weight) {
            for (long long j = threadIdx.x; j < c; j += blockDim.x) wsum += Num<T>::load(weight[j]);
            wsum = block_sum(wsum);
        } else {
            wsum = (A)c;
        }
        const A scale = Num<T>::load(grad_out[r * grad_stride]) * (A)grad_scale;
        const A a = ((A)1 - eps) * (weight ? Num<T>::load(weight[t]) : (A)1);
        const A b = eps / (A)c;
        for (long long j = threadIdx.x; j < c; j += blockDim.x) {
            const A p = dm_exp(Num<T>::load(row[j]) - lse);
            const A w = weight ? Num<T>::load(weight[j]) : (A)1;
            A v = a * p + b * (wsum * p - w);
            if (j == t) v -= a;
            d[j] = Num<T>::store(scale * v);
        }
    }
}

#define DM_SOFTMAX_KERNELS(S, T)                                                               \
    extern "C" __global__ void __launch_bounds__(DM_BLOCK)                                      \
        softmax_forward_##S(int log, long long rows, long long cols, const T* x, T* y) {       \
        softmax_forward<T>(log, rows, cols, x, y);                                             \
    }                                                                                          \
    extern "C" __global__ void __launch_bounds__(DM_BLOCK) softmax_backward_##S(                \
        int log, long long rows, long long cols, const T* y, const T* g, T* dx) {              \
        softmax_backward<T>(log, rows, cols, y, g, dx);                                        \
    }                                                                                          \
    extern "C" __global__ void __launch_bounds__(DM_BLOCK) cross_entropy_forward_##S(           \
        long long n, long long c, const T* x, const long long* target, const T* weight,        \
        long long ignore_index, double smoothing, T* loss, T* row_weight, long long* bad) {    \
        cross_entropy_forward<T>(n, c, x, target, weight, ignore_index, smoothing, loss,       \
                                 row_weight, bad);                                             \
    }                                                                                          \
    extern "C" __global__ void __launch_bounds__(DM_BLOCK) cross_entropy_backward_##S(          \
        long long n, long long c, const T* x, const long long* target, const T* weight,        \
        long long ignore_index, double smoothing, const T* grad_out, long long grad_stride,    \
        double grad_scale, T* dx) {                                                            \
        cross_entropy_backward<T>(n, c, x, target, weight, ignore_index, smoothing, grad_out,  \
                                  grad_stride, grad_scale, dx);                                \
    }
DM_SOFTMAX_KERNELS(f32, float)
DM_SOFTMAX_KERNELS(f64, double)
DM_SOFTMAX_KERNELS(f16, dm_f16)
DM_SOFTMAX_KERNELS(bf16, dm_bf16)
