//! Xen 4.17's rt.c behind a safe interface: the only module with `unsafe` (FFI calls into
//! `csrc/glue.c`, which also provides the benchmark's time-stamp counter read).
//!
//! The C side (`csrc/glue.c`, which `#include`s rt.c) keeps one host per instance and
//! calls rt.c's hooks the way Xen's scheduling core does; see its comments.

use std::marker::PhantomData;
use std::os::raw::c_int;

/// Opaque C host (`struct dt_host`).
#[repr(C)]
#[derive(Debug)]
pub struct DtHost {
    _private: [u8; 0],
}

/// One unit's rt.c state (`struct dt_unit_state`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenUnitState {
    /// `svc->period`, ns.
    pub period: i64,
    /// `svc->budget`, ns.
    pub budget: i64,
    /// `svc->cur_budget`, ns.
    pub cur_budget: i64,
    /// `svc->last_start`, ns.
    pub last_start: i64,
    /// `svc->cur_deadline`, ns.
    pub cur_deadline: i64,
    /// `svc->priority_level`.
    pub priority_level: u32,
    /// `svc->flags` (RTDS_scheduled = 2, delayed_runq_add = 4, depleted = 8, extratime = 16).
    pub flags: u32,
    /// 0: on no queue, 1: run queue, 2: depleted queue.
    pub queue: u32,
    /// 1 when on the replenishment queue.
    pub on_replq: u32,
    /// `sched_unit_master(unit)`.
    pub cpu: u32,
}

/// Declares the entry points of the glue (`csrc/glue.c`) that each compiled copy of rt.c has,
/// as the trait [`Glue`], and implements it for each copy: [`Stock`] (`dt_new`, ...) and
/// [`ReplqByDeadline`] (the same glue with every name prefixed by `x`, see `build.rs`).
macro_rules! glue {
    ($(fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)?;)*) => {
        /// The C entry points of one compiled copy of rt.c and its glue (all `unsafe`: raw
        /// pointers into the C host; [`RtC`] is the safe interface).
        pub trait Glue {
            $(
                /// The glue's function of this name in this copy.
                ///
                /// # Safety
                ///
                /// A host argument is live and from this copy's `dt_new`; every other pointer
                /// is valid for what the function reads or writes; indices are in range.
                unsafe fn $name($($a: $t),*) $(-> $r)?;
            )*
        }
        glue!(@copy Stock, "", $(fn $name($($a: $t),*) $(-> $r)?;)*);
        glue!(@copy ReplqByDeadline, "x", $(fn $name($($a: $t),*) $(-> $r)?;)*);
    };
    (@copy $copy:ident, $prefix:literal, $(fn $name:ident($($a:ident: $t:ty),*) $(-> $r:ty)?;)*) => {
        impl Glue for $copy {
            $(
                #[inline(always)]
                unsafe fn $name($($a: $t),*) $(-> $r)? {
                    extern "C" {
                        #[link_name = concat!($prefix, stringify!($name))]
                        fn f($($a: $t),*) $(-> $r)?;
                    }
                    // SAFETY: the caller upholds the C function's contract (this only forwards).
                    unsafe { f($($a),*) }
                }
            )*
        }
    };
}

/// Xen 4.17's rt.c, unchanged (library `xenrt`).
#[derive(Debug)]
pub enum Stock {}

/// rt.c with its replenishment queue ordered by deadline alone (library `xenrt_replq`, the
/// one change made by `build.rs`): what rt.c does with deliberate difference 3 of
/// ARCHITECTURE.md, for comparisons of equal work where stock rt.c's timer falls behind.
#[derive(Debug)]
pub enum ReplqByDeadline {}

