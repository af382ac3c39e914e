// Fused scaled-dot-product attention (flash attention): softmax(q k^T * scale + mask) v with
// an online softmax over key tiles of blockDim.x, so no [l, s] matrix is stored. The forward
// and the query gradient run one block per query row; the key/value gradients one block per
// key row, each block owning the rows it writes (no atomics). The backward recomputes the
// probabilities from the forward's per-row log-sum-exp. Formulas mirror cpu/attention.rs.
#include "common.cuh"

// Head dims a block keeps in shared memory.
#define DM_ATTN_MAX_D 512

// Mirrors launch.rs's AttnGeom and ops/nn/attention.rs's AttentionSpec.
struct AttnGeom {
    long long b, hq, hk, l, s, e, ev;
    long long ms0, ms1, ms2, ms3;
    double scale, dropout_p;
    unsigned long long seed;
    int causal, has_mask;
};

// Keys query row i of head h may see: j < jmax.
__device__ __forceinline__ long long attn_keys(const AttnGeom& g, long long i) {
    return g.causal ? (i + 1 < g.s ? i + 1 : g.s) : g.s;
}

// The key/value head query head h of batch b reads (grouped-query attention).
__device__ __forceinline__ long long attn_kv_head(const AttnGeom& g, long long b, long long h) {
    return b * g.hk + h / (g.hq / g.hk);
}

template <class T>
__device__ __forceinline__ T attn_mask_at(const AttnGeom& g, const T* mask, long long b, long long h,
                                          long long i, long long j) {
    return g.has_mask ? mask[b * g.ms0 + h * g.ms1 + i * g.ms2 + j * g.ms3] : (T)0;
}

// 0 or 1 / (1 - p): Philox element ((b * hq + h) * l + i) * s + j of stream (seed, 0).
template <class T>
__device__ __forceinline__ T attn_keep(const AttnGeom& g, long long bh, long long i, long long j) {
    if (g.dropout_p <= 0.0) return (T)1;
    const unsigned long long idx = (unsigned long long)((bh * g.l + i) * g.s + j);
    const Philox4 r = philox_words(g.seed, 0ull, idx / 4);
    return word_to_unit(r.v[idx % 4]) >= g.dropout_p ? (T)(1.0 / (1.0 - g.dropout_p)) : (T)0;
}

template <class T> __device__ __forceinline__ T attn_dot(const T* a, const T* b, long long n) {
    T s = 0;
    for (long long d = 0; d < n; ++d) s += a[d] * b[d];
    return s;
}

// The rows of a tile that exist: at most blockDim.x of the `rest` remaining.
__device__ __forceinline__ long long attn_tile(long long rest) {
    return rest < (long long)blockDim.x ? rest : (long long)blockDim.x;
}

// acc[d] = acc[d] * alpha + sum_{t < n} coef[t] * rows[t * width + d], for this thread's d.
template <class T>
__device__ __forceinline__ void attn_accumulate(T* acc, T alpha, const T* coef, const T* rows,
                                                long long n, long long width) {
    for (long long d = threadIdx.x; d < width; d += blockDim.x) {
        T a = acc[d] * alpha;
        for (long long t = 0; t < n; ++t) a += coef[t] * rows[t * width + d];
        acc[d] = a;
    }
}

