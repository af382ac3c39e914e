// Mixed precision: the fused unscale + non-finite check over all gradients of a step (one
// launch for up to DM_AMP_MT tensors, blockIdx.y picks the tensor) and the GradScaler's scale
// update, both on the device so a training step needs no host sync to decide on skipping.
#include "common.cuh"

#define DM_AMP_MT 32

// Mirrors `cuda::launch::AmpList` (repr(C)).
struct AmpList {
    int count, pad_;
    long long numel[DM_AMP_MT];
    void* grad[DM_AMP_MT];
};

// g *= inv_scale in place (when `apply`); *found_inf = 1 if any scaled value is inf or NaN,
// as amp.rs's unscale_and_check (the product is formed in double, then rounded).
template <class T>
__device__ void amp_unscale(AmpList l, double inv_scale, int apply, float* found_inf) {
    const int t = blockIdx.y;
    if (t >= l.count) return;
    T* g = (T*)l.grad[t];
    bool bad = false;
    DM_GRID_LOOP(i, l.numel[t]) {
        const double x = (double)Num<T>::load(g[i]) * inv_scale;
        bad = bad || !dm_isfinite(x);
        if (apply) g[i] = Num<T>::store((typename Num<T>::acc)x);
    }
    if (bad) *found_inf = 1.0f;  // benign race: every writer stores the same value
}

// PyTorch's _amp_update_scale_: on overflow scale *= backoff and the tracker resets; else
// after `interval` clean steps in a row scale *= growth.
extern "C" __global__ void amp_update_scale(float* scale, int* growth_tracker,
                                            const float* found_inf, double growth, double backoff,
                                            int interval) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    if (*found_inf != 0.0f) {
        *scale = (float)((double)*scale * backoff);
        *growth_tracker = 0;
    } else {
        const int n = *growth_tracker + 1;
        if (n == interval) {
            const float grown = (float)((double)*scale * growth);
            if (dm_isfinite(grown)) *scale = grown;
            *growth_tracker = 0;
        } else {
            *growth_tracker = n;
        }
    }
}

#define DM_AMP_KERNELS(S, T)                                                                \
    extern "C" __global__ void amp_unscale_##S(AmpList l, double inv_scale, int apply,       \
                                               float* found_inf) {                           \
        amp_unscale<T>(l, inv_scale, apply, found_inf);                                      \
    }
DM_AMP_KERNELS(f32, float)
DM_AMP_KERNELS(f64, double)
DM_AMP_KERNELS(f16, dm_f16)
DM_AMP_KERNELS(bf16, dm_bf16)
