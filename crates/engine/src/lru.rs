//! A bounded map whose entries sit on one of a few recency lists, oldest at the tail.
//!
//! Entries live in a slab (`Vec`) and are found through a `hashbrown::HashTable` of slab
//! indexes, so the key is stored once. Each entry is linked into the recency list of its
//! class (e.g. "TCP", "closed TCP", "UDP" for flows, which expire after different idle
//! times); touching an entry moves it to the head of its list in O(1). Removing the oldest
//! entry of a class, or of all classes, is O(1) too.
//!
//! The hasher is seeded at random per map: keys come from the network, and an attacker who
//! could predict bucket positions could make every lookup walk a long chain.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Slot<K, V> {
    key: K,
    value: V,
    prev: u32,
    next: u32,
    class: u8,
}

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

/// A bounded map with per-class recency lists. `C` is the number of classes.
#[derive(Debug)]
pub struct Lru<K, V, const C: usize> {
    table: HashTable<u32>,
    slots: Vec<Option<Slot<K, V>>>,
    free: Vec<u32>,
    lists: [List; C],
    hasher: foldhash::fast::RandomState,
    capacity: usize,
}

#[inline]
fn hash_of<K: Hash>(hasher: &foldhash::fast::RandomState, key: &K) -> u64 {
    hasher.hash_one(key)
}

/// A handle to an entry, valid until the entry is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle(u32);

impl<K: Hash + Eq, V, const C: usize> Lru<K, V, C> {
    /// A map holding at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, NIL as usize - 1);
        Lru {
            table: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            lists: [List {
                head: NIL,
                tail: NIL,
            }; C],
            hasher: foldhash::fast::RandomState::default(),
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.table.len() >= self.capacity
    }

    /// Finds the entry for `key`.
    #[inline]
    pub fn find(&self, key: &K) -> Option<Handle> {
        let hash = hash_of(&self.hasher, key);
        let slots = &self.slots;
        self.table
            .find(
                hash,
                |&i| matches!(slots.get(i as usize), Some(Some(s)) if s.key == *key),
            )
            .map(|&i| Handle(i))
    }

