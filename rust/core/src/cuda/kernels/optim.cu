// Fused optimizer steps: Adam and SGD update up to DM_MT parameters of a group per launch
// (blockIdx.y picks the tensor, blocks stride over its elements); RMSprop and Adagrad one
// parameter per launch, as are the element-wise rules (Adadelta ... Rprop). The arithmetic is the CPU's (optim/*.rs) operation for operation, in
// the parameter dtype, so both backends agree to rounding. AMP: `found_inf` (nullable, device) skips the whole step
// without a host sync, and `grad_scale` multiplies gradients first.
#include "common.cuh"

#define DM_MT 16

// The head of both tensor lists (mirrors `cuda::launch::ParamList`, repr(C)).
struct ParamList {
    int count, pad_;
    long long numel[DM_MT];
    void* param[DM_MT];
    const void* grad[DM_MT];
};

// The block's slot of a list (blockIdx.y) with its parameter and gradient; `t` is -1 when the
// block is past the list's end or AMP found an inf (the whole step is skipped, no host sync).
template <class T> struct DmSlot {
    int t;
    T* p;
    const T* g;
};
template <class T>
__device__ __forceinline__ DmSlot<T> dm_slot(const ParamList& h, const float* found_inf) {
    const int t = blockIdx.y;
    if ((found_inf && *found_inf != 0.0f) || t >= h.count) return DmSlot<T>{-1, nullptr, nullptr};
    return DmSlot<T>{t, (T*)h.param[t], (const T*)h.grad[t]};
}

// Mirrors `optim::AdamConfig` / `cuda::launch::AdamList` (repr(C)).
struct AdamConfig {
    double lr, beta1, beta2, eps, weight_decay;
    bool decoupled, amsgrad, maximize;
    double grad_scale;
};
struct AdamList {
    ParamList head;
    long long step[DM_MT];  // the step count after this step, as PyTorch increments first
    void* exp_avg[DM_MT];
    void* exp_avg_sq[DM_MT];
    void* max_exp_avg_sq[DM_MT];  // read only when amsgrad
};

template <class T> __device__ void adam_step(AdamConfig c, AdamList l, const float* found_inf) {
    const auto [t, p, g] = dm_slot<T>(l.head, found_inf);
    if (t < 0) return;
    T* m = (T*)l.exp_avg[t];
    T* v = (T*)l.exp_avg_sq[t];
    T* vmax = (T*)l.max_exp_avg_sq[t];
    const double step = (double)l.step[t];
    const double bc1 = 1.0 - pow(c.beta1, step);
    const T bc2_sqrt = (T)sqrt(1.0 - pow(c.beta2, step));
    const T step_size = (T)(c.lr / bc1);
    const T b1c = (T)(1.0 - c.beta1), b2 = (T)c.beta2, b2c = (T)(1.0 - c.beta2), eps = (T)c.eps;
    const T wd = (T)c.weight_decay, decay = (T)(1.0 - c.lr * c.weight_decay);
    const T scale = (T)c.grad_scale;
    DM_GRID_LOOP(i, l.head.numel[t]) {
        T gi = g[i] * scale;
        if (c.maximize) gi = -gi;
        T pi = p[i];
        if (c.weight_decay != 0.0) {
            if (c.decoupled) pi = pi * decay;
            else gi = gi + wd * pi;
        }
        const T mi = m[i] + b1c * (gi - m[i]);
        const T vi = v[i] * b2 + b2c * gi * gi;
        m[i] = mi;
        v[i] = vi;
        T vv = vi;
        if (c.amsgrad) {
            vv = vi > vmax[i] ? vi : vmax[i];
            vmax[i] = vv;
        }
        p[i] = pi - step_size * mi / (dm_sqrt(vv) / bc2_sqrt + eps);
    }
}

// Mirrors `optim::SgdConfig` / `cuda::launch::SgdList` (repr(C)).
struct SgdConfig {
    double lr, momentum, dampening, weight_decay;
    bool nesterov, maximize;
    double grad_scale;
};
struct SgdList {
    ParamList head;
    int initialized[DM_MT];  // 0: first step, the momentum buffer becomes the gradient
    void* momentum_buffer[DM_MT];  // null without momentum
};

