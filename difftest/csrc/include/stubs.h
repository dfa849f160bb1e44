/*
 * Minimal user-space stand-ins for the Xen hypervisor interfaces that
 * xen/common/sched/rt.c (Xen 4.17) uses. Written for rtsched's differential test;
 * none of this is Xen's code. Each xen/... and asm/... header of this directory only
 * includes this file.
 *
 * Host state (the virtual clock, the per-CPU scheduling resources, the recorded
 * softirqs) lives in one struct per scheduler instance, reached through a
 * thread-local pointer that the glue (glue.c) sets on entry to every call, so that
 * tests running in parallel threads do not share anything.
 *
 * Assumptions (also listed in difftest/README.md):
 *  - ASSERT() is compiled out, as in a release (debug=n) hypervisor build; BUG_ON()
 *    aborts.
 *  - Spinlocks are no-ops: the harness is single-threaded per instance and calls
 *    every hook with the "lock" held by construction.
 *  - cpumask_t and its operations are those of x86 Xen 4.17 with its default NR_CPUS of
 *    256 (below); nr_cpu_ids is the number of CPUs of the instance, at most 64 (the
 *    glue's softirq and tickle words).
 *  - unit_runnable() and unit_runnable_state() both return the runnable flag the host
 *    (the Rust driver) keeps in struct sched_unit.
 *  - Timers only record their state and expiry; the driver fires them.
 *  - trace_var(), printk(), perf counters do nothing.
 */
#ifndef DIFFTEST_STUBS_H
#define DIFFTEST_STUBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

/* Xen's xen/compiler.h (CONFIG_CC_HAS_VISIBILITY_ATTRIBUTE): its own symbols are hidden,
 * so that its -fpic code calls and reads them directly (after the C library's headers,
 * whose functions the glue calls). */
#pragma GCC visibility push(hidden)

/* ---- compiler and basic types ---- */
/* Xen's, for -mmanual-endbr (CONFIG_XEN_IBT): endbr64 where an address is taken. */
#define cf_check __attribute__((__cf_check__))
#define __packed __attribute__((__packed__))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define __init
#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))

typedef int64_t s_time_t;
typedef uint16_t domid_t;
#define PRI_stime PRId64
#define STIME_MAX INT64_MAX
#define STIME_DELTA_MAX ((s_time_t)((uint64_t)~0ULL >> 2))
#define MICROSECS(us) ((s_time_t)((us) * 1000ULL))
#define MILLISECS(ms) ((s_time_t)((ms) * 1000000ULL))

#define ASSERT(p) ((void)0)
#define BUG_ON(p) do { if ( p ) abort(); } while ( 0 )

#define EINVAL 22
#define EFAULT 14
#define ENOMEM 12
#define EBUSY 16
#define ERR_PTR(e) ((void *)(intptr_t)(e))

static inline void printk(const char *fmt, ...) { (void)fmt; }
#define dprintk(lvl, ...) ((void)0)
#define XENLOG_DEBUG ""

#define trace_var(ev, cycles, size, data) ((void)(data))
#define TRC_SCHED_CLASS_EVT(cls, n) (n)
#define SCHED_STAT_CRANK(x) ((void)0)

#define xzalloc(type) ((type *)calloc(1, sizeof(type)))
#define xfree(p) free(p)

/* ---- bit operations on an unsigned int flags word ---- */
#define __set_bit(nr, addr) ((void)(*(addr) |= (1U << (nr))))
#define __clear_bit(nr, addr) ((void)(*(addr) &= ~(1U << (nr))))
#define __test_and_clear_bit(nr, addr) ({                       \
    bool old_ = (*(addr) >> (nr)) & 1U;                         \
    *(addr) &= ~(1U << (nr));                                   \
    old_; })

/* ---- locks: no-ops (see the header comment) ---- */
typedef struct { int unused; } spinlock_t;
#define spin_lock_init(l) ((void)(l))
#define spin_lock_irqsave(l, f) ((void)(l), (f) = 0)
#define spin_unlock_irqrestore(l, f) ((void)(l), (void)(f))
#define spin_lock_irq(l) ((void)(l))
#define spin_unlock_irq(l) ((void)(l))
#define spin_is_locked(l) 1

