//! Random call sequences over every exported function, misuse included: stale and made-up
//! handles, calls that break the hook protocol, times that go backwards or out of range,
//! null and misaligned pointers, an instance copied elsewhere, initialising a live instance.
//!
//! After every call: no panic; `rtsched_check` (the core's `invariants::check`) passes; a
//! refused call left the instance's memory byte-identical and wrote no output; and the
//! protocol answers are exact: `context_saved` succeeds exactly for the units the host is
//! switching out, a retired handle and a copied instance are always refused, every handle the
//! library returns names a live unit, and a time outside `0..=RTSCHED_TIME_MAX` is refused.
//!
//! `PROPTEST_CASES` (default 256 sequences of 1-800 calls, about 10^5 calls) sets the run
//! length.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::{null, null_mut};

use proptest::prelude::*;
use proptest::sample::Index;

use crate::*;

const CAP: u32 = 6;
const NCPU: u32 = 4;
const US: i64 = 1_000;
/// Fills every output buffer before a call, to see whether a refused call wrote to it.
const SENTINEL: u64 = 0xa5a5_a5a5_a5a5_a5a5;

/// A unit handle as the test picks it.
#[derive(Clone, Debug)]
enum H {
    /// One of the live units.
    Live(Index),
    /// A handle of a freed unit.
    Stale(Index),
    /// A unit the host is switching out.
    Pending(Index),
    /// Any number.
    Raw(u32),
}

/// A hook time, relative to the host's clock.
#[derive(Clone, Debug)]
enum T {
    /// The clock advances by this much.
    Fwd(i64),
    /// A time this far behind the clock (another CPU's clock).
    Back(i64),
    /// `i64::MAX`, a negative time, or `RTSCHED_TIME_MAX`.
    Max,
    Neg,
    TimeMax,
}

/// How a pointer argument is passed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum P {
    Ok,
    Null,
    Misaligned,
}

#[derive(Clone, Debug)]
enum Op {
    MemSize(u32, u32),
    MemAlign,
    Version,
    /// `rtsched_init` on the live instance's memory (refused), or with a bad argument.
    InitBad(u8),
    /// `rtsched_deinit`, then every call refused, then a fresh instance.
    Deinit(u8),
    CpuAdd(u32),
    CpuRemove(u32),
    Alloc(u32, u8, P),
    Free(H),
    Insert(H, T, bool, bool, P),
    Remove(H, P),
    Wake(H, T, P),
    Sleep(H, P),
    Unrunnable(H, P),
    Peek(u32, P),
    Schedule(u32, T, bool, bool, P),
    Saved(H, bool, P),
    Fire(T, P),
    Pick(H, P),
    Migrate(H, u32),
    Affinity(H, u8, P),
    SetParams(H, i64, i64, u32, u32, P),
    GetParams(H, P),
    DomainParams(u32, i64, i64, P),
    Info(H, P),
    QueueAt(u32, u32, P),
    QueueInfo(P),
    Stats(P),
    SetPriority(u32, P),
    SetServer(u32, P),
    SetClasses(u32, P),
    Check,
    Admission(P),
    Place(Vec<(u64, u32)>, u8, u32, u64, P),
    ParamsCheck(i64, i64, u32, u32),
    /// A byte copy of the instance: every call on it is refused.
    Copy(u8),
    /// A call with a null instance.
    NullInstance(u8),
}

fn h() -> impl Strategy<Value = H> {
    prop_oneof![
        12 => any::<Index>().prop_map(H::Live),
        2 => any::<Index>().prop_map(H::Stale),
        4 => any::<Index>().prop_map(H::Pending),
        1 => any::<u32>().prop_map(H::Raw),
    ]
}

fn t() -> impl Strategy<Value = T> {
    prop_oneof![
        200 => (0i64..4_000).prop_map(|d| T::Fwd(d * US)),
        30 => (1i64..2_000).prop_map(|d| T::Back(d * US)),
        3 => Just(T::Max),
        3 => Just(T::Neg),
        1 => Just(T::TimeMax),
    ]
}

fn p() -> impl Strategy<Value = P> {
    prop_oneof![30 => Just(P::Ok), 1 => Just(P::Null), 1 => Just(P::Misaligned)]
}