template <class T> __device__ void sgd_step(SgdConfig c, SgdList l, const float* found_inf) {
    const auto [t, p, g] = dm_slot<T>(l.head, found_inf);
    if (t < 0) return;
    T* buf = (T*)l.momentum_buffer[t];
    const bool init = l.initialized[t] != 0;
    const T lr = (T)c.lr, wd = (T)c.weight_decay, mom = (T)c.momentum;
    const T damp = (T)(1.0 - c.dampening), scale = (T)c.grad_scale;
    DM_GRID_LOOP(i, l.head.numel[t]) {
        T d = g[i] * scale;
        if (c.maximize) d = -d;
        if (c.weight_decay != 0.0) d = d + wd * p[i];
        if (buf) {
            const T nb = init ? buf[i] * mom + damp * d : d;
            buf[i] = nb;
            d = c.nesterov ? d + mom * nb : nb;
        }
        p[i] = p[i] - lr * d;
    }
}

// RMSprop for one parameter (optim/rmsprop.rs): flags bit 0 = centered, bit 1 = maximize;
// grad_avg is read only when centered, momentum_buffer only when non-null.
template <class T>
__device__ void rmsprop_step(double lr, double alpha, double eps, double weight_decay,
                             double momentum, double grad_scale, int flags, long long n, T* p,
                             const T* g, T* v, T* gbar, T* buf) {
    const bool centered = flags & 1, maximize = flags & 2;
    const T a = (T)alpha, one_m_a = (T)(1.0 - alpha), e = (T)eps, wd = (T)weight_decay;
    const T mom = (T)momentum, scale = (T)grad_scale, lr_t = (T)lr;
    DM_GRID_LOOP(i, n) {
        T gi = g[i] * scale;
        if (maximize) gi = -gi;
        if (weight_decay != 0.0) gi = gi + wd * p[i];
        const T vi = v[i] * a + one_m_a * gi * gi;
        v[i] = vi;
        T avg;
        if (centered) {
            const T m = gbar[i] * a + one_m_a * gi;
            gbar[i] = m;
            avg = dm_sqrt(vi - m * m) + e;
        } else {
            avg = dm_sqrt(vi) + e;
        }
        if (buf) {
            const T nb = buf[i] * mom + gi / avg;
            buf[i] = nb;
            p[i] = p[i] - lr_t * nb;
        } else {
            p[i] = p[i] - lr_t * gi / avg;
        }
    }
}

// Adagrad for one parameter at the decayed rate clr (optim/adagrad.rs).
template <class T>
__device__ void adagrad_step(double clr, double weight_decay, double eps, double grad_scale,
                             int maximize, long long n, T* p, const T* g, T* sum) {
    const T lr_t = (T)clr, wd = (T)weight_decay, e = (T)eps, scale = (T)grad_scale;
    DM_GRID_LOOP(i, n) {
        T gi = g[i] * scale;
        if (maximize) gi = -gi;
        if (weight_decay != 0.0) gi = gi + wd * p[i];
        const T s = sum[i] + gi * gi;
        sum[i] = s;
        p[i] = p[i] - lr_t * gi / (dm_sqrt(s) + e);
    }
}

// The element-wise rules of optim/rules.rs (rule numbers as `OptimRule`), one parameter per
// launch, operation for operation as cpu/optim_rules.rs: k[0..3] prepare the gradient
// (`g * scale + l2 * p`, then `p *= decay`), the rest are the rule's constants. `s1` is null
// for ASGD. Mirrors `[f64; MAX_RULE_CONSTS]`.
#define DM_RULE_CONSTS 12
struct RuleConsts {
    double k[DM_RULE_CONSTS];
};

template <class T> __device__ T dm_lerp(T s, T e, T w) {
    return w < (T)0.5 ? s + w * (e - s) : e - (e - s) * ((T)1 - w);
}

// torch.maximum: NaN when either is NaN.
template <class T> __device__ T dm_nan_max(T a, T b) {
    if (a != a) return a;
    if (b != b) return b;
    return b > a ? b : a;
}

