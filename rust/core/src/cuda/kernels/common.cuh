// Shared by every kernel family: dtype load/store, strided indexing and warp/block reductions.
// NVRTC receives this file as an in-memory header; the host emulation (emulation/cuda_shim.h)
// provides the CUDA names it uses, so the same text compiles with g++ for the CPU tests.
#pragma once

#if defined(__CUDACC_RTC__) || defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

typedef __half dm_f16;
typedef __nv_bfloat16 dm_bf16;
// `bool` itself (one byte, 0 or 1, as the engine stores it), so that `unsigned char` is
// free to be `uint8`.
typedef bool dm_bool;

// ---- op codes: generated from cuda/codes.rs (codes::header) ----
enum UnaryCode {
    U_IDENTITY = 0,
    U_NEG = 1,
    U_ABS = 2,
    U_EXP = 3,
    U_LOG = 4,
    U_LOG2 = 5,
    U_LOG1P = 6,
    U_EXPM1 = 7,
    U_SQRT = 8,
    U_RSQRT = 9,
    U_SQUARE = 10,
    U_RECIPROCAL = 11,
    U_SIN = 12,
    U_COS = 13,
    U_TANH = 14,
    U_SIGMOID = 15,
    U_RELU = 16,
    U_GELU = 17,
    U_GELU_TANH = 18,
    U_SILU = 19,
    U_SOFTPLUS = 20,
    U_LEAKY_RELU = 21,
    U_ELU = 22,
    U_ERF = 23,
    U_SIGN = 24,
    U_FLOOR = 25,
    U_CEIL = 26,
    U_ROUND = 27,
    U_TRUNC = 28,
    U_CLAMP = 29,
    U_AFFINE = 30,
    U_POW_SCALAR = 31,
    U_ERFINV = 32,
    U_TAN = 33,
    U_ASIN = 34,
    U_ACOS = 35,
    U_ATAN = 36,
    U_ASINH = 37,
    U_ACOSH = 38,
    U_ATANH = 39,
    U_ERFC = 40,
    U_EXP2 = 41,
    U_LGAMMA = 42,
    U_DIGAMMA = 43,
    U_POLYGAMMA = 44,
    U_HARDSIGMOID = 45,
    U_HARDSWISH = 46,
    U_SINH = 47,
    U_COSH = 48,
    U_LOG10 = 49,
    U_MISH = 50,
};
enum BinaryCode {
    B_ADD = 0,
    B_SUB = 1,
    B_MUL = 2,
    B_DIV = 3,
    B_POW = 4,
    B_MAXIMUM = 5,
    B_MINIMUM = 6,
    B_REMAINDER = 7,
    B_FLOOR_DIVIDE = 8,
};
enum CompareCode {
    C_EQ = 0,
    C_NE = 1,
    C_LT = 2,
    C_LE = 3,
    C_GT = 4,
    C_GE = 5,
};
enum ReduceCode {
    R_SUM = 0,
    R_MEAN = 1,
    R_MAX = 2,
    R_MIN = 3,
    R_SUM_SQ = 4,
};
// ---- end of generated op codes ----

// Threads per block of the row-wise kernels (reductions, softmax, norms): 8 warps.
#define DM_BLOCK 256
#define DM_WARP 32
#define DM_FULL_MASK 0xffffffffu
#define DM_MAX_DIMS 8

// A strided view: element k of the row-major walk over `shape` lives at
// `offset + sum_d idx_d * stride[d]`. Broadcast dims have stride 0; a contiguous view is sent
// as ndim = 1 so indexing costs one division. Mirrors `cuda::launch::DmLayout` (repr(C)).
struct DmLayout {
    int ndim;
    int pad_;
    long long offset;
    long long shape[DM_MAX_DIMS];
    long long stride[DM_MAX_DIMS];
};