fn cpu() -> impl Strategy<Value = u32> {
    prop_oneof![20 => 0..NCPU, 1 => NCPU..300, 1 => Just(u32::MAX)]
}

fn period() -> impl Strategy<Value = (i64, i64)> {
    prop_oneof![
        10 => (1i64..40, 1i64..40).prop_map(|(p, b)| (p * 500 * US, b * 500 * US)),
        1 => (any::<i64>(), any::<i64>()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0u32..10, 0u32..300).prop_map(|(c, n)| Op::MemSize(c, n)),
        1 => Just(Op::MemAlign),
        1 => Just(Op::Version),
        1 => any::<u8>().prop_map(Op::InitBad),
        1 => any::<u8>().prop_map(Op::Deinit),
        2 => cpu().prop_map(Op::CpuAdd),
        2 => cpu().prop_map(Op::CpuRemove),
        4 => (0u32..3, any::<u8>(), p()).prop_map(|(d, m, p)| Op::Alloc(d, m, p)),
        3 => h().prop_map(Op::Free),
        8 => (h(), t(), any::<bool>(), prop::bool::weighted(0.1), p())
            .prop_map(|(h, t, r, i, p)| Op::Insert(h, t, r, i, p)),
        3 => (h(), p()).prop_map(|(h, p)| Op::Remove(h, p)),
        14 => (h(), t(), p()).prop_map(|(h, t, p)| Op::Wake(h, t, p)),
        5 => (h(), p()).prop_map(|(h, p)| Op::Sleep(h, p)),
        2 => (h(), p()).prop_map(|(h, p)| Op::Unrunnable(h, p)),
        2 => (cpu(), p()).prop_map(|(c, p)| Op::Peek(c, p)),
        20 => (cpu(), t(), prop::bool::weighted(0.8), prop::bool::weighted(0.05), p())
            .prop_map(|(c, t, r, k, p)| Op::Schedule(c, t, r, k, p)),
        14 => (h(), prop::bool::weighted(0.8), p()).prop_map(|(h, r, p)| Op::Saved(h, r, p)),
        8 => (t(), p()).prop_map(|(t, p)| Op::Fire(t, p)),
        2 => (h(), p()).prop_map(|(h, p)| Op::Pick(h, p)),
        3 => (h(), cpu()).prop_map(|(h, c)| Op::Migrate(h, c)),
        2 => (h(), any::<u8>(), p()).prop_map(|(h, m, p)| Op::Affinity(h, m, p)),
        3 => (h(), period(), prop_oneof![10 => 0u32..2, 1 => any::<u32>()],
              prop_oneof![10 => Just(0u32), 1 => any::<u32>()], p())
            .prop_map(|(h, (pe, b), f, r, p)| Op::SetParams(h, pe, b, f, r, p)),
        1 => (h(), p()).prop_map(|(h, p)| Op::GetParams(h, p)),
        1 => (0u32..3, period(), p()).prop_map(|(d, (pe, b), p)| Op::DomainParams(d, pe, b, p)),
        2 => (h(), p()).prop_map(|(h, p)| Op::Info(h, p)),
        1 => (0u32..3, 0u32..8, p()).prop_map(|(w, i, p)| Op::QueueAt(w, i, p)),
        1 => p().prop_map(Op::QueueInfo),
        1 => p().prop_map(Op::Stats),
        1 => (0u32..3, p()).prop_map(|(x, p)| Op::SetPriority(x, p)),
        1 => (0u32..4, p()).prop_map(|(x, p)| Op::SetServer(x, p)),
        1 => (0u32..3, p()).prop_map(|(x, p)| Op::SetClasses(x, p)),
        1 => Just(Op::Check),
        1 => p().prop_map(Op::Admission),
        1 => (prop::collection::vec((0u64..1_200_000, 0u32..2), 0..6), any::<u8>(),
              prop_oneof![Just(RTSCHED_NONE), 0u32..8], 0u64..1_200_000, p())
            .prop_map(|(l, m, c, u, p)| Op::Place(l, m, c, u, p)),
        1 => (period(), 0u32..3, 0u32..2)
            .prop_map(|((pe, b), f, r)| Op::ParamsCheck(pe, b, f, r)),
        1 => any::<u8>().prop_map(Op::Copy),
        1 => any::<u8>().prop_map(Op::NullInstance),
    ]
}

