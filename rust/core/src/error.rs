//! One error enum for the whole engine. Each variant maps to exactly one Python exception class in the
//! glue crate, so callers can tell shape problems from dtype problems without parsing messages.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// Every way an engine call can fail.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Incompatible or invalid shapes (broadcasting, matmul, reshape, ...).
    Shape(String),
    /// A dtype that the operation does not accept.
    DType(String),
    /// Tensors on different devices, or a device that is not available.
    Device(String),
    /// An index or label out of range.
    Index(String),
    /// An invalid argument value (negative size, bad probability, ...).
    Value(String),
    /// An argument of the wrong kind (a number where a tensor is needed, `len()` of a 0-d
    /// tensor): Python's `TypeError`.
    Type(String),
    /// A number that does not fit the dtype it is stored in (`int32` given `2**40`, a Python
    /// int beyond int64): raised instead of wrapping or saturating.
    Overflow(String),
    /// Misuse of autograd (backward twice, in-place on a leaf requiring grad, ...).
    Autograd(String),
    /// A malformed, truncated or hostile checkpoint file.
    Checkpoint(String),
    /// A failure of the distributed layer.
    Distributed(String),
    /// An allocation that could not be satisfied.
    OutOfMemory(String),
    /// An operating-system I/O failure.
    Io(String),
    /// An error raised by user code the engine called (a gradient hook, a custom backward):
    /// carried through unchanged, so the caller gets the original exception back.
    External(External),
    /// Operands whose shapes an op cannot combine, with the op and the shapes (and dtypes) it
    /// was given, so callers can inspect them instead of parsing the message (a `ShapeError`
    /// with `op`, `shapes` and `dtypes` in Python).
    ShapeMismatch(Box<Mismatch>),
    /// Operands whose dtypes an op will not mix (a float32 batch into float64 weights), with
    /// the same context as `ShapeMismatch` (a `DTypeError` with `op`, `shapes` and `dtypes`).
    DTypeMismatch(Box<Mismatch>),
}

/// What `Error::ShapeMismatch` and `Error::DTypeMismatch` carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// The op's name as the user calls it (`"add"`, `"matmul"`, `"cross_entropy"`).
    pub op: String,
    /// The operands' shapes, in argument order.
    pub shapes: Vec<Vec<usize>>,
    /// The operands' dtypes, in the same order.
    pub dtypes: Vec<crate::DType>,
    /// The whole message (it names the shapes too).
    pub message: String,
}

/// A foreign error (e.g. a Python exception) travelling through the engine untouched, with the
/// engine's context (`where_`: which hook or backward raised it).
#[derive(Clone)]
pub struct External {
    /// The original error; the glue that created it downcasts it back.
    pub payload: Arc<dyn Any + Send + Sync>,
    /// Its message, for `Display` on the Rust side.
    pub message: String,
    /// Where in the engine it was raised.
    pub where_: String,
    /// Context the engine added on the way (`Error::with_note`), shown as its own note.
    pub notes: String,
}

impl fmt::Debug for External {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "External({:?} in {})", self.message, self.where_)
    }
}

impl PartialEq for External {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.payload, &other.payload)
    }
}

/// The variants that carry only their message, as one pattern (binding it to `$m`).
macro_rules! message_variants {
    ($m:ident) => {
        Error::Shape($m)
            | Error::DType($m)
            | Error::Device($m)
            | Error::Index($m)
            | Error::Value($m)
            | Error::Type($m)
            | Error::Overflow($m)
            | Error::Autograd($m)
            | Error::Checkpoint($m)
            | Error::Distributed($m)
            | Error::OutOfMemory($m)
            | Error::Io($m)
    };
}

impl Error {
    /// `Error::ShapeMismatch` for `op` over `operands`, with `message`.
    pub fn shape_mismatch(
        op: impl Into<String>,
        operands: &[&crate::Tensor],
        message: impl Into<String>,
    ) -> Self {
        Error::ShapeMismatch(Box::new(Mismatch {
            op: op.into(),
            shapes: operands.iter().map(|t| t.shape().to_vec()).collect(),
            dtypes: operands.iter().map(|t| t.dtype()).collect(),
            message: message.into(),
        }))
    }

    /// `Error::DTypeMismatch` for `op` over `operands`, with `message`.
    pub fn dtype_mismatch(
        op: impl Into<String>,
        operands: &[&crate::Tensor],
        message: impl Into<String>,
    ) -> Self {
        match Error::shape_mismatch(op, operands, message) {
            Error::ShapeMismatch(m) => Error::DTypeMismatch(m),
            other => other,
        }
    }

    /// The op, shapes and dtypes of a mismatch error (`None` for the other variants).
    pub fn mismatch(&self) -> Option<&Mismatch> {
        match self {
            Error::ShapeMismatch(m) | Error::DTypeMismatch(m) => Some(m),
            _ => None,
        }
    }

    /// The same error with `note` appended to its message (to its `notes`, for a foreign
    /// error, whose own message is the user's): context the engine learns while the
    /// error travels, such as anomaly mode's traceback of the forward call.
    pub fn with_note(mut self, note: &str) -> Self {
        match &mut self {
            message_variants!(m) => m.push_str(note),
            Error::External(e) => e.notes.push_str(note),
            Error::ShapeMismatch(m) | Error::DTypeMismatch(m) => m.message.push_str(note),
        }
        self
    }

    /// Wraps a foreign error raised at `where_` (see `Error::External`).
    pub fn external(
        payload: impl Any + Send + Sync,
        message: impl Into<String>,
        where_: impl Into<String>,
    ) -> Self {
        Error::External(External {
            payload: Arc::new(payload),
            message: message.into(),
            where_: where_.into(),
            notes: String::new(),
        })
    }
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            message_variants!(m) => m,
            Error::External(x) => &x.message,
            Error::ShapeMismatch(m) | Error::DTypeMismatch(m) => &m.message,
        };
        f.write_str(msg)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

/// `bail!(Shape, "...")` returns early with the given error variant and a formatted message.
#[macro_export]
macro_rules! bail {
    ($kind:ident, $($arg:tt)*) => {
        return Err($crate::Error::$kind(format!($($arg)*)))
    };
}
