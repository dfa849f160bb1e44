//! The run queue of the units pinned to one CPU, and of each affinity group
//! (`sched/groups.rs`): a pairing heap linked through the units.
//!
//! A unit whose hard affinity is a single CPU can only ever be picked there, so the run
//! queue keeps it out of the shared heap (where every pick on another CPU would have to
//! look past it) and in its CPU's pinned queue instead (see `sched/enqueue.rs`). A pick on a
//! CPU then compares two candidates, the shared heap's first unit allowed there and the
//! pinned queue's first, which is O(1) for pinned units however many other units there
//! are (rt.c walks its one sorted list past every unit that is not allowed).
//!
//! The order is the run queue's ([`crate::queues::run_before`]: priority, then the sequence
//! number), so the pinned queues and the shared heap together hold one total order and a
//! pick is the unit a single queue would give. Storage is in the units (`pin_child`,
//! `pin_next`, `pin_prev`; the CPU in `pin_cpu`): nothing to reserve per CPU but its root.
//!
//! Costs: push O(1); remove the root O(log n) amortised (two-pass pairing, Fredman,
//! Sedgewick, Sleator and Tarjan 1986), any other unit O(log n) amortised; a search for the
//! first unit matching a predicate (a blocked periodic server is not pickable) visits only
//! units that precede the best match found so far. No recursion: every walk follows links.
//!
//! Links: `pin_child` is the first child; `pin_next` the next sibling; `pin_prev` the previous
//! sibling, or the parent for a first child, [`NIL`] for the root.

use crate::error::{Error, Result};
use crate::prio::Order;
use crate::queues::run_before;
use crate::unit::{Unit, NIL};

fn u(units: &[Unit], h: u32) -> Result<&Unit> {
    units.get(h as usize).ok_or_else(Error::corrupt)
}

fn um(units: &mut [Unit], h: u32) -> Result<&mut Unit> {
    units.get_mut(h as usize).ok_or_else(Error::corrupt)
}

/// Melds two heaps given by their roots (each unlinked from any sibling list); returns the
/// root of the result. O(1).
fn meld(units: &mut [Unit], a: u32, b: u32, o: Order) -> Result<u32> {
    if a == NIL {
        return Ok(b);
    }
    if b == NIL {
        return Ok(a);
    }
    let (w, l) = if run_before(u(units, b)?, u(units, a)?, o) {
        (b, a)
    } else {
        (a, b)
    };
    let first = u(units, w)?.pin_child;
    if first != NIL {
        um(units, first)?.pin_prev = l;
    }
    {
        let lu = um(units, l)?;
        lu.pin_next = first;
        lu.pin_prev = w;
    }
    let wu = um(units, w)?;
    wu.pin_child = l;
    wu.pin_next = NIL;
    wu.pin_prev = NIL;
    Ok(w)
}

/// Two-pass pairing of the sibling list starting at `first`: returns the root of one heap
/// holding them all.
fn merge_pairs(units: &mut [Unit], first: u32, o: Order) -> Result<u32> {
    // Pass 1, left to right: meld pairs, stacking the results through `pin_next`.
    let mut stack = NIL;
    let mut x = first;
    while x != NIL {
        let a = x;
        let b = u(units, a)?.pin_next;
        let m = if b == NIL {
            x = NIL;
            a
        } else {
            x = u(units, b)?.pin_next;
            meld(units, a, b, o)?
        };
        let mu = um(units, m)?;
        mu.pin_next = stack;
        mu.pin_prev = NIL;
        stack = m;
    }
    // Pass 2, right to left: meld the stacked heaps into one.
    let mut root = NIL;
    while stack != NIL {
        let h = stack;
        stack = u(units, h)?.pin_next;
        um(units, h)?.pin_next = NIL;
        root = meld(units, root, h, o)?;
    }
    Ok(root)
}

/// Inserts `h` (its links clear) into the heap of `root`; returns the new root. O(1).
pub(crate) fn push(units: &mut [Unit], root: u32, h: u32, o: Order) -> Result<u32> {
    {
        let x = um(units, h)?;
        if x.pin_child != NIL || x.pin_next != NIL || x.pin_prev != NIL {
            return Err(Error::corrupt());
        }
    }
    meld(units, root, h, o)
}

