//! Integration tests of the public Rust API: autograd through a small model, kernels against
//! naive references, and typed errors.

use democratising::autograd::{backward, grad};
use democratising::prelude::*;

fn naive_matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
        }
    }
    out
}

#[test]
fn matmul_matches_naive_for_odd_and_transposed_shapes() {
    for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (33, 17, 65), (64, 128, 31)] {
        let a = Tensor::randn(&[m, k], DType::F64).unwrap();
        let bt = Tensor::randn(&[n, k], DType::F64).unwrap();
        let b = bt.t().unwrap(); // non-contiguous view: strides pass straight to the GEMM
        let got = a.matmul(&b).unwrap().to_vec::<f64>().unwrap();
        let want = naive_matmul(
            &a.to_vec::<f64>().unwrap(),
            &b.contiguous().unwrap().to_vec::<f64>().unwrap(),
            m,
            k,
            n,
        );
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-9, "{m}x{k}x{n}: {g} vs {w}");
        }
    }
}

#[test]
fn gradients_of_a_small_expression() {
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]).unwrap();
    x.set_requires_grad(true).unwrap();
    // y = sum(x^2 * exp(x)) -> dy/dx = (2x + x^2) exp(x)
    let y = x
        .square()
        .unwrap()
        .mul(&x.exp().unwrap())
        .unwrap()
        .sum(None, false)
        .unwrap();
    backward(&y, None, false, false).unwrap();
    let g = x.grad().unwrap().to_vec::<f64>().unwrap();
    for (i, xv) in [1.0f64, 2.0, 3.0].iter().enumerate() {
        assert!((g[i] - (2.0 * xv + xv * xv) * xv.exp()).abs() < 1e-9);
    }
    let z = x.sin().unwrap().sum(None, false).unwrap();
    let gz = grad(&[z], vec![None], std::slice::from_ref(&x), false, false).unwrap();
    let gz = gz[0].as_ref().unwrap().to_vec::<f64>().unwrap();
    assert!((gz[1] - 2.0f64.cos()).abs() < 1e-12);
}

#[test]
fn backward_twice_without_retain_is_an_error() {
    let x = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
    x.set_requires_grad(true).unwrap();
    let y = x.exp().unwrap().sum(None, false).unwrap();
    backward(&y, None, false, false).unwrap();
    assert!(matches!(
        backward(&y, None, false, false),
        Err(Error::Autograd(_))
    ));
}

#[test]
fn typed_errors_name_the_shapes() {
    let a = Tensor::zeros(&[2, 3], DType::F32).unwrap();
    let b = Tensor::zeros(&[4, 5], DType::F32).unwrap();
    match a.matmul(&b) {
        Err(Error::ShapeMismatch(m)) => {
            assert!(
                m.message.contains("[2, 3]") && m.message.contains("[4, 5]"),
                "{m:?}"
            );
            assert_eq!(
                (m.op.as_str(), m.shapes.clone()),
                ("matmul", vec![vec![2, 3], vec![4, 5]])
            );
            assert_eq!(m.dtypes, vec![DType::F32, DType::F32]);
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    let ints = Tensor::zeros(&[2], DType::I64).unwrap();
    assert!(matches!(ints.set_requires_grad(true), Err(Error::DType(_))));
    let logits = Tensor::zeros(&[2, 3], DType::F32).unwrap();
    let bad = Tensor::from_vec(vec![0i64, 7], &[2]).unwrap();
    assert!(matches!(
        CrossEntropyLoss::new().forward(&logits, &bad),
        Err(Error::Index(_))
    ));
}

#[test]
fn seed_mlp_learns_a_separable_problem() {
    democratising::rng::manual_seed(3);
    let x = Tensor::randn(&[256, 8], DType::F32).unwrap();
    // label = 1 when the first feature is positive
    let y = x
        .select(1, 0)
        .unwrap()
        .gt(&Tensor::wrapped_scalar(0.0f64))
        .unwrap()
        .to_dtype(DType::I64)
        .unwrap();
    let model = Sequential::new()
        .add(Dense::new(8, 16))
        .add(ReLU::new())
        .add(Dense::new(16, 2))
        .build()
        .unwrap();
    let mut opt = Adam::new(model.parameters(), 0.05).unwrap();
    let loss_fn = CrossEntropyLoss::new();
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..60 {
        let loss = loss_fn.forward(&model.forward(&x).unwrap(), &y).unwrap();
        model.zero_grad().unwrap();
        backward(&loss, None, false, false).unwrap();
        opt.step().unwrap();
        last = loss.item().unwrap();
        first.get_or_insert(last);
    }
    assert!(last < first.unwrap() * 0.2, "loss {first:?} -> {last}");
    assert!(Sequential::new().build().is_err());
}