fn policy() -> impl Strategy<Value = RtschedPolicy> {
    (0u32..2, 0u32..2, 0u32..3, 0u32..2, 0u32..2).prop_map(|(t, p, s, a, c)| RtschedPolicy {
        topology: t,
        priority: p,
        server: s,
        admission: a,
        classes: c,
    })
}

/// Output storage, filled with [`SENTINEL`]; big enough and aligned for every output type.
struct Out {
    words: [u64; 32],
}

impl Out {
    fn new() -> Out {
        Out {
            words: [SENTINEL; 32],
        }
    }

    fn ptr<X>(&mut self, p: P) -> *mut X {
        let base = self.words.as_mut_ptr() as *mut u8;
        match p {
            P::Ok => base as *mut X,
            P::Null => null_mut(),
            P::Misaligned => base.wrapping_add(1) as *mut X,
        }
    }

    fn untouched(&self) -> bool {
        self.words.iter().all(|w| *w == SENTINEL)
    }

    /// The value a successful call wrote.
    fn get<X: Copy>(&self) -> X {
        // SAFETY: the buffer is 8-aligned, large enough, and a successful call wrote a valid
        // `X` at its start.
        unsafe { std::ptr::read(self.words.as_ptr() as *const X) }
    }
}

/// An input argument passed as `p` says.
fn inp<X>(v: &X, p: P) -> *const X {
    match p {
        P::Ok => v,
        P::Null => null(),
        P::Misaligned => (v as *const X as *const u8).wrapping_add(1) as *const X,
    }
}

fn mask(bits: u8) -> RtschedCpumask {
    RtschedCpumask {
        bits: [u64::from(bits), 0, 0, 0],
    }
}

/// Instance memory from the global allocator, freed on drop.
struct Mem {
    ptr: *mut u8,
    layout: Layout,
}