/* ---- doubly linked lists (Linux/Xen semantics) ---- */
struct list_head { struct list_head *next, *prev; };
#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define LIST_HEAD(name) struct list_head name = LIST_HEAD_INIT(name)
static inline void INIT_LIST_HEAD(struct list_head *l) { l->next = l; l->prev = l; }
static inline void list_link_(struct list_head *n, struct list_head *prev,
                              struct list_head *next)
{
    next->prev = n; n->next = next; n->prev = prev; prev->next = n;
}
/* Inserts n right after head. */
static inline void list_add(struct list_head *n, struct list_head *head)
{ list_link_(n, head, head->next); }
/* Inserts n right before head (at the tail of the list head starts). */
static inline void list_add_tail(struct list_head *n, struct list_head *head)
{ list_link_(n, head->prev, head); }
static inline void list_del(struct list_head *e)
{
    e->next->prev = e->prev; e->prev->next = e->next;
    e->next = NULL; e->prev = NULL; /* Xen poisons the pointers */
}
static inline void list_del_init(struct list_head *e)
{
    e->next->prev = e->prev; e->prev->next = e->next; INIT_LIST_HEAD(e);
}
static inline int list_empty(const struct list_head *h) { return h->next == h; }
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_for_each(pos, head) \
    for ( (pos) = (head)->next; (pos) != (head); (pos) = (pos)->next )
#define list_for_each_safe(pos, n, head) \
    for ( (pos) = (head)->next, (n) = (pos)->next; (pos) != (head); \
          (pos) = (n), (n) = (pos)->next )

/* ---- CPU masks, as Xen 4.17 builds them for x86 (NR_CPUS = 256) ----
 * The representation and the cost structure of xen/include/xen/cpumask.h, bitmap.h and
 * arch/x86/include/asm/bitops.h: cpumask_t holds NR_CPUS bits; cpumask_and and
 * cpumask_andnot call the out-of-line __bitmap_and and __bitmap_andnot over
 * nr_cpumask_bits (a constant, 256, when NR_CPUS <= 4 * BITS_PER_LONG), cpumask_empty
 * calls __bitmap_empty over nr_cpu_ids, cpumask_first and cpumask_next call
 * __find_first_bit and __find_next_bit (Xen's own arch/x86/bitops.c, compiled from the
 * source by build.rs; the bitmap helpers are csrc/bitmap.c, each in its own translation
 * unit as in Xen, so that none is inlined); cpumask_set_cpu and cpumask_clear_cpu are
 * locked bit operations and cpumask_test_cpu is a bt instruction, as x86's set_bit,
 * clear_bit and variable_test_bit. */
#define NR_CPUS 256
#define BITS_PER_LONG 64
#define BITS_TO_LONGS(bits) (((bits) + BITS_PER_LONG - 1) / BITS_PER_LONG)
#define BITMAP_LAST_WORD_MASK(nbits) \
    (((nbits) % BITS_PER_LONG) ? (1UL << ((nbits) % BITS_PER_LONG)) - 1 : ~0UL)
#define __STR(...) #__VA_ARGS__
#define STR(...) __STR(__VA_ARGS__)
#define __OS "q"
typedef struct { unsigned long bits[BITS_TO_LONGS(NR_CPUS)]; } cpumask_t;
typedef cpumask_t cpumask_var_t[1];
#define nr_cpumask_bits (BITS_TO_LONGS(NR_CPUS) * BITS_PER_LONG)

void __bitmap_and(unsigned long *dst, const unsigned long *bitmap1,
                  const unsigned long *bitmap2, int bits);
void __bitmap_andnot(unsigned long *dst, const unsigned long *bitmap1,
                     const unsigned long *bitmap2, int bits);
int __bitmap_empty(const unsigned long *bitmap, int bits);
unsigned int __find_first_bit(const unsigned long *addr, unsigned int size);
unsigned int __find_next_bit(const unsigned long *addr, unsigned int size,
                             unsigned int offset);

/* x86's __scanbit (the form without alternatives). */
static inline unsigned int __scanbit(unsigned long val, unsigned int max)
{
    asm ( "bsf %1,%0 ; cmovz %2,%k0" : "=&r" (val) : "r" (val), "r" (max) );
    return (unsigned int)val;
}

/* x86's find_next_bit: the size is nr_cpu_ids, not a constant. */
static inline unsigned int dt_find_next_bit_(const unsigned long *a, unsigned int s,
                                             unsigned int o)
{
    if ( o >= s )
        return s;
    if ( __builtin_constant_p(o) && !o )
        return __find_first_bit(a, s);
    return __find_next_bit(a, s, o);
}

/* x86's set_bit, clear_bit (locked) and variable_test_bit. */
static inline void cpumask_set_cpu(unsigned int c, volatile cpumask_t *m)
{ asm volatile ( "lock; btsl %1,%0" : "+m" (*(volatile int *)m->bits) : "Ir" (c) : "memory" ); }
static inline void cpumask_clear_cpu(unsigned int c, volatile cpumask_t *m)
{ asm volatile ( "lock; btrl %1,%0" : "+m" (*(volatile int *)m->bits) : "Ir" (c) : "memory" ); }
static inline int cpumask_test_cpu(unsigned int c, const cpumask_t *m)
{
    int oldbit;

    asm volatile ( "btl %2,%1" : "=@ccc" (oldbit)
                   : "m" (*(const volatile int *)m->bits), "Ir" (c) : "memory" );
    return oldbit;
}
static inline void cpumask_and(cpumask_t *d, const cpumask_t *a, const cpumask_t *b)
{ __bitmap_and(d->bits, a->bits, b->bits, nr_cpumask_bits); }
static inline void cpumask_andnot(cpumask_t *d, const cpumask_t *a, const cpumask_t *b)
{ __bitmap_andnot(d->bits, a->bits, b->bits, nr_cpumask_bits); }

