//! A bounded map that forgets the oldest entries first, in O(1): two generations. New and
//! touched entries live in the young one; when it holds half the bound, the old generation is
//! dropped (its entries counted as evicted) and the young one becomes old. An entry touched in
//! the old generation moves back to the young one, so what is still in use survives.

use std::collections::HashMap;
use std::hash::Hash;

/// Keys come from the network; foldhash is seeded per process (as the engine's flow table).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Debug)]
pub struct Table<K, V> {
    young: Map<K, V>,
    old: Map<K, V>,
    half: usize,
    /// Entries dropped to stay within the bound.
    pub evicted: u64,
}

impl<K: Hash + Eq + Clone, V> Table<K, V> {
    /// A table of at most `cap` entries (at least 2).
    pub fn new(cap: usize) -> Self {
        Table {
            young: Map::default(),
            old: Map::default(),
            half: (cap / 2).max(1),
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn make_room(&mut self) {
        if self.young.len() >= self.half {
            self.evicted += self.old.len() as u64;
            self.old = std::mem::take(&mut self.young);
        }
    }

    /// The entry for `k`, moved to the young generation.
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        if !self.young.contains_key(k) {
            let v = self.old.remove(k)?;
            self.make_room();
            self.young.insert(k.clone(), v);
        }
        self.young.get_mut(k)
    }

    pub fn contains(&self, k: &K) -> bool {
        self.young.contains_key(k) || self.old.contains_key(k)
    }

    /// The entry for `k`, made with `new` if there is none.
    pub fn entry(&mut self, k: K, new: impl FnOnce() -> V) -> &mut V {
        if self.young.contains_key(&k) {
            return self.young.entry(k).or_insert_with(new);
        }
        let v = self.old.remove(&k).unwrap_or_else(new);
        self.make_room();
        self.young.entry(k).or_insert(v)
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        self.young.remove(k).or_else(|| self.old.remove(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_keeps_what_is_used() {
        let mut t: Table<u32, u32> = Table::new(10);
        *t.entry(0, || 0) += 1;
        for k in 1..1000 {
            *t.entry(k, || 0) += 1;
            // Touch key 0 all along: it survives.
            *t.get_mut(&0).unwrap() += 1;
            assert!(t.len() <= 10, "{}", t.len());
        }
        assert_eq!(t.get_mut(&0).copied(), Some(1000));
        assert!(!t.contains(&1));
        assert!(t.evicted >= 980, "{}", t.evicted);
        assert_eq!(t.remove(&0), Some(1000));
    }
}
