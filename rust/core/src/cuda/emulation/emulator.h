// The kernel registry and C entry points of the emulated CUDA build (see cuda_shim.h). A test
// translation unit includes one kernel family and registers its kernels by name with
// DM_EMU_REGISTER; the signature is captured by template deduction, so callers (the Python
// tests, through ctypes) can check arity and parameter sizes before launching.
#pragma once

#include <utility>
#include <vector>

namespace dm_emu {

// One kernel parameter: its size in bytes and kind ('p' pointer, 'i' integer, 'f' floating
// point, 's' struct passed by value).
struct Param {
    char kind;
    int size;
};

struct Entry {
    const char* name;
    void* fn;
    void (*invoke)(void* fn, void** args);
    std::vector<Param> params;
};

std::vector<Entry>& registry();

template <class T> constexpr char kind_of() {
    return std::is_pointer<T>::value          ? 'p'
           : std::is_integral<T>::value       ? 'i'
           : std::is_floating_point<T>::value ? 'f'
                                              : 's';
}

template <class... A> struct Reg {
    template <size_t... I> static void call(void* fn, void** args, std::index_sequence<I...>) {
        reinterpret_cast<void (*)(A...)>(fn)(*static_cast<std::decay_t<A>*>(args[I])...);
    }
    static void invoke(void* fn, void** args) { call(fn, args, std::index_sequence_for<A...>{}); }
    Reg(const char* name, void (*fn)(A...)) {
        registry().push_back(Entry{name, reinterpret_cast<void*>(fn), &Reg::invoke,
                                   {Param{kind_of<A>(), (int)sizeof(A)}...}});
    }
};

}  // namespace dm_emu

#define DM_EMU_REGISTER(name) static dm_emu::Reg dm_emu_reg_##name(#name, &name);
