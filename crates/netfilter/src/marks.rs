//! The packet and connection marks swarmwall uses, shared by the ruleset and the daemon.
//!
//! Five bits at [`Marks::shift`] (default 24, so `0x1f000000`) hold one state; every other bit
//! of the packet mark and of the conntrack mark is left as it was.
//!
//! | state | packet mark (set by the daemon's verdict) | conntrack mark (saved by the ruleset) |
//! |---|---|---|
//! | 0 | not judged yet: queue it | undecided: queue the flow's packets |
//! | 1 `SEEN` | judged, no flow decision yet: let it through to the rest of the firewall | – |
//! | 2 `ALLOW` | the flow is allowed for good | accept in the kernel |
//! | 3 `DROP` | the flow is blocked | drop in the kernel |
//! | 4 `REJECT` | the flow is blocked, and told | TCP reset / ICMP unreachable in the kernel |
//! | 16 + m `MARK` | the flow is allowed with traffic mark m (1–15) | restore the packet mark, accept |
//!
//! A traffic shaper matches marked flows with `fw` filters on these bits, e.g. mark 3 with the
//! default shift is `0x13000000/0x1f000000`.

/// One state of the five bits.
pub mod state {
    pub const SEEN: u32 = 1;
    pub const ALLOW: u32 = 2;
    pub const DROP: u32 = 3;
    pub const REJECT: u32 = 4;
    /// Plus the traffic mark (1–15).
    pub const MARK: u32 = 16;
}

/// Where the five bits are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marks {
    pub shift: u8,
}

impl Default for Marks {
    fn default() -> Self {
        Marks { shift: 24 }
    }
}

/// Largest shift that keeps five bits inside 32.
pub const MAX_SHIFT: u8 = 27;

impl Marks {
    pub fn new(shift: u8) -> Option<Marks> {
        (shift <= MAX_SHIFT).then_some(Marks { shift })
    }

    /// The five bits.
    pub fn mask(self) -> u32 {
        0x1f << self.shift
    }

    /// `state` in place.
    pub fn value(self, state: u32) -> u32 {
        (state & 0x1f) << self.shift
    }

    /// The state in a mark.
    pub fn state(self, mark: u32) -> u32 {
        (mark >> self.shift) & 0x1f
    }

    /// `mark` with its five bits set to `state`, the others kept.
    pub fn with(self, mark: u32, state: u32) -> u32 {
        (mark & !self.mask()) | self.value(state)
    }

    /// Every state a flow decision can leave in conntrack.
    pub fn final_states() -> impl Iterator<Item = u32> {
        [state::ALLOW, state::DROP, state::REJECT]
            .into_iter()
            .chain((1..=15).map(|m| state::MARK + m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let m = Marks::default();
        assert_eq!(m.mask(), 0x1f00_0000);
        assert_eq!(m.value(state::MARK + 3), 0x1300_0000);
        assert_eq!(m.with(0xdead_beef, state::DROP), 0xc3ad_beef);
        assert_eq!(m.state(0xc3ad_beef), state::DROP);
        assert_eq!(Marks::new(27).unwrap().mask(), 0xf800_0000);
        assert!(Marks::new(28).is_none());
        assert_eq!(Marks::final_states().count(), 18);
    }
}
