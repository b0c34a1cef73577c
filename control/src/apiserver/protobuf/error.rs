//! Why a body could not be decoded, and where in the object.

use std::fmt;

#[derive(Debug, PartialEq)]
pub struct Error {
    /// True when the body is well-formed but holds something the schema does
    /// not know (the server answers 415); false when it is not valid protobuf.
    pub unsupported: bool,
    why: String,
    /// The JSON path of the field, built outwards as the error unwinds.
    at: String,
}

impl Error {
    pub fn unsupported(why: impl Into<String>) -> Self {
        Self {
            unsupported: true,
            why: why.into(),
            at: String::new(),
        }
    }

    pub fn malformed(why: impl Into<String>) -> Self {
        Self {
            unsupported: false,
            why: why.into(),
            at: String::new(),
        }
    }

    /// A field number the schema does not list for `message`.
    pub fn unknown_field(num: u32, message: &str) -> Self {
        Self::unsupported(format!(
            "protobuf field {num} of {message} is not supported"
        ))
    }

    /// The same error one level out: `segment` is a field name or `[i]`.
    pub fn at(mut self, segment: &str) -> Self {
        self.at = match (self.at.is_empty(), self.at.starts_with('[')) {
            (true, _) => segment.to_owned(),
            (false, true) => format!("{segment}{}", self.at),
            (false, false) => format!("{segment}.{}", self.at),
        };
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.why)
        } else {
            write!(f, "{}: {}", self.at, self.why)
        }
    }
}
