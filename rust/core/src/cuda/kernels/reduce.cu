// Reductions along the last dimension of a contiguous [rows, cols] view (the host moves the
// reduced dims innermost first). One block per row: each thread folds a strided slice of the
// row, then warp shuffles and one shared-memory round combine the partials. Sums accumulate
// in float (double for f64); max/min propagate NaN; argmax/argmin return the first index of
// the extreme (the first NaN if any), like the CPU backend.
#include "common.cuh"

template <class T>
__device__ void reduce_rows(int op, long long rows, long long cols, const T* x, T* out) {
    typedef typename Num<T>::acc A;
    DM_ROW_LOOP(r, rows) {
        const T* row = x + r * cols;
        A v;
        if (op == R_MAX || op == R_MIN) {
            const bool mx = op == R_MAX;
            A m = mx ? -dm_inf<A>() : dm_inf<A>();
            for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
                const A e = Num<T>::load(row[j]);
                m = mx ? dm_max(m, e) : dm_min(m, e);
            }
            // min(x) = -max(-x): one block-wide max serves both.
            v = mx ? block_max(m) : -block_max(-m);
        } else {
            A s = 0;
            for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
                const A e = Num<T>::load(row[j]);
                s += op == R_SUM_SQ ? e * e : e;
            }
            v = block_sum(s);
            if (op == R_MEAN) v = v / (A)cols;
        }
        if (threadIdx.x == 0) out[r] = Num<T>::store(v);
    }
}

// (value, index) pairs: `b` wins over `a` if it is NaN while `a` is not, if it is strictly
// more extreme, or on a tie (both NaN included) when its index is smaller.
template <class A>
__device__ __forceinline__ bool arg_better(bool mx, A bv, long long bi, A av, long long ai) {
    const bool bn = dm_isnan(bv), an = dm_isnan(av);
    if (bn || an) return bn && (!an || bi < ai);
    if (bv == av) return bi < ai;
    return mx ? bv > av : bv < av;
}

template <class T>
__device__ void arg_reduce_rows(int is_max, long long rows, long long cols, const T* x,
                                long long* idx, T* val) {
    typedef typename Num<T>::acc A;
    __shared__ A pv[DM_WARP];
    __shared__ long long pi[DM_WARP];
    const bool mx = is_max != 0;
    const int lane = threadIdx.x % DM_WARP, warp = threadIdx.x / DM_WARP;
    const int nwarps = blockDim.x / DM_WARP;
    DM_ROW_LOOP(r, rows) {
        const T* row = x + r * cols;
        A bv = mx ? -dm_inf<A>() : dm_inf<A>();
        long long bi = cols;  // "no element": loses to any real one
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
            const A e = Num<T>::load(row[j]);
            if (bi == cols || arg_better(mx, e, j, bv, bi)) { bv = e; bi = j; }
        }
        for (int o = DM_WARP / 2; o > 0; o >>= 1) {
            const A ov = __shfl_xor_sync(DM_FULL_MASK, bv, o);
            const long long oi = __shfl_xor_sync(DM_FULL_MASK, bi, o);
            if (oi != cols && (bi == cols || arg_better(mx, ov, oi, bv, bi))) { bv = ov; bi = oi; }
        }
        __syncthreads();
        if (lane == 0) { pv[warp] = bv; pi[warp] = bi; }
        __syncthreads();
        if (warp == 0) {
            bv = lane < nwarps ? pv[lane] : bv;
            bi = lane < nwarps ? pi[lane] : cols;
            for (int o = DM_WARP / 2; o > 0; o >>= 1) {
                const A ov = __shfl_xor_sync(DM_FULL_MASK, bv, o);
                const long long oi = __shfl_xor_sync(DM_FULL_MASK, bi, o);
                if (oi != cols && (bi == cols || arg_better(mx, ov, oi, bv, bi))) { bv = ov; bi = oi; }
            }
            if (lane == 0) {
                idx[r] = bi;
                if (val) val[r] = Num<T>::store(bv);
            }
        }
    }
}

// Sums, maxima and minima of integer or bool rows into int64, exact, each element read in its
// own dtype (a bool mask is not widened first); sums wrap in two's complement, as on the CPU.
#define DM_I64_MAX 9223372036854775807LL
#define DM_I64_MIN (-DM_I64_MAX - 1)
struct DmMaxInt {
    __device__ __forceinline__ static long long apply(long long a, long long b) { return a > b ? a : b; }
};
struct DmMinInt {
    __device__ __forceinline__ static long long apply(long long a, long long b) { return a < b ? a : b; }
};

