// Elementwise kernels over strided views (DmLayout): unary maps and their gradients, binary
// ops with broadcasting, comparisons, where, fill and dtype casts. One kernel per dtype takes
// the op as a warp-uniform code, so the table of kernels stays small; the codes are generated
// into common.cuh from `cuda::codes` on the host.
#include "common.cuh"

#define DM_SQRT_2_OVER_PI 0.7978845608028654
#define DM_INV_SQRT_2 0.7071067811865476
#define DM_INV_SQRT_2PI 0.3989422804014327
#define DM_LN_2 0.6931471805599453
#define DM_LN_10 2.302585092994046

// `min(max(t, 0), 6)`, NaN kept (both comparisons are false), as the CPU formula's.
template <class A> __device__ __forceinline__ A relu6(A t) {
    return t < (A)0 ? (A)0 : (t > (A)6 ? (A)6 : t);
}

// 1 / (1 + e^-x) from e = e^-|x| (never overflows), as the host's `sigmoid` in ops/unary.rs.
template <class A> __device__ __forceinline__ A sigmoid(A x) {
    const A e = dm_exp(-dm_fabs(x));
    const A r = (A)1 / ((A)1 + e);
    return x >= (A)0 ? r : e * r;
}

// The inverse error function: Giles' approximation, then two Newton steps on erf(x) = y (as
// the host's `erfinv` in ops/unary.rs).
template <class A> __device__ A dm_erfinv(A y) {
    if (dm_isnan(y) || dm_fabs(y) > (A)1) return y * (A)0 / (A)0;
    if (dm_fabs(y) == (A)1) return y / (A)0;
    A w = -dm_log(((A)1 - y) * ((A)1 + y));
    A p;
    if (w < (A)5) {
        w = w - (A)2.5;
        p = (A)2.81022636e-08;
        p = (A)3.43273939e-07 + p * w; p = (A)-3.5233877e-06 + p * w;
        p = (A)-4.39150654e-06 + p * w; p = (A)2.1858087e-04 + p * w;
        p = (A)-1.25372503e-03 + p * w; p = (A)-4.17768164e-03 + p * w;
        p = (A)2.46640727e-01 + p * w; p = (A)1.50140941 + p * w;
    } else {
        w = dm_sqrt(w) - (A)3;
        p = (A)-2.00214257e-04;
        p = (A)1.00950558e-04 + p * w; p = (A)1.34934322e-03 + p * w;
        p = (A)-3.67342844e-03 + p * w; p = (A)5.73950773e-03 + p * w;
        p = (A)-7.6224613e-03 + p * w; p = (A)9.43887047e-03 + p * w;
        p = (A)1.00167406 + p * w; p = (A)2.83297682 + p * w;
    }
    A x = p * y;
    for (int i = 0; i < 2; ++i) x -= (dm_erf(x) - y) / ((A)1.1283791670955126 * dm_exp(-x * x));
    return x;
}

// The digamma function: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the
// asymptotic series; the reflection formula below 0 (as the host's `special::digamma`).
template <class A> __device__ A dm_digamma(A x) {
    const A pi = (A)3.141592653589793;
    if (dm_isnan(x)) return x;
    if (x == (A)0) return (A)1 / x < (A)0 ? dm_inf<A>() : -dm_inf<A>();  // psi(+-0) = -+inf
    A acc = (A)0;
    if (x < (A)0) {
        if (x == dm_floor(x)) return x * (A)0 / (A)0;
        acc = -pi / dm_tan(pi * x);
        x = (A)1 - x;
    }
    while (x < (A)10) { acc -= (A)1 / x; x += (A)1; }
    const A r = (A)1 / (x * x);
    const A series = r * ((A)(1.0 / 12) + r * ((A)(-1.0 / 120) + r * ((A)(1.0 / 252) +
                     r * ((A)(-1.0 / 240) + r * ((A)(1.0 / 132) + r * (A)(-691.0 / 32760))))));
    return acc + dm_log(x) - (A)0.5 / x - series;
}