glue! {
    fn dt_new(ncpus: u32, cap: u32) -> *mut DtHost;
    fn dt_free(h: *mut DtHost);
    fn dt_cpu_add(h: *mut DtHost, cpu: u32) -> c_int;
    fn dt_unit_alloc(h: *mut DtHost, u: u32, dom: u32, vcpu: u32, affinity: u64) -> c_int;
    fn dt_set_runnable(h: *mut DtHost, u: u32, runnable: bool);
    fn dt_unit_realloc(h: *mut DtHost, u: u32);
    fn dt_insert(h: *mut DtHost, u: u32, now: i64, is_running: bool) -> u32;
    fn dt_remove(h: *mut DtHost, u: u32, now: i64);
    fn dt_wake(h: *mut DtHost, u: u32, now: i64);
    fn dt_sleep(h: *mut DtHost, u: u32, now: i64);
    fn dt_schedule(
        h: *mut DtHost,
        cpu: u32,
        now: i64,
        tasklet: bool,
        slice: *mut i64,
        migrated: *mut bool,
    ) -> c_int;
    fn dt_context_saved(h: *mut DtHost, u: u32, now: i64);
    fn dt_timer_fire(h: *mut DtHost, now: i64);
    fn dt_timer(h: *mut DtHost, expires: *mut i64) -> bool;
    fn dt_set_affinity(h: *mut DtHost, u: u32, mask: u64);
    fn dt_pick(h: *mut DtHost, u: u32) -> u32;
    fn dt_migrate(h: *mut DtHost, u: u32, cpu: u32);
    fn dt_put_vcpu(h: *mut DtHost, u: u32, period_us: u32, budget_us: u32, extra: bool) -> c_int;
    fn dt_get_vcpu(
        h: *mut DtHost,
        u: u32,
        period_us: *mut u32,
        budget_us: *mut u32,
        extra: *mut bool,
    ) -> c_int;
    fn dt_put_dom(h: *mut DtHost, dom: u32, period_us: u32, budget_us: u32) -> c_int;
    fn dt_take_softirqs(h: *mut DtHost) -> u64;
    fn dt_tickled(h: *mut DtHost) -> u64;
    fn dt_states(h: *mut DtHost, n: u32, out: *mut XenUnitState);
    fn dt_queue_order(h: *mut DtHost, which: c_int, max: u32, out: *mut u32) -> u32;
    fn dt_replq_sort_by_deadline(h: *mut DtHost) -> bool;
    fn dt_set_cur_budget(h: *mut DtHost, u: u32, cur_budget: i64);
    fn dt_mark_tickled(h: *mut DtHost, cpus: u64);
}

extern "C" {
    fn dt_rdtsc() -> u64;
    fn dt_rdtsc_fenced() -> u64;
    fn dt_sizes(unit: *mut u32, dom: *mut u32);
}

/// The CPU's time-stamp counter (`rdtsc`, through the C glue), for the benchmark's
/// per-call timing.
pub fn cycles() -> u64 {
    // SAFETY: dt_rdtsc takes no arguments, touches no memory and only executes rdtsc.
    unsafe { dt_rdtsc() }
}

/// [`cycles`] with `lfence` on both sides: every earlier instruction (the cold-cache pass's
/// eviction loads) completes before the read, and no later one starts before it.
pub fn cycles_fenced() -> u64 {
    // SAFETY: dt_rdtsc_fenced takes no arguments, touches no memory and only executes
    // lfence and rdtsc.
    unsafe { dt_rdtsc_fenced() }
}

/// The sizes in bytes of rt.c's `struct rt_unit` (one per unit, and one per CPU for its
/// idle unit) and `struct rt_dom` (one per domain), as compiled here (x86-64, the same
/// layout as in Xen: lists, pointers and 64-bit times only).
pub fn rt_struct_sizes() -> (usize, usize) {
    let (mut u, mut d) = (0u32, 0u32);
    // SAFETY: dt_sizes only writes two u32s through pointers to live locals.
    unsafe { dt_sizes(&mut u, &mut d) };
    (u as usize, d as usize)
}

