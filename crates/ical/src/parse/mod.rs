//! Syntax layer: content lines, the component tree, and property value types.

pub(crate) mod component;
pub(crate) mod lexer;
pub(crate) mod value;