// The n-th derivative of digamma for n >= 1: (-1)^(n+1) n! zeta(n + 1, x), the Hurwitz zeta
// summed directly until x + k >= 20 + n and closed with its Euler-Maclaurin tail (as the
// host's `special::polygamma`).
template <class A> __device__ A dm_polygamma(A n, A x) {
    if (n == (A)0) return dm_digamma(x);
    if (dm_isnan(x) || n < (A)0 || n != dm_floor(n)) return x * (A)0 / (A)0;
    const bool odd = dm_fmod(n, (A)2) == (A)1;
    if (x <= (A)0 && x == dm_floor(x)) return (odd ? (A)1 : (A)-1) / (A)0;
    const A s = n + (A)1;
    A z = x, zeta = (A)0;
    while (z < (A)20 + n) { zeta += dm_pow(z, -s); z += (A)1; }
    const double bern[8] = {1.0 / 6 / 2, -1.0 / 30 / 24, 1.0 / 42 / 720, -1.0 / 30 / 40320,
                            5.0 / 66 / 3628800, -691.0 / 2730 / 479001600,
                            7.0 / 6 / 87178291200.0, -3617.0 / 510 / 20922789888000.0};
    A tail = dm_pow(z, (A)1 - s) / (s - (A)1) + (A)0.5 * dm_pow(z, -s);
    A rising = s, power = dm_pow(z, -s - (A)1);
    for (int k = 0; k < 8; ++k) {
        tail += (A)bern[k] * rising * power;
        const A j = (A)(2 * k);
        rising *= (s + j + (A)1) * (s + j + (A)2);
        power /= z * z;
    }
    A factorial = (A)1;
    for (A i = (A)2; i <= n; i += (A)1) factorial *= i;
    return (odd ? (A)1 : (A)-1) * factorial * (zeta + tail);
}

// f(x); `a` and `b` carry the op's scalars (softplus beta/threshold, slope, alpha, clamp
// bounds, affine scale/shift, exponent).
template <class A> __device__ A unary_apply(int op, A x, A a, A b) {
    switch (op) {
        case U_IDENTITY: return x;
        case U_NEG: return -x;
        case U_ABS: return dm_fabs(x);
        case U_EXP: return dm_exp(x);
        case U_LOG: return dm_log(x);
        case U_LOG2: return dm_log(x) / (A)DM_LN_2;
        case U_LOG1P: return dm_log1p(x);
        case U_EXPM1: return dm_expm1(x);
        case U_SQRT: return dm_sqrt(x);
        case U_RSQRT: return (A)1 / dm_sqrt(x);
        case U_SQUARE: return x * x;
        case U_RECIPROCAL: return (A)1 / x;
        case U_SIN: return dm_sin(x);
        case U_COS: return dm_cos(x);
        case U_TANH: return dm_tanh(x);
        case U_SIGMOID: return sigmoid(x);
        case U_RELU: return (x > (A)0 || dm_isnan(x)) ? x : (A)0;
        case U_GELU: return (A)0.5 * x * ((A)1 + dm_erf(x * (A)DM_INV_SQRT_2));
        case U_GELU_TANH:
            return (A)0.5 * x *
                   ((A)1 + dm_tanh((A)DM_SQRT_2_OVER_PI * (x + (A)0.044715 * x * x * x)));
        case U_SILU: return x * sigmoid(x);
        case U_SOFTPLUS: return x * a > b ? x : dm_log1p(dm_exp(x * a)) / a;
        case U_LEAKY_RELU: return x > (A)0 ? x : x * a;
        case U_ELU: return x > (A)0 ? x : a * dm_expm1(x);
        case U_ERF: return dm_erf(x);
        case U_ERFINV: return dm_erfinv(x);
        case U_HARDSIGMOID: return relu6(x + (A)3) / (A)6;
        case U_HARDSWISH: return x * relu6(x + (A)3) / (A)6;
        case U_SINH: return dm_sinh(x);
        case U_COSH: return dm_cosh(x);
        case U_LOG10: return dm_log10(x);
        case U_MISH: return x * dm_tanh(dm_log1p(dm_exp(x)));
        case U_TAN: return dm_tan(x);
        case U_ASIN: return dm_asin(x);
        case U_ACOS: return dm_acos(x);
        case U_ATAN: return dm_atan(x);
        case U_ASINH: return dm_asinh(x);
        case U_ACOSH: return dm_acosh(x);
        case U_ATANH: return dm_atanh(x);
        case U_ERFC: return dm_erfc(x);
        case U_EXP2: return dm_exp2(x);
        case U_LGAMMA: return dm_lgamma(x);
        case U_DIGAMMA: return dm_digamma(x);
        case U_POLYGAMMA: return dm_polygamma(a, x);
        case U_SIGN: return x > (A)0 ? (A)1 : (x < (A)0 ? (A)-1 : (A)0);  /* 0 for NaN, as PyTorch */
        case U_FLOOR: return dm_floor(x);
        case U_CEIL: return dm_ceil(x);
        case U_ROUND: return dm_rint(x);
        case U_TRUNC: return dm_trunc(x);
        case U_CLAMP: return dm_isnan(x) ? x : (x < a ? a : (x > b ? b : x));
        case U_AFFINE: return x * a + b;
        case U_POW_SCALAR: return dm_pow_scalar(x, a);
        default: return x;
    }
}

