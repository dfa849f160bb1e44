//! The three queues of a scheduler instance, index-linked over caller storage.
//!
//! - The run queue and the replenishment queue are indexed binary min-heaps of unit handles
//!   (each unit records its position, so removing an arbitrary unit is O(log n)). Insert,
//!   remove and peek-min are O(log n), O(log n) and O(1). Equal keys keep insertion order
//!   (a sequence number breaks ties), which reproduces rt.c's sorted lists, where a unit is
//!   inserted after every unit of equal priority.
//! - The depleted queue is an unordered doubly linked list (head insertion as in rt.c), O(1).
//!
//! A heap can also take a burst of changes with its order deferred ([`Heap::begin_batch`]):
//! push, remove and re-key are then O(1) each and [`Heap::end_batch`] restores the order
//! once, O(n) (Floyd). Between the two only those changes and `len` are allowed (nothing
//! reads the order); the replenishment timer uses it when it re-sorts many units at once.
//!
//! Nothing here allocates or panics: a position that does not resolve is reported as
//! [`Error::Corrupt`].

use core::cmp::Ordering;

use crate::error::{Error, Result};
use crate::prio::{prio_cmp, Order};
use crate::unit::{Unit, NIL};

/// The run queue's order: priority, then insertion (`runq_seq`). A total order: every
/// structure that holds part of the run queue (this heap, the pinned queues of
/// [`crate::pairing`]) keeps it, so their heads compare as one queue's would.
#[inline]
pub(crate) fn run_before(a: &Unit, b: &Unit, o: Order) -> bool {
    prio_cmp(a, b, o).then(a.runq_seq.cmp(&b.runq_seq)) == Ordering::Less
}

/// The run queue's heap: ordered by priority, then insertion ([`run_before`]); positions in
/// `runq_pos`.
pub(crate) type RunHeap<'a> = Heap<'a, true>;

/// The replenishment queue: ordered by deadline, then insertion; positions in `replq_pos`.
pub(crate) type ReplHeap<'a> = Heap<'a, false>;

/// An indexed binary min-heap of unit handles. `RUN` selects the key and the position field
/// ([`RunHeap`], [`ReplHeap`]), at compile time.
#[derive(Debug)]
pub(crate) struct Heap<'a, const RUN: bool> {
    slots: &'a mut [u32],
    len: usize,
    /// Set by every change of membership or order, cleared by [`Heap::take_changed`]: lets
    /// a caller that follows the head (the replenishment timer) skip reading it when
    /// nothing changed.
    changed: bool,
    /// Order deferred ([`Heap::begin_batch`] to [`Heap::end_batch`]).
    batch: bool,
    /// A change was made in the batch: the order must be restored.
    dirty: bool,
}

fn unit(units: &[Unit], h: u32) -> Result<&Unit> {
    units.get(h as usize).ok_or_else(Error::corrupt)
}

impl<'a, const RUN: bool> Heap<'a, RUN> {
    pub(crate) fn new(slots: &'a mut [u32]) -> Self {
        Heap {
            slots,
            len: 0,
            changed: false,
            batch: false,
            dirty: false,
        }
    }

    /// Defers the heap order: until [`Heap::end_batch`], [`Heap::push`], [`Heap::remove`]
    /// and [`Heap::update`] keep the positions but not the order, in O(1) each. The heap
    /// must not be read in between (no peek, search or iteration).
    pub(crate) fn begin_batch(&mut self) {
        self.batch = true;
    }

    /// Ends a batch ([`Heap::begin_batch`]): the order is restored if anything changed,
    /// O(n). Nothing if no batch is open.
    pub(crate) fn end_batch(&mut self, units: &mut [Unit], s: Order) -> Result<()> {
        self.batch = false;
        if core::mem::replace(&mut self.dirty, false) {
            self.rebuild(units, s)?;
        }
        Ok(())
    }

    /// [`crate::mutants::Mutant::BatchNotRebuilt`]: the batch ends with the order not restored
    /// (the call is compiled out without the `mutants` feature).
    pub(crate) fn end_batch_unordered(&mut self) {
        self.batch = false;
        self.dirty = false;
    }