/// Removes `h` from the heap of `root`; returns the new root and clears `h`'s links.
pub(crate) fn remove(units: &mut [Unit], root: u32, h: u32, o: Order) -> Result<u32> {
    let (prev, next, child) = {
        let x = u(units, h)?;
        (x.pin_prev, x.pin_next, x.pin_child)
    };
    let rest = if h == root {
        NIL
    } else {
        // Unlink from the parent's child list.
        if prev == NIL {
            return Err(Error::corrupt());
        }
        if u(units, prev)?.pin_child == h {
            um(units, prev)?.pin_child = next;
        } else {
            um(units, prev)?.pin_next = next;
        }
        if next != NIL {
            um(units, next)?.pin_prev = prev;
        }
        root
    };
    {
        let x = um(units, h)?;
        x.pin_child = NIL;
        x.pin_next = NIL;
        x.pin_prev = NIL;
    }
    if child != NIL {
        um(units, child)?.pin_prev = NIL;
    }
    let sub = merge_pairs(units, child, o)?;
    meld(units, rest, sub, o)
}

/// The parent of `h` (walking back over its earlier siblings), [`NIL`] for the root.
fn parent(units: &[Unit], h: u32) -> Result<u32> {
    let mut y = h;
    // (At most one step per unit: a longer walk is a cycle.)
    for _ in 0..units.len() {
        let p = u(units, y)?.pin_prev;
        if p == NIL || u(units, p)?.pin_child == y {
            return Ok(p);
        }
        y = p;
    }
    Err(Error::corrupt())
}

/// The unit after `h` in preorder, skipping `h`'s descendants if `skip`; [`NIL`] at the end.
fn next_preorder(units: &[Unit], h: u32, skip: bool) -> Result<u32> {
    let x = u(units, h)?;
    if !skip && x.pin_child != NIL {
        return Ok(x.pin_child);
    }
    let mut y = h;
    for _ in 0..units.len() {
        let n = u(units, y)?.pin_next;
        if n != NIL {
            return Ok(n);
        }
        y = parent(units, y)?;
        if y == NIL {
            return Ok(NIL);
        }
    }
    Err(Error::corrupt())
}

/// The first unit in run-queue order for which `ok` holds. The root when it matches (O(1));
/// else a walk that skips the descendants of every unit not before the best match found so
/// far (none of them can be better: heap order).
#[inline(always)]
pub(crate) fn first_matching(
    units: &[Unit],
    root: u32,
    o: Order,
    ok: impl Fn(&Unit) -> bool,
) -> Result<Option<u32>> {
    if root == NIL {
        return Ok(None);
    }
    if ok(u(units, root)?) {
        return Ok(Some(root));
    }
    search(units, root, o, ok)
}

/// [`first_matching`] past a root that does not match (out of line: the root matches in
/// most picks).
#[inline(never)]
fn search(units: &[Unit], root: u32, o: Order, ok: impl Fn(&Unit) -> bool) -> Result<Option<u32>> {
    let mut best: Option<u32> = None;
    let mut x = root;
    // (Each unit is visited at most once.)
    for _ in 0..units.len() {
        let xu = u(units, x)?;
        let skip = match best {
            Some(b) if !run_before(xu, u(units, b)?, o) => true,
            _ => {
                if ok(xu) {
                    best = Some(x);
                    true
                } else {
                    false
                }
            }
        };
        x = next_preorder(units, x, skip)?;
        if x == NIL {
            return Ok(best);
        }
    }
    Err(Error::corrupt())
}

/// How many units the heap of `root` holds. O(n).
pub(crate) fn len(units: &[Unit], root: u32) -> usize {
    let mut x = root;
    for k in 0..units.len() {
        if x == NIL {
            return k;
        }
        match next_preorder(units, x, false) {
            Ok(n) => x = n,
            Err(_) => return k,
        }
    }
    units.len()
}

/// The `i`-th unit of the heap in preorder (for dumps).
pub(crate) fn nth(units: &[Unit], root: u32, i: usize) -> Option<u32> {
    let mut x = root;
    for k in 0..units.len() {
        if x == NIL {
            return None;
        }
        if k == i {
            return Some(x);
        }
        x = next_preorder(units, x, false).ok()?;
    }
    None
}

