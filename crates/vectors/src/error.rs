//! Errors a user can cause with a vector value, each tagged with the class of
//! SQLSTATE the Postgres glue reports it under. No pgrx here: the glue maps
//! [`ErrorKind`] to a `PgSqlErrorCode`.

use std::fmt;

/// What went wrong, which decides the SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 22P02 invalid_text_representation: malformed text input.
    InvalidText,
    /// 22P03 invalid_binary_representation: malformed binary (recv) input.
    InvalidBinary,
    /// 22000 data_exception: NaN/Infinity, dimension mismatch, empty vector, bad index.
    Data,
    /// 22003 numeric_value_out_of_range: a value that overflows the element type.
    OutOfRange,
    /// 54000 program_limit_exceeded: more dimensions than the type allows.
    TooLarge,
    /// 22023 invalid_parameter_value: a bad typmod or function argument.
    InvalidParameter,
}

impl ErrorKind {
    /// The five-character SQLSTATE.
    pub fn sqlstate(self) -> &'static str {
        match self {
            ErrorKind::InvalidText => "22P02",
            ErrorKind::InvalidBinary => "22P03",
            ErrorKind::Data => "22000",
            ErrorKind::OutOfRange => "22003",
            ErrorKind::TooLarge => "54000",
            ErrorKind::InvalidParameter => "22023",
        }
    }
}

/// A user-facing error: a kind (the SQLSTATE) and the message for the ERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorError {
    /// Decides the SQLSTATE.
    pub kind: ErrorKind,
    /// The primary message, in Postgres style (lower case, no final period).
    pub message: String,
}

impl VectorError {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        VectorError {
            kind,
            message: message.into(),
        }
    }

    /// `invalid input syntax for type T: "input"`, as Postgres words it.
    pub fn syntax(type_name: &str, input: &str) -> Self {
        Self::new(
            ErrorKind::InvalidText,
            format!("invalid input syntax for type {type_name}: \"{input}\""),
        )
    }

    /// Malformed binary input for `type_name`.
    pub fn binary(type_name: &str, what: impl fmt::Display) -> Self {
        Self::new(
            ErrorKind::InvalidBinary,
            format!("invalid binary data for type {type_name}: {what}"),
        )
    }

    /// Two operands of different dimensions.
    pub fn dim_mismatch(type_name: &str, a: usize, b: usize) -> Self {
        Self::new(
            ErrorKind::Data,
            format!("different {type_name} dimensions {a} and {b}"),
        )
    }
}

impl fmt::Display for VectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (SQLSTATE {})", self.message, self.kind.sqlstate())
    }
}

impl std::error::Error for VectorError {}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, VectorError>;
