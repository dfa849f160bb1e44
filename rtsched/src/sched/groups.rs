//! Affinity groups: the run queues of the units that share one hard affinity, neither every
//! CPU of the instance nor a single CPU (those are the shared heap and the CPUs' pinned
//! queues, `sched/runq.rs`).
//!
//! A unit allowed on some CPUs only sits in the shared heap of a single queue, where every
//! pick on a CPU it does not allow must look past it (rt.c walks its one sorted list past
//! every such unit). Here units whose affinity, restricted to the instance's CPUs, is the
//! same proper subset share a group: a pairing heap ([`crate::pairing`], linked through the
//! units) in the run queue's total order. Every unit of a group allows every CPU of the
//! group's mask and no other CPU of the instance, so a pick on a CPU takes the head of each
//! group that contains the CPU (a bit mask per CPU, `Pcpu::groups`) and never meets a unit
//! it may not run; the pick is the best of those heads, the shared heap's first allowed
//! unit and the CPU's pinned queue's head, which is the unit one queue in that order gives.
//!
//! The table has [`MAX_GROUPS`] slots inside the instance (no allocation). A slot is taken
//! when the first unit with its mask is allocated or given that affinity and freed with the
//! last one (`refs` counts the allocated units whose home it is); when every slot is taken, a
//! unit with a new mask lives in the shared heap, searched as before groups (the fallback:
//! slower picks on its CPUs, the same decisions). A slot freed later is taken by the next
//! new mask; units already in the shared heap stay there until their affinity is set again.
//!
//! Slots become groups (their own queues, their bits in their CPUs' masks) only in an
//! instance of [`GROUP_MIN_UNITS`] units or more; in a smaller one the units of a proper mask
//! *wait* in the shared heap, counted in their slot. With few units the shared heap's search
//! is short and a group costs more than it saves (its pairing-heap operations, one more head
//! at every pick on its CPUs, its bound kept at every assignment): measured on the
//! benchmark's mixed affinities, groups cost 4-5% more instructions at 8 units, 2-5% at 16
//! and 32, and save up to 7% at 64 and up to 17% at 512. When an allocation brings the
//! instance to the size, every slot in use becomes a group and the waiting units move to
//! their groups' queues (a scan of the unit slots; a mask new after that is a group at once);
//! groups stay when the instance shrinks again, and a mask new then waits until it grows.
//!
//! Where a unit is queued is one `u32` code (`Unit::pin_home`, its home; `Unit::pin_cpu`,
//! where it is queued now): [`NIL`] for the shared heap, a CPU number for that CPU's pinned
//! queue, [`GROUP_BASE`] + slot for a group, [`WAITING_BASE`] + slot for the shared heap
//! while counted in a slot that is not a group yet ([`Home`]).

use crate::cpumask::{CpuMask, MAX_CPUS};
use crate::unit::NIL;

/// Slots of the affinity-group table (one bit each in a `u64` per CPU).
pub const MAX_GROUPS: usize = 64;

/// The first queue code that names a group (codes below it name CPUs).
pub(crate) const GROUP_BASE: u32 = MAX_CPUS as u32;

/// The first queue code of a unit waiting in the shared heap for its slot to become a group
/// (codes from here on, [`NIL`] included, are queued in the shared heap).
pub(crate) const WAITING_BASE: u32 = GROUP_BASE + MAX_GROUPS as u32;

/// Units an instance must have before its slots become groups (see the module docs).
pub const GROUP_MIN_UNITS: usize = 64;

/// Whether a unit whose home is `code` is queued in the shared heap.
#[inline(always)]
pub(crate) fn in_shared_heap(code: u32) -> bool {
    code >= WAITING_BASE
}

/// Where a queue code says a unit belongs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Home {
    /// The shared heap.
    Shared,
    /// The pinned queue of this CPU.
    Cpu(usize),
    /// The queue of this group slot.
    Group(usize),
    /// The shared heap, counted in this slot until it becomes a group.
    Waiting(usize),
}

impl Home {
    /// Decodes a queue code.
    #[inline]
    pub(crate) fn of(code: u32) -> Home {
        if code == NIL {
            Home::Shared
        } else if code < GROUP_BASE {
            Home::Cpu(code as usize)
        } else if code < WAITING_BASE {
            Home::Group((code - GROUP_BASE) as usize)
        } else {
            Home::Waiting((code - WAITING_BASE) as usize)
        }
    }

    /// The queue code of a unit waiting for slot `g` to become a group.
    pub(crate) fn waiting_code(g: usize) -> u32 {
        WAITING_BASE + g as u32
    }

    /// The queue code of group slot `g`.
    pub(crate) fn group_code(g: usize) -> u32 {
        GROUP_BASE + g as u32
    }
}