/* ---- host state of one instance (defined by glue.c) ---- */
struct sched_resource;
struct dt_host;
extern __thread struct dt_host *dt_cur __attribute__((tls_model("initial-exec")));
unsigned int dt_nr_cpu_ids(void);
#define nr_cpu_ids (dt_nr_cpu_ids())

/* xen/include/xen/cpumask.h. */
static inline int cpumask_empty(const cpumask_t *m)
{ return __bitmap_empty(m->bits, nr_cpu_ids); }
static inline int cpumask_first(const cpumask_t *m)
{
    unsigned int c = dt_find_next_bit_(m->bits, nr_cpu_ids, 0);

    return c < nr_cpu_ids ? (int)c : (int)nr_cpu_ids;
}
static inline int cpumask_next(int n, const cpumask_t *m)
{
    unsigned int c = dt_find_next_bit_(m->bits, nr_cpu_ids, n + 1);

    return c < nr_cpu_ids ? (int)c : (int)nr_cpu_ids;
}
static inline int cpumask_cycle(int n, const cpumask_t *m)
{
    int nxt = cpumask_next(n, m);

    if ( nxt == (int)nr_cpu_ids )
        nxt = cpumask_first(m);
    return nxt;
}
static inline int cpumask_test_or_cycle(int n, const cpumask_t *m)
{
    if ( cpumask_test_cpu(n, m) )
        return n;
    return cpumask_cycle(n, m);
}
const cpumask_t *dt_cpumask_of(unsigned int cpu);
#define cpumask_of(c) dt_cpumask_of(c)
cpumask_t *dt_scratch(unsigned int cpu);
#define cpumask_scratch_cpu(c) dt_scratch(c)
#define CPUMASK_PR(m) (int)nr_cpu_ids, (const void *)(m)

/* ---- time, CPUs, softirqs ---- */
s_time_t dt_now(void);
#define NOW() dt_now()
unsigned int dt_smp_processor_id(void);
#define smp_processor_id() dt_smp_processor_id()
#define SCHEDULE_SOFTIRQ 1
void cpu_raise_softirq(unsigned int cpu, unsigned int nr);
#define hypercall_preempt_check() 0

/* ---- timers: record state and expiry; the driver fires them ---- */
#define TIMER_STATUS_invalid  0
#define TIMER_STATUS_inactive 1
#define TIMER_STATUS_killed   2
#define TIMER_STATUS_in_heap  3
struct timer {
    s_time_t expires;
    void (*function)(void *);
    void *data;
    unsigned int cpu;
    uint8_t status;
};
void init_timer(struct timer *t, void (*fn)(void *), void *data, unsigned int cpu);
void set_timer(struct timer *t, s_time_t expires);
void stop_timer(struct timer *t);
void kill_timer(struct timer *t);
void migrate_timer(struct timer *t, unsigned int cpu);

/* ---- public domctl interface (the fields rt_dom_cntl uses) ---- */
#define XEN_SCHEDULER_RTDS 8
#define XEN_DOMCTL_SCHEDOP_putinfo 0
#define XEN_DOMCTL_SCHEDOP_getinfo 1
#define XEN_DOMCTL_SCHEDOP_putvcpuinfo 2
#define XEN_DOMCTL_SCHEDOP_getvcpuinfo 3
#define XEN_DOMCTL_SCHEDRT_extra (1U << 0)
struct xen_domctl_sched_rtds { uint32_t period, budget, flags; };
typedef struct xen_domctl_schedparam_vcpu {
    union { struct xen_domctl_sched_rtds rtds; } u;
    uint32_t vcpuid;
} xen_domctl_schedparam_vcpu_t;
/* A guest handle is a plain pointer here; "guest" memory is the caller's. */
typedef struct { xen_domctl_schedparam_vcpu_t *p; } dt_vcpu_handle_t;
struct xen_domctl_scheduler_op {
    uint32_t sched_id, cmd;
    union {
        struct xen_domctl_sched_rtds rtds;
        struct { dt_vcpu_handle_t vcpus; uint32_t nr_vcpus, padding; } v;
    } u;
};
#define copy_from_guest_offset(ptr, hnd, off, nr) \
    (memcpy((ptr), (hnd).p + (off), (nr) * sizeof(*(ptr))), 0)
