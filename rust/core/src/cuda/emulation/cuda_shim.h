// Lets the kernel sources under ../kernels compile with the host C++ compiler, so their logic
// is tested on machines without a GPU. It defines the CUDA names the kernels use and routes
// the execution-model primitives (__syncthreads, warp shuffles, atomics, thread indices) to
// the cooperative scheduler in emulator.cpp: every CUDA thread of a block is a fiber, a
// barrier really waits for the whole block (or warp), and a block's __shared__ variables are
// the function's statics, shared by its fibers. Blocks run one after another.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1)
        : x(x_), y(y_), z(z_) {}
};

// Set by the scheduler before each fiber resumes; only one fiber runs at a time.
extern dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace dm_emu {
[[noreturn]] void fail(const char* msg);
void sync_block();
void sync_warp();
int lane_id();
bool lane_alive(int lane);
unsigned char* warp_slot(int lane);  // this warp's exchange buffer, 16 bytes per lane

// Every lane publishes its value, waits for the warp, reads its source lane, waits again so
// the buffer can be reused by the next shuffle.
template <class T> T exchange(unsigned mask, T v, int src) {
    static_assert(sizeof(T) <= 16, "shuffle of a type wider than 16 bytes");
    if (mask != 0xffffffffu) fail("warp shuffles with a partial mask are not emulated");
    std::memcpy(warp_slot(lane_id()), &v, sizeof(T));
    sync_warp();
    if (!lane_alive(src)) fail("warp shuffle reads a lane that has exited or does not exist");
    T r;
    std::memcpy(&r, warp_slot(src), sizeof(T));
    sync_warp();
    return r;
}
}  // namespace dm_emu

inline void __syncthreads() { dm_emu::sync_block(); }
inline void __syncwarp(unsigned = 0xffffffffu) { dm_emu::sync_warp(); }

template <class T> T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    const int lane = dm_emu::lane_id();
    int src = lane ^ lane_mask;
    if (src / width != lane / width) src = lane;
    return dm_emu::exchange(mask, v, src);
}
template <class T> T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    const int lane = dm_emu::lane_id();
    const int src = (lane % width) + (int)delta < width ? lane + (int)delta : lane;
    return dm_emu::exchange(mask, v, src);
}
template <class T> T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    const int lane = dm_emu::lane_id();
    const int src = (lane % width) >= (int)delta ? lane - (int)delta : lane;
    return dm_emu::exchange(mask, v, src);
}
template <class T> T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
    const int lane = dm_emu::lane_id();
    return dm_emu::exchange(mask, v, (lane / width) * width + src_lane % width);
}

// ---- bit casts and math the CUDA device library has and libm lacks -------------------------

inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline unsigned int __float_as_uint(float f) { unsigned int i; std::memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, 8); return i; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}

// ---- half and bfloat16: 16-bit storage, conversions round to nearest even ------------------

struct __half { unsigned short x; };
struct __nv_bfloat16 { unsigned short x; };

inline float __half2float(__half h) {
    const unsigned int sign = (unsigned int)(h.x & 0x8000u) << 16;
    const unsigned int exp = (h.x >> 10) & 0x1fu, man = h.x & 0x3ffu;
    unsigned int bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {  // subnormal: value = man * 2^-24
        float f = (float)man * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    return __uint_as_float(bits);
}

inline __half __float2half_rn(float f) {
    const unsigned int u = __float_as_uint(f);
    const unsigned short sign = (unsigned short)((u >> 16) & 0x8000u);
    const float a = std::fabs(f);
    __half h;
    if (a != a) { h.x = sign | 0x7e00u; return h; }
    if (a >= 65520.0f) { h.x = sign | 0x7c00u; return h; }  // rounds to infinity
    if (a < 6.103515625e-05f) {  // subnormal half: round a / 2^-24 to an integer (ties even)
        h.x = sign | (unsigned short)std::nearbyint(a * 16777216.0f);
        return h;
    }
    unsigned int b = __float_as_uint(a);
    const unsigned int rest = b & 0x1fffu;
    unsigned int r = ((b >> 13) - (112u << 10));
    if (rest > 0x1000u || (rest == 0x1000u && (r & 1u))) r += 1;
    h.x = sign | (unsigned short)r;
    return h;
}
inline __half __float2half(float f) { return __float2half_rn(f); }

inline float __bfloat162float(__nv_bfloat16 b) { return __uint_as_float((unsigned int)b.x << 16); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    unsigned int u = __float_as_uint(f);
    __nv_bfloat16 b;
    if (f != f) { b.x = (unsigned short)((u >> 16) | 0x40u); return b; }
    u += 0x7fffu + ((u >> 16) & 1u);
    b.x = (unsigned short)(u >> 16);
    return b;
}
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }

// ---- atomics: fibers never interleave inside a call, so read-modify-write is atomic --------

template <class T> T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
inline __half atomicAdd(__half* p, __half v) {
    __half old = *p;
    *p = __float2half_rn(__half2float(old) + __half2float(v));
    return old;
}
inline __nv_bfloat16 atomicAdd(__nv_bfloat16* p, __nv_bfloat16 v) {
    __nv_bfloat16 old = *p;
    *p = __float2bfloat16_rn(__bfloat162float(old) + __bfloat162float(v));
    return old;
}
template <class T> T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <class T> T atomicMax(T* p, T v) { T old = *p; if (v > old) *p = v; return old; }
template <class T> T atomicMin(T* p, T v) { T old = *p; if (v < old) *p = v; return old; }
template <class T> T atomicCAS(T* p, T cmp, T v) { T old = *p; if (old == cmp) *p = v; return old; }
