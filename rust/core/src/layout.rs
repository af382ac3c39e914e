//! Shape, strides and offset: how a tensor's elements are found in its storage. Every view
//! operation (reshape, permute, expand, slicing, ...) only builds a new `Layout`; no data moves.

use crate::{bail, Result};

/// Where the elements of a tensor live inside its storage, in elements (not bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub offset: usize,
}

/// Row-major strides for a shape.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1usize;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc *= shape[i].max(1);
    }
    strides
}

/// Normalises a possibly negative dimension index against `ndim`.
pub fn normalize_dim(dim: isize, ndim: usize) -> Result<usize> {
    let n = ndim.max(1) as isize;
    let d = if dim < 0 { dim + n } else { dim };
    if d < 0 || d >= n {
        bail!(
            Index,
            "dimension out of range (expected to be in range of [{}, {}], but got {})",
            -n,
            n - 1,
            dim
        );
    }
    Ok(d as usize)
}

/// The permutation that undoes `order`: `permute(order)` then `permute(inverse)` puts every
/// dim back at its place.
pub fn inverse_permutation(order: &[usize]) -> Vec<usize> {
    let mut inverse = vec![0; order.len()];
    for (i, &d) in order.iter().enumerate() {
        inverse[d] = i;
    }
    inverse
}

/// The element count of `shape`, or a `Shape` error when it does not fit in memory addresses
/// (user-given sizes must never wrap around to a small count).
pub fn checked_numel(shape: &[usize]) -> Result<usize> {
    match shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n)) {
        Some(n) if n <= isize::MAX as usize => Ok(n),
        _ => bail!(Shape, "shape {:?} has too many elements", shape),
    }
}