#define copy_to_guest_offset(hnd, off, ptr, nr) \
    (memcpy((hnd).p + (off), (ptr), (nr) * sizeof(*(ptr))), 0)

/* ---- domains, units, scheduling resources ---- */
#define DOMID_IDLE 0x7FFFU
struct sched_unit;
struct vcpu { struct sched_unit *sched_unit; unsigned int vcpu_id; };
struct cpupool { cpumask_var_t res_valid; };
struct domain {
    domid_t domain_id;
    unsigned int max_vcpus;
    struct vcpu **vcpu;
    struct sched_unit *sched_unit_list;
    struct cpupool *cpupool;
};
struct sched_unit {
    struct domain *domain;
    void *priv;
    struct sched_unit *next_in_list;
    struct sched_resource *res;
    unsigned int unit_id;
    bool is_running;
    bool migrated;
    s_time_t next_time;
    struct sched_unit *next_task;
    cpumask_var_t cpu_hard_affinity;
    bool runnable; /* the host's view; see unit_runnable() */
};
struct sched_resource {
    spinlock_t *schedule_lock;
    struct sched_unit *curr;
    struct sched_unit *sched_unit_idle;
    unsigned int master_cpu;
    struct cpupool *cpupool;
};
#define for_each_sched_unit(d, u) \
    for ( (u) = (d)->sched_unit_list; (u) != NULL; (u) = (u)->next_in_list )

struct sched_resource *dt_sched_res(unsigned int cpu);
#define get_sched_res(c) dt_sched_res(c)
static inline struct sched_unit *curr_on_cpu(unsigned int cpu) { return get_sched_res(cpu)->curr; }
static inline struct sched_unit *sched_idle_unit(unsigned int cpu)
{ return get_sched_res(cpu)->sched_unit_idle; }
static inline unsigned int sched_get_resource_cpu(unsigned int cpu)
{ return get_sched_res(cpu)->master_cpu; }
static inline bool is_idle_unit(const struct sched_unit *u) { return u->domain->domain_id == DOMID_IDLE; }
static inline bool unit_runnable(const struct sched_unit *u) { return u->runnable; }
static inline bool unit_runnable_state(const struct sched_unit *u)
{ return is_idle_unit(u) || u->runnable; }
static inline unsigned int sched_unit_master(const struct sched_unit *u) { return u->res->master_cpu; }
static inline void sched_set_res(struct sched_unit *u, struct sched_resource *r) { u->res = r; }
static inline cpumask_t *cpupool_domain_master_cpumask(const struct domain *d)
{ return d->cpupool->res_valid; }
static inline spinlock_t *unit_schedule_lock_irq(const struct sched_unit *u)
{ return u->res->schedule_lock; }
#define unit_schedule_unlock_irq(l, u) ((void)(l), (void)(u))
static inline spinlock_t *pcpu_schedule_lock_irq(unsigned int cpu)
{ return get_sched_res(cpu)->schedule_lock; }
#define pcpu_schedule_unlock_irq(l, c) ((void)(l), (void)(c))

/* ---- the scheduler interface (the members rt.c's sched_rtds_def sets) ---- */
struct scheduler {
    const char *name, *opt_name;
    unsigned int sched_id;
    void *sched_data;
    void (*dump_cpu_state)(const struct scheduler *, int);
    void (*dump_settings)(const struct scheduler *);
    int (*init)(struct scheduler *);
    void (*deinit)(struct scheduler *);
    spinlock_t *(*switch_sched)(struct scheduler *, unsigned int, void *, void *);
    void (*deinit_pdata)(const struct scheduler *, void *, int);
    void *(*alloc_domdata)(const struct scheduler *, struct domain *);
    void (*free_domdata)(const struct scheduler *, void *);
    void *(*alloc_udata)(const struct scheduler *, struct sched_unit *, void *);
    void (*free_udata)(const struct scheduler *, void *);
    void (*insert_unit)(const struct scheduler *, struct sched_unit *);
    void (*remove_unit)(const struct scheduler *, struct sched_unit *);
    int (*adjust)(const struct scheduler *, struct domain *, struct xen_domctl_scheduler_op *);
    struct sched_resource *(*pick_resource)(const struct scheduler *, const struct sched_unit *);
    void (*do_schedule)(const struct scheduler *, struct sched_unit *, s_time_t, bool);
    void (*sleep)(const struct scheduler *, struct sched_unit *);
    void (*wake)(const struct scheduler *, struct sched_unit *);
    void (*context_saved)(const struct scheduler *, struct sched_unit *);
    void (*move_timers)(const struct scheduler *, struct sched_resource *);
};
#define REGISTER_SCHEDULER(x) \
    const struct scheduler *dt_registered_rtds __attribute__((used)) = &(x)

#endif /* DIFFTEST_STUBS_H */