    /// Whether the heap changed since the last call.
    pub(crate) fn take_changed(&mut self) -> bool {
        core::mem::replace(&mut self.changed, false)
    }

    /// Makes the next [`Heap::take_changed`] return true.
    pub(crate) fn mark_changed(&mut self) {
        self.changed = true;
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first unit, if any. O(1).
    pub(crate) fn peek(&self) -> Option<u32> {
        if self.len == 0 {
            None
        } else {
            self.slots.first().copied()
        }
    }

    /// The handle at heap position `i` (for iteration in heap order).
    pub(crate) fn at(&self, i: usize) -> Option<u32> {
        if i < self.len {
            self.slots.get(i).copied()
        } else {
            None
        }
    }

    fn pos_of(&self, u: &Unit) -> u32 {
        if RUN {
            u.runq_pos
        } else {
            u.replq_pos
        }
    }

    fn set_pos(&self, units: &mut [Unit], h: u32, p: u32) -> Result<()> {
        let u = units.get_mut(h as usize).ok_or_else(Error::corrupt)?;
        if RUN {
            u.runq_pos = p;
        } else {
            u.replq_pos = p;
        }
        Ok(())
    }

    /// Strict heap order between two units.
    #[inline]
    pub(crate) fn before(&self, a: &Unit, b: &Unit, o: Order) -> bool {
        if RUN {
            run_before(a, b, o)
        } else {
            (a.cur_deadline, a.replq_seq) < (b.cur_deadline, b.replq_seq)
        }
    }

    #[inline]
    fn before_h(&self, units: &[Unit], a: u32, b: u32, s: Order) -> Result<bool> {
        Ok(self.before(unit(units, a)?, unit(units, b)?, s))
    }

    fn put(&mut self, units: &mut [Unit], i: usize, h: u32) -> Result<()> {
        *self.slots.get_mut(i).ok_or_else(Error::corrupt)? = h;
        self.set_pos(units, h, i as u32)
    }

    #[inline(always)]
    fn sift_up(&mut self, units: &mut [Unit], mut i: usize, s: Order) -> Result<()> {
        let h = self.at(i).ok_or_else(Error::corrupt)?;
        while i > 0 {
            let parent = (i - 1) / 2;
            let ph = self.at(parent).ok_or_else(Error::corrupt)?;
            if !self.before_h(units, h, ph, s)? {
                break;
            }
            self.put(units, i, ph)?;
            i = parent;
        }
        self.put(units, i, h)
    }

    /// The child of position `i` that goes first, and its unit; none at a leaf.
    fn first_child(&self, units: &[Unit], i: usize, s: Order) -> Result<Option<(usize, u32)>> {
        let l = 2 * i + 1;
        let Some(lh) = self.at(l) else {
            return Ok(None);
        };
        match self.at(l + 1) {
            Some(rh) if self.before_h(units, rh, lh, s)? => Ok(Some((l + 1, rh))),
            _ => Ok(Some((l, lh))),
        }
    }

    fn sift_down(&mut self, units: &mut [Unit], mut i: usize, s: Order) -> Result<()> {
        let h = self.at(i).ok_or_else(Error::corrupt)?;
        while let Some((c, ch)) = self.first_child(units, i, s)? {
            if !self.before_h(units, ch, h, s)? {
                break;
            }
            self.put(units, i, ch)?;
            i = c;
        }
        self.put(units, i, h)
    }

    /// Inserts `h`, which must not be in this heap. O(log n).
    pub(crate) fn push(&mut self, units: &mut [Unit], h: u32, s: Order) -> Result<()> {
        if self.pos_of(unit(units, h)?) != NIL || self.len >= self.slots.len() {
            return Err(Error::corrupt());
        }
        let i = self.len;
        self.len += 1;
        self.changed = true;
        self.put(units, i, h)?;
        if self.batch {
            self.dirty = true;
            return Ok(());
        }
        self.sift_up(units, i, s)
    }

    /// Removes `h`, which must be in this heap. O(log n).
    pub(crate) fn remove(&mut self, units: &mut [Unit], h: u32, s: Order) -> Result<()> {
        let p = self.pos_of(unit(units, h)?);
        let i = p as usize;
        if p == NIL || self.at(i) != Some(h) {
            return Err(Error::corrupt());
        }
        let last = self.len - 1;
        let lh = self.at(last).ok_or_else(Error::corrupt)?;
        self.len = last;
        self.changed = true;
        self.set_pos(units, h, NIL)?;
        if i != last {
            if self.batch {
                // (The last element fills the hole; the order waits for the batch's end.)
                self.dirty = true;
                return self.put(units, i, lh);
            }
            // Bottom-up: the hole goes down to a leaf along the earlier children (one
            // comparison a level), the last element fills it and rises to its place (most
            // often at once: the last element is a late one). About half the comparisons of
            // sifting the last element down from `i`; the order is total, so the heap's
            // layout decides nothing.
            let mut hole = i;
            while let Some((c, ch)) = self.first_child(units, hole, s)? {
                self.put(units, hole, ch)?;
                hole = c;
            }
            self.put(units, hole, lh)?;
            self.sift_up(units, hole, s)?;
        }
        Ok(())
    }

    /// Restores heap order after the key of `h`, which is in this heap, changed. O(log n).
    pub(crate) fn update(&mut self, units: &mut [Unit], h: u32, s: Order) -> Result<()> {
        let p = self.pos_of(unit(units, h)?);
        let i = p as usize;
        if p == NIL || self.at(i) != Some(h) {
            return Err(Error::corrupt());
        }
        self.changed = true;
        if self.batch {
            self.dirty = true;
            return Ok(());
        }
        self.sift(units, i, s)
    }

    /// Moves the element at `i` up if it goes before its parent, else down.
    fn sift(&mut self, units: &mut [Unit], i: usize, s: Order) -> Result<()> {
        if i > 0 {
            let h = self.at(i).ok_or_else(Error::corrupt)?;
            let ph = self.at((i - 1) / 2).ok_or_else(Error::corrupt)?;
            if self.before_h(units, h, ph, s)? {
                return self.sift_up(units, i, s);
            }
        }
        self.sift_down(units, i, s)
    }

    /// Restores heap order after every key changed (a priority-scheme switch). O(n).
    pub(crate) fn rebuild(&mut self, units: &mut [Unit], s: Order) -> Result<()> {
        self.changed = true;
        let mut i = self.len / 2;
        while i > 0 {
            i -= 1;
            self.sift_down(units, i, s)?;
        }
        Ok(())
    }

    /// The first unit in heap order for which `ok` holds.
    ///
    /// The root when it matches (most picks, O(1)). Otherwise a depth-first walk of the heap
    /// (by index: children `2i + 1`, `2i + 2`; no stack) that skips the subtree of every
    /// node not before the best match found so far: a heap node precedes its subtree, so
    /// nothing in it can be better. Each node visited costs one test of `ok` and at most one
    /// comparison; the walk visits the nodes before the answer's earliest-found ancestors'
    /// matches and their children, O(n) when nothing matches (rt.c's pick walks its whole
    /// list then too).
    pub(crate) fn first_matching(
        &self,
        units: &[Unit],
        s: Order,
        ok: impl Fn(&Unit) -> bool,
    ) -> Result<Option<u32>> {
        let Some(root) = self.peek() else {
            return Ok(None);
        };
        if ok(unit(units, root)?) {
            return Ok(Some(root));
        }
        self.search_below_root(units, s, ok)
    }

    /// [`Self::first_matching`] past a root that does not match (out of line: the root
    /// matches in most picks, and the walk would otherwise weigh on every caller's frame).
    #[inline(never)]
    fn search_below_root(
        &self,
        units: &[Unit],
        s: Order,
        ok: impl Fn(&Unit) -> bool,
    ) -> Result<Option<u32>> {
        let mut best: Option<&Unit> = None;
        let mut best_h = NIL;
        // Position 0 is the root, already rejected: go down to its children.
        let mut i = 1usize;
        // (Each step visits a node once or climbs: at most 2n steps.)
        for _ in 0..2 * self.len + 2 {
            let mut descend = false;
            if let Some(h) = self.at(i) {
                let u = unit(units, h)?;
                let worth = match best {
                    Some(b) => self.before(u, b, s),
                    None => true,
                };
                if worth {
                    if ok(u) {
                        best = Some(u);
                        best_h = h;
                    } else {
                        descend = true;
                    }
                }
            }
            if descend && 2 * i + 1 < self.len {
                i = 2 * i + 1;
                continue;
            }
            // Next: the right sibling, or the right sibling of the nearest ancestor that is
            // a left child; done when the climb reaches the root.
            loop {
                if i == 0 {
                    return Ok((best_h != NIL).then_some(best_h));
                }
                if i % 2 == 1 {
                    i += 1;
                    break;
                }
                i = (i - 1) / 2;
            }
        }
        Err(Error::corrupt())
    }

    /// The first unit in heap order for which `ok` holds, by a scan of every node (the
    /// reference for [`Self::first_matching`] in tests).
    #[cfg(test)]
    fn scan_matching(
        &self,
        units: &[Unit],
        s: Order,
        ok: impl Fn(&Unit) -> bool,
    ) -> Result<Option<u32>> {
        let mut best: Option<u32> = None;
        for i in 0..self.len {
            let h = self.at(i).ok_or_else(Error::corrupt)?;
            let u = unit(units, h)?;
            if !ok(u) {
                continue;
            }
            best = match best {
                Some(b) if !self.before(u, unit(units, b)?, s) => Some(b),
                _ => Some(h),
            };
        }
        Ok(best)
    }

    /// Checks the heap property and the recorded positions (used by invariant checks).
    pub(crate) fn check(&self, units: &[Unit], s: Order) -> Result<()> {
        if self.batch {
            // (A batch is opened and closed within one hook.)
            return Err(Error::corrupt());
        }
        for i in 0..self.len {
            let h = self.at(i).ok_or_else(Error::corrupt)?;
            if self.pos_of(unit(units, h)?) as usize != i {
                return Err(Error::corrupt());
            }
            if i > 0 {
                let p = self.at((i - 1) / 2).ok_or_else(Error::corrupt)?;
                if self.before_h(units, h, p, s)? {
                    return Err(Error::corrupt());
                }
            }
        }
        Ok(())
    }
}

/// The depleted queue: an unordered doubly linked list through `dq_prev`/`dq_next`.
#[derive(Debug)]
pub(crate) struct DepletedList {
    pub(crate) head: u32,
    pub(crate) len: usize,
}

impl DepletedList {
    pub(crate) const fn new() -> Self {
        DepletedList { head: NIL, len: 0 }
    }