__device__ __forceinline__ long long dm_at(const DmLayout& l, long long k) {
    long long off = l.offset;
    for (int d = l.ndim - 1; d >= 0; --d) {
        long long s = l.shape[d];
        off += (k % s) * l.stride[d];
        k /= s;
    }
    return off;
}

// Grid-stride loop over [0, n): any grid size covers any n.
#define DM_GRID_LOOP(i, n)                                                        \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)gridDim.x * blockDim.x)

// Row loop for one-block-per-row kernels; the condition is block-uniform, so __syncthreads
// inside the body is legal.
#define DM_ROW_LOOP(r, rows) for (long long r = blockIdx.x; r < (rows); r += gridDim.x)

// ---- dtypes: every kernel computes in `Num<T>::acc` (float for half types) -----------------

template <class T> struct Num;
// A type computed in itself: loading and storing are the identity.
template <class T> struct NumSelf {
    typedef T acc;
    static __device__ __forceinline__ T load(T x) { return x; }
    static __device__ __forceinline__ T store(T x) { return x; }
};
template <> struct Num<float> : NumSelf<float> {};
template <> struct Num<double> : NumSelf<double> {};
template <> struct Num<dm_f16> {
    typedef float acc;
    static __device__ __forceinline__ float load(dm_f16 x) { return __half2float(x); }
    static __device__ __forceinline__ dm_f16 store(float x) { return __float2half_rn(x); }
};
template <> struct Num<dm_bf16> {
    typedef float acc;
    static __device__ __forceinline__ float load(dm_bf16 x) { return __bfloat162float(x); }
    static __device__ __forceinline__ dm_bf16 store(float x) { return __float2bfloat16_rn(x); }
};
template <> struct Num<long long> : NumSelf<long long> {};
template <> struct Num<int> : NumSelf<int> {};
template <> struct Num<short> : NumSelf<short> {};
template <> struct Num<signed char> : NumSelf<signed char> {};
template <> struct Num<unsigned char> : NumSelf<unsigned char> {};
template <> struct Num<dm_bool> {
    typedef int acc;
    static __device__ __forceinline__ int load(dm_bool x) { return x != 0; }
    static __device__ __forceinline__ dm_bool store(int x) { return x != 0; }
};

// Conversion between any two element types (PyTorch semantics: to bool is `!= 0`, float to
// integer truncates). Half types go through float.
template <class D> struct Conv {
    template <class S> static __device__ __forceinline__ D from(S x) { return (D)x; }
    static __device__ __forceinline__ D from(dm_f16 x) { return (D)__half2float(x); }
    static __device__ __forceinline__ D from(dm_bf16 x) { return (D)__bfloat162float(x); }
};
// The integers narrower than 32 bits take any value through `long long`, so an out-of-range
// one wraps (`-1.0` -> 255 in uint8) as on the CPU and in PyTorch, instead of being undefined.
template <class D> struct ConvNarrow {
    template <class S> static __device__ __forceinline__ D from(S x) { return (D)(long long)x; }
    static __device__ __forceinline__ D from(dm_f16 x) { return (D)(long long)__half2float(x); }
    static __device__ __forceinline__ D from(dm_bf16 x) { return (D)(long long)__bfloat162float(x); }
};
template <> struct Conv<short> : ConvNarrow<short> {};
template <> struct Conv<signed char> : ConvNarrow<signed char> {};
template <> struct Conv<unsigned char> : ConvNarrow<unsigned char> {};
template <> struct Conv<dm_bool> {
    template <class S> static __device__ __forceinline__ dm_bool from(S x) { return x != (S)0; }
    static __device__ __forceinline__ dm_bool from(dm_f16 x) { return __half2float(x) != 0.0f; }
    static __device__ __forceinline__ dm_bool from(dm_bf16 x) { return __bfloat162float(x) != 0.0f; }
};
template <> struct Conv<dm_f16> {
    template <class S> static __device__ __forceinline__ dm_f16 from(S x) { return __float2half_rn((float)x); }
    static __device__ __forceinline__ dm_f16 from(dm_f16 x) { return x; }
    static __device__ __forceinline__ dm_f16 from(dm_bf16 x) { return __float2half_rn(__bfloat162float(x)); }
};
template <> struct Conv<dm_bf16> {
    template <class S> static __device__ __forceinline__ dm_bf16 from(S x) { return __float2bfloat16_rn((float)x); }
    static __device__ __forceinline__ dm_bf16 from(dm_f16 x) { return __float2bfloat16_rn(__half2float(x)); }
    static __device__ __forceinline__ dm_bf16 from(dm_bf16 x) { return x; }
};

