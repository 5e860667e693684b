//! The crate's error type: what can go wrong when a field file is created, opened, read or
//! written.

use std::io;

/// An error of the field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused a read, write, sync, mapping or lock.
    #[error("field file I/O: {0}")]
    Io(#[from] io::Error),
    /// A layout parameter is out of its range (the message names it).
    #[error("invalid field layout: {0}")]
    InvalidLayout(String),
    /// The file is not a field file, or its header is damaged.
    #[error("bad field header: {0}")]
    BadHeader(String),
    /// The file's block area contradicts itself (e.g. two block pairs claim one block).
    #[error("corrupt field file: {0}")]
    Corrupt(String),
    /// A caller passed a slice of the wrong length.
    #[error("wrong argument length: {what} is {got}, expected {expected}")]
    WrongLength {
        /// Which argument.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length the field's layout asks for.
        expected: usize,
    },
    /// A coordinate, gradient or learning rate is NaN or infinite.
    #[error("{0} is not finite")]
    NotFinite(&'static str),
    /// A block id beyond the layout's last block.
    #[error("block {block} does not exist (the layout has {blocks} blocks)")]
    NoSuchBlock {
        /// The id asked for.
        block: u64,
        /// Blocks in the layout.
        blocks: u64,
    },
    /// A budget too small for the field's fixed memory and one hot block
    /// (`Field::set_resident_budget`).
    #[error("a budget of {budget} bytes is too small: the field needs at least {needed}")]
    BudgetTooSmall {
        /// The budget's total bytes.
        budget: usize,
        /// The fixed overheads plus one hot block.
        needed: usize,
    },
    /// Another process (or another `Field` in this one) has the file open.
    #[error("field file is locked by another user")]
    Locked,
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