// f'(x), for the fused backward g * f'(x).
template <class A> __device__ A unary_derivative(int op, A x, A a, A b) {
    switch (op) {
        case U_IDENTITY: return (A)1;
        case U_NEG: return (A)-1;
        case U_ABS: return unary_apply(U_SIGN, x, a, b);
        case U_EXP: return dm_exp(x);
        case U_LOG: return (A)1 / x;
        case U_LOG2: return (A)1 / (x * (A)DM_LN_2);
        case U_LOG1P: return (A)1 / ((A)1 + x);
        case U_EXPM1: return dm_exp(x);
        case U_SQRT: return (A)0.5 / dm_sqrt(x);
        case U_RSQRT: return (A)-0.5 / (x * dm_sqrt(x));
        case U_SQUARE: return (A)2 * x;
        case U_RECIPROCAL: return (A)-1 / (x * x);
        case U_SIN: return dm_cos(x);
        case U_COS: return -dm_sin(x);
        case U_TANH: { const A t = dm_tanh(x); return (A)1 - t * t; }
        case U_SIGMOID: { const A s = sigmoid(x); return s * ((A)1 - s); }
        case U_RELU: return x <= (A)0 ? (A)0 : (A)1;  // NaN passes (threshold_backward)
        case U_GELU: {
            const A cdf = (A)0.5 * ((A)1 + dm_erf(x * (A)DM_INV_SQRT_2));
            return cdf + x * dm_exp((A)-0.5 * x * x) * (A)DM_INV_SQRT_2PI;
        }
        case U_GELU_TANH: {
            const A t = dm_tanh((A)DM_SQRT_2_OVER_PI * (x + (A)0.044715 * x * x * x));
            const A dinner = (A)DM_SQRT_2_OVER_PI * ((A)1 + (A)(3.0 * 0.044715) * x * x);
            return (A)0.5 * ((A)1 + t) + (A)0.5 * x * ((A)1 - t * t) * dinner;
        }
        case U_SILU: { const A s = sigmoid(x); return s * ((A)1 + x * ((A)1 - s)); }
        case U_SOFTPLUS: return x * a > b ? (A)1 : sigmoid(x * a);
        case U_LEAKY_RELU: return x > (A)0 ? (A)1 : a;
        case U_ELU: return x <= (A)0 ? a * dm_exp(x) : (A)1;  // NaN: 1, as PyTorch
        case U_ERF: return (A)1.1283791670955126 * dm_exp(-x * x);
        case U_ERFINV: { const A y = dm_erfinv(x); return (A)0.886226925452758 * dm_exp(y * y); }
        case U_HARDSIGMOID: return (x > (A)-3 && x < (A)3) ? (A)1 / (A)6 : (A)0;
        case U_HARDSWISH: return x <= (A)-3 ? (A)0 : (x < (A)3 ? x / (A)3 + (A)0.5 : (A)1);
        case U_SINH: return dm_cosh(x);
        case U_COSH: return dm_sinh(x);
        case U_LOG10: return (A)1 / (x * (A)DM_LN_10);
        case U_MISH: {
            const A t = dm_tanh(dm_log1p(dm_exp(x)));
            return t + x * sigmoid(x) * ((A)1 - t * t);
        }
        case U_TAN: { const A t = dm_tan(x); return (A)1 + t * t; }
        case U_ASIN: return (A)1 / dm_sqrt((A)1 - x * x);
        case U_ACOS: return (A)-1 / dm_sqrt((A)1 - x * x);
        case U_ATAN: return (A)1 / ((A)1 + x * x);
        case U_ASINH: return (A)1 / dm_sqrt(x * x + (A)1);
        case U_ACOSH: return (A)1 / dm_sqrt(x * x - (A)1);
        case U_ATANH: return (A)1 / ((A)1 - x * x);
        case U_ERFC: return (A)-1.1283791670955126 * dm_exp(-x * x);
        case U_EXP2: return dm_exp2(x) * (A)DM_LN_2;
        case U_LGAMMA: return dm_digamma(x);
        case U_DIGAMMA: return dm_polygamma((A)1, x);
        case U_POLYGAMMA: return dm_polygamma(a + (A)1, x);
        case U_CLAMP: return ((x > a || a == -dm_inf<A>()) && (x < b || b == dm_inf<A>())) ? (A)1 : (A)0;
        case U_AFFINE: return a;
        case U_POW_SCALAR: return a * dm_pow(x, a - (A)1);
        default: return (A)0;  // sign, floor, ceil, round, trunc
    }
}

