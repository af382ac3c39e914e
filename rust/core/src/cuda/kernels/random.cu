// Counter-based random numbers from Philox4x32-10 (common.cuh), so every element's random
// value is a pure function of (seed, offset, element index): no generator state on the
// device, any launch geometry gives the same stream, and the backward pass recomputes nothing
// (dropout keeps its mask). The host advances `offset` by one per call so successive calls
// draw independent streams.
#include "common.cuh"

// Known-answer hook: in[6*i..] = (ctr0..3, key0, key1) -> out[4*i..].
extern "C" __global__ void philox4x32_10_raw(long long n, const unsigned int* in, unsigned int* out) {
    DM_GRID_LOOP(i, n) {
        Philox4 c;
        for (int k = 0; k < 4; ++k) c.v[k] = in[6 * i + k];
        const Philox4 r = philox4x32_10(c, in[6 * i + 4], in[6 * i + 5]);
        for (int k = 0; k < 4; ++k) out[4 * i + k] = r.v[k];
    }
}

// y = x * mask / (1 - p) where mask = (uniform >= p), as the CPU's dropout_mask.
template <class T>
__device__ void dropout_forward(long long n, const T* x, T* y, dm_bool* mask, double p,
                                unsigned long long seed, unsigned long long offset) {
    typedef typename Num<T>::acc A;
    const A scale = p < 1.0 ? (A)(1.0 / (1.0 - p)) : (A)0;
    DM_GRID_LOOP(g, (n + 3) / 4) {
        const Philox4 r = philox_words(seed, offset, (unsigned long long)g);
        for (int k = 0; k < 4; ++k) {
            const long long i = 4 * g + k;
            if (i >= n) break;
            const bool keep = word_to_unit(r.v[k]) >= p;
            mask[i] = keep;
            y[i] = Num<T>::store(keep ? Num<T>::load(x[i]) * scale : (A)0);
        }
    }
}

template <class T>
__device__ void dropout_backward(long long n, const T* g, const dm_bool* mask, double p, T* dx) {
    typedef typename Num<T>::acc A;
    const A scale = p < 1.0 ? (A)(1.0 / (1.0 - p)) : (A)0;
    DM_GRID_LOOP(i, n) { dx[i] = Num<T>::store(mask[i] ? Num<T>::load(g[i]) * scale : (A)0); }
}

template <class T>
__device__ void uniform_fill(long long n, T* out, double lo, double hi, unsigned long long seed,
                             unsigned long long offset) {
    DM_GRID_LOOP(g, (n + 3) / 4) {
        const Philox4 r = philox_words(seed, offset, (unsigned long long)g);
        for (int k = 0; k < 4 && 4 * g + k < n; ++k)
            out[4 * g + k] = Conv<T>::from(lo + (hi - lo) * word_to_unit(r.v[k]));
    }
}

// Box-Muller on word pairs: (w0, w1) -> two normals, (w2, w3) -> two more.
template <class T>
__device__ void normal_fill(long long n, T* out, double mean, double std, unsigned long long seed,
                            unsigned long long offset) {
    DM_GRID_LOOP(g, (n + 3) / 4) {
        const Philox4 r = philox_words(seed, offset, (unsigned long long)g);
        for (int k = 0; k < 4 && 4 * g + k < n; ++k) {
            const int pair = k & ~1;
            const double u1 = 1.0 - word_to_unit(r.v[pair]);  // (0, 1]: log stays finite
            const double u2 = word_to_unit(r.v[pair + 1]);
            const double rad = sqrt(-2.0 * log(u1));
            const double z = (k & 1) ? rad * sin(6.283185307179586 * u2) : rad * cos(6.283185307179586 * u2);
            out[4 * g + k] = Conv<T>::from(mean + std * z);
        }
    }
}

#define DM_RANDOM_KERNELS(S, T)                                                                 \
    extern "C" __global__ void dropout_forward_##S(long long n, const T* x, T* y, dm_bool* mask,  \
                                                   double p, unsigned long long seed,             \
                                                   unsigned long long offset) {                   \
        dropout_forward<T>(n, x, y, mask, p, seed, offset);                                       \
    }                                                                                             \
    extern "C" __global__ void dropout_backward_##S(long long n, const T* g, const dm_bool* mask, \
                                                    double p, T* dx) {                            \
        dropout_backward<T>(n, g, mask, p, dx);                                                   \
    }                                                                                             \
    extern "C" __global__ void uniform_##S(long long n, T* out, double lo, double hi,             \
                                           unsigned long long seed, unsigned long long offset) {  \
        uniform_fill<T>(n, out, lo, hi, seed, offset);                                            \
    }                                                                                             \
    extern "C" __global__ void normal_##S(long long n, T* out, double mean, double std,           \
                                          unsigned long long seed, unsigned long long offset) {   \
        normal_fill<T>(n, out, mean, std, seed, offset);                                          \
    }
DM_RANDOM_KERNELS(f32, float)
DM_RANDOM_KERNELS(f64, double)
DM_RANDOM_KERNELS(f16, dm_f16)
DM_RANDOM_KERNELS(bf16, dm_bf16)
