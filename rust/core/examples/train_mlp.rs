//! The seed guide's first example in Rust: an MLP (Dense-ReLU-Dense) trained with Adam and
//! cross-entropy on synthetic data. Run with `cargo run --release --example train_mlp`.

use democratising::prelude::*;
use std::time::Instant;

/// Synthetic classification data: 10 Gaussian blobs in 784 dimensions.
fn make_data(n: usize, seed: u64) -> Result<(Tensor, Tensor)> {
    democratising::rng::manual_seed(seed);
    let centers = Tensor::randn(&[10, 784], DType::F32)?;
    let labels = Tensor::randint(0, 10, &[n], DType::I64)?;
    let noise = Tensor::randn(&[n, 784], DType::F32)?.mul_scalar(6.0)?;
    let x = centers.index_select(0, &labels)?.add(&noise)?;
    Ok((x, labels))
}

fn train_model() -> Result<()> {
    let num_epochs = 5;
    let batch_size = 64;
    let (data, labels) = make_data(5120, 0)?;
    let (x, y) = (data.narrow(0, 0, 4096)?, labels.narrow(0, 0, 4096)?);
    let (xv, yv) = (data.narrow(0, 4096, 1024)?, labels.narrow(0, 4096, 1024)?);

    // Create model
    let model = Sequential::new()
        .add(Dense::new(784, 128))
        .add(ReLU::new())
        .add(Dense::new(128, 10))
        .build()?;

    // Create optimizer and loss
    let mut optimizer = Adam::new(model.parameters(), 0.001)?;
    let loss_fn = CrossEntropyLoss::new();

    let n = x.shape()[0];
    for epoch in 0..num_epochs {
        let start = Instant::now();
        let mut epoch_loss = 0.0;
        let mut num_batches = 0;
        let perm = Tensor::randperm(n)?;
        for b in (0..n).step_by(batch_size) {
            let idx = perm.narrow(0, b as isize, batch_size.min(n - b))?;
            let (xb, yb) = (x.index_select(0, &idx)?, y.index_select(0, &idx)?);

            // Forward pass
            let predictions = model.forward(&xb)?;
            let loss = loss_fn.forward(&predictions, &yb)?;

            // Backward pass
            model.zero_grad()?;
            democratising::autograd::backward(&loss, None, false, false)?;

            // Update weights
            optimizer.step()?;

            epoch_loss += loss.item()?;
            num_batches += 1;
        }
        let pred = {
            let _g = democratising::autograd::GradModeGuard::new(false);
            model.forward(&xv)?.argmax(Some(1), false)?
        };
        let acc = pred
            .eq(&yv)?
            .to_dtype(DType::F32)?
            .mean(None, false)?
            .item()?;
        println!(
            "Epoch {}/{}: Loss = {:.4}  val accuracy = {:.2}%  ({:.0} samples/s)",
            epoch + 1,
            num_epochs,
            epoch_loss / num_batches as f64,
            acc * 100.0,
            n as f64 / start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn main() {
    if let Err(e) = train_model() {
        eprintln!("training failed: {e}");
        std::process::exit(1);
    }
}