template <class T>
__device__ void reduce_int_rows(int op, long long rows, long long cols, const T* x, long long* out) {
    DM_ROW_LOOP(r, rows) {
        const T* row = x + r * cols;
        long long v;
        if (op == R_SUM) {
            unsigned long long s = 0;
            for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
                s += (unsigned long long)(long long)Num<T>::load(row[j]);
            }
            v = (long long)block_reduce<DmSum>(s, 0ULL);
        } else if (op == R_MAX) {
            long long m = DM_I64_MIN;
            for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
                m = DmMaxInt::apply(m, (long long)Num<T>::load(row[j]));
            }
            v = block_reduce<DmMaxInt>(m, DM_I64_MIN);
        } else {
            long long m = DM_I64_MAX;
            for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
                m = DmMinInt::apply(m, (long long)Num<T>::load(row[j]));
            }
            v = block_reduce<DmMinInt>(m, DM_I64_MAX);
        }
        if (threadIdx.x == 0) out[r] = v;
    }
}

#define DM_REDUCE_INT_KERNEL(S, T)                                                            \
    extern "C" __global__ void __launch_bounds__(DM_BLOCK) reduce_int_##S(                     \
        int op, long long rows, long long cols, const T* x, long long* out) {                 \
        reduce_int_rows<T>(op, rows, cols, x, out);                                           \
    }
DM_REDUCE_INT_KERNEL(i64, long long)
DM_REDUCE_INT_KERNEL(i32, int)
DM_REDUCE_INT_KERNEL(bool, dm_bool)

// Running sums or products along rows of a contiguous [rows, cols] view (the host moves the
// scanned dim innermost): one thread per row, in the accumulation type (float for the half
// types, each output rounded once), int64 wrapping as on the CPU (unsigned arithmetic: signed
// overflow is undefined in C++).
template <class A> __device__ __forceinline__ A scan_step(int prod, A acc, A e) {
    return prod ? acc * e : acc + e;
}
template <> __device__ __forceinline__ long long scan_step(int prod, long long acc, long long e) {
    const unsigned long long a = (unsigned long long)acc, b = (unsigned long long)e;
    return (long long)(prod ? a * b : a + b);
}

template <class T>
__device__ void scan_rows(int prod, int reverse, long long rows, long long cols, const T* x,
                          T* out) {
    typedef typename Num<T>::acc A;
    DM_GRID_LOOP(r, rows) {
        const T* row = x + r * cols;
        T* dst = out + r * cols;
        A acc = prod ? (A)1 : (A)0;
        for (long long k = 0; k < cols; ++k) {
            const long long j = reverse ? cols - 1 - k : k;
            acc = scan_step<A>(prod, acc, Num<T>::load(row[j]));
            dst[j] = Num<T>::store(acc);
        }
    }
}

#define DM_SCAN_KERNEL(S, T)                                                                  \
    extern "C" __global__ void __launch_bounds__(DM_BLOCK) scan_##S(                           \
        int prod, int reverse, long long rows, long long cols, const T* x, T* out) {          \
        scan_rows<T>(prod, reverse, rows, cols, x, out);                                      \
    }
DM_SCAN_KERNEL(f32, float)
DM_SCAN_KERNEL(f64, double)
DM_SCAN_KERNEL(f16, dm_f16)
DM_SCAN_KERNEL(bf16, dm_bf16)
DM_SCAN_KERNEL(i64, long long)

#define DM_REDUCE_KERNELS(S, T)                                                               \
    extern "C" __global__ void __launch_bounds__(DM_BLOCK)                                     \
        reduce_##S(int op, long long rows, long long cols, const T* x, T* out) {              \
        reduce_rows<T>(op, rows, cols, x, out);                                               \
    }                                                                                         \
    extern "C" __global__ void __launch_bounds__(DM_BLOCK) arg_reduce_##S(                     \
        int is_max, long long rows, long long cols, const T* x, long long* idx, T* val) {     \
        arg_reduce_rows<T>(is_max, rows, cols, x, idx, val);                                  \
    }
DM_REDUCE_KERNELS(f32, float)
DM_REDUCE_KERNELS(f64, double)
DM_REDUCE_KERNELS(f16, dm_f16)
DM_REDUCE_KERNELS(bf16, dm_bf16)