/// The largest number of CPUs of the C harness (its `cpumask_t` has Xen's 256 bits, but the
/// glue passes affinities, reschedule requests and tickled CPUs as one 64-bit word).
pub const XEN_MAX_CPUS: usize = 64;

/// One instance of Xen's rt.c with its stub host: `ncpus` CPUs (none online yet) and room
/// for `cap` units (unit `u` is slot `u`; domain ids are `0..cap`).
///
/// Every method checks its arguments against the instance's bounds before crossing into C,
/// so no input can make the C side index out of its arrays.
#[derive(Debug)]
pub struct RtC<G: Glue> {
    h: *mut DtHost,
    ncpus: u32,
    cap: u32,
    allocated: Vec<bool>,
    copy: PhantomData<G>,
}

/// Xen 4.17's rt.c as Xen ships it.
pub type XenRt = RtC<Stock>;

impl<G: Glue> RtC<G> {
    /// A new instance (rt.c's `init`). Panics on `ncpus` outside `1..=64` or `cap == 0`.
    pub fn new(ncpus: usize, cap: usize) -> Self {
        assert!((1..=XEN_MAX_CPUS).contains(&ncpus) && cap > 0 && cap < u32::MAX as usize);
        // SAFETY: dt_new only reads its two integer arguments (checked above) and returns
        // either NULL or a fresh heap object that this RtC owns until drop.
        let h = unsafe { G::dt_new(ncpus as u32, cap as u32) };
        assert!(!h.is_null(), "dt_new failed");
        RtC {
            h,
            ncpus: ncpus as u32,
            cap: cap as u32,
            allocated: vec![false; cap],
            copy: PhantomData,
        }
    }

    fn cpu(&self, cpu: usize) -> u32 {
        assert!(cpu < self.ncpus as usize, "CPU {cpu} out of range");
        cpu as u32
    }

    fn unit(&self, u: usize) -> u32 {
        assert!(
            self.allocated.get(u) == Some(&true),
            "unit {u} not allocated"
        );
        u as u32
    }

    /// A CPU joins (`switch_sched`).
    pub fn cpu_add(&mut self, cpu: usize) {
        let c = self.cpu(cpu);
        // SAFETY: self.h is live (owned); c < ncpus.
        let rc = unsafe { G::dt_cpu_add(self.h, c) };
        assert_eq!(rc, 0);
    }

    /// `alloc_udata` for unit slot `u` of domain `dom` (VCPU `vcpu`, < 64) with `affinity`.
    pub fn unit_alloc(&mut self, u: usize, dom: u32, vcpu: u32, affinity: u64) {
        assert!(u < self.cap as usize && dom < self.cap && vcpu < 64 && !self.allocated[u]);
        // SAFETY: self.h is live; u, dom < cap and vcpu < 64 are within the C arrays.
        let rc = unsafe { G::dt_unit_alloc(self.h, u as u32, dom, vcpu, affinity) };
        assert_eq!(rc, 0, "dt_unit_alloc");
        self.allocated[u] = true;
    }

    /// `free_udata` and `alloc_udata` of a unit that is not inserted: fresh scheduler data
    /// with Xen's defaults, as a domain moved to another cpupool gets.
    pub fn unit_realloc(&mut self, u: usize) {
        let u = self.unit(u);
        // SAFETY: self.h is live; u is an allocated unit (the caller keeps it off every
        // queue: not inserted).
        unsafe { G::dt_unit_realloc(self.h, u) }
    }

    /// Sets the host's runnable view of a unit (what `unit_runnable()` returns).
    pub fn set_runnable(&mut self, u: usize, runnable: bool) {
        let u = self.unit(u);
        // SAFETY: self.h is live; u is an allocated unit.
        unsafe { G::dt_set_runnable(self.h, u, runnable) }
    }

