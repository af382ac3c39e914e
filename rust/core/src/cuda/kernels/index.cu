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

// out[o, j, k] = src[o, idx[o, j, k], k]; src [outer, src_dim, inner], idx/out [outer, n, inner].
template <class T>
__device__ void gather(long long outer, long long src_dim, long long n, long long inner, const T* src,
                       const long long* idx, T* out, long long* bad) {
    DM_GRID_LOOP(i, outer * n * inner) {
        const long long k = i % inner, o = i / (n * inner), j = idx[i];
        out[i] = dm_in_range(j, src_dim, bad) ? src[(o * src_dim + j) * inner + k]
                                              : Num<T>::store((typename Num<T>::acc)0);
    }
}

// dst[o, idx[o, j, k], k] += src[o, j, k].
template <class T>
__device__ void scatter_add(long long outer, long long dst_dim, long long n, long long inner,
                            const T* src, const long long* idx, T* dst, long long* bad) {
    DM_GRID_LOOP(i, outer * n * inner) {
        const long long k = i % inner, o = i / (n * inner), j = idx[i];
        if (dm_in_range(j, dst_dim, bad)) atomicAdd(&dst[(o * dst_dim + j) * inner + k], src[i]);
    }
}

// out[o, j, k] = src[o, idx[j], k].
template <class T>
__device__ void index_select(long long outer, long long src_dim, long long n, long long inner,
                             const T* src, const long long* idx, T* out, long long* bad) {
    DM_GRID_LOOP(i, outer * n * inner) {
        const long long k = i % inner, j = idx[(i / inner) % n], o = i / (n * inner);
        out[i] = dm_in_range(j, src_dim, bad) ? src[(o * src_dim + j) * inner + k]
                                              : Num<T>::store((typename Num<T>::acc)0);
    }
}

// dst[o, idx[j], k] += src[o, j, k].
template <class T>
__device__ void index_add(long long outer, long long dst_dim, long long n, long long inner,
                          const T* src, const long long* idx, T* dst, long long* bad) {
    DM_GRID_LOOP(i, outer * n * inner) {
        const long long k = i % inner, j = idx[(i / inner) % n], o = i / (n * inner);
        if (dm_in_range(j, dst_dim, bad)) atomicAdd(&dst[(o * dst_dim + j) * inner + k], src[i]);
    }
}

// dst[o, idx[j], k] = src[o, j, k]: assignment through an index (`x[idx] = v`); with a
// repeated index one of the writes wins, as in PyTorch.
template <class T>
__device__ void index_copy(long long outer, long long dst_dim, long long n, long long inner,
                           const T* src, const long long* idx, T* dst, long long* bad) {
    DM_GRID_LOOP(i, outer * n * inner) {
        const long long k = i % inner, j = idx[(i / inner) % n], o = i / (n * inner);
        if (dm_in_range(j, dst_dim, bad)) dst[(o * dst_dim + j) * inner + k] = src[i];
    }
}

#define DM_GATHER_KERNELS(S, T)                                                                  \
    extern "C" __global__ void embedding_forward_##S(long long n, long long dim, long long num,   \
                                                     const long long* idx, const T* weight,       \
                                                     T* out, long long* bad) {                    \
        embedding_forward<T>(n, dim, num, idx, weight, out, bad);                                 \
    }                                                                                             \
    extern "C" __global__ void gather_##S(long long outer, long long src_dim, long long n,        \
                                          long long inner, const T* src, const long long* idx,    \
                                          T* out, long long* bad) {                               \
        gather<T>(outer, src_dim, n, inner, src, idx, out, bad);                                  \
    }                                                                                             \
    extern "C" __global__ void index_select_##S(long long outer, long long src_dim, long long n,  \
                                                long long inner, const T* src,                    \
                                                const long long* idx, T* out, long long* bad) {   \
        index_select<T>(outer, src_dim, n, inner, src, idx, out, bad);                            \
    }                                                                                             \
    extern "C" __global__ void index_copy_##S(long long outer, long long dst_dim, long long n,    \
                                              long long inner, const T* src,                      \
                                              const long long* idx, T* dst, long long* bad) {     \
        index_copy<T>(outer, dst_dim, n, inner, src, idx, dst, bad);                              \
    }
#define DM_SCATTER_KERNELS(S, T)                                                                 \
    extern "C" __global__ void embedding_backward_##S(long long n, long long dim, long long num,  \
                                                      const long long* idx, const T* grad_out,    \
                                                      T* grad_weight, long long* bad) {           \
        embedding_backward<T>(n, dim, num, idx, grad_out, grad_weight, bad);                      \
    }                                                                                             \
    extern "C" __global__ void scatter_add_##S(long long outer, long long dst_dim, long long n,   \
                                               long long inner, const T* src,                     \
                                               const long long* idx, T* dst, long long* bad) {    \
        scatter_add<T>(outer, dst_dim, n, inner, src, idx, dst, bad);                             \
    }                                                                                             \
    extern "C" __global__ void index_add_##S(long long outer, long long dst_dim, long long n,     \
                                             long long inner, const T* src, const long long* idx, \
                                             T* dst, long long* bad) {                            \
        index_add<T>(outer, dst_dim, n, inner, src, idx, dst, bad);                               \
    }
DM_GATHER_KERNELS(f32, float)
DM_GATHER_KERNELS(f64, double)
DM_GATHER_KERNELS(f16, dm_f16)
DM_GATHER_KERNELS(bf16, dm_bf16)
DM_GATHER_KERNELS(i64, long long)
DM_GATHER_KERNELS(i32, int)
DM_GATHER_KERNELS(bool, dm_bool)
DM_SCATTER_KERNELS(f32, float)
DM_SCATTER_KERNELS(f64, double)
DM_SCATTER_KERNELS(f16, dm_f16)
DM_SCATTER_KERNELS(bf16, dm_bf16)
