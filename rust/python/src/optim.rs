//! Fused optimizer steps: one call updates a whole parameter group (GIL released).

use crate::errors::{type_error, ResultExt};
use crate::tensor::PyTensor;
use democratising::optim::{
    adagrad_step, adam_step, rmsprop_step, rule_step, sgd_step, AdagradConfig, AdamConfig,
    OptimRule, RmspropConfig, RmspropState, SgdConfig,
};
use democratising::Tensor;
use pyo3::prelude::*;
use pyo3::types::PyDict;

fn handles(ts: &[PyRef<'_, PyTensor>]) -> Vec<Tensor> {
    ts.iter().map(|t| t.tensor()).collect()
}

/// A group's hyperparameters, given as keyword arguments, read by name into an optimizer
/// config: each field is named once, in the config's literal (`name = default` where Python may
/// leave it out); a missing or unknown keyword is a `TypeError` of the hierarchy.
macro_rules! hyper {
    ($op:literal, $kw:expr, $config:ident { $($field:ident $(= $default:expr)?),* $(,)? }) => {{
        let kw = Hyper::new($op, $kw, &[$(stringify!($field)),*])?;
        $config { $($field: kw.get(stringify!($field), None $(.or(Some($default)))?)?),* }
    }};
}

/// The keyword arguments of one fused step, checked against the config's field names.
struct Hyper<'a, 'py> {
    op: &'static str,
    kw: Option<&'a Bound<'py, PyDict>>,
}

impl<'a, 'py> Hyper<'a, 'py> {
    fn new(
        op: &'static str,
        kw: Option<&'a Bound<'py, PyDict>>,
        fields: &[&str],
    ) -> PyResult<Self> {
        for key in kw.iter().flat_map(|d| d.keys()) {
            let key: String = key.extract()?;
            if !fields.contains(&key.as_str()) {
                return Err(type_error(format!(
                    "{op}() got an unexpected keyword argument '{key}'"
                )));
            }
        }
        Ok(Hyper { op, kw })
    }

    fn get<T: pyo3::conversion::FromPyObjectOwned<'py>>(
        &self,
        name: &str,
        default: Option<T>,
    ) -> PyResult<T> {
        match (
            self.kw.map(|d| d.get_item(name)).transpose()?.flatten(),
            default,
        ) {
            (Some(v), _) => v.extract().map_err(Into::into),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(type_error(format!(
                "{}() missing required keyword argument '{name}'",
                self.op
            ))),
        }
    }
}

/// One fused Adam/AdamW step over a parameter group, in place.
#[pyfunction]
#[pyo3(signature = (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, **hyper))]
#[allow(clippy::too_many_arguments)]
pub fn _adam_step(
    py: Python<'_>,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    exp_avgs: Vec<PyRef<'_, PyTensor>>,
    exp_avg_sqs: Vec<PyRef<'_, PyTensor>>,
    max_exp_avg_sqs: Vec<PyRef<'_, PyTensor>>,
    steps: Vec<u64>,
    hyper: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let cfg = hyper!("_adam_step", hyper, AdamConfig {
        lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize, grad_scale = 1.0,
    });
    let (p, g) = (handles(&params), handles(&grads));
    let (m, v, vm) = (
        handles(&exp_avgs),
        handles(&exp_avg_sqs),
        handles(&max_exp_avg_sqs),
    );
    crate::util::detach(py, || adam_step(&p, &g, &m, &v, &vm, &steps, &cfg)).py()
}

/// One fused SGD step over a parameter group, in place.
#[pyfunction]
#[pyo3(signature = (params, grads, buffers, initialized, **hyper))]
pub fn _sgd_step(
    py: Python<'_>,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    buffers: Vec<PyRef<'_, PyTensor>>,
    initialized: Vec<bool>,
    hyper: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let cfg = hyper!("_sgd_step", hyper, SgdConfig {
        lr, momentum, dampening, weight_decay, nesterov, maximize, grad_scale = 1.0,
    });
    let (p, g, b) = (handles(&params), handles(&grads), handles(&buffers));
    crate::util::detach(py, || sgd_step(&p, &g, &b, &initialized, &cfg)).py()
}

/// One fused RMSprop step over a parameter group, in place (`grad_avgs` only when centered,
/// `momentum_buffers` only with momentum).
#[pyfunction]
#[pyo3(signature = (params, grads, square_avgs, grad_avgs, momentum_buffers, **hyper))]
pub fn _rmsprop_step(
    py: Python<'_>,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    square_avgs: Vec<PyRef<'_, PyTensor>>,
    grad_avgs: Vec<PyRef<'_, PyTensor>>,
    momentum_buffers: Vec<PyRef<'_, PyTensor>>,
    hyper: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let cfg = hyper!("_rmsprop_step", hyper, RmspropConfig {
        lr, alpha, eps, weight_decay, momentum, centered, maximize, grad_scale = 1.0,
    });
    let (p, g, v) = (handles(&params), handles(&grads), handles(&square_avgs));
    let (gbar, buf) = (handles(&grad_avgs), handles(&momentum_buffers));
    let states: Vec<RmspropState<'_>> = (0..v.len())
        .map(|i| RmspropState {
            square_avg: &v[i],
            grad_avg: gbar.get(i),
            momentum_buffer: buf.get(i),
        })
        .collect();
    crate::util::detach(py, || rmsprop_step(&p, &g, &states, &cfg)).py()
}

/// One fused Adagrad step over a parameter group, in place (`steps`: the counts after it).
#[pyfunction]
#[pyo3(signature = (params, grads, sums, steps, **hyper))]
pub fn _adagrad_step(
    py: Python<'_>,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    sums: Vec<PyRef<'_, PyTensor>>,
    steps: Vec<u64>,
    hyper: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let cfg = hyper!("_adagrad_step", hyper, AdagradConfig {
        lr, lr_decay, weight_decay, eps, maximize, grad_scale = 1.0,
    });
    let (p, g, s) = (handles(&params), handles(&grads), handles(&sums));
    crate::util::detach(py, || adagrad_step(&p, &g, &s, &steps, &cfg)).py()
}

/// One step of an element-wise rule (Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop) over a
/// group: `states[i]` are parameter i's state tensors, `consts[i]` its per-step constants
/// (`optim::rules` lays them out).
#[pyfunction]
pub fn _optim_rule_step(
    py: Python<'_>,
    rule: &str,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    states: Vec<Vec<PyRef<'_, PyTensor>>>,
    consts: Vec<Vec<f64>>,
) -> PyResult<()> {
    let rule = OptimRule::parse(rule).py()?;
    let (p, g) = (handles(&params), handles(&grads));
    let s: Vec<Vec<Tensor>> = states.iter().map(|st| handles(st)).collect();
    crate::util::detach(py, || rule_step(rule, &p, &g, &s, &consts)).py()
}