    /// `insert_unit` at `now`; returns the CPU assigned.
    pub fn insert(&mut self, u: usize, now: i64, is_running: bool) -> usize {
        let u = self.unit(u);
        // SAFETY: self.h is live; u is an allocated unit.
        unsafe { G::dt_insert(self.h, u, now, is_running) as usize }
    }

    /// `remove_unit`.
    pub fn remove(&mut self, u: usize, now: i64) {
        let u = self.unit(u);
        // SAFETY: self.h is live; u is an allocated unit.
        unsafe { G::dt_remove(self.h, u, now) }
    }

    /// `wake` at `now`.
    pub fn wake(&mut self, u: usize, now: i64) {
        let u = self.unit(u);
        // SAFETY: self.h is live; u is an allocated unit.
        unsafe { G::dt_wake(self.h, u, now) }
    }

    /// `sleep`.
    pub fn sleep(&mut self, u: usize, now: i64) {
        let u = self.unit(u);
        // SAFETY: self.h is live; u is an allocated unit.
        unsafe { G::dt_sleep(self.h, u, now) }
    }

    /// `do_schedule` on `cpu` at `now`: the unit chosen (`None`: idle), slice, migrated.
    pub fn do_schedule(
        &mut self,
        cpu: usize,
        now: i64,
        tasklet: bool,
    ) -> (Option<usize>, i64, bool) {
        let c = self.cpu(cpu);
        let mut slice = 0i64;
        let mut migrated = false;
        // SAFETY: self.h is live; c < ncpus; the out pointers are to live locals.
        let next = unsafe { G::dt_schedule(self.h, c, now, tasklet, &mut slice, &mut migrated) };
        (usize::try_from(next).ok(), slice, migrated)
    }

    /// `context_saved` of unit `u`.
    pub fn context_saved(&mut self, u: usize, now: i64) {
        let u = self.unit(u);
        // SAFETY: self.h is live; u is an allocated unit.
        unsafe { G::dt_context_saved(self.h, u, now) }
    }

    /// The replenishment timer's handler at `now`.
    pub fn timer_fire(&mut self, now: i64) {
        // SAFETY: self.h is live; the timer was initialised by the first cpu_add (the
        // driver adds CPUs before anything else).
        unsafe { G::dt_timer_fire(self.h, now) }
    }

    /// The replenishment timer's expiry, if programmed.
    pub fn timer(&self) -> Option<i64> {
        let mut t = 0i64;
        // SAFETY: self.h is live; the out pointer is to a live local.
        unsafe { G::dt_timer(self.h, &mut t) }.then_some(t)
    }

    /// Sets the hard affinity (Xen's core does this; rt.c has no `adjust_affinity`).
    pub fn set_affinity(&mut self, u: usize, mask: u64) {
        let u = self.unit(u);
        // SAFETY: self.h is live; u is an allocated unit.
        unsafe { G::dt_set_affinity(self.h, u, mask) }
    }

    /// `pick_resource`.
    pub fn pick_cpu(&mut self, u: usize) -> usize {
        let u = self.unit(u);
        // SAFETY: self.h is live; u is an allocated unit.
        unsafe { G::dt_pick(self.h, u) as usize }
    }

    /// `sched_set_res` (the core's migration of a unit rt.c has no hook for).
    pub fn migrate(&mut self, u: usize, cpu: usize) {
        let (u, c) = (self.unit(u), self.cpu(cpu));
        // SAFETY: self.h is live; u is allocated and c < ncpus.
        unsafe { G::dt_migrate(self.h, u, c) }
    }

    /// `XEN_DOMCTL_SCHEDOP_putvcpuinfo` (µs); returns rt.c's return code.
    pub fn put_vcpu(&mut self, u: usize, period_us: u32, budget_us: u32, extra: bool) -> i32 {
        let u = self.unit(u);
        // SAFETY: self.h is live; u is an allocated unit.
        unsafe { G::dt_put_vcpu(self.h, u, period_us, budget_us, extra) }
    }