template <class A> __device__ A binary_apply(int op, A x, A y) {
    switch (op) {
        case B_ADD: return x + y;
        case B_SUB: return x - y;
        case B_MUL: return x * y;
        case B_DIV: return x / y;
        case B_POW: return dm_pow(x, y);
        case B_MAXIMUM: return dm_max(x, y);
        case B_MINIMUM: return dm_min(x, y);
        case B_REMAINDER: {  // Python's sign convention: the result takes the divisor's sign
            const A r = dm_fmod(x, y);
            return (r != (A)0 && ((r < (A)0) != (y < (A)0))) ? r + y : r;
        }
        case B_FLOOR_DIVIDE: {  // PyTorch's div_floor_floating: exact where floor(x / y) rounds
            if (y == (A)0) return x / y;
            const A m = dm_fmod(x, y);
            A d = (x - m) / y;
            if (m != (A)0 && ((y < (A)0) != (m < (A)0))) d -= (A)1;
            if (d == (A)0) return (A)0 * (x / y);  // a signed zero
            A f = dm_floor(d);
            if (d - f > (A)0.5) f += (A)1;
            return f;
        }
        default: return x;
    }
}

// Integers wrap on overflow like the CPU backend (unsigned arithmetic, no UB). Floor division
// and remainder follow Python's signs; a zero divisor gives -1 (the CPU backend raises there;
// a kernel cannot, and PyTorch's CUDA does not), and -1 as divisor never divides (INT_MIN / -1
// overflows). Powers square and multiply, wrapping; a negative exponent gives 1 / x**-e
// truncated (1, +-1 or 0), as PyTorch's integer pow.
template <class I> struct Unsigned;
template <> struct Unsigned<int> { typedef unsigned int type; };
template <> struct Unsigned<long long> { typedef unsigned long long type; };

