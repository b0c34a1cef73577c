//! Id pools for service ids (`rev_nat_id`, u16) and backend ids (u32).
//! Allocation moves forward and wraps, so a freed id is not handed out again
//! soon: a stale affinity entry then misses instead of naming someone else.

use std::collections::HashSet;

#[derive(Debug)]
pub struct IdPool {
    used: HashSet<u32>,
    next: u32,
    max: u32,
}

impl IdPool {
    /// Ids are `1..=max`; 0 means "none" in the ABI.
    pub fn new(max: u32) -> Self {
        Self {
            used: HashSet::new(),
            next: 1,
            max,
        }
    }

    pub fn mark_used(&mut self, id: u32) {
        self.used.insert(id);
        if id >= self.next {
            self.next = if id == self.max { 1 } else { id + 1 };
        }
    }

    pub fn alloc(&mut self) -> Option<u32> {
        if self.used.len() as u64 >= self.max as u64 {
            return None;
        }
        loop {
            let id = self.next;
            self.next = if id == self.max { 1 } else { id + 1 };
            if self.used.insert(id) {
                return Some(id);
            }
        }
    }

    pub fn free(&mut self, id: u32) {
        self.used.remove(&id);
    }

    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_forward_wraps_and_exhausts() {
        let mut p = IdPool::new(3);
        assert_eq!(p.alloc(), Some(1));
        assert_eq!(p.alloc(), Some(2));
        p.free(1);
        // Not reused at once: 3 comes first.
        assert_eq!(p.alloc(), Some(3));
        assert_eq!(p.alloc(), Some(1));
        assert_eq!(p.alloc(), None);
    }

    #[test]
    fn adopted_ids_are_skipped() {
        let mut p = IdPool::new(10);
        p.mark_used(1);
        p.mark_used(5);
        assert_eq!(p.alloc(), Some(6));
        assert_eq!(p.in_use(), 3);
    }
}
