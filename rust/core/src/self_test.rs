//! The engine's unit tests, compiled into the library and run by `tests/units.rs`
//! (`cargo test --release -p democratising --test units [-- FILTER]`).
//!
//! Why not `#[cfg(test)]`: `cargo test` would compile the whole engine a second time in test
//! mode, about 13 CPU-minutes of LLVM on the CI machine's two cores and the longest step of
//! `make test`. Here the tests ride along in the release build `make develop` already made;
//! nothing calls them from the extension, so its linker drops them.
//!
//! A module's tests are plain functions listed by `cases!` at the end of its `tests` module,
//! and the module is listed in [`all`]. A test function left out of its list is dead code,
//! which `make lint` (clippy `-D warnings`) refuses, so none is silently skipped.

/// One named unit test: it passes when `run` returns, fails when it panics.
pub struct Case {
    pub name: &'static str,
    pub run: fn(),
}

/// `CASES`, the module's tests, each named by its module path.
macro_rules! cases {
    ($($test:ident),* $(,)?) => {
        pub(crate) const CASES: &[$crate::self_test::Case] = &[$(
            $crate::self_test::Case { name: concat!(module_path!(), "::", stringify!($test)), run: $test },
        )*];
    };
}
pub(crate) use cases;

/// Every unit test of the engine, in module order.
pub fn all() -> Vec<&'static Case> {
    let mut modules: Vec<&[Case]> = vec![
        crate::amp::tests::CASES,
        crate::cpu::attention::tests::CASES,
        crate::cpu::gemm_bf16::tests::CASES,
        crate::cpu::inplace::tests::CASES,
        crate::cpu::rows::tests::CASES,
        crate::cpu::team::tests::CASES,
        crate::cpu::transpose16::tests::CASES,
        crate::cpu::f16c::tests::CASES,
        crate::cuda::tests::CASES,
        crate::cuda::allocator::tests::CASES,
        crate::cuda::codes::tests::CASES,
        crate::cuda::kernels::tests::CASES,
        crate::cuda::launch::tests::CASES,
        crate::cuda::nvrtc_tests::CASES,
        crate::cuda::ops::matmul::tests::CASES,
        crate::cuda::ptx::tests::CASES,
        crate::dtype::conversion_tests::CASES,
        crate::fastmath::tests::CASES,
        crate::fastmath::trig::tests::CASES,
        crate::layout::tests::CASES,
        crate::ops::gather::tests::CASES,
        crate::ops::special::tests::CASES,
        crate::rng::tests::CASES,
        crate::rng::philox_tests::CASES,
        crate::threads::tests::CASES,
    ];
    #[cfg(target_arch = "x86_64")]
    modules.push(crate::cpu::attention_bf16::tests::CASES);
    modules.into_iter().flatten().collect()
}