template <class T>
__device__ void attention_forward(AttnGeom g, const T* q, const T* k, const T* v, const T* mask,
                                  T* out, T* lse) {
    __shared__ T rows[2][DM_ATTN_MAX_D];
    __shared__ T ps[DM_BLOCK];
    T *qs = rows[0], *acc = rows[1];
    DM_ROW_LOOP(row, g.b * g.hq * g.l) {
        const long long i = row % g.l, bh = row / g.l, b = bh / g.hq, h = bh % g.hq;
        const long long kh = attn_kv_head(g, b, h);
        const T *kb = k + kh * g.s * g.e, *vb = v + kh * g.s * g.ev;
        for (long long d = threadIdx.x; d < g.e; d += blockDim.x) qs[d] = q[row * g.e + d] * (T)g.scale;
        for (long long d = threadIdx.x; d < g.ev; d += blockDim.x) acc[d] = 0;
        __syncthreads();
        T m = -dm_inf<T>(), lsum = 0;
        const long long jmax = attn_keys(g, i);
        for (long long j0 = 0; j0 < jmax; j0 += blockDim.x) {
            const long long j = j0 + threadIdx.x;
            T sc = -dm_inf<T>();
            if (j < jmax) sc = attn_dot(qs, kb + j * g.e, g.e) + attn_mask_at(g, mask, b, h, i, j);
            const T mnew = dm_max(m, block_max(sc));
            if (mnew == -dm_inf<T>()) continue;  // block-uniform
            const T alpha = dm_exp(m - mnew);
            T p = j < jmax ? dm_exp(sc - mnew) : (T)0;
            lsum = lsum * alpha + block_sum(p);
            if (j < jmax) p *= attn_keep<T>(g, bh, i, j);
            ps[threadIdx.x] = p;
            __syncthreads();
            attn_accumulate(acc, alpha, ps, vb + j0 * g.ev, attn_tile(jmax - j0), g.ev);
            __syncthreads();
            m = mnew;
        }
        // A NaN sum (a NaN score or a +inf mask entry) makes the row NaN, as in PyTorch.
        const bool nan = lsum != lsum;
        const T inv = lsum > (T)0 || nan ? (T)1 / lsum : (T)0;
        for (long long d = threadIdx.x; d < g.ev; d += blockDim.x) out[row * g.ev + d] = acc[d] * inv;
        if (threadIdx.x == 0) lse[row] = lsum > (T)0 || nan ? m + dm_log(lsum) : -dm_inf<T>();
        __syncthreads();
    }
}

// dq for one query row per block, and delta = dot(dout, out) per row for the key kernel.
template <class T>
__device__ void attention_backward_dq(AttnGeom g, const T* q, const T* k, const T* v, const T* out,
                                      const T* lse, const T* gout, const T* mask, T* dq, T* delta) {
    __shared__ T rows[3][DM_ATTN_MAX_D];
    __shared__ T ds[DM_BLOCK];
    T *qs = rows[0], *gs = rows[1], *acc = rows[2];
    DM_ROW_LOOP(row, g.b * g.hq * g.l) {
        const long long i = row % g.l, bh = row / g.l, b = bh / g.hq, h = bh % g.hq;
        const long long kh = attn_kv_head(g, b, h);
        const T *kb = k + kh * g.s * g.e, *vb = v + kh * g.s * g.ev;
        T part = 0;
        for (long long d = threadIdx.x; d < g.e; d += blockDim.x) {
            qs[d] = q[row * g.e + d] * (T)g.scale;
            acc[d] = 0;
        }
        for (long long d = threadIdx.x; d < g.ev; d += blockDim.x) {
            gs[d] = gout[row * g.ev + d];
            part += gs[d] * out[row * g.ev + d];
        }
        const T dl = block_sum(part);
        const T lrow = lse[row];
        const long long jmax = lrow == -dm_inf<T>() ? 0 : attn_keys(g, i);
        for (long long j0 = 0; j0 < jmax; j0 += blockDim.x) {
            const long long j = j0 + threadIdx.x;
            T d = 0;
            if (j < jmax) {
                const T sc = attn_dot(qs, kb + j * g.e, g.e) + attn_mask_at(g, mask, b, h, i, j);
                const T p = dm_exp(sc - lrow);
                const T dp = attn_dot(gs, vb + j * g.ev, g.ev) * attn_keep<T>(g, bh, i, j);
                d = p * (dp - dl) * (T)g.scale;
            }
            ds[threadIdx.x] = d;
            __syncthreads();
            attn_accumulate(acc, (T)1, ds, kb + j0 * g.e, attn_tile(jmax - j0), g.e);
            __syncthreads();
        }
        for (long long c = threadIdx.x; c < g.e; c += blockDim.x) dq[row * g.e + c] = acc[c];
        if (threadIdx.x == 0) delta[row] = dl;
        __syncthreads();
    }
}