    /// `XEN_DOMCTL_SCHEDOP_getvcpuinfo`: (period µs, budget µs, extratime).
    pub fn get_vcpu(&mut self, u: usize) -> (u32, u32, bool) {
        let u = self.unit(u);
        let (mut p, mut b, mut e) = (0u32, 0u32, false);
        // SAFETY: self.h is live; u is allocated; the out pointers are to live locals.
        let rc = unsafe { G::dt_get_vcpu(self.h, u, &mut p, &mut b, &mut e) };
        assert_eq!(rc, 0, "getvcpuinfo");
        (p, b, e)
    }

    /// `XEN_DOMCTL_SCHEDOP_putinfo` for a domain (µs); returns rt.c's return code.
    pub fn put_dom(&mut self, dom: u32, period_us: u32, budget_us: u32) -> i32 {
        // SAFETY: self.h is live; dt_put_dom checks dom against its capacity.
        unsafe { G::dt_put_dom(self.h, dom, period_us, budget_us) }
    }

    /// The CPUs `cpu_raise_softirq` was called for since the last call (bit per CPU).
    pub fn take_softirqs(&mut self) -> u64 {
        // SAFETY: self.h is live.
        unsafe { G::dt_take_softirqs(self.h) }
    }

    /// rt.c's `prv->tickled`.
    pub fn tickled(&self) -> u64 {
        // SAFETY: self.h is live.
        unsafe { G::dt_tickled(self.h) }
    }

    /// The states of units `0..n` (`n <= cap`).
    pub fn states(&self, n: usize) -> Vec<XenUnitState> {
        let n = n.min(self.cap as usize);
        let mut v = vec![XenUnitState::default(); n];
        // SAFETY: self.h is live; v has room for n <= cap elements.
        unsafe { G::dt_states(self.h, n as u32, v.as_mut_ptr()) };
        v
    }

    fn order(&self, which: c_int) -> Vec<usize> {
        let mut v = vec![0u32; self.cap as usize];
        // SAFETY: self.h is live; v has room for cap elements, the most a queue can hold.
        let n = unsafe { G::dt_queue_order(self.h, which, v.len() as u32, v.as_mut_ptr()) };
        v.truncate(n as usize);
        v.into_iter().map(|x| x as usize).collect()
    }

    /// The run queue, head first.
    pub fn runq(&self) -> Vec<usize> {
        self.order(0)
    }

    /// The replenishment queue, head first.
    pub fn replq(&self) -> Vec<usize> {
        self.order(1)
    }

    /// Re-sync for deviation 3: sorts the replenishment queue by deadline alone (stable)
    /// and programs the timer for its head; returns whether the order changed.
    pub fn replq_sort_by_deadline(&mut self) -> bool {
        // SAFETY: self.h is live; the function only relinks rt.c's own list entries.
        unsafe { G::dt_replq_sort_by_deadline(self.h) }
    }

    /// Re-sync for deviation 11: sets unit `u`'s current budget.
    pub fn set_cur_budget(&mut self, u: usize, cur_budget: i64) {
        let u = self.unit(u);
        // SAFETY: self.h is live; u is an allocated unit.
        unsafe { G::dt_set_cur_budget(self.h, u, cur_budget) }
    }

    /// Marks `cpus` as tickled (reschedule pending) in rt.c's `prv->tickled`.
    pub fn mark_tickled(&mut self, cpus: u64) {
        // SAFETY: self.h is live.
        unsafe { G::dt_mark_tickled(self.h, cpus) }
    }
}

impl<G: Glue> Drop for RtC<G> {
    fn drop(&mut self) {
        // SAFETY: self.h came from dt_new and is freed exactly once, here.
        unsafe { G::dt_free(self.h) }
    }
}

// SAFETY: an RtC owns its C host exclusively; the C side keeps no reference to it
// between calls except through the calling thread's dt_cur, which every call resets.
unsafe impl<G: Glue> Send for RtC<G> {}
