//! PyO3 glue: exposes the democratising engine as the `democratising._core` extension module.
//! Only argument conversion, GIL handling and error mapping live here.
// Rust must never panic across the Python boundary: the glue neither unwraps nor expects.
#![warn(clippy::expect_used, clippy::panic)]

mod amp;
mod cuda;
mod default_device;
mod dlpack;
mod errors;
mod functions;
mod indexing;
mod malloc;
mod nn;
mod optim;
mod registry;
mod saved_hooks;
mod size_base;
mod sysinfo;
mod tensor;
mod types;
mod util;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    malloc::tune();
    democratising::autograd::set_forward_trace(functions::python_stack);
    use democratising::DType;
    m.add_class::<tensor::PyTensor>()?;
    m.add_class::<tensor::GradFn>()?;
    m.add_class::<tensor::AccumulateGrad>()?;
    m.add_class::<tensor::HookHandle>()?;
    m.add_class::<types::PyDType>()?;
    m.add_class::<types::PyDevice>()?;
    m.add("_SizeBase", size_base::size_base(m.py())?)?;
    for dt in DType::ALL {
        m.add(dt.name(), types::dtype_object(m.py(), dt)?)?;
    }
    m.add_function(wrap_pyfunction!(functions::zeros, m)?)?;
    m.add_function(wrap_pyfunction!(functions::ones, m)?)?;
    m.add_function(wrap_pyfunction!(functions::empty, m)?)?;
    m.add_function(wrap_pyfunction!(functions::full, m)?)?;
    m.add_function(wrap_pyfunction!(functions::arange, m)?)?;
    m.add_function(wrap_pyfunction!(functions::linspace, m)?)?;
    m.add_function(wrap_pyfunction!(functions::eye, m)?)?;
    m.add_function(wrap_pyfunction!(functions::rand, m)?)?;
    m.add_function(wrap_pyfunction!(functions::randn, m)?)?;
    m.add_function(wrap_pyfunction!(functions::randint, m)?)?;
    m.add_function(wrap_pyfunction!(functions::randperm, m)?)?;
    m.add_function(wrap_pyfunction!(functions::manual_seed, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_seed_thread, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_set_default_dtype, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_default_dtype, m)?)?;
    m.add_function(wrap_pyfunction!(default_device::set_default_device, m)?)?;
    m.add_function(wrap_pyfunction!(default_device::get_default_device, m)?)?;
    m.add_function(wrap_pyfunction!(functions::set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(functions::get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(functions::get_rng_state, m)?)?;
    m.add_function(wrap_pyfunction!(functions::set_rng_state, m)?)?;
    m.add_function(wrap_pyfunction!(functions::is_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_set_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_grad_mode_flag, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_set_inference_mode, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_is_inference_mode, m)?)?;
    m.add_function(wrap_pyfunction!(functions::cat, m)?)?;
    m.add_function(wrap_pyfunction!(functions::stack, m)?)?;
    m.add_function(wrap_pyfunction!(functions::where_, m)?)?;
    m.add_function(wrap_pyfunction!(functions::autograd_grad, m)?)?;
    m.add_function(wrap_pyfunction!(functions::from_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(dlpack::_from_dlpack, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_linear, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_dropout, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_scan, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_unary, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_unary_names, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_record_function, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_rebase_history, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_assign, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_fill_shared, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_swap_thread_rng, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_set_anomaly_nan_check, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_queue_callback, m)?)?;
    m.add_function(wrap_pyfunction!(saved_hooks::_push_saved_tensors_hooks, m)?)?;
    m.add_function(wrap_pyfunction!(saved_hooks::_pop_saved_tensors_hooks, m)?)?;
    m.add_function(wrap_pyfunction!(optim::_adam_step, m)?)?;
    m.add_function(wrap_pyfunction!(amp::_set_autocast, m)?)?;
    m.add_function(wrap_pyfunction!(amp::_get_autocast, m)?)?;
    m.add_function(wrap_pyfunction!(amp::_amp_unscale, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_conv2d, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_conv_transpose2d, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_max_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_adaptive_avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_layer_norm, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_group_norm, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_scaled_dot_product_attention, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_rnn_sequence, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_batch_norm, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(optim::_sgd_step, m)?)?;
    m.add_function(wrap_pyfunction!(optim::_rmsprop_step, m)?)?;
    m.add_function(wrap_pyfunction!(optim::_adagrad_step, m)?)?;
    m.add_function(wrap_pyfunction!(optim::_optim_rule_step, m)?)?;
    m.add_function(wrap_pyfunction!(sysinfo::_system_info, m)?)?;
    m.add_function(wrap_pyfunction!(registry::_register_helpers, m)?)?;
    cuda::register(m)?;
    m.add("__engine_version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