    /// Adds `h` at the head. O(1).
    pub(crate) fn push(&mut self, units: &mut [Unit], h: u32) -> Result<()> {
        let old = self.head;
        {
            let u = units.get_mut(h as usize).ok_or_else(Error::corrupt)?;
            u.dq_prev = NIL;
            u.dq_next = old;
        }
        if old != NIL {
            units
                .get_mut(old as usize)
                .ok_or_else(Error::corrupt)?
                .dq_prev = h;
        }
        self.head = h;
        self.len += 1;
        Ok(())
    }

    /// Unlinks `h`. O(1).
    pub(crate) fn remove(&mut self, units: &mut [Unit], h: u32) -> Result<()> {
        let (p, n) = {
            let u = units.get_mut(h as usize).ok_or_else(Error::corrupt)?;
            let pn = (u.dq_prev, u.dq_next);
            u.dq_prev = NIL;
            u.dq_next = NIL;
            pn
        };
        if p == NIL {
            if self.head != h {
                return Err(Error::corrupt());
            }
            self.head = n;
        } else {
            units
                .get_mut(p as usize)
                .ok_or_else(Error::corrupt)?
                .dq_next = n;
        }
        if n != NIL {
            units
                .get_mut(n as usize)
                .ok_or_else(Error::corrupt)?
                .dq_prev = p;
        }
        self.len = self.len.saturating_sub(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ClassRule, PriorityScheme};

    const EDF: Order = Order::new(PriorityScheme::Edf, ClassRule::Rtds);

    fn mk(n: usize) -> Vec<Unit> {
        crate::tests::queue_units(n, NIL)
    }

    #[test]
    fn heap_orders_and_removes() {
        let mut units = mk(40);
        let mut slots = vec![0u32; 40];
        let mut h = RunHeap::new(&mut slots);
        for i in 0..40 {
            h.push(&mut units, i, EDF).unwrap();
            h.check(&units, EDF).unwrap();
        }
        for i in (0..40).step_by(3) {
            h.remove(&mut units, i, EDF).unwrap();
            h.check(&units, EDF).unwrap();
        }
        let mut last = (i64::MIN, 0u64);
        while let Some(x) = h.peek() {
            let u = units[x as usize];
            assert!((u.cur_deadline, u.runq_seq) > last);
            last = (u.cur_deadline, u.runq_seq);
            h.remove(&mut units, x, EDF).unwrap();
        }
    }

    /// Pushes, removals and re-keyings at random, with batches opened and closed at random
    /// points on one heap and never on the other: after every batch the batched heap is in
    /// order, and both hold the same units in the same order (drained at the end).
    #[test]
    fn a_batch_gives_the_order_of_single_changes() {
        const N: usize = 96;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % m
        };
        let (mut ua, mut ub) = (mk(N), mk(N));
        let (mut sa, mut sb) = (vec![0u32; N], vec![0u32; N]);
        let mut a = RunHeap::new(&mut sa);
        let mut b = RunHeap::new(&mut sb);
        let mut batches = 0;
        for _ in 0..20_000 {
            let h = next(N as u64) as u32;
            let queued = ua[h as usize].runq_pos != NIL;
            match next(8) {
                0 => {
                    if a.batch {
                        a.end_batch(&mut ua, EDF).unwrap();
                        a.check(&ua, EDF).unwrap();
                        assert_eq!(a.peek(), b.peek());
                        batches += 1;
                    } else {
                        a.begin_batch();
                    }
                }
                1..=3 if !queued => {
                    a.push(&mut ua, h, EDF).unwrap();
                    b.push(&mut ub, h, EDF).unwrap();
                }
                1..=4 if queued => {
                    a.remove(&mut ua, h, EDF).unwrap();
                    b.remove(&mut ub, h, EDF).unwrap();
                }
                _ if queued => {
                    let d = next(40) as i64;
                    ua[h as usize].cur_deadline = d;
                    ub[h as usize].cur_deadline = d;
                    a.update(&mut ua, h, EDF).unwrap();
                    b.update(&mut ub, h, EDF).unwrap();
                }
                _ => {}
            }
            assert_eq!(a.len(), b.len());
        }
        a.end_batch(&mut ua, EDF).unwrap();
        a.check(&ua, EDF).unwrap();
        b.check(&ub, EDF).unwrap();
        assert!(batches > 100, "{batches} batches");
        while let Some(x) = b.peek() {
            assert_eq!(a.peek(), Some(x));
            a.remove(&mut ua, x, EDF).unwrap();
            b.remove(&mut ub, x, EDF).unwrap();
        }
        assert!(a.is_empty());
    }

    #[test]
    fn first_matching_agrees_with_scan() {
        let mut units = mk(200);
        let mut slots = vec![0u32; 200];
        let mut h = RunHeap::new(&mut slots);
        for i in 0..200 {
            h.push(&mut units, i, EDF).unwrap();
        }
        for m in 1..60u32 {
            let ok = |u: &Unit| u.runq_seq.is_multiple_of(m as u64) && u.cur_deadline >= 6;
            let a = h.first_matching(&units, EDF, ok).unwrap();
            let b = h.scan_matching(&units, EDF, ok).unwrap();
            assert_eq!(a, b, "m={m}");
        }
    }
}