// ---- math on the accumulation types (float and double overloads of one name) --------------

#define DM_MATH1(name, f32, f64)                                                    \
    __device__ __forceinline__ float name(float x) { return f32(x); }             \
    __device__ __forceinline__ double name(double x) { return f64(x); }
DM_MATH1(dm_exp, expf, exp)
DM_MATH1(dm_log, logf, log)
DM_MATH1(dm_log1p, log1pf, log1p)
DM_MATH1(dm_expm1, expm1f, expm1)
DM_MATH1(dm_sqrt, sqrtf, sqrt)
DM_MATH1(dm_sin, sinf, sin)
DM_MATH1(dm_cos, cosf, cos)
DM_MATH1(dm_tanh, tanhf, tanh)
DM_MATH1(dm_erf, erff, erf)
DM_MATH1(dm_floor, floorf, floor)
DM_MATH1(dm_ceil, ceilf, ceil)
DM_MATH1(dm_rint, rintf, rint)
DM_MATH1(dm_trunc, truncf, trunc)
DM_MATH1(dm_fabs, fabsf, fabs)
DM_MATH1(dm_tan, tanf, tan)
DM_MATH1(dm_asin, asinf, asin)
DM_MATH1(dm_acos, acosf, acos)
DM_MATH1(dm_atan, atanf, atan)
DM_MATH1(dm_asinh, asinhf, asinh)
DM_MATH1(dm_acosh, acoshf, acosh)
DM_MATH1(dm_atanh, atanhf, atanh)
DM_MATH1(dm_erfc, erfcf, erfc)
DM_MATH1(dm_exp2, exp2f, exp2)
DM_MATH1(dm_lgamma, lgammaf, lgamma)
DM_MATH1(dm_sinh, sinhf, sinh)
DM_MATH1(dm_cosh, coshf, cosh)
DM_MATH1(dm_log10, log10f, log10)
#undef DM_MATH1
__device__ __forceinline__ float dm_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double dm_pow(double x, double y) { return pow(x, y); }
// `x ** a` for a number `a`: the exponents PyTorch computes without pow take those forms (and
// their edge values: (-0) ** 0.5 is -0, (-inf) ** 0.5 NaN), as the CPU backend's pow_scalar.
template <class A> __device__ __forceinline__ A dm_pow_scalar(A x, A a) {
    if (a == (A)0.5) return dm_sqrt(x);
    if (a == (A)-0.5) return (A)1 / dm_sqrt(x);
    if (a == (A)2) return x * x;
    if (a == (A)3) return x * x * x;
    if (a == (A)-1) return (A)1 / x;
    if (a == (A)-2) return (A)1 / (x * x);
    return dm_pow(x, a);
}
__device__ __forceinline__ float dm_fmod(float x, float y) { return fmodf(x, y); }
__device__ __forceinline__ double dm_fmod(double x, double y) { return fmod(x, y); }

template <class A> __device__ __forceinline__ bool dm_isnan(A x) { return x != x; }
template <class A> __device__ __forceinline__ bool dm_isfinite(A x) { return x - x == x - x; }
template <class A> __device__ __forceinline__ A dm_inf();
template <> __device__ __forceinline__ float dm_inf<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double dm_inf<double>() {
    return __longlong_as_double(0x7ff0000000000000LL);
}