template <class I> __device__ I int_binary_apply(int op, I x, I y) {
    typedef typename Unsigned<I>::type U;
    switch (op) {
        case B_ADD: return (I)((U)x + (U)y);
        case B_SUB: return (I)((U)x - (U)y);
        case B_MUL: return (I)((U)x * (U)y);
        case B_MAXIMUM: return x > y ? x : y;
        case B_MINIMUM: return x < y ? x : y;
        case B_FLOOR_DIVIDE: {
            if (y == 0) return (I)-1;
            if (y == -1) return (I)((U)0 - (U)x);
            const I q = x / y;
            return (x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q;
        }
        case B_REMAINDER: {
            if (y == 0) return (I)-1;
            if (y == -1) return 0;
            const I r = x % y;
            return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
        }
        case B_POW: {
            if (y < 0) return x == 1 ? (I)1 : (x == -1 ? ((y & 1) ? (I)-1 : (I)1) : (I)0);
            U base = (U)x, acc = 1;
            for (I e = y; e > 0; e >>= 1) {
                if (e & 1) acc *= base;
                base *= base;
            }
            return (I)acc;
        }
        default: return x;
    }
}

template <class A> __device__ __forceinline__ bool compare_apply(int op, A x, A y) {
    switch (op) {
        case C_EQ: return x == y;
        case C_NE: return x != y;
        case C_LT: return x < y;
        case C_LE: return x <= y;
        case C_GT: return x > y;
        default: return x >= y;
    }
}

template <class T>
__device__ void unary(int op, long long n, DmLayout xl, DmLayout yl, const T* x, T* y, double a,
                      double b) {
    typedef typename Num<T>::acc A;
    DM_GRID_LOOP(i, n) {
        const A v = Num<T>::load(x[dm_at(xl, i)]);
        y[dm_at(yl, i)] = Num<T>::store(unary_apply<A>(op, v, (A)a, (A)b));
    }
}

// dx (contiguous) = g * f'(x), and 0 where f' is 0 (a flat region passes no gradient, even an
// infinite one: relu(x).sqrt() at 0, as PyTorch's threshold_backward).
// The ops whose backward selects the gradient where f' is not 0 (`UnaryOp::masks_gradient`):
// there a NaN or inf gradient stops; elsewhere g * 0 keeps it NaN, as PyTorch's.
__device__ inline bool unary_masks_gradient(int op) {
    return op == U_RELU || op == U_CLAMP || op == U_HARDSIGMOID || op == U_SIGN ||
           op == U_FLOOR || op == U_CEIL || op == U_ROUND || op == U_TRUNC;
}

template <class T>
__device__ void unary_backward(int op, long long n, DmLayout xl, DmLayout gl, const T* x,
                               const T* g, T* dx, double a, double b) {
    typedef typename Num<T>::acc A;
    DM_GRID_LOOP(i, n) {
        const A v = Num<T>::load(x[dm_at(xl, i)]);
        const A gv = Num<T>::load(g[dm_at(gl, i)]);
        const A d = unary_derivative<A>(op, v, (A)a, (A)b);
        dx[i] = Num<T>::store(d == (A)0 && unary_masks_gradient(op) ? (A)0 : gv * d);
    }
}

// f'(x) written in the output y = f(x), for the ops whose backward reads their output (the
// op table's `dy` rows, `UnaryOp::saves_output`).
template <class A> __device__ A unary_derivative_out(int op, A y) {
    switch (op) {
        case U_EXP: return y;
        case U_TANH: return (A)1 - y * y;
        case U_SIGMOID: return y * ((A)1 - y);
        case U_RELU: return y <= (A)0 ? (A)0 : (A)1;
        case U_EXPM1: return y + (A)1;
        case U_SQRT: return (A)0.5 / y;
        case U_RSQRT: return (A)-0.5 * y * y * y;
        case U_RECIPROCAL: return -(y * y);
        case U_EXP2: return y * (A)0.69314718055994530942;
        default: return (A)0;
    }
}

// dx (contiguous) = g * f'(x) from the saved output y (masked as `unary_backward`).
template <class T>
__device__ void unary_backward_out(int op, long long n, DmLayout yl, DmLayout gl, const T* y,
                                   const T* g, T* dx) {
    typedef typename Num<T>::acc A;
    DM_GRID_LOOP(i, n) {
        const A v = Num<T>::load(y[dm_at(yl, i)]);
        const A gv = Num<T>::load(g[dm_at(gl, i)]);
        const A d = unary_derivative_out<A>(op, v);
        dx[i] = Num<T>::store(d == (A)0 && unary_masks_gradient(op) ? (A)0 : gv * d);
    }
}

// out = f(a, b) elementwise over broadcast layouts, both operands loaded in T's accumulation
// type (the loop binary ops and comparisons share).
template <class T, class O, class F>
__device__ void binary_map(long long n, DmLayout al, DmLayout bl, DmLayout ol, const T* a,
                           const T* b, O* out, F f) {
    typedef typename Num<T>::acc A;
    DM_GRID_LOOP(i, n) {
        const A x = Num<T>::load(a[dm_at(al, i)]), y = Num<T>::load(b[dm_at(bl, i)]);
        out[dm_at(ol, i)] = f(x, y);
    }
}

template <class T>
__device__ void binary(int op, long long n, DmLayout al, DmLayout bl, DmLayout ol, const T* a,
                       const T* b, T* out) {
    typedef typename Num<T>::acc A;
    binary_map(n, al, bl, ol, a, b, out,
               [op](A x, A y) { return Num<T>::store(binary_apply<A>(op, x, y)); });
}

template <class I>
__device__ void int_binary(int op, long long n, DmLayout al, DmLayout bl, DmLayout ol,
                           const I* a, const I* b, I* out) {
    DM_GRID_LOOP(i, n) { out[dm_at(ol, i)] = int_binary_apply<I>(op, a[dm_at(al, i)], b[dm_at(bl, i)]); }
}

template <class T>
__device__ void compare(int op, long long n, DmLayout al, DmLayout bl, DmLayout ol, const T* a,
                        const T* b, dm_bool* out) {
    typedef typename Num<T>::acc A;
    binary_map(n, al, bl, ol, a, b, out, [op](A x, A y) { return compare_apply<A>(op, x, y); });
}

template <class T>
__device__ void where_select(long long n, DmLayout cl, DmLayout al, DmLayout bl, DmLayout ol,
                             const dm_bool* c, const T* a, const T* b, T* out) {
    DM_GRID_LOOP(i, n) { out[dm_at(ol, i)] = c[dm_at(cl, i)] ? a[dm_at(al, i)] : b[dm_at(bl, i)]; }
}

template <class T> __device__ void fill(long long n, DmLayout yl, T* y, double v) {
    const T t = Conv<T>::from(v);
    DM_GRID_LOOP(i, n) { y[dm_at(yl, i)] = t; }
}

template <class S, class D>
__device__ void cast(long long n, DmLayout sl, DmLayout dl, const S* src, D* dst) {
    DM_GRID_LOOP(i, n) { dst[dm_at(dl, i)] = Conv<D>::from(src[dm_at(sl, i)]); }
}

// ---- instantiations: extern "C" names are `<kernel>_<dtype>` (see cuda/kernels.rs) ---------

#define DM_FLOAT_KERNELS(S, T)                                                                   \
    extern "C" __global__ void unary_##S(int op, long long n, DmLayout xl, DmLayout yl,          \
                                         const T* x, T* y, double a, double b) {                 \
        unary<T>(op, n, xl, yl, x, y, a, b);                                                     \
    }                                                                                            \
    extern "C" __global__ void unary_backward_##S(int op, long long n, DmLayout xl, DmLayout gl, \
                                                  const T* x, const T* g, T* dx, double a,       \
                                                  double b) {                                    \
        unary_backward<T>(op, n, xl, gl, x, g, dx, a, b);                                        \
    }                                                                                            \
    extern "C" __global__ void unary_backward_out_##S(int op, long long n, DmLayout yl,          \
                                                      DmLayout gl, const T* y, const T* g,      \
                                                      T* dx, double a, double b) {               \
        unary_backward_out<T>(op, n, yl, gl, y, g, dx);                                          \
    }                                                                                            \
    extern "C" __global__ void binary_##S(int op, long long n, DmLayout al, DmLayout bl,         \
                                          DmLayout ol, const T* a, const T* b, T* out) {         \
        binary<T>(op, n, al, bl, ol, a, b, out);                                                 \
    }
