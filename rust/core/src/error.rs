//! One error enum for the whole engine. Each variant maps to exactly one Python exception class in the
//! glue crate, so callers can tell shape problems from dtype problems without parsing messages.

use std::fmt;

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
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            Error::Shape(m)
            | Error::DType(m)
            | Error::Device(m)
            | Error::Index(m)
            | Error::Value(m)
            | Error::Overflow(m)
            | Error::Autograd(m)
            | Error::Checkpoint(m)
            | Error::Distributed(m)
            | Error::OutOfMemory(m)
            | Error::Io(m) => m,
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