/// One slot of the table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Group {
    /// The affinity of its units, restricted to the instance's CPUs.
    pub(crate) mask: CpuMask,
    /// The root of its run queue ([`NIL`]: empty).
    pub(crate) root: u32,
    /// Allocated units whose home it is (0: the slot is free).
    pub(crate) refs: u32,
}

impl Group {
    const FREE: Group = Group {
        mask: CpuMask::EMPTY,
        root: NIL,
        refs: 0,
    };
}

/// The affinity-group table.
#[derive(Debug)]
pub(crate) struct Groups {
    slots: [Group; MAX_GROUPS],
    /// Slots in use (`refs > 0`).
    used: u64,
    /// Slots whose run queue is not empty.
    queued: u64,
    /// Slots that are groups (the others in use count units waiting in the shared heap).
    active: u64,
}

impl Groups {
    pub(crate) const EMPTY: Groups = Groups {
        slots: [Group::FREE; MAX_GROUPS],
        used: 0,
        queued: 0,
        active: 0,
    };

    /// Slots in use.
    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    /// Slots whose run queue is not empty.
    #[inline]
    pub(crate) fn queued(&self) -> u64 {
        self.queued
    }

    /// Slots that are groups.
    pub(crate) fn active(&self) -> u64 {
        self.active
    }

    /// Whether slot `g` is a group.
    pub(crate) fn is_active(&self, g: usize) -> bool {
        self.active & 1u64.checked_shl(g as u32).unwrap_or(0) != 0
    }

    /// Slot `g` becomes a group (its units must move to its queue).
    pub(crate) fn activate(&mut self, g: usize) {
        self.active |= 1u64.checked_shl(g as u32).unwrap_or(0);
    }

    /// Slot `g` ([`Group::FREE`]'s values out of range).
    pub(crate) fn get(&self, g: usize) -> Group {
        self.slots.get(g).copied().unwrap_or(Group::FREE)
    }

    /// The root of slot `g`'s run queue ([`NIL`]: empty or no such slot).
    #[inline]
    pub(crate) fn root(&self, g: usize) -> u32 {
        self.slots.get(g).map_or(NIL, |s| s.root)
    }

    /// Sets the root of slot `g`'s run queue, keeping [`Self::queued`]. False if no such slot.
    pub(crate) fn set_root(&mut self, g: usize, root: u32) -> bool {
        let Some(s) = self.slots.get_mut(g) else {
            return false;
        };
        s.root = root;
        let bit = 1u64 << g;
        if root == NIL {
            self.queued &= !bit;
        } else {
            self.queued |= bit;
        }
        true
    }

    /// The slot in use whose mask is `mask`.
    pub(crate) fn find(&self, mask: &CpuMask) -> Option<usize> {
        bits(self.used).find(|&g| self.slots.get(g).is_some_and(|s| s.mask.same(mask)))
    }

    /// One more unit with `mask`: its slot and the units it now counts. `None` when every
    /// slot is taken by other masks.
    pub(crate) fn acquire(&mut self, mask: &CpuMask) -> Option<(usize, u32)> {
        let (g, new) = match self.find(mask) {
            Some(g) => (g, false),
            None => {
                let g = (!self.used).trailing_zeros() as usize;
                (g, true)
            }
        };
        let s = self.slots.get_mut(g)?;
        if new {
            *s = Group {
                mask: *mask,
                root: NIL,
                refs: 0,
            };
            self.used |= 1u64 << g;
        }
        s.refs = s.refs.saturating_add(1);
        Some((g, s.refs))
    }

    /// One unit fewer in slot `g`: its mask if the slot became free and was a group (its run
    /// queue must be empty then; its CPUs' bit masks must forget it).
    pub(crate) fn release(&mut self, g: usize) -> Option<CpuMask> {
        let s = self.slots.get_mut(g)?;
        s.refs = s.refs.saturating_sub(1);
        if s.refs > 0 {
            return None;
        }
        let mask = s.mask;
        *s = Group::FREE;
        let bit = 1u64 << g;
        let was_group = self.active & bit != 0;
        self.used &= !bit;
        self.queued &= !bit;
        self.active &= !bit;
        was_group.then_some(mask)
    }

    /// For the broken variants of the tests: slot `g` is no group.
    #[cfg(test)]
    pub(crate) fn deactivate_for_test(&mut self, g: usize) {
        self.active &= !(1u64 << g);
    }

    /// For the broken variants of the tests.
    #[cfg(test)]
    pub(crate) fn slot_mut(&mut self, g: usize) -> Option<&mut Group> {
        self.slots.get_mut(g)
    }
}

/// The positions of the set bits of `m`, lowest first.
#[inline]
pub(crate) fn bits(mut m: u64) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        if m == 0 {
            return None;
        }
        let g = m.trailing_zeros() as usize;
        m &= m - 1;
        Some(g)
    })
}
