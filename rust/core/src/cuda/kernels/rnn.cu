// The gate math of one recurrent time step (Elman tanh/relu, LSTM, GRU), forward and backward:
// one thread per (batch row, hidden unit), reading that unit's gates from the input and hidden
// projections. The GEMMs around it are cuBLAS calls made by the host (ops/nn/rnn.rs).
// Formulas mirror cpu/rnn.rs; `mode` is RnnMode's code (0 tanh, 1 relu, 2 LSTM, 3 GRU).
#include "common.cuh"

template <class T> __device__ __forceinline__ T rnn_sigmoid(T x) {
    return (T)1 / ((T)1 + dm_exp(-x));
}

// h' (and c', and the saved gates) from gi, gh [n, g*hid] and h, c [n, hid].
template <class T>
__device__ void rnn_step_forward(long long n, long long hid, int mode, const T* gi, const T* gh,
                                 const T* h, const T* c, T* h_out, T* c_out, T* act) {
    DM_GRID_LOOP(e, n * hid) {
        const long long r = e / hid, j = e % hid;
        if (mode == 2) {
            const T* x = gi + r * 4 * hid;
            const T* y = gh + r * 4 * hid;
            const T i = rnn_sigmoid(x[j] + y[j]);
            const T f = rnn_sigmoid(x[hid + j] + y[hid + j]);
            const T g = dm_tanh(x[2 * hid + j] + y[2 * hid + j]);
            const T o = rnn_sigmoid(x[3 * hid + j] + y[3 * hid + j]);
            const T cn = f * c[e] + i * g;
            c_out[e] = cn;
            h_out[e] = o * dm_tanh(cn);
            T* a = act + r * 4 * hid;
            a[j] = i;
            a[hid + j] = f;
            a[2 * hid + j] = g;
            a[3 * hid + j] = o;
        } else if (mode == 3) {
            const T* x = gi + r * 3 * hid;
            const T* y = gh + r * 3 * hid;
            const T rg = rnn_sigmoid(x[j] + y[j]);
            const T z = rnn_sigmoid(x[hid + j] + y[hid + j]);
            const T yn = y[2 * hid + j];
            const T nn = dm_tanh(x[2 * hid + j] + rg * yn);
            h_out[e] = ((T)1 - z) * nn + z * h[e];
            T* a = act + r * 4 * hid;
            a[j] = rg;
            a[hid + j] = z;
            a[2 * hid + j] = nn;
            a[3 * hid + j] = yn;
        } else {
            const T v = gi[e] + gh[e];
            h_out[e] = mode == 1 ? (v > (T)0 ? v : (T)0) : dm_tanh(v);
        }
    }
}

// The step's gradients from dh = dh0 + dh1 + dh2 (null parts are 0) and dc (null: 0).
template <class T>
__device__ void rnn_step_backward(long long n, long long hid, int mode, const T* dh0, const T* dh1,
                                  const T* dh2, const T* dc, const T* h, const T* hp, const T* c,
                                  const T* cp, const T* act, T* dgi, T* dgh, T* dhp, T* dcp) {
    DM_GRID_LOOP(e, n * hid) {
        const long long r = e / hid, j = e % hid;
        T dh = dh0 ? dh0[e] : (T)0;
        if (dh1) dh += dh1[e];
        if (dh2) dh += dh2[e];
        if (mode == 2) {
            const T* a = act + r * 4 * hid;
            const T i = a[j], f = a[hid + j], g = a[2 * hid + j], o = a[3 * hid + j];
            const T tc = dm_tanh(c[e]);
            T d = dh * o * ((T)1 - tc * tc);
            if (dc) d += dc[e];
            T* dg = dgi + r * 4 * hid;
            dg[j] = d * g * i * ((T)1 - i);
            dg[hid + j] = d * cp[e] * f * ((T)1 - f);
            dg[2 * hid + j] = d * i * ((T)1 - g * g);
            dg[3 * hid + j] = dh * tc * o * ((T)1 - o);
            dcp[e] = d * f;
        } else if (mode == 3) {
            const T* a = act + r * 4 * hid;
            const T rg = a[j], z = a[hid + j], nn = a[2 * hid + j], yn = a[3 * hid + j];
            const T dn = dh * ((T)1 - z) * ((T)1 - nn * nn);
            const T dr = dn * yn * rg * ((T)1 - rg);
            const T dz = dh * (hp[e] - nn) * z * ((T)1 - z);
            T* di = dgi + r * 3 * hid;
            T* dg = dgh + r * 3 * hid;
            di[j] = dr;
            di[hid + j] = dz;
            di[2 * hid + j] = dn;
            dg[j] = dr;
            dg[hid + j] = dz;
            dg[2 * hid + j] = dn * rg;
            dhp[e] = dh * z;
        } else {
            dgi[e] = mode == 1 ? (h[e] > (T)0 ? dh : (T)0) : dh * ((T)1 - h[e] * h[e]);
        }
    }
}

#define DM_RNN_KERNELS(S, T)                                                                      \
    extern "C" __global__ void rnn_step_forward_##S(long long n, long long hid, int mode,       \
                                                    const T* gi, const T* gh, const T* h,      \
                                                    const T* c, T* h_out, T* c_out, T* act) {  \
        rnn_step_forward<T>(n, hid, mode, gi, gh, h, c, h_out, c_out, act);                      \
    }                                                                                             \
    extern "C" __global__ void rnn_step_backward_##S(                                            \
        long long n, long long hid, int mode, const T* dh0, const T* dh1, const T* dh2,          \
        const T* dc, const T* h, const T* hp, const T* c, const T* cp, const T* act, T* dgi,     \
        T* dgh, T* dhp, T* dcp) {                                                                 \
        rnn_step_backward<T>(n, hid, mode, dh0, dh1, dh2, dc, h, hp, c, cp, act, dgi, dgh, dhp,  \
                             dcp);                                                                \
    }

DM_RNN_KERNELS(f32, float)
DM_RNN_KERNELS(f64, double)
