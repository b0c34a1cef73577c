//! The protobuf wire format: a message is a run of (field number, wire
//! type) keys, each followed by a varint, a length-delimited run of bytes,
//! or a fixed 4 or 8 bytes.

#[derive(Debug, PartialEq)]
pub enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// Read past but not used: no field the server decodes is fixed-width.
    Fixed32,
    Fixed64,
}

impl Wire<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Wire::Varint(_) => "varint",
            Wire::Bytes(_) => "length-delimited",
            Wire::Fixed32 => "fixed32",
            Wire::Fixed64 => "fixed64",
        }
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// The next field, or None at the end of the message.
    pub fn field(&mut self) -> Result<Option<(u32, Wire<'a>)>, String> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let num = u32::try_from(key >> 3)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("invalid field number {}", key >> 3))?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed64
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length out of range")?;
                Wire::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            w => return Err(format!("field {num}: unsupported wire type {w}")),
        };
        Ok(Some((num, wire)))
    }

    pub fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for (i, b) in self.buf.iter().enumerate().take(10) {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err("truncated or overlong varint".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.buf.len() {
            return Err(format!(
                "{n} bytes announced, {} left in the message",
                self.buf.len()
            ));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_type() {
        // 1: varint 300, 2: "hi", 3: fixed64, 4: fixed32, 5: varint -1 (int64).
        let mut buf = vec![0x08, 0xac, 0x02, 0x12, 2, b'h', b'i', 0x19];
        buf.extend([0; 8]);
        buf.push(0x25);
        buf.extend([0; 4]);
        buf.push(0x28);
        buf.extend([0xff; 9]);
        buf.push(0x01);
        let mut r = Reader::new(&buf);
        assert_eq!(r.field().unwrap(), Some((1, Wire::Varint(300))));
        assert_eq!(r.field().unwrap(), Some((2, Wire::Bytes(b"hi"))));
        assert_eq!(r.field().unwrap(), Some((3, Wire::Fixed64)));
        assert_eq!(r.field().unwrap(), Some((4, Wire::Fixed32)));
        assert_eq!(r.field().unwrap(), Some((5, Wire::Varint(u64::MAX))));
        assert_eq!(r.field().unwrap(), None);
    }

    #[test]
    fn rejects_truncation_and_groups() {
        assert!(Reader::new(&[0x12, 5, b'a']).field().is_err());
        assert!(Reader::new(&[0x08, 0x80]).field().is_err());
        assert!(Reader::new(&[0x0b]).field().is_err());
        assert!(Reader::new(&[0x00, 0x01]).field().is_err());
    }
}