    /// Inserts a new entry at the head of `class`'s list. The caller must have checked that
    /// the key is absent and the map not full (otherwise the entry is not inserted and `None`
    /// is returned).
    pub fn insert(&mut self, key: K, value: V, class: u8) -> Option<Handle> {
        if self.is_full() || usize::from(class) >= C {
            return None;
        }
        let hash = hash_of(&self.hasher, &key);
        let slot = Slot {
            key,
            value,
            prev: NIL,
            next: NIL,
            class,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                if self.slots.len() == self.slots.capacity() {
                    // Grow by a quarter, not double: the slab is most of a flow's memory, and
                    // doubling leaves up to half of it empty for as long as the table is in
                    // use (a copy of the slab per growth is cheap next to that).
                    let more = (self.slots.capacity() / 4).max(64);
                    self.slots
                        .reserve_exact(more.min(self.capacity - self.slots.len()).max(1));
                }
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        let hasher = &self.hasher;
        self.table
            .insert_unique(hash, idx, |&i| match slots.get(i as usize) {
                Some(Some(s)) => hash_of(hasher, &s.key),
                _ => 0,
            });
        self.link_head(idx);
        Some(Handle(idx))
    }

    pub fn get(&self, h: Handle) -> Option<(&K, &V)> {
        match self.slots.get(h.0 as usize) {
            Some(Some(s)) => Some((&s.key, &s.value)),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, h: Handle) -> Option<(&K, &mut V)> {
        match self.slots.get_mut(h.0 as usize) {
            Some(Some(s)) => Some((&s.key, &mut s.value)),
            _ => None,
        }
    }

    /// Moves the entry to the head of its class list (most recently used).
    #[inline]
    pub fn touch(&mut self, h: Handle) {
        let Some(class) = self.class_of(h) else {
            return;
        };
        if self.lists[usize::from(class)].head == h.0 {
            return;
        }
        self.unlink(h.0);
        self.link_head(h.0);
    }

    /// Moves the entry to another class's list, at its head.
    pub fn set_class(&mut self, h: Handle, class: u8) {
        if usize::from(class) >= C || self.class_of(h).is_none() {
            return;
        }
        self.unlink(h.0);
        if let Some(Some(s)) = self.slots.get_mut(h.0 as usize) {
            s.class = class;
        }
        self.link_head(h.0);
    }

    pub fn class_of(&self, h: Handle) -> Option<u8> {
        match self.slots.get(h.0 as usize) {
            Some(Some(s)) => Some(s.class),
            _ => None,
        }
    }

    /// The least recently touched entry of `class`.
    pub fn oldest(&self, class: u8) -> Option<Handle> {
        let tail = self.lists.get(usize::from(class))?.tail;
        (tail != NIL).then_some(Handle(tail))
    }

    /// Removes the entry and returns it.
    pub fn remove(&mut self, h: Handle) -> Option<(K, V)> {
        let hash = match self.slots.get(h.0 as usize) {
            Some(Some(s)) => hash_of(&self.hasher, &s.key),
            _ => return None,
        };
        self.unlink(h.0);
        if let Ok(e) = self.table.find_entry(hash, |&i| i == h.0) {
            e.remove();
        }
        let s = self.slots.get_mut(h.0 as usize)?.take()?;
        self.free.push(h.0);
        Some((s.key, s.value))
    }

    /// Bytes this map holds on the heap: its slab (entries stored inline, with their links),
    /// the index (a `u32` and a control byte per bucket) and the free list. Not what the
    /// values themselves point to.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<Slot<K, V>>>()
            + self.table.capacity() * (std::mem::size_of::<u32>() + 1)
            + self.free.capacity() * std::mem::size_of::<u32>()
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &K, &V)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (Handle(i as u32), &s.key, &s.value)))
    }

    fn link_head(&mut self, idx: u32) {
        let Some(class) = self.class_of(Handle(idx)) else {
            return;
        };
        let list = &mut self.lists[usize::from(class)];
        let old_head = list.head;
        list.head = idx;
        if list.tail == NIL {
            list.tail = idx;
        }
        if let Some(Some(s)) = self.slots.get_mut(idx as usize) {
            s.prev = NIL;
            s.next = old_head;
        }
        if old_head != NIL
            && let Some(Some(s)) = self.slots.get_mut(old_head as usize)
        {
            s.prev = idx;
        }
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next, class) = match self.slots.get(idx as usize) {
            Some(Some(s)) => (s.prev, s.next, s.class),
            _ => return,
        };
        if prev != NIL
            && let Some(Some(s)) = self.slots.get_mut(prev as usize)
        {
            s.next = next;
        }
        if next != NIL
            && let Some(Some(s)) = self.slots.get_mut(next as usize)
        {
            s.prev = prev;
        }
        let list = &mut self.lists[usize::from(class)];
        if list.head == idx {
            list.head = next;
        }
        if list.tail == idx {
            list.tail = prev;
        }
        if let Some(Some(s)) = self.slots.get_mut(idx as usize) {
            s.prev = NIL;
            s.next = NIL;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recency_order_per_class() {
        let mut m: Lru<u32, &str, 2> = Lru::new(10);
        let a = m.insert(1, "a", 0).unwrap();
        let b = m.insert(2, "b", 0).unwrap();
        let c = m.insert(3, "c", 1).unwrap();
        assert_eq!(m.oldest(0), Some(a));
        m.touch(a);
        assert_eq!(m.oldest(0), Some(b));
        assert_eq!(m.oldest(1), Some(c));
        m.set_class(b, 1);
        assert_eq!(m.oldest(0), Some(a));
        assert_eq!(m.oldest(1), Some(c));
        assert_eq!(m.remove(c), Some((3, "c")));
        assert_eq!(m.oldest(1), Some(b));
        assert_eq!(m.find(&3), None);
        assert_eq!(m.find(&1), Some(a));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn bounded_and_slots_reused() {
        let mut m: Lru<u32, u32, 1> = Lru::new(2);
        let a = m.insert(1, 1, 0).unwrap();
        m.insert(2, 2, 0).unwrap();
        assert!(m.is_full());
        assert!(m.insert(3, 3, 0).is_none());
        m.remove(a);
        let c = m.insert(3, 3, 0).unwrap();
        assert_eq!(c, a, "freed slot reused");
        assert_eq!(m.get(c), Some((&3, &3)));
        assert_eq!(m.iter().count(), 2);
    }

    proptest::proptest! {
        /// The structure agrees with a naive model under any sequence of operations.
        #[test]
        fn matches_model(ops in proptest::collection::vec((0u8..4, 0u32..20, 0u8..2), 0..300)) {
            let mut m: Lru<u32, u32, 2> = Lru::new(8);
            // model: per class, keys from oldest to newest
            let mut model: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
            for (op, key, class) in ops {
                let pos = |model: &[Vec<u32>; 2], k: u32| {
                    (0..2).find_map(|c| model[c].iter().position(|&x| x == k).map(|p| (c, p)))
                };
                match op {
                    0 => {
                        if pos(&model, key).is_none() && m.len() < 8 {
                            m.insert(key, key, class).unwrap();
                            model[usize::from(class)].push(key);
                        }
                    }
                    1 => if let Some((c, p)) = pos(&model, key) {
                        m.touch(m.find(&key).unwrap());
                        let k = model[c].remove(p);
                        model[c].push(k);
                    },
                    2 => if let Some((c, p)) = pos(&model, key) {
                        m.remove(m.find(&key).unwrap());
                        model[c].remove(p);
                    },
                    _ => if let Some((c, p)) = pos(&model, key) {
                        m.set_class(m.find(&key).unwrap(), class);
                        let k = model[c].remove(p);
                        model[usize::from(class)].push(k);
                    },
                }
                for c in 0..2u8 {
                    let want = model[usize::from(c)].first().copied();
                    let got = m.oldest(c).map(|h| *m.get(h).unwrap().0);
                    proptest::prop_assert_eq!(want, got);
                }
                proptest::prop_assert_eq!(m.len(), model[0].len() + model[1].len());
            }
        }
    }
}
