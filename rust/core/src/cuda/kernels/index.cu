// Indexing kernels over contiguous [outer, dim, inner] views of the indexed dimension:
// embedding (forward gather of rows, backward scatter-add with atomicAdd), gather /
// scatter_add along a dim, index_select / index_add. An out-of-range index is written to
// `bad` (the host initialises it to -1 and raises an IndexError naming the value) and the
// element is skipped (zero for gathers).
#include "common.cuh"

__device__ __forceinline__ bool dm_in_range(long long i, long long size, long long* bad) {
    if (i >= 0 && i < size) return true;
    *bad = i;  // several threads may race here: any one bad value is enough for the message
    return false;
}

// out[k, :] = weight[idx[k], :] for idx of n entries and weight [num, dim].
template <class T>
__device__ void embedding_forward(long long n, long long dim, long long num, const long long* idx,
                                  const T* weight, T* out, long long* bad) {
    DM_GRID_LOOP(i, n * dim) {
        const long long row = idx[i / dim];
        out[i] = dm_in_range(row, num, bad) ? weight[row * dim + i % dim]
                                            : Num<T>::store((typename Num<T>::acc)0);
    }
}

// grad_weight[idx[k], :] += grad_out[k, :] (grad_weight zeroed by the host).
template <class T>
__device__ void embedding_backward(long long n, long long dim, long long num, const long long* idx,
                                   const T* grad_out, T* grad_weight, long long* bad) {
    DM_GRID_LOOP(i, n * dim) {
        const long long row = idx[i / dim];
        if (dm_in_range(row, num, bad)) atomicAdd(&grad_weight[row * dim + i % dim], grad_out[i]);
    }
}

// Where flat element i of an [outer, n, inner] view reads or writes along the indexed dim:
// (o, j, k) with j the index at i itself when `per_element` (gather / scatter_add: idx shaped
// like the view), else at the view's dim position (index_select / index_add / index_copy: idx
// of n entries).
struct DmPlace {
    long long o, j, k;
};
__device__ __forceinline__ DmPlace dm_place(long long i, long long n, long long inner,
                                            const long long* idx, bool per_element) {
    return DmPlace{i / (n * inner), idx[per_element ? i : (i / inner) % n], i % inner};
}

// out[o, j, k] = src[o, idx, k] for src [outer, src_dim, inner] (gather, index_select).
template <class T, bool PerElement>
__device__ void take_along(long long outer, long long src_dim, long long n, long long inner,
                           const T* src, const long long* idx, T* out, long long* bad) {
    DM_GRID_LOOP(i, outer * n * inner) {
        const DmPlace p = dm_place(i, n, inner, idx, PerElement);
        out[i] = dm_in_range(p.j, src_dim, bad) ? src[(p.o * src_dim + p.j) * inner + p.k]
                                                : Num<T>::store((typename Num<T>::acc)0);
    }
}

// `*p += v` atomically; int64 through the unsigned overload (CUDA has no signed 64-bit
// atomicAdd; two's complement makes the sum the same, wrapping).
template <class T> __device__ __forceinline__ void dm_atomic_add(T* p, T v) { atomicAdd(p, v); }
template <> __device__ __forceinline__ void dm_atomic_add(long long* p, long long v) {
    atomicAdd((unsigned long long*)p, (unsigned long long)v);
}

// dst[o, idx, k] += src[o, j, k] when `Add` (scatter_add, index_add), else = src[o, j, k]
// (scatter, index_copy: assignment through an index, `x[idx] = v`; with a repeated index one
// of the writes wins, as in PyTorch).
template <class T, bool PerElement, bool Add>
__device__ void put_along(long long outer, long long dst_dim, long long n, long long inner,
                          const T* src, const long long* idx, T* dst, long long* bad) {
    DM_GRID_LOOP(i, outer * n * inner) {
        const DmPlace p = dm_place(i, n, inner, idx, PerElement);
        if (!dm_in_range(p.j, dst_dim, bad)) continue;
        T* d = &dst[(p.o * dst_dim + p.j) * inner + p.k];
        if constexpr (Add) {
            dm_atomic_add(d, src[i]);
        } else {
            *d = src[i];
        }
    }
}

// The kernel `NAME_S` over an [outer, dim, inner] view, running `FN` (a take_along or
// put_along instantiation, parenthesised: its template arguments hold commas).
#define DM_ALONG_KERNEL(NAME, S, T, FN)                                                           \
    extern "C" __global__ void NAME##_##S(long long outer, long long dim, long long n,            \
                                         long long inner, const T* src, const long long* idx,     \
                                         T* out, long long* bad) {                                \
        FN(outer, dim, n, inner, src, idx, out, bad);                                             \
    }

// The kernel `NAME_S` over the rows of an embedding table, running `NAME<T>`.
#define DM_EMBEDDING_KERNEL(NAME, S, T)                                                           \
    extern "C" __global__ void NAME##_##S(long long n, long long dim, long long num,              \
                                         const long long* idx, const T* src, T* out,              \
                                         long long* bad) {                                        \
        NAME<T>(n, dim, num, idx, src, out, bad);                                                 \
    }

#define DM_GATHER_KERNELS(S, T)                                                                   \
    DM_EMBEDDING_KERNEL(embedding_forward, S, T)                                                  \
    DM_ALONG_KERNEL(gather, S, T, (take_along<T, true>))                                          \
    DM_ALONG_KERNEL(index_select, S, T, (take_along<T, false>))                                   \
    DM_ALONG_KERNEL(index_copy, S, T, (put_along<T, false, false>))                               \
    DM_ALONG_KERNEL(scatter, S, T, (put_along<T, true, false>))
#define DM_ADD_ALONG_KERNELS(S, T)                                                                \
    DM_ALONG_KERNEL(scatter_add, S, T, (put_along<T, true, true>))                                \
    DM_ALONG_KERNEL(index_add, S, T, (put_along<T, false, true>))
#define DM_SCATTER_KERNELS(S, T)                                                                  \
    DM_EMBEDDING_KERNEL(embedding_backward, S, T)                                                 \
    DM_ADD_ALONG_KERNELS(S, T)
DM_GATHER_KERNELS(f32, float)
DM_GATHER_KERNELS(f64, double)
DM_GATHER_KERNELS(f16, dm_f16)
DM_GATHER_KERNELS(bf16, dm_bf16)
DM_GATHER_KERNELS(i64, long long)
DM_GATHER_KERNELS(i32, int)
DM_GATHER_KERNELS(i16, short)
DM_GATHER_KERNELS(i8, signed char)
DM_GATHER_KERNELS(u8, unsigned char)
DM_GATHER_KERNELS(bool, dm_bool)
DM_SCATTER_KERNELS(f32, float)
DM_SCATTER_KERNELS(f64, double)
DM_SCATTER_KERNELS(f16, dm_f16)
DM_SCATTER_KERNELS(bf16, dm_bf16)
DM_ADD_ALONG_KERNELS(i64, long long)
DM_ADD_ALONG_KERNELS(i32, int)