/// The shape two shapes broadcast to, following NumPy's rules.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            bail!(
                Shape,
                "shapes {:?} and {:?} cannot be broadcast together (dimension {} is {} vs {})",
                a,
                b,
                i,
                da,
                db
            );
        };
    }
    Ok(out)
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout {
            shape: shape.to_vec(),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }

    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// `(size, stride)` of each dim that is not of size 1, outermost first.
    pub fn sized_dims(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.shape
            .iter()
            .zip(&self.strides)
            .filter(|(&n, _)| n != 1)
            .map(|(&n, &s)| (n, s))
    }

    /// `(size, stride)` per dim with size-1 dims dropped and dims that are contiguous with
    /// each other merged (row-major order is preserved): the fewest dims that walk the view.
    pub fn merged_dims(&self) -> Vec<(usize, usize)> {
        let mut dims: Vec<(usize, usize)> = Vec::with_capacity(self.shape.len());
        for (n, s) in self.sized_dims() {
            match dims.last_mut() {
                Some((pn, ps)) if *ps == s * n => {
                    *pn *= n;
                    *ps = s;
                }
                _ => dims.push((n, s)),
            }
        }
        dims
    }

    /// True when the elements are densely packed in row-major order (size-1 dims ignored).
    pub fn is_contiguous(&self) -> bool {
        if self.numel() == 0 {
            return true; // no element is out of row-major order (PyTorch's answer too)
        }
        let mut acc = 1usize;
        for i in (0..self.shape.len()).rev() {
            if self.shape[i] != 1 {
                if self.strides[i] != acc {
                    return false;
                }
                acc *= self.shape[i];
            }
        }
        true
    }

    /// For a layout that is a permutation of a contiguous one (a transpose, a `permute`,
    /// channels-last): the dims in the order, outermost first, that `permute` needs to make
    /// it contiguous. `None` for any other layout (overlapping, with gaps, or contiguous).
    pub fn dense_permutation(&self) -> Option<Vec<usize>> {
        if self.is_contiguous() {
            return None;
        }
        let mut order: Vec<usize> = (0..self.ndim()).collect();
        // Size-1 dims may carry any stride: they go innermost, where they cost nothing.
        let key = |d: usize| (self.shape[d] != 1, self.strides[d]);
        order.sort_by(|&a, &b| key(b).cmp(&key(a)).then(a.cmp(&b)));
        self.permute(&order)
            .ok()
            .filter(Layout::is_contiguous)
            .map(|_| order)
    }

    /// The storage range `[offset, end)` touched by this layout (empty tensors touch nothing).
    pub fn span(&self) -> (usize, usize) {
        if self.numel() == 0 {
            return (self.offset, self.offset);
        }
        let last: usize = self
            .shape
            .iter()
            .zip(&self.strides)
            .map(|(&n, &s)| (n - 1) * s)
            .sum();
        (self.offset, self.offset + last + 1)
    }

    /// Broadcasts this layout to `shape` by giving expanded dimensions a zero stride.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Layout> {
        if shape.len() < self.ndim() {
            bail!(Shape, "cannot expand shape {:?} to {:?}", self.shape, shape);
        }
        let extra = shape.len() - self.ndim();
        let mut strides = vec![0; shape.len()];
        for i in 0..shape.len() {
            if i < extra {
                continue;
            }
            let (d, s) = (self.shape[i - extra], self.strides[i - extra]);
            if d == shape[i] {
                strides[i] = s;
            } else if d == 1 {
                strides[i] = 0;
            } else {
                bail!(
                    Shape,
                    "cannot expand shape {:?} to {:?}: dimension {} is {} (must be 1 or {})",
                    self.shape,
                    shape,
                    i,
                    d,
                    shape[i]
                );
            }
        }
        Ok(Layout {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    pub fn permute(&self, dims: &[usize]) -> Result<Layout> {
        let n = self.ndim();
        if dims.len() != n {
            bail!(
                Shape,
                "permute: got {} dims {:?} for a tensor of shape {:?}",
                dims.len(),
                dims,
                self.shape
            );
        }
        let mut seen = vec![false; n];
        for &d in dims {
            if d >= n || seen[d] {
                bail!(
                    Index,
                    "permute: dims {:?} are not a permutation of 0..{}",
                    dims,
                    n
                );
            }
            seen[d] = true;
        }
        Ok(Layout {
            shape: dims.iter().map(|&d| self.shape[d]).collect(),
            strides: dims.iter().map(|&d| self.strides[d]).collect(),
            offset: self.offset,
        })
    }

    pub fn transpose(&self, a: usize, b: usize) -> Layout {
        let mut l = self.clone();
        l.shape.swap(a, b);
        l.strides.swap(a, b);
        l
    }

    /// Elements `start, start+step, ...` (`len` of them) along `dim`.
    pub fn slice(&self, dim: usize, start: usize, len: usize, step: usize) -> Layout {
        let mut l = self.clone();
        l.shape[dim] = len;
        l.strides[dim] = self.strides[dim] * step;
        // An empty view touches no element: keep its offset inside the (possibly empty) storage.
        if l.numel() > 0 {
            l.offset += start * self.strides[dim];
        }
        l
    }

    /// `windows` windows of `size` elements, `step` apart, along `dim`: that dim steps from one
    /// window to the next and a new last dim steps within a window (the windows may overlap).
    pub fn unfold(&self, dim: usize, size: usize, step: usize, windows: usize) -> Layout {
        let mut l = self.clone();
        l.shape[dim] = windows;
        l.strides[dim] = self.strides[dim] * step;
        l.shape.push(size);
        l.strides.push(self.strides[dim]);
        l
    }

    /// Drops `dim` by fixing its index.
    pub fn select(&self, dim: usize, index: usize) -> Layout {
        let mut l = self.clone();
        l.shape.remove(dim);
        l.strides.remove(dim);
        if l.numel() > 0 {
            l.offset += index * self.strides[dim];
        }
        l
    }

    /// The `offset`-th diagonal of dims `d1`/`d2` (distinct) as a new last dim: one step along
    /// it moves one step along both, so its stride is the sum of theirs.
    pub fn diagonal(&self, offset: isize, d1: usize, d2: usize) -> Layout {
        let (n1, n2) = (self.shape[d1] as isize, self.shape[d2] as isize);
        let len = if offset >= 0 {
            n1.min(n2 - offset)
        } else {
            (n1 + offset).min(n2)
        }
        .max(0) as usize;
        let mut l = self.clone();
        for d in [d1.max(d2), d1.min(d2)] {
            l.shape.remove(d);
            l.strides.remove(d);
        }
        l.shape.push(len);
        l.strides.push(self.strides[d1] + self.strides[d2]);
        if l.numel() > 0 {
            l.offset += if offset >= 0 {
                offset as usize * self.strides[d2]
            } else {
                offset.unsigned_abs() * self.strides[d1]
            };
        }
        l
    }

    pub fn unsqueeze(&self, dim: usize) -> Layout {
        let mut l = self.clone();
        let stride = if dim < self.ndim() {
            self.strides[dim] * self.shape[dim]
        } else {
            1
        };
        l.shape.insert(dim, 1);
        l.strides.insert(dim, stride);
        l
    }

    /// A view with a new shape, when the existing strides allow it (None means a copy is needed).
    pub fn view(&self, shape: &[usize]) -> Option<Layout> {
        if self.is_contiguous() || self.numel() == 0 {
            return Some(Layout {
                shape: shape.to_vec(),
                strides: contiguous_strides(shape),
                offset: self.offset,
            });
        }
        // Merge runs of old dims that are contiguous with each other and split them into new dims.
        let old: Vec<(usize, usize)> = self.sized_dims().collect();
        let mut strides = vec![0usize; shape.len()];
        let mut oi = 0;
        let mut ni = 0;
        while ni < shape.len() {
            if shape[ni] == 1 {
                strides[ni] = 1;
                ni += 1;
                continue;
            }
            if oi >= old.len() {
                return None;
            }
            // Take a chunk of old dims that are mutually contiguous.
            let mut chunk_size = old[oi].0;
            let mut oj = oi;
            while oj + 1 < old.len() && old[oj].1 == old[oj + 1].0 * old[oj + 1].1 {
                oj += 1;
                chunk_size *= old[oj].0;
            }
            let inner_stride = old[oj].1;
            // Consume new dims whose product equals this chunk.
            let mut prod = 1;
            let start = ni;
            while ni < shape.len() && prod < chunk_size {
                prod *= shape[ni];
                ni += 1;
            }
            if prod != chunk_size {
                return None;
            }
            let mut acc = inner_stride;
            for k in (start..ni).rev() {
                strides[k] = acc;
                acc *= shape[k];
            }
            oi = oj + 1;
        }
        if oi != old.len() {
            return None;
        }
        Some(Layout {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    /// Storage offsets of every element, in row-major order of the logical shape.
    pub fn offsets(&self) -> OffsetIter<'_> {
        OffsetIter::new(self)
    }
}

/// Resolves one `-1` in a requested shape against the element count.
pub fn infer_shape(requested: &[isize], numel: usize, from: &[usize]) -> Result<Vec<usize>> {
    let mut unknown = None;
    let mut known = 1usize;
    for (i, &d) in requested.iter().enumerate() {
        if d == -1 {
            if unknown.is_some() {
                bail!(
                    Shape,
                    "only one dimension can be inferred (-1) in shape {:?}",
                    requested
                );
            }
            unknown = Some(i);
        } else if d < 0 {
            bail!(Shape, "invalid shape dimension {} in {:?}", d, requested);
        } else {
            known = known.checked_mul(d as usize).ok_or_else(|| {
                crate::Error::Shape(format!("shape {requested:?} has too many elements"))
            })?;
        }
    }
    let mut out: Vec<usize> = requested.iter().map(|&d| d.max(0) as usize).collect();
    let fits = match unknown {
        Some(i) if known != 0 && numel.is_multiple_of(known) => {
            out[i] = numel / known;
            true
        }
        Some(_) => false,
        None => known == numel,
    };
    if !fits {
        bail!(
            Shape,
            "shape {:?} is invalid for input of size {} (shape {:?})",
            requested,
            numel,
            from
        );
    }
    Ok(out)
}

/// Iterates the storage offsets of a strided layout in logical row-major order.
pub struct OffsetIter<'a> {
    layout: &'a Layout,
    index: Vec<usize>,
    next: usize,
    remaining: usize,
}

impl<'a> OffsetIter<'a> {
    fn new(layout: &'a Layout) -> Self {
        OffsetIter {
            layout,
            index: vec![0; layout.ndim()],
            next: layout.offset,
            remaining: layout.numel(),
        }
    }
}

impl Iterator for OffsetIter<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let cur = self.next;
        let shape = &self.layout.shape;
        let strides = &self.layout.strides;
        for d in (0..shape.len()).rev() {
            self.index[d] += 1;
            if self.index[d] < shape[d] {
                self.next += strides[d];
                break;
            }
            self.next -= (shape[d] - 1) * strides[d];
            self.index[d] = 0;
        }
        Some(cur)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for OffsetIter<'_> {}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    fn strides_and_contiguity() {
        let l = Layout::contiguous(&[2, 3, 4]);
        assert_eq!(l.strides, vec![12, 4, 1]);
        assert!(l.is_contiguous());
        let t = l.transpose(0, 2);
        assert!(!t.is_contiguous());
        assert_eq!(t.offsets().take(3).collect::<Vec<_>>(), vec![0, 12, 4]);
    }

    fn broadcasting() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4]).unwrap(), vec![3, 4]);
        assert!(broadcast_shapes(&[3], &[4]).is_err());
        let l = Layout::contiguous(&[3, 1])
            .broadcast_to(&[2, 3, 4])
            .unwrap();
        assert_eq!(l.strides, vec![0, 1, 0]);
        assert_eq!(l.offsets().collect::<Vec<_>>().len(), 24);
    }

    fn views_of_non_contiguous() {
        let l = Layout::contiguous(&[4, 6]).transpose(0, 1); // shape [6,4] strides [1,6]
        assert!(l.view(&[24]).is_none());
        let s = Layout::contiguous(&[4, 6]).slice(1, 0, 3, 1); // [4,3] strides [6,1]
        assert!(s.view(&[12]).is_none());
        let u = Layout::contiguous(&[2, 3, 4]).slice(0, 1, 1, 1); // [1,3,4]
        let v = u.view(&[12]).unwrap();
        assert_eq!(v.strides, vec![1]);
        assert_eq!(v.offset, 12);
        let p = Layout::contiguous(&[2, 3, 4]).permute(&[1, 0, 2]).unwrap(); // [3,2,4], [4,12,1]
        let q = p.view(&[3, 2, 2, 2]).unwrap();
        assert_eq!(q.strides, vec![4, 12, 2, 1]);
        assert_eq!(infer_shape(&[-1, 4], 12, &[12]).unwrap(), vec![3, 4]);
        assert!(infer_shape(&[-1, 5], 12, &[12]).is_err());
    }

    fn span_and_empty() {
        let l = Layout::contiguous(&[0, 3]);
        assert_eq!(l.numel(), 0);
        assert_eq!(l.offsets().count(), 0);
        assert_eq!(Layout::contiguous(&[2, 3]).span(), (0, 6));
    }

    crate::self_test::cases!(
        strides_and_contiguity,
        broadcasting,
        views_of_non_contiguous,
        span_and_empty
    );
}
