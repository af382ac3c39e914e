// Kernels that test the emulator itself (tests/test_cuda_emulator.py): a barrier that must
// order shared-memory traffic, the same code without it (which must go wrong), warp and block
// reductions, and a shuffle in divergent code (which must be reported, not hang).
#include "common.cuh"

extern "C" __global__ void selftest_block_reverse(const int* in, int* out, int sync) {
    __shared__ int s[1024];
    const int t = threadIdx.x, n = blockDim.x;
    s[t] = in[blockIdx.x * n + t];
    if (sync) __syncthreads();
    out[blockIdx.x * n + t] = s[n - 1 - t];
}

extern "C" __global__ void selftest_sums(const float* in, float* warp_out, float* block_out) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const float v = in[i];
    warp_out[i] = warp_sum(v);
    block_out[i] = block_sum(v);
}

extern "C" __global__ void selftest_divergent_shuffle(float* out) {
    if (threadIdx.x % 32 < 16) return;
    out[threadIdx.x] = warp_sum(1.0f);
}