// dk and dv for one key row per block, over every query row of the query heads it serves.
template <class T>
__device__ void attention_backward_dkv(AttnGeom g, const T* q, const T* k, const T* v, const T* lse,
                                       const T* gout, const T* mask, const T* delta, T* dk, T* dv) {
    __shared__ T rows[4][DM_ATTN_MAX_D];
    __shared__ T coef[2][DM_BLOCK];
    T *ks = rows[0], *vs = rows[1], *dka = rows[2], *dva = rows[3], *pds = coef[0], *dss = coef[1];
    const long long grp = g.hq / g.hk;
    DM_ROW_LOOP(row, g.b * g.hk * g.s) {
        const long long j = row % g.s, kh = row / g.s, b = kh / g.hk;
        for (long long d = threadIdx.x; d < g.e; d += blockDim.x) {
            ks[d] = k[row * g.e + d];
            dka[d] = 0;
        }
        for (long long d = threadIdx.x; d < g.ev; d += blockDim.x) {
            vs[d] = v[row * g.ev + d];
            dva[d] = 0;
        }
        __syncthreads();
        for (long long r = 0; r < grp; ++r) {
            const long long h = (kh % g.hk) * grp + r, bh = b * g.hq + h;
            const T *qh = q + bh * g.l * g.e, *gh = gout + bh * g.l * g.ev;
            for (long long i0 = g.causal ? j : 0; i0 < g.l; i0 += blockDim.x) {
                const long long i = i0 + threadIdx.x;
                T pd = 0, dsv = 0;
                if (i < g.l && lse[bh * g.l + i] != -dm_inf<T>()) {
                    const T sc = attn_dot(qh + i * g.e, ks, g.e) * (T)g.scale +
                                 attn_mask_at(g, mask, b, h, i, j);
                    const T p = dm_exp(sc - lse[bh * g.l + i]);
                    const T z = attn_keep<T>(g, bh, i, j);
                    const T dp = attn_dot(gh + i * g.ev, vs, g.ev);
                    pd = p * z;
                    dsv = p * (dp * z - delta[bh * g.l + i]) * (T)g.scale;
                }
                pds[threadIdx.x] = pd;
                dss[threadIdx.x] = dsv;
                __syncthreads();
                const long long n = attn_tile(g.l - i0);
                attn_accumulate(dva, (T)1, pds, gh + i0 * g.ev, n, g.ev);
                attn_accumulate(dka, (T)1, dss, qh + i0 * g.e, n, g.e);
                __syncthreads();
            }
        }
        for (long long c = threadIdx.x; c < g.e; c += blockDim.x) dk[row * g.e + c] = dka[c];
        for (long long d = threadIdx.x; d < g.ev; d += blockDim.x) dv[row * g.ev + d] = dva[d];
        __syncthreads();
    }
}

// Every attention kernel starts with the geometry, then q, k and v (the host's `qkv_args`).
#define DM_ATTN_QKV(T) AttnGeom g, const T *q, const T *k, const T *v

#define DM_ATTENTION_KERNELS(S, T)                                                             \
    extern "C" __global__ void attention_forward_##S(DM_ATTN_QKV(T), const T* mask, T* out,    \
                                                     T* lse) {                                 \
        attention_forward<T>(g, q, k, v, mask, out, lse);                                      \
    }                                                                                          \
    extern "C" __global__ void attention_backward_dq_##S(                                      \
        DM_ATTN_QKV(T), const T* out, const T* lse, const T* gout, const T* mask, T* dq,       \
        T* delta) {                                                                            \
        attention_backward_dq<T>(g, q, k, v, out, lse, gout, mask, dq, delta);                 \
    }                                                                                          \
    extern "C" __global__ void attention_backward_dkv_##S(                                     \
        DM_ATTN_QKV(T), const T* lse, const T* gout, const T* mask, const T* delta, T* dk,     \
        T* dv) {                                                                               \
        attention_backward_dkv<T>(g, q, k, v, lse, gout, mask, delta, dk, dv);                 \
    }

DM_ATTENTION_KERNELS(f32, float)
DM_ATTENTION_KERNELS(f64, double)
