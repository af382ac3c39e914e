// The cooperative scheduler behind cuda_shim.h and the C API the tests call through ctypes.
// A launch runs the grid's blocks one after another; within a block every CUDA thread is a
// ucontext fiber. A fiber runs until it reaches a barrier (__syncthreads, __syncwarp or a
// shuffle) or returns; when every live thread of the block (or warp) waits at the barrier,
// they are released together. Passes over the fibers alternate between forward and reverse
// order, so code that forgets a barrier reads data that has not been written yet and fails.
#include "cuda_shim.h"
#include "emulator.h"

#include <ucontext.h>

#include <cstdlib>
#include <string>

dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace dm_emu {
namespace {

enum class State { Runnable, AtBlock, AtWarp, Done };

struct Fiber {
    ucontext_t ctx;
    State state;
    dim3 tid;
};

constexpr size_t kStack = 128 * 1024;
constexpr int kMaxThreads = 1024;

ucontext_t g_main;
std::vector<Fiber> g_fibers;
std::vector<char*> g_stacks;
int g_current = -1;
Entry* g_entry = nullptr;
void** g_args = nullptr;
std::string g_error;
unsigned char g_slots[kMaxThreads / 32][32][16];

struct Failure {};

void trampoline() {
    try {
        g_entry->invoke(g_entry->fn, g_args);
    } catch (const Failure&) {
    }
    g_fibers[g_current].state = State::Done;
    // uc_link returns to the scheduler.
}

void park(State s) {
    if (g_current < 0) fail("a barrier was reached outside a kernel launch");
    Fiber& f = g_fibers[g_current];
    f.state = s;
    swapcontext(&f.ctx, &g_main);
    if (!g_error.empty()) throw Failure{};  // another thread failed: unwind this one
}

// Runs one block to completion; returns false (with g_error set) on a failure.
bool run_block(const dim3& block) {
    const int n = (int)(block.x * block.y * block.z);
    while ((int)g_stacks.size() < n) g_stacks.push_back(static_cast<char*>(std::malloc(kStack)));
    g_fibers.assign(n, Fiber{});
    for (int i = 0; i < n; ++i) {
        Fiber& f = g_fibers[i];
        f.tid = dim3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
        f.state = State::Runnable;
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = g_stacks[i];
        f.ctx.uc_stack.ss_size = kStack;
        f.ctx.uc_link = &g_main;
        makecontext(&f.ctx, trampoline, 0);
    }
    for (int pass = 0;; ++pass) {
        for (int k = 0; k < n; ++k) {
            const int i = (pass % 2 == 0) ? k : n - 1 - k;
            if (g_fibers[i].state != State::Runnable) continue;
            g_current = i;
            threadIdx = g_fibers[i].tid;
            swapcontext(&g_main, &g_fibers[i].ctx);
            g_current = -1;
            if (!g_error.empty()) {
                // Let the other parked fibers unwind (their destructors run) before returning.
                for (int j = 0; j < n; ++j) {
                    if (g_fibers[j].state == State::Done) continue;
                    g_current = j;
                    threadIdx = g_fibers[j].tid;
                    swapcontext(&g_main, &g_fibers[j].ctx);
                    g_current = -1;
                }
                return false;
            }
        }
        int alive = 0, at_block = 0;
        for (const Fiber& f : g_fibers) {
            alive += f.state != State::Done;
            at_block += f.state == State::AtBlock;
        }
        if (alive == 0) return true;
        bool released = false;
        for (int w = 0; w * 32 < n; ++w) {
            bool all = true, any = false;
            for (int i = w * 32; i < n && i < (w + 1) * 32; ++i) {
                const State s = g_fibers[i].state;
                if (s == State::Done) continue;
                any = true;
                all = all && s == State::AtWarp;
            }
            if (any && all) {
                for (int i = w * 32; i < n && i < (w + 1) * 32; ++i)
                    if (g_fibers[i].state == State::AtWarp) g_fibers[i].state = State::Runnable;
                released = true;
            }
        }
        if (!released && at_block == alive) {
            for (Fiber& f : g_fibers)
                if (f.state == State::AtBlock) f.state = State::Runnable;
            released = true;
        }
        if (!released) {
            g_error =
                "deadlock: threads of one block wait at different barriers (__syncthreads or a "
                "warp shuffle in divergent code)";
            for (Fiber& f : g_fibers)
                if (f.state != State::Done) f.state = State::Runnable;
        }
    }
}

}  // namespace

std::vector<Entry>& registry() {
    static std::vector<Entry> r;
    return r;
}

void fail(const char* msg) {
    if (g_error.empty()) g_error = msg;
    if (g_current >= 0) throw Failure{};
    std::fprintf(stderr, "dm_emu: %s\n", msg);
    std::abort();
}

void sync_block() { park(State::AtBlock); }
void sync_warp() { park(State::AtWarp); }

int lane_id() {
    const dim3& t = threadIdx;
    return (int)((t.x + blockDim.x * (t.y + blockDim.y * t.z)) % 32);
}

static int linear_id() {
    const dim3& t = threadIdx;
    return (int)(t.x + blockDim.x * (t.y + blockDim.y * t.z));
}

bool lane_alive(int lane) {
    const int i = linear_id() / 32 * 32 + lane;
    return i < (int)g_fibers.size() && g_fibers[i].state != State::Done;
}

unsigned char* warp_slot(int lane) { return g_slots[linear_id() / 32][lane]; }

}  // namespace dm_emu

extern "C" {

int dm_emu_count() { return (int)dm_emu::registry().size(); }

// Name, parameter count and a signature string ("p8 i4 s144 ...") of kernel `i`.
const char* dm_emu_name(int i) { return dm_emu::registry()[i].name; }
int dm_emu_signature(int i, char* out, int cap) {
    std::string s;
    for (const dm_emu::Param& p : dm_emu::registry()[i].params) {
        if (!s.empty()) s += ' ';
        s += p.kind;
        s += std::to_string(p.size);
    }
    std::snprintf(out, cap, "%s", s.c_str());
    return (int)dm_emu::registry()[i].params.size();
}

// Launches kernel `i` on a grid; `args[k]` points at the value of parameter k. Returns 0, or
// -1 with a message in `err`.
int dm_emu_launch(int i, const unsigned* grid, const unsigned* block, void** args, char* err,
                  int cap) {
    using namespace dm_emu;
    const dim3 g(grid[0], grid[1], grid[2]), b(block[0], block[1], block[2]);
    if (b.x * b.y * b.z > (unsigned)kMaxThreads || b.x * b.y * b.z == 0) {
        std::snprintf(err, cap, "block of %u threads: must be 1..1024", b.x * b.y * b.z);
        return -1;
    }
    g_error.clear();
    g_entry = &registry()[i];
    g_args = args;
    gridDim = g;
    blockDim = b;
    for (unsigned z = 0; z < g.z; ++z)
        for (unsigned y = 0; y < g.y; ++y)
            for (unsigned x = 0; x < g.x; ++x) {
                blockIdx = dim3(x, y, z);
                if (!run_block(b)) {
                    std::snprintf(err, cap, "block (%u,%u,%u): %s", x, y, z, g_error.c_str());
                    return -1;
                }
            }
    return 0;
}
}