DM_FLOAT_KERNELS(f32, float)
DM_FLOAT_KERNELS(f64, double)
DM_FLOAT_KERNELS(f16, dm_f16)
DM_FLOAT_KERNELS(bf16, dm_bf16)

#define DM_INT_KERNELS(S, T)                                                             \
    extern "C" __global__ void binary_##S(int op, long long n, DmLayout al, DmLayout bl, \
                                          DmLayout ol, const T* a, const T* b, T* out) { \
        int_binary<T>(op, n, al, bl, ol, a, b, out);                                     \
    }
DM_INT_KERNELS(i64, long long)
DM_INT_KERNELS(i32, int)

#define DM_ANY_KERNELS(S, T)                                                                     \
    extern "C" __global__ void compare_##S(int op, long long n, DmLayout al, DmLayout bl,        \
                                           DmLayout ol, const T* a, const T* b, dm_bool* out) {  \
        compare<T>(op, n, al, bl, ol, a, b, out);                                                \
    }                                                                                            \
    extern "C" __global__ void where_##S(long long n, DmLayout cl, DmLayout al, DmLayout bl,     \
                                         DmLayout ol, const dm_bool* c, const T* a, const T* b,  \
                                         T* out) {                                               \
        where_select<T>(n, cl, al, bl, ol, c, a, b, out);                                        \
    }                                                                                            \
    extern "C" __global__ void fill_##S(long long n, DmLayout yl, T* y, double v) {              \
        fill<T>(n, yl, y, v);                                                                    \
    }