// max/min that propagate NaN (torch.max / amax semantics).
template <class A> __device__ __forceinline__ A dm_max(A a, A b) {
    return (dm_isnan(a) || a > b) ? a : b;
}
template <class A> __device__ __forceinline__ A dm_min(A a, A b) {
    return (dm_isnan(a) || a < b) ? a : b;
}

// ---- warp and block reductions ----------------------------------------------------------------

// The combiners of the warp and block reductions.
struct DmSum {
    template <class A> __device__ __forceinline__ static A apply(A a, A b) { return a + b; }
};
struct DmMax {
    template <class A> __device__ __forceinline__ static A apply(A a, A b) { return dm_max(a, b); }
};

template <class Op, class A> __device__ __forceinline__ A warp_reduce(A v) {
    for (int o = DM_WARP / 2; o > 0; o >>= 1) {
        v = Op::apply(v, __shfl_xor_sync(DM_FULL_MASK, v, o));
    }
    return v;
}

// `Op` over the block, returned to every thread (`identity` fills the missing warps).
// blockDim.x must be a multiple of 32. Safe to call repeatedly: the leading barrier keeps a
// new round from overwriting partials being read.
template <class Op, class A> __device__ A block_reduce(A v, A identity) {
    __shared__ A part[DM_WARP];
    const int lane = threadIdx.x % DM_WARP, warp = threadIdx.x / DM_WARP;
    const int nwarps = blockDim.x / DM_WARP;
    v = warp_reduce<Op>(v);
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    return warp_reduce<Op>(lane < nwarps ? part[lane] : identity);
}

template <class A> __device__ __forceinline__ A warp_sum(A v) { return warp_reduce<DmSum>(v); }
template <class A> __device__ __forceinline__ A warp_max(A v) { return warp_reduce<DmMax>(v); }
template <class A> __device__ A block_sum(A v) { return block_reduce<DmSum>(v, (A)0); }
template <class A> __device__ A block_max(A v) { return block_reduce<DmMax>(v, -dm_inf<A>()); }

// ---- counter-based random numbers ------------------------------------------------------

// Philox4x32-10 (Salmon et al., SC'11): a value is a pure function of (seed, offset, index),
// so a kernel can redraw a dropout mask without storing it (rng.rs has the same function for
// the CPU).
struct Philox4 {
    unsigned int v[4];
};

__device__ __forceinline__ Philox4 philox4x32_10(Philox4 c, unsigned int k0, unsigned int k1) {
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const unsigned long long p0 = (unsigned long long)0xD2511F53u * c.v[0];
        const unsigned long long p1 = (unsigned long long)0xCD9E8D57u * c.v[2];
        const unsigned int hi0 = (unsigned int)(p0 >> 32), lo0 = (unsigned int)p0;
        const unsigned int hi1 = (unsigned int)(p1 >> 32), lo1 = (unsigned int)p1;
        Philox4 n;
        n.v[0] = hi1 ^ c.v[1] ^ k0;
        n.v[1] = lo1;
        n.v[2] = hi0 ^ c.v[3] ^ k1;
        n.v[3] = lo0;
        c = n;
    }
    return c;
}

// Four random words for group `group` (elements 4*group .. 4*group+3) of stream (seed, offset).
__device__ __forceinline__ Philox4 philox_words(unsigned long long seed, unsigned long long offset,
                                                unsigned long long group) {
    Philox4 c;
    c.v[0] = (unsigned int)group;
    c.v[1] = (unsigned int)(group >> 32);
    c.v[2] = (unsigned int)offset;
    c.v[3] = (unsigned int)(offset >> 32);
    return philox4x32_10(c, (unsigned int)seed, (unsigned int)(seed >> 32));
}

// Uniform in [0, 1) with 32 random bits.
__device__ __forceinline__ double word_to_unit(unsigned int w) { return (double)w * 2.3283064365386963e-10; }
