//! The CPU backend: kernels over host memory, behind `backend::Backend`. Each file holds the
//! kernels of one op family and exports free functions named as the interface's methods; this
//! file only brings them together and generates the `Backend` implementation from them.

pub(crate) mod attention;
#[cfg(target_arch = "x86_64")]
mod attention_amx;
pub(crate) mod attention_bf16;
mod binary;
mod conv;
mod copy;
mod dropout;
pub(crate) mod f16c;
pub(crate) mod gemm_bf16;
mod im2col;
mod im2row;
mod index;
pub(crate) mod inplace;
mod kernel;
mod lanes;
mod loss;
pub(crate) mod matmul;
mod norm;
mod optim;
mod optim_rules;
mod patches;
mod pool;
pub(crate) mod reduce;
mod rnn;
mod rnn_sequence;
pub(crate) mod rows;
mod scan;
mod softmax;
pub(crate) mod team;
pub(crate) mod transpose16;
mod unary;
mod unary_table;

use crate::backend::{backend_interface, delegate_backend};

use attention::{attention_backward, attention_forward};
use binary::binary;
use conv::{conv2d_backward, conv2d_forward};
use copy::{cast, fill, flip, full, to_device, tri, unscale_and_check, write_into};
use dropout::{dropout_backward, dropout_forward};
use index::{gather, index, index_put, nonzero, scatter, where_};
use inplace::binary_inplace;
use loss::{
    cross_entropy_backward, cross_entropy_forward, cross_entropy_log_probs,
    log_softmax_nll_backward,
};
use matmul::{linear_forward, matmul};
use norm::{batch_norm_backward, batch_norm_forward, layer_norm_backward, layer_norm_forward};
use optim::{adagrad_step_one, adam_step, rmsprop_step_one, sgd_step_one};
use optim_rules::optim_rule_step;
use pool::{avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward};
use reduce::{arg_reduce, reduce, reduce_int};
use rnn::{rnn_step_backward, rnn_step_forward};
use rnn_sequence::{rnn_sequence_backward, rnn_sequence_forward};
use scan::scan;
use softmax::{softmax_backward_rows, softmax_rows};
use unary::{unary_backward, unary_float, unary_int};

/// The CPU as a `Backend` (`backend::of` returns it for host tensors).
pub struct Cpu;

backend_interface!(delegate_backend!(Cpu));