DM_ANY_KERNELS(f32, float)
DM_ANY_KERNELS(f64, double)
DM_ANY_KERNELS(f16, dm_f16)
DM_ANY_KERNELS(bf16, dm_bf16)
DM_ANY_KERNELS(i64, long long)
DM_ANY_KERNELS(i32, int)
DM_ANY_KERNELS(i16, short)
DM_ANY_KERNELS(i8, signed char)
DM_ANY_KERNELS(u8, unsigned char)
DM_ANY_KERNELS(bool, dm_bool)

#define DM_CAST(SN, S, DN, D)                                                                \
    extern "C" __global__ void cast_##SN##_##DN(long long n, DmLayout sl, DmLayout dl,        \
                                                const S* src, D* dst) {                       \
        cast<S, D>(n, sl, dl, src, dst);                                                      \
    }
#define DM_CAST_FROM(SN, S)                                                                    \
    DM_CAST(SN, S, f32, float) DM_CAST(SN, S, f64, double) DM_CAST(SN, S, f16, dm_f16)        \
    DM_CAST(SN, S, bf16, dm_bf16) DM_CAST(SN, S, i64, long long) DM_CAST(SN, S, i32, int)     \
    DM_CAST(SN, S, i16, short) DM_CAST(SN, S, i8, signed char) DM_CAST(SN, S, u8, unsigned char) \
    DM_CAST(SN, S, bool, dm_bool)
DM_CAST_FROM(f32, float)
DM_CAST_FROM(f64, double)
DM_CAST_FROM(f16, dm_f16)
DM_CAST_FROM(bf16, dm_bf16)
DM_CAST_FROM(i64, long long)
DM_CAST_FROM(i32, int)
DM_CAST_FROM(i16, short)
DM_CAST_FROM(i8, signed char)
DM_CAST_FROM(u8, unsigned char)
DM_CAST_FROM(bool, dm_bool)