impl Mem {
    fn new(size: usize) -> Mem {
        let layout = Layout::from_size_align(size, rtsched_mem_align()).unwrap();
        // SAFETY: non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        Mem { ptr, layout }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `layout.size()` bytes for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// The host: the instance and what the host knows of it.
struct Host {
    mem: Mem,
    s: *mut Rtsched,
    policy: RtschedPolicy,
    now: i64,
    live: Vec<u32>,
    stale: Vec<u32>,
    /// Units switched out whose `context_saved` has not been called.
    pending: Vec<u32>,
    /// Per CPU: the unit the last `do_schedule` picked (`RTSCHED_NONE`: idle).
    cur: [u32; NCPU as usize],
    /// The instance's clock as the host expects it: the latest time a call accepted.
    clock: i64,
    /// The time the current call passed, if any.
    passed: Option<i64>,
    calls: usize,
}

const OK: RtschedResult = RtschedResult::Ok;
const EINVAL: RtschedResult = RtschedResult::Einval;
const EBUSY: RtschedResult = RtschedResult::Ebusy;

impl Host {
    fn new(policy: RtschedPolicy) -> Host {
        let size = rtsched_mem_size(CAP, NCPU);
        assert!(size > 0);
        let mut h = Host {
            mem: Mem::new(size),
            s: null_mut(),
            policy,
            now: 0,
            live: Vec::new(),
            stale: Vec::new(),
            pending: Vec::new(),
            cur: [RTSCHED_NONE; NCPU as usize],
            clock: 0,
            passed: None,
            calls: 0,
        };
        h.init();
        h
    }

    fn init(&mut self) {
        let size = self.mem.layout.size();
        let mut s = null_mut();
        // SAFETY: the memory is ours, `size` bytes, aligned.
        let r = unsafe { rtsched_init(self.mem.ptr.cast(), size, CAP, NCPU, &self.policy, &mut s) };
        assert_eq!(r, OK);
        self.s = s;
        self.live.clear();
        self.stale.clear();
        self.pending.clear();
        self.cur = [RTSCHED_NONE; NCPU as usize];
        self.clock = 0;
        let ncpu = if self.policy.topology == RTSCHED_TOPOLOGY_PARTITION {
            1
        } else {
            NCPU
        };
        for c in 0..ncpu {
            // SAFETY: a live instance.
            assert_eq!(unsafe { rtsched_cpu_add(self.s, c) }, OK);
        }
    }

    fn pick(v: &[u32], i: &Index) -> Option<u32> {
        (!v.is_empty()).then(|| v[i.index(v.len())])
    }

    fn handle(&self, h: &H) -> u32 {
        let r = match h {
            H::Live(i) => Self::pick(&self.live, i),
            H::Stale(i) => Self::pick(&self.stale, i),
            H::Pending(i) => Self::pick(&self.pending, i),
            H::Raw(x) => Some(*x),
        };
        r.unwrap_or(RTSCHED_NONE)
    }

    fn time(&mut self, t: &T) -> i64 {
        let now = match t {
            T::Fwd(d) => {
                self.now += d;
                self.now
            }
            T::Back(d) => self.now - d,
            T::Max => i64::MAX,
            T::Neg => -1,
            T::TimeMax => RTSCHED_TIME_MAX,
        };
        self.passed = Some(now);
        now
    }

    fn clock_backwards(&self) -> u64 {
        let mut o = Out::new();
        // SAFETY: a live instance, an aligned output.
        assert_eq!(unsafe { rtsched_stats(self.s, o.ptr(P::Ok)) }, OK);
        o.get::<RtschedStats>().counters[RtschedStat::ClockBackwards as usize]
    }

    fn valid_or_none(&self, h: u32) -> bool {
        h == RTSCHED_NONE || self.live.contains(&h)
    }

    /// Runs one op, checking the properties of the call.
    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let before = self.mem.bytes().to_vec();
        let (live, stale) = (self.live.clone(), self.stale.clone());
        let backwards = self.clock_backwards();
        self.passed = None;
        let mut o = Out::new();
        let s = self.s;
        let (r, ptr_ok, handle) = self.call(op, s, &mut o)?;
        self.calls += 1;
        if let (Some(t), false) = (self.passed, matches!(op, Op::Deinit(_))) {
            if !(0..=RTSCHED_TIME_MAX).contains(&t) {
                prop_assert_ne!(r, OK, "{:?}: time {} accepted", op, t);
            }
            // A time behind the clock is taken as the clock and counted, once.
            let counted = self.clock_backwards() - backwards;
            prop_assert_eq!(counted, u64::from(r == OK && t < self.clock), "{:?}", op);
            if r == OK {
                self.clock = self.clock.max(t);
            }
        }
        if r != OK {
            prop_assert!(
                self.mem.bytes() == &before[..],
                "refused call {op:?} ({r:?}) changed the instance"
            );
            prop_assert!(o.untouched(), "refused call {op:?} wrote an output");
        }
        if !ptr_ok {
            prop_assert_eq!(r, EINVAL, "{:?}: bad pointer accepted", op);
        }
        if let Some(h) = handle {
            if stale.contains(&h) && !live.contains(&h) {
                prop_assert_eq!(r, EINVAL, "{:?}: retired handle accepted", op);
            }
        }
        // SAFETY: a live instance.
        let c = unsafe { rtsched_check(self.s) };
        if c != OK {
            // SAFETY: a live instance, not otherwise borrowed.
            let i = unsafe { crate::instance::inst(self.s) }.unwrap();
            let e = rtsched::invariants::check(&i.sched).unwrap_err();
            prop_assert!(false, "invariants violated after {:?} ({:?}): {}", op, r, e);
        }
        Ok(())
    }

    /// Performs `op`: the result, whether all its pointers were valid, and the unit handle it
    /// named, if any.
    fn call(
        &mut self,
        op: &Op,
        s: *mut Rtsched,
        o: &mut Out,
    ) -> Result<(RtschedResult, bool, Option<u32>), TestCaseError> {
        // SAFETY (every call below): `s` is the live instance; every pointer is null,
        // misaligned (refused before any access) or points to a live local of the right
        // type, as the entry points require.
        Ok(unsafe {
            match op {
                Op::MemSize(c, n) => {
                    let z = rtsched_mem_size(*c, *n);
                    let valid = *c > 0 && *n > 0 && *n as usize <= rtsched::MAX_CPUS;
                    prop_assert_eq!(z > 0, valid);
                    (OK, true, None)
                }
                Op::MemAlign => {
                    prop_assert!(rtsched_mem_align().is_power_of_two());
                    (OK, true, None)
                }
                Op::Version => {
                    prop_assert_eq!(rtsched_version() >> 16, 0);
                    (OK, true, None)
                }
                Op::InitBad(k) => {
                    let size = self.mem.layout.size();
                    let pol = self.policy;
                    let bad = RtschedPolicy { server: 9, ..pol };
                    let out = o.ptr::<*mut Rtsched>(P::Ok);
                    let m = self.mem.ptr.cast();
                    let r = match k % 4 {
                        0 => rtsched_init(m, size, CAP, NCPU, &pol, out),
                        1 => rtsched_init(m, size - 1, CAP, NCPU, &pol, out),
                        2 => rtsched_init(m, size, CAP, NCPU, &bad, out),
                        _ => rtsched_init(m, size, 0, NCPU, &pol, out),
                    };
                    let want = if k % 4 == 0 { EBUSY } else { EINVAL };
                    prop_assert_eq!(r, want, "init {}", k % 4);
                    (r, true, None)
                }
                Op::Deinit(k) => {
                    prop_assert_eq!(rtsched_deinit(s), OK);
                    let mut a = Out::new();
                    prop_assert_eq!(rtsched_check(s), EINVAL);
                    prop_assert_eq!(rtsched_deinit(s), EINVAL);
                    prop_assert_eq!(rtsched_timer_fire(s, self.now, a.ptr(P::Ok)), EINVAL);
                    prop_assert!(a.untouched());
                    self.policy.priority = u32::from(k & 1);
                    self.policy.server = u32::from(k >> 1) % 3;
                    self.init();
                    (OK, true, None)
                }
                Op::CpuAdd(c) => {
                    let r = rtsched_cpu_add(s, *c);
                    if r == OK {
                        self.cur[*c as usize] = RTSCHED_NONE;
                    }
                    (r, true, None)
                }
                Op::CpuRemove(c) => (rtsched_cpu_remove(s, *c), true, None),
                Op::Alloc(d, m, p) => {
                    let aff = mask(*m);
                    let r = rtsched_unit_alloc(s, *d, 0, inp(&aff, *p), o.ptr(P::Ok));
                    if r == OK {
                        let h: u32 = o.get();
                        prop_assert!(!self.live.contains(&h) && h != RTSCHED_NONE);
                        prop_assert!(h & RTSCHED_SLOT_MASK < CAP);
                        self.live.push(h);
                    }
                    (r, *p == P::Ok, None)
                }
                Op::Free(h) => {
                    let h = self.handle(h);
                    let r = rtsched_unit_free(s, h);
                    if r == OK {
                        self.live.retain(|x| *x != h);
                        self.stale.push(h);
                        prop_assert!(
                            !self.pending.contains(&h),
                            "freed a unit being switched out"
                        );
                        prop_assert!(!self.cur.contains(&h), "freed a running unit");
                    }
                    (r, true, Some(h))
                }
                Op::Insert(h, t, run, running, p) => {
                    let h = self.handle(h);
                    let now = self.time(t);
                    let r = rtsched_unit_insert(s, h, now, *run, *running, o.ptr(*p), o.ptr(*p));
                    if self.pending.contains(&h) {
                        prop_assert_ne!(r, OK, "inserted a unit being switched out");
                    }
                    (r, *p == P::Ok, Some(h))
                }
                Op::Remove(h, p) => {
                    let h = self.handle(h);
                    (rtsched_unit_remove(s, h, o.ptr(*p)), *p == P::Ok, Some(h))
                }
                Op::Wake(h, t, p) => {
                    let h = self.handle(h);
                    let now = self.time(t);
                    (
                        rtsched_unit_wake(s, h, now, o.ptr(*p)),
                        *p == P::Ok,
                        Some(h),
                    )
                }
                Op::Sleep(h, p) => {
                    let h = self.handle(h);
                    (rtsched_unit_sleep(s, h, o.ptr(*p)), *p == P::Ok, Some(h))
                }
                Op::Unrunnable(h, p) => {
                    let h = self.handle(h);
                    (
                        rtsched_unit_set_unrunnable(s, h, o.ptr(*p)),
                        *p == P::Ok,
                        Some(h),
                    )
                }
                Op::Peek(c, p) => {
                    let r = rtsched_runq_peek(s, *c, o.ptr(*p));
                    if r == OK {
                        prop_assert!(self.valid_or_none(o.get()));
                    }
                    (r, *p == P::Ok, None)
                }
                Op::Schedule(c, t, run, tasklet, p) => {
                    let now = self.time(t);
                    let r = rtsched_do_schedule(s, *c, now, *run, *tasklet, o.ptr(*p));
                    if r == OK {
                        let d: RtschedDecision = o.get();
                        prop_assert!(self.valid_or_none(d.next), "decision names {}", d.next);
                        let prev = self.cur[*c as usize];
                        if prev != RTSCHED_NONE && prev != d.next {
                            self.pending.push(prev);
                        }
                        self.cur[*c as usize] = d.next;
                    }
                    (r, *p == P::Ok, None)
                }
                Op::Saved(h, run, p) => {
                    let h = self.handle(h);
                    let r = rtsched_context_saved(s, h, *run, o.ptr(*p));
                    let pending = self.pending.contains(&h);
                    if *p == P::Ok && self.live.contains(&h) {
                        prop_assert_eq!(r == OK, pending, "context_saved({}) -> {:?}", h, r);
                    }
                    if r == OK {
                        self.pending.retain(|x| *x != h);
                    }
                    (r, *p == P::Ok, Some(h))
                }
                Op::Fire(t, p) => {
                    let now = self.time(t);
                    (rtsched_timer_fire(s, now, o.ptr(*p)), *p == P::Ok, None)
                }
                Op::Pick(h, p) => {
                    let h = self.handle(h);
                    let r = rtsched_pick_cpu(s, h, o.ptr(*p));
                    if r == OK {
                        prop_assert!(o.get::<u32>() < NCPU);
                    }
                    (r, *p == P::Ok, Some(h))
                }
                Op::Migrate(h, c) => {
                    let h = self.handle(h);
                    let r = rtsched_unit_migrate(s, h, *c);
                    if self.cur.contains(&h) {
                        prop_assert_ne!(r, OK, "migrated a running unit");
                    }
                    (r, true, Some(h))
                }
                Op::Affinity(h, m, p) => {
                    let h = self.handle(h);
                    let aff = mask(*m);
                    (
                        rtsched_unit_set_affinity(s, h, inp(&aff, *p)),
                        *p == P::Ok,
                        Some(h),
                    )
                }
                Op::SetParams(h, pe, b, f, res, p) => {
                    let h = self.handle(h);
                    let q = RtschedParams {
                        period: *pe,
                        budget: *b,
                        flags: *f,
                        reserved: *res,
                    };
                    let r = rtsched_unit_set_params(s, h, inp(&q, *p), o.ptr(*p));
                    (r, *p == P::Ok, Some(h))
                }
                Op::GetParams(h, p) => {
                    let h = self.handle(h);
                    (
                        rtsched_unit_get_params(s, h, o.ptr(*p)),
                        *p == P::Ok,
                        Some(h),
                    )
                }
                Op::DomainParams(d, pe, b, p) => {
                    let mut n = Out::new();
                    let r = rtsched_domain_set_params(s, *d, *pe, *b, n.ptr(*p), o.ptr(*p));
                    prop_assert!(r == OK || n.untouched());
                    (r, *p == P::Ok, None)
                }
                Op::Info(h, p) => {
                    let h = self.handle(h);
                    (rtsched_unit_info(s, h, o.ptr(*p)), *p == P::Ok, Some(h))
                }
                Op::QueueAt(w, i, p) => {
                    let r = rtsched_queue_at(s, *w, *i, o.ptr(*p));
                    if r == OK {
                        prop_assert!(self.valid_or_none(o.get()));
                    }
                    (r, *p == P::Ok, None)
                }
                Op::QueueInfo(p) => (rtsched_queue_info(s, o.ptr(*p)), *p == P::Ok, None),
                Op::Stats(p) => (rtsched_stats(s, o.ptr(*p)), *p == P::Ok, None),
                Op::SetPriority(x, p) => {
                    (rtsched_set_priority(s, *x, o.ptr(*p)), *p == P::Ok, None)
                }
                Op::SetServer(x, p) => (rtsched_set_server(s, *x, o.ptr(*p)), *p == P::Ok, None),
                Op::SetClasses(x, p) => (rtsched_set_classes(s, *x, o.ptr(*p)), *p == P::Ok, None),
                Op::Check => (rtsched_check(s), true, None),
                Op::Admission(p) => (rtsched_admission(s, o.ptr(*p)), *p == P::Ok, None),
                Op::Place(loads, m, cur, ppm, p) => {
                    let l: Vec<RtschedPcpuLoad> = loads
                        .iter()
                        .map(|&(b, d)| RtschedPcpuLoad {
                            bandwidth_ppm: b,
                            same_domain: d,
                            reserved: 0,
                        })
                        .collect();
                    let lp = if l.is_empty() { null() } else { l.as_ptr() };
                    let aff = mask(*m);
                    let r = rtsched_partition_place(
                        lp,
                        l.len() as u32,
                        inp(&aff, *p),
                        *cur,
                        *ppm,
                        o.ptr(*p),
                    );
                    if r == OK {
                        prop_assert!(o.get::<u32>() < l.len() as u32);
                    }
                    (r, *p == P::Ok, None)
                }
                Op::ParamsCheck(pe, b, f, res) => {
                    let q = RtschedParams {
                        period: *pe,
                        budget: *b,
                        flags: *f,
                        reserved: *res,
                    };
                    (rtsched_params_check(&q), true, None)
                }
                Op::Copy(k) => {
                    let copy = Mem::new(self.mem.layout.size());
                    std::ptr::copy_nonoverlapping(self.mem.ptr, copy.ptr, copy.layout.size());
                    let c = copy.ptr as *mut Rtsched;
                    let snapshot = copy.bytes().to_vec();
                    let h = self.live.first().copied().unwrap_or(RTSCHED_NONE);
                    let mut a = Out::new();
                    let r = match k % 5 {
                        0 => rtsched_check(c),
                        1 => rtsched_unit_wake(c, h, self.now, a.ptr(P::Ok)),
                        2 => rtsched_timer_fire(c, self.now, a.ptr(P::Ok)),
                        3 => rtsched_do_schedule(c, 0, self.now, true, false, a.ptr(P::Ok)),
                        _ => rtsched_deinit(c),
                    };
                    prop_assert_eq!(r, EINVAL, "a copied instance was accepted");
                    prop_assert!(a.untouched() && copy.bytes() == &snapshot[..]);
                    (OK, true, None)
                }
                Op::NullInstance(k) => {
                    let mut a = Out::new();
                    let n = null_mut();
                    let r = match k % 4 {
                        0 => rtsched_check(n),
                        1 => rtsched_cpu_add(n, 0),
                        2 => rtsched_timer_fire(n, self.now, a.ptr(P::Ok)),
                        _ => rtsched_stats(n, a.ptr(P::Ok)),
                    };
                    prop_assert_eq!(r, EINVAL);
                    prop_assert!(a.untouched());
                    (OK, true, None)
                }
            }
        })
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // SAFETY: the instance is live (or already deinitialised: refused).
        unsafe { rtsched_deinit(self.s) };
    }
}

/// Calls made by the sequences of this run (printed, so a run shows its length).
static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        // (The default ChaCha generator takes most of the time of an unoptimised test build.)
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_call_sequences_refuse_misuse_and_keep_invariants(
        pol in policy(),
        ops in prop::collection::vec(op(), 1..800),
    ) {
        let mut host = Host::new(pol);
        for op in &ops {
            host.step(op)?;
        }
        let n = CALLS.fetch_add(host.calls, std::sync::atomic::Ordering::Relaxed) + host.calls;
        if n % 10_000 < host.calls {
            eprintln!("call sequences: {n} calls so far");
        }
    }
}