template <class T>
__device__ void optim_rule_step(int rule, RuleConsts c, long long n, T* p, const T* g, T* s0,
                                T* s1) {
    const double* k = c.k + 3;
    const T scale = (T)c.k[0], l2 = (T)c.k[1], decay = (T)c.k[2];
    const bool has_l2 = c.k[1] != 0.0, has_decay = c.k[2] != 1.0;
    DM_GRID_LOOP(i, n) {
        T pi = p[i];
        T gi = g[i] * scale;
        if (has_l2) gi = gi + l2 * pi;
        if (has_decay) pi = pi * decay;
        switch (rule) {
        case 0: {  // Adadelta: lr, rho, 1 - rho, eps
            const T rho = (T)k[1], one_m_rho = (T)k[2], eps = (T)k[3];
            const T v = s0[i] * rho + one_m_rho * gi * gi;
            s0[i] = v;
            const T std = dm_sqrt(v + eps);
            const T delta = dm_sqrt(s1[i] + eps) / std * gi;
            s1[i] = s1[i] * rho + one_m_rho * delta * delta;
            pi = pi - (T)k[0] * delta;
            break;
        }
        case 1: {  // Adamax: clr, 1 - b1, b2, eps
            const T m = dm_lerp(s0[i], gi, (T)k[1]);
            s0[i] = m;
            const T u = dm_nan_max(s1[i] * (T)k[2], (gi < (T)0 ? -gi : gi) + (T)k[3]);
            s1[i] = u;
            pi = pi - (T)k[0] * (m / u);
            break;
        }
        case 2: {  // NAdam: 1 - b1, b2, 1 - b2, 1 - b2^t, eps, c_grad, c_avg
            const T m = dm_lerp(s0[i], gi, (T)k[0]);
            s0[i] = m;
            const T v = s1[i] * (T)k[1] + (T)k[2] * gi * gi;
            s1[i] = v;
            const T d = dm_sqrt(v / (T)k[3]) + (T)k[4];
            pi = pi + (T)k[5] * (gi / d);
            pi = pi + (T)k[6] * (m / d);
            break;
        }
        case 3: {  // RAdam: 1 - b1, b2, 1 - b2, 1 - b1^t, lr, sqrt(1 - b2^t), eps, rect (0: none)
            const T m = dm_lerp(s0[i], gi, (T)k[0]);
            s0[i] = m;
            const T v = s1[i] * (T)k[1] + (T)k[2] * gi * gi;
            s1[i] = v;
            const T corrected = m / (T)k[3] * (T)k[4];
            if ((T)k[7] != (T)0) {
                pi = pi - corrected * ((T)k[5] / (dm_sqrt(v) + (T)k[6])) * (T)k[7];
            } else {
                pi = pi - corrected;
            }
            break;
        }
        case 4: {  // ASGD: eta, mu (1: the average restarts at the parameter)
            pi = pi - (T)k[0] * gi;
            s0[i] = (T)k[1] != (T)1 ? s0[i] + (pi - s0[i]) * (T)k[1] : pi;
            break;
        }
        default: {  // Rprop: etaminus, etaplus, step_size_min, step_size_max
            const T zero = (T)0, etaminus = (T)k[0];
            const T prod = gi * s0[i];
            // A NaN product has sign 0 in PyTorch: the step size stays.
            const T factor = prod > zero ? (T)k[1] : prod < zero ? etaminus : (T)1;
            T s = s1[i] * factor;
            s = s < (T)k[2] ? (T)k[2] : (s > (T)k[3] ? (T)k[3] : s);
            s1[i] = s;
            const T gz = factor == etaminus ? zero : gi;
            const T sign = gz > zero ? (T)1 : (gz < zero ? (T)-1 : zero);
            pi = pi - sign * s;
            s0[i] = gz;
            break;
        }
        }
        p[i] = pi;
    }
}

#define DM_OPTIM_KERNELS(S, T)                                                                 \
    extern "C" __global__ void adam_step_##S(AdamConfig c, AdamList l, const float* found_inf) { \
        adam_step<T>(c, l, found_inf);                                                          \
    }                                                                                           \
    extern "C" __global__ void sgd_step_##S(SgdConfig c, SgdList l, const float* found_inf) {   \
        sgd_step<T>(c, l, found_inf);                                                           \
    }                                                                                           \
    extern "C" __global__ void rmsprop_step_##S(double lr, double alpha, double eps,            \
                                                double wd, double mom, double scale, int flags, \
                                                long long n, T* p, const T* g, T* v, T* gbar,   \
                                                T* buf) {                                       \
        rmsprop_step<T>(lr, alpha, eps, wd, mom, scale, flags, n, p, g, v, gbar, buf);          \
    }                                                                                           \
    extern "C" __global__ void adagrad_step_##S(double clr, double wd, double eps, double scale, \
                                                int maximize, long long n, T* p, const T* g,    \
                                                T* sum) {                                       \
        adagrad_step<T>(clr, wd, eps, scale, maximize, n, p, g, sum);                           \
    }                                                                                           \
    extern "C" __global__ void optim_rule_step_##S(int rule, RuleConsts c, long long n, T* p,   \
                                                   const T* g, T* s0, T* s1) {                 \
        optim_rule_step<T>(rule, c, n, p, g, s0, s1);                                           \
    }
DM_OPTIM_KERNELS(f32, float)
DM_OPTIM_KERNELS(f64, double)
