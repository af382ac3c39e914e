//! Finite-difference gradient checks in float64 over the whole elementwise op table
//! (`UnaryOp::ALL`) and the binary ops: a new op is checked by being listed in the table.

// A test: a failed unwrap is a failing check, not a crash across the Python boundary.
#![allow(clippy::unwrap_used)]

use democratising::autograd::backward;
use democratising::ops::UnaryOp;
use democratising::prelude::*;

/// Central differences of `f` (summed) against autograd's gradient at `x0`.
fn check(what: &str, x0: &[f64], f: &dyn Fn(&Tensor) -> Result<Tensor>) {
    let x = Tensor::from_vec(x0.to_vec(), &[x0.len()]).unwrap();
    x.set_requires_grad(true).unwrap();
    backward(
        &f(&x).unwrap().sum(None, false).unwrap(),
        None,
        false,
        false,
    )
    .unwrap();
    let got = x.grad().unwrap().to_vec::<f64>().unwrap();
    let h = 1e-6;
    for i in 0..x0.len() {
        let at = |d: f64| {
            let mut v = x0.to_vec();
            v[i] += d;
            let t = Tensor::from_vec(v, &[x0.len()]).unwrap();
            f(&t).unwrap().sum(None, false).unwrap().item().unwrap()
        };
        let fd = (at(h) - at(-h)) / (2.0 * h);
        let tol = 1e-5 * (1.0 + fd.abs());
        assert!(
            (got[i] - fd).abs() < tol,
            "{what} at x = {}: autograd {} vs finite difference {fd}",
            x0[i],
            got[i]
        );
    }
}

/// Points away from every op's kinks and jumps (0, integers, halves, clamp bounds).
const POSITIVE: &[f64] = &[0.31, 0.77, 1.23, 1.61, 2.37];
const MIXED: &[f64] = &[-1.83, -0.71, -0.23, 0.37, 1.13];
/// Inside `(-1, 1)`, for ops defined there only.
const UNIT: &[f64] = &[-0.83, -0.41, 0.07, 0.52, 0.91];
/// Above 1, for `acosh`.
const ABOVE_ONE: &[f64] = &[1.31, 1.77, 2.23, 2.61, 3.37];

#[test]
fn every_unary_op_in_the_table_has_a_matching_gradient() {
    assert_eq!(UnaryOp::ALL.len(), 48);
    for (i, &op) in UnaryOp::ALL.iter().enumerate() {
        assert_eq!(op.table_index(), i, "{op:?} is listed out of order");
        let what = format!("{op:?}");
        for points in [POSITIVE, MIXED, UNIT, ABOVE_ONE] {
            if points.iter().all(|&x| op.domain().contains(x)) {
                check(&what, points, &|t| t.apply_unary(op));
            }
        }
    }
}

#[test]
fn binary_ops_have_matching_gradients() {
    let other = Tensor::from_vec(vec![0.53f64, -1.7, 2.2, 0.9, -0.4], &[5]).unwrap();
    let o = &other;
    check("add", MIXED, &|t| t.add(o));
    check("sub", MIXED, &|t| o.sub(t));
    check("mul", MIXED, &|t| t.mul(o));
    check("div (numerator)", MIXED, &|t| t.div(o));
    check("div (denominator)", POSITIVE, &|t| o.div(t));
    check("pow (base)", POSITIVE, &|t| t.pow(o));
    check("pow (exponent)", MIXED, &|t| o.abs()?.pow(t));
    check("maximum", MIXED, &|t| t.maximum(o));
    check("minimum", MIXED, &|t| t.minimum(o));
}