/// Re-orders the heap after every key changed (a priority-scheme switch): each unit is taken
/// out and pushed again. Returns the new root. O(n log n) worst case.
pub(crate) fn rebuild(units: &mut [Unit], root: u32, o: Order) -> Result<u32> {
    // Collect the units in preorder on a list through `tmp_next` (free outside the timer).
    let mut list = NIL;
    let mut x = root;
    for _ in 0..units.len() {
        if x == NIL {
            break;
        }
        let n = next_preorder(units, x, false)?;
        um(units, x)?.tmp_next = list;
        list = x;
        x = n;
    }
    if x != NIL {
        return Err(Error::corrupt());
    }
    let mut r = NIL;
    while list != NIL {
        let h = list;
        let x = um(units, h)?;
        list = x.tmp_next;
        x.tmp_next = NIL;
        x.pin_child = NIL;
        x.pin_next = NIL;
        x.pin_prev = NIL;
        r = meld(units, r, h, o)?;
    }
    Ok(r)
}

/// Checks the heap of `root` pinned to `cpu` (links, heap order, every unit's `pin_cpu`);
/// returns the number of units in it.
pub(crate) fn check(units: &[Unit], root: u32, cpu: u32, o: Order) -> Result<usize> {
    let mut n = 0usize;
    let mut x = root;
    if root != NIL && u(units, root)?.pin_prev != NIL {
        return Err(Error::corrupt());
    }
    while x != NIL {
        let xu = u(units, x)?;
        if xu.pin_cpu != cpu {
            return Err(Error::corrupt());
        }
        let c = xu.pin_child;
        if c != NIL {
            let cu = u(units, c)?;
            if cu.pin_prev != x {
                return Err(Error::corrupt());
            }
        }
        let nx = xu.pin_next;
        if nx != NIL && u(units, nx)?.pin_prev != x {
            return Err(Error::corrupt());
        }
        let p = parent(units, x)?;
        if p != NIL && run_before(xu, u(units, p)?, o) {
            return Err(Error::corrupt());
        }
        n += 1;
        if n > units.len() {
            return Err(Error::corrupt());
        }
        x = next_preorder(units, x, false)?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ClassRule, PriorityScheme};

    const EDF: Order = Order::new(PriorityScheme::Edf, ClassRule::Rtds);

    fn mk(n: usize) -> Vec<Unit> {
        crate::tests::queue_units(n, 0)
    }

    fn key(u: &Unit) -> (i64, u64) {
        (u.cur_deadline, u.runq_seq)
    }

    /// Random pushes, removals (root and inner) and searches agree with a sorted list.
    #[test]
    fn pairing_heap_agrees_with_a_sorted_list() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for _ in 0..50 {
            let n = 1 + rnd(60) as usize;
            let mut units = mk(n);
            let mut root = NIL;
            let mut inq = vec![false; n];
            for _ in 0..400 {
                let h = rnd(n as u64) as u32;
                if inq[h as usize] {
                    root = remove(&mut units, root, h, EDF).unwrap();
                    inq[h as usize] = false;
                } else {
                    root = push(&mut units, root, h, EDF).unwrap();
                    inq[h as usize] = true;
                }
                let count = check(&units, root, 0, EDF).unwrap();
                assert_eq!(count, inq.iter().filter(|&&b| b).count());
                let want = (0..n)
                    .filter(|&i| inq[i])
                    .min_by_key(|&i| key(&units[i]))
                    .map(|i| i as u32);
                assert_eq!((root != NIL).then_some(root), want);
                let m = 1 + rnd(5);
                let ok = |u: &Unit| u.runq_seq.is_multiple_of(m);
                let want = (0..n)
                    .filter(|&i| inq[i] && ok(&units[i]))
                    .min_by_key(|&i| key(&units[i]))
                    .map(|i| i as u32);
                assert_eq!(first_matching(&units, root, EDF, ok).unwrap(), want);
            }
            // Emptied in order.
            let mut last = (i64::MIN, 0);
            while root != NIL {
                assert!(key(&units[root as usize]) > last);
                last = key(&units[root as usize]);
                root = remove(&mut units, root, root, EDF).unwrap();
            }
        }
    }

    /// A broken heap (a child before its parent) is reported.
    #[test]
    fn check_finds_a_child_before_its_parent() {
        let mut units = mk(8);
        let mut root = NIL;
        for h in 0..8 {
            root = push(&mut units, root, h, EDF).unwrap();
        }
        check(&units, root, 0, EDF).unwrap();
        let c = units[root as usize].pin_child;
        units[c as usize].cur_deadline = -100;
        assert!(check(&units, root, 0, EDF).is_err());
    }
}
