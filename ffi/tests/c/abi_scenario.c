/*
 * rtsched's C ABI driven from C, built with -fsanitize=address,undefined:
 *
 * 1. a scenario with its decisions asserted: two CPUs, three units, EDF
 *    preemption, depletion and replenishment, the delayed re-queue after a
 *    context switch, parameters, admission, placement, policy switches;
 * 2. misuse, each refused call checked to leave the instance's memory
 *    byte-identical and its outputs unwritten: null and misaligned pointers,
 *    bad values, retired handles, calls that break the hook protocol, times
 *    out of range, a copied instance, initialising a live instance; a time
 *    behind the clock is accepted, taken as the clock and counted.
 *
 * Every exported function is called here (tests/c_abi.rs checks the list
 * against the library's symbols). Only the header's names are used.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtsched.h"

#define MS 1000000LL
#define EINVAL_ (-22)
#define EBUSY_ (-16)

static int failures;
static void *mem;       /* the instance's memory */
static size_t mem_len;  /* its size */
static unsigned char *shadow;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if ( !(cond) ) {                                                   \
            printf("FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
            failures++;                                                    \
        }                                                                  \
    } while ( 0 )

/*
 * A call that must be refused with `rc`: the instance's memory is compared
 * byte by byte before and after, and `out` (the call's output storage, or
 * NULL) must still hold the 0xA5 pattern it was filled with.
 */
#define REFUSED(rc, out, call)                                             \
    do {                                                                   \
        int r_;                                                            \
        fill((out), sizeof(*(out)));                                       \
        memcpy(shadow, mem, mem_len);                                      \
        r_ = (call);                                                       \
        if ( r_ != (rc) ) {                                                \
            printf("FAILED %s:%d: %s returned %d, not %d\n", __FILE__,    \
                   __LINE__, #call, r_, (rc));                             \
            failures++;                                                    \
        }                                                                  \
        if ( memcmp(shadow, mem, mem_len) != 0 ) {                         \
            printf("FAILED %s:%d: %s changed the instance\n", __FILE__,   \
                   __LINE__, #call);                                       \
            failures++;                                                    \
        }                                                                  \
        if ( !untouched((out), sizeof(*(out))) ) {                         \
            printf("FAILED %s:%d: %s wrote its output\n", __FILE__,       \
                   __LINE__, #call);                                       \
            failures++;                                                    \
        }                                                                  \
    } while ( 0 )

/* No output: NULL. */
#define NO_OUT ((uint32_t *)NULL)

static void fill(void *p, size_t n)
{
    if ( p != NULL )
        memset(p, 0xa5, n);
}

static int untouched(const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for ( i = 0; p != NULL && i < n; i++ )
        if ( b[i] != 0xa5 )
            return 0;
    return 1;
}

static RtschedCpumask mask_of(unsigned int n)
{
    RtschedCpumask m;
    unsigned int c;

    memset(&m, 0, sizeof(m));
    for ( c = 0; c < n; c++ )
        m.bits[c / 64] |= 1ULL << (c % 64);
    return m;
}

static int has_cpu(const RtschedCpumask *m, unsigned int c)
{
    return (m->bits[c / 64] >> (c % 64)) & 1;
}

static uint64_t counter(Rtsched *s, RtschedStat which)
{
    RtschedStats st;

    CHECK(rtsched_stats(s, &st) == RTSCHED_RESULT_OK);
    return st.counters[which];
}

/* Leaves u0 running on CPU 0, u1 queued, u2 inserted and blocked. */
static void scenario(Rtsched *s, uint32_t *run, uint32_t *queued,
                     uint32_t *blocked)
{
    RtschedCpumask all = mask_of(2), one = mask_of(1);
    RtschedParams p, q;
    RtschedActions a;
    RtschedDecision d;
    RtschedUnitInfo info;
    RtschedQueueInfo qi;
    uint32_t u0, u1, u2, cpu, n, h;

    CHECK(rtsched_cpu_add(s, 0) == 0);
    CHECK(rtsched_cpu_add(s, 1) == 0);

    CHECK(rtsched_unit_alloc(s, 1, 0, &all, &u0) == 0);
    CHECK(rtsched_unit_alloc(s, 2, 0, &all, &u1) == 0);
    CHECK(rtsched_unit_alloc(s, 3, 0, &one, &u2) == 0);
    CHECK((u0 & RTSCHED_SLOT_MASK) < 8 && (u2 & RTSCHED_SLOT_MASK) < 8);

    /* Defaults are Xen's: 10 ms, 4 ms, extratime. */
    CHECK(rtsched_unit_get_params(s, u0, &p) == 0);
    CHECK(p.period == 10 * MS && p.budget == 4 * MS &&
          p.flags == RTSCHED_PARAM_EXTRATIME);

    /* u0: 4/10 ms, u1: 2/5 ms, both without extratime; u2 stays default. */
    q.period = 10 * MS; q.budget = 4 * MS; q.flags = 0; q.reserved = 0;
    CHECK(rtsched_params_check(&q) == 0);
    CHECK(rtsched_unit_set_params(s, u0, &q, &a) == 0);
    q.period = 5 * MS; q.budget = 2 * MS;
    CHECK(rtsched_unit_set_params(s, u1, &q, &a) == 0);

    CHECK(rtsched_unit_insert(s, u0, 0, false, false, &cpu, &a) == 0);
    CHECK(cpu == 0);
    CHECK(rtsched_unit_insert(s, u1, 0, false, false, &cpu, &a) == 0);
    CHECK(rtsched_unit_insert(s, u2, 0, false, false, &cpu, &a) == 0);
    CHECK(rtsched_pick_cpu(s, u2, &cpu) == 0 && cpu == 0);

    /* u0 wakes at 0: idle CPU 0 tickled, timer for its deadline (10 ms). */
    CHECK(rtsched_unit_wake(s, u0, 0, &a) == 0);
    CHECK(has_cpu(&a.reschedule, 0) && !has_cpu(&a.reschedule, 1));
    CHECK(a.timer_op == RTSCHED_TIMER_OP_SET && a.timer_expiry == 10 * MS);
    CHECK(rtsched_runq_peek(s, 0, &h) == 0 && h == u0);
    CHECK(rtsched_do_schedule(s, 0, 0, false, false, &d) == 0);
    CHECK(d.next == u0 && d.slice == 4 * MS && d.migrated == 0);

    /* u1 wakes at 1 ms, assigned to CPU 0 (busy): idle CPU 1 is tickled. */
    CHECK(rtsched_unit_wake(s, u1, 1 * MS, &a) == 0);
    CHECK(has_cpu(&a.reschedule, 1));
    CHECK(a.timer_op == RTSCHED_TIMER_OP_SET && a.timer_expiry == 5 * MS);
    CHECK(rtsched_queue_at(s, RTSCHED_QUEUE_RUN, 0, &h) == 0 && h == u1);
    CHECK(rtsched_do_schedule(s, 1, 1 * MS, false, false, &d) == 0);
    CHECK(d.next == u1 && d.slice == 2 * MS && d.migrated == 1);

    /* u1 exhausts its budget at 3 ms: CPU 1 goes idle, u1 is re-queued only
     * when its context is saved, onto the depleted queue. */
    CHECK(rtsched_do_schedule(s, 1, 3 * MS, true, false, &d) == 0);
    CHECK(d.next == RTSCHED_NONE && d.slice == -1);
    CHECK(rtsched_unit_info(s, u1, &info) == 0);
    CHECK(info.queue == RTSCHED_UNIT_QUEUE_NONE && info.cur_budget == 0);
    CHECK(info.flags & RTSCHED_UNIT_SCHEDULED);
    CHECK(info.flags & RTSCHED_UNIT_DELAYED_RUNQ_ADD);
    CHECK(rtsched_context_saved(s, u1, true, &a) == 0);
    CHECK(rtsched_unit_info(s, u1, &info) == 0);
    CHECK(info.queue == RTSCHED_UNIT_QUEUE_DEPLETED);
    CHECK(info.flags & RTSCHED_UNIT_DEPLETED);
    CHECK(!(info.flags & (RTSCHED_UNIT_SCHEDULED | RTSCHED_UNIT_EXTRATIME)));

    /* Replenishment at 5 ms: u1 gets 2 ms again and a deadline of 10 ms. */
    CHECK(rtsched_timer_fire(s, 5 * MS, &a) == 0);
    CHECK(rtsched_unit_info(s, u1, &info) == 0);
    CHECK(info.queue == RTSCHED_UNIT_QUEUE_RUN && info.cur_budget == 2 * MS &&
          info.cur_deadline == 10 * MS);
    CHECK(a.timer_op == RTSCHED_TIMER_OP_SET && a.timer_expiry == 10 * MS);
    CHECK(rtsched_queue_info(s, &qi) == 0);
    CHECK(qi.runq_len == 1 && qi.replq_len == 2 && qi.nr_units == 3);
    CHECK(rtsched_queue_at(s, RTSCHED_QUEUE_REPL, 0, &h) == 0 &&
          h != RTSCHED_NONE);
    CHECK(rtsched_queue_at(s, RTSCHED_QUEUE_REPL, 9, &h) == 0 &&
          h == RTSCHED_NONE);

    /* Domain-wide parameters are validated (stricter than rt.c). */
    CHECK(rtsched_domain_set_params(s, 1, 20 * MS, 5 * MS, &n, &a) == 0 && n == 1);

    /* Prompt parameter changes (what the shim uses): u1's deadline (10 ms) is
     * more than one new period (1 ms) after now (5 ms), so a new period starts
     * now; back at 2/5 ms its deadline (6 ms) is within one period and stays. */
    q.period = 1 * MS; q.budget = MS / 2; q.flags = 0; q.reserved = 0;
    CHECK(rtsched_unit_set_params_at(s, u1, &q, 5 * MS, &a) == 0);
    CHECK(rtsched_unit_info(s, u1, &info) == 0 && info.cur_deadline == 6 * MS);
    q.period = 5 * MS; q.budget = 2 * MS;
    CHECK(rtsched_unit_set_params_at(s, u1, &q, 5 * MS, &a) == 0);
    CHECK(rtsched_unit_info(s, u1, &info) == 0 && info.cur_deadline == 6 * MS);
    CHECK(rtsched_domain_set_params_at(s, 3, 10 * MS, 4 * MS, 5 * MS, &n, &a) == 0 &&
          n == 1);
    {
        uint64_t ppm = 0;

        CHECK(rtsched_params_bandwidth(&q, &ppm) == 0 && ppm == 400000);
    }

    /* Admission verdict (global EDF on 2 CPUs): 0.25 + 0.4 + 0.4 reserved. */
    {
        RtschedVerdict v;
        RtschedPcpuLoad loads[2] = { { 500000, 0, 0 }, { 100000, 0, 0 } };
        uint32_t c;

        CHECK(rtsched_admission(s, &v) == 0);
        CHECK(v.total_ppm == 1050000 && v.max_ppm == 400000);
        /* Deferrable servers under global EDF: the interference test
         * (rtsched::admission) does not admit this set on 2 CPUs. */
        CHECK(v.schedulable == 0);
        /* Best fit: the fuller PCPU 0 still takes 0.4. */
        CHECK(rtsched_partition_place(loads, 2, &all, RTSCHED_NONE, 400000, &c) == 0);
        CHECK(c == 0);
        CHECK(rtsched_partition_place(loads, 2, &all, RTSCHED_NONE, 600000, &c) == 0);
        CHECK(c == 1);
    }

    /* Runtime policy switches. */
    CHECK(rtsched_set_priority(s, RTSCHED_PRIORITY_DM, &a) == 0);
    CHECK(rtsched_set_server(s, RTSCHED_SERVER_PERIODIC, &a) == 0);
    CHECK(rtsched_queue_info(s, &qi) == 0);
    CHECK(qi.policy.priority == RTSCHED_PRIORITY_DM &&
          qi.policy.server == RTSCHED_SERVER_PERIODIC);
    CHECK(rtsched_set_server(s, RTSCHED_SERVER_CBS, &a) == 0);
    CHECK(rtsched_set_classes(s, RTSCHED_CLASS_RULE_RTDS, &a) == 0);
    CHECK(rtsched_queue_info(s, &qi) == 0);
    CHECK(qi.policy.server == RTSCHED_SERVER_CBS &&
          qi.policy.classes == RTSCHED_CLASS_RULE_RTDS);
    CHECK(rtsched_set_classes(s, RTSCHED_CLASS_RULE_CLASSES, &a) == 0);
    CHECK(rtsched_set_server(s, RTSCHED_SERVER_DEFERRABLE, &a) == 0);
    CHECK(rtsched_set_priority(s, RTSCHED_PRIORITY_EDF, &a) == 0);
    CHECK(rtsched_check(s) == 0);
    *run = u0;
    *queued = u1;
    *blocked = u2;
}

/* Misuse of the instance scenario() left: each call refused. */
static void misuse(Rtsched *s, size_t size, uint32_t run, uint32_t queued,
                   uint32_t blocked)
{
    RtschedCpumask all = mask_of(2);
    RtschedPolicy pol = { RTSCHED_TOPOLOGY_GLOBAL, RTSCHED_PRIORITY_EDF,
                          RTSCHED_SERVER_DEFERRABLE, 0,
                          RTSCHED_CLASS_RULE_CLASSES };
    RtschedParams q = { 10 * MS, 4 * MS, 0, 0 };
    RtschedActions a;
    RtschedDecision d;
    RtschedUnitInfo info;
    RtschedQueueInfo qi;
    RtschedStats st;
    RtschedVerdict v;
    RtschedParams p;
    Rtsched *t;
    uint32_t fresh, gone, h, cpu, n;
    uint64_t words[8];
    /* An output pointer one byte off its alignment. */
    RtschedActions *skew = (RtschedActions *)((unsigned char *)words + 1);

    CHECK(rtsched_unit_info(s, run, &info) == 0 && info.running && info.cpu == 0);
    CHECK(rtsched_unit_info(s, queued, &info) == 0 &&
          info.queue == RTSCHED_UNIT_QUEUE_RUN);
    CHECK(rtsched_unit_info(s, blocked, &info) == 0 && !info.runnable);
    CHECK(rtsched_unit_alloc(s, 9, 0, &all, &fresh) == 0); /* not inserted */

    /* Initialisation: bad sizes, a bad policy, a live instance. */
    REFUSED(EINVAL_, &t, rtsched_init(mem, size - 1, 8, 2, &pol, &t));
    REFUSED(EINVAL_, &t, rtsched_init(NULL, size, 8, 2, &pol, &t));
    REFUSED(EINVAL_, &t, rtsched_init(mem, size, 8, 2, NULL, &t));
    REFUSED(EINVAL_, (Rtsched **)NULL, rtsched_init(mem, size, 8, 2, &pol, NULL));
    pol.server = 7;
    REFUSED(EINVAL_, &t, rtsched_init(mem, size, 8, 2, &pol, &t));
    pol.server = RTSCHED_SERVER_DEFERRABLE;
    REFUSED(EBUSY_, &t, rtsched_init(mem, size, 8, 2, &pol, &t));
    CHECK(rtsched_mem_size(0, 2) == 0);
    CHECK(rtsched_mem_size(RTSCHED_MAX_UNITS + 1, 2) == 0);
    CHECK(rtsched_mem_size(8, RTSCHED_MAX_CPUS + 1) == 0);

    /* Null instance, null and misaligned outputs, bad CPUs and values. */
    REFUSED(EINVAL_, &a, rtsched_timer_fire(NULL, 7 * MS, &a));
    REFUSED(EINVAL_, NO_OUT, rtsched_timer_fire(s, 7 * MS, NULL));
    REFUSED(EINVAL_, skew, rtsched_timer_fire(s, 7 * MS, skew));
    REFUSED(EINVAL_, NO_OUT, rtsched_cpu_add(s, 2));
    REFUSED(EBUSY_, NO_OUT, rtsched_cpu_add(s, 1));
    REFUSED(EBUSY_, NO_OUT, rtsched_cpu_remove(s, 0));
    REFUSED(EINVAL_, NO_OUT, rtsched_cpu_remove(s, 5));
    REFUSED(EINVAL_, &h, rtsched_unit_alloc(s, 1, 0, NULL, &h));
    REFUSED(EINVAL_, &d, rtsched_do_schedule(s, 7, 7 * MS, true, false, &d));
    REFUSED(EINVAL_, &h, rtsched_runq_peek(s, 9, &h));
    REFUSED(EINVAL_, &h, rtsched_queue_at(s, 2, 0, &h));
    REFUSED(EINVAL_, &a, rtsched_set_server(s, 7, &a));
    REFUSED(EINVAL_, &a, rtsched_set_priority(s, 2, &a));
    REFUSED(EINVAL_, &a, rtsched_set_classes(s, 2, &a));
    REFUSED(EINVAL_, &info, rtsched_unit_info(s, 12345, &info));
    REFUSED(EINVAL_, &st, rtsched_stats(s, (RtschedStats *)NULL));
    REFUSED(EINVAL_, &qi, rtsched_queue_info(NULL, &qi));
    REFUSED(EINVAL_, &v, rtsched_admission(s, (RtschedVerdict *)NULL));
    REFUSED(EINVAL_, &cpu, rtsched_pick_cpu(s, RTSCHED_NONE, &cpu));
    REFUSED(EINVAL_, NO_OUT, rtsched_unit_migrate(s, fresh, 3));
    REFUSED(EINVAL_, NO_OUT, rtsched_unit_set_affinity(s, fresh, NULL));
    REFUSED(EINVAL_, NO_OUT, rtsched_check(NULL));
    REFUSED(EINVAL_, NO_OUT, rtsched_deinit(NULL));

    /* Invalid parameters: -EINVAL, nothing changes. */
    q.period = 10 * MS; q.budget = 20 * MS;
    REFUSED(EINVAL_, &a, rtsched_unit_set_params(s, fresh, &q, &a));
    CHECK(rtsched_params_check(&q) == EINVAL_);
    q.period = 5; q.budget = 5;
    REFUSED(EINVAL_, &a, rtsched_unit_set_params(s, fresh, &q, &a));
    q.period = 10 * MS; q.budget = 4 * MS; q.flags = 0x80;
    REFUSED(EINVAL_, &a, rtsched_unit_set_params(s, fresh, &q, &a));
    CHECK(rtsched_params_check(&q) == EINVAL_);
    q.flags = 0; q.reserved = 1;
    REFUSED(EINVAL_, &a, rtsched_unit_set_params(s, fresh, &q, &a));
    q.reserved = 0;
    REFUSED(EINVAL_, &a, rtsched_unit_set_params(s, fresh, NULL, &a));
    REFUSED(EINVAL_, &p, rtsched_unit_get_params(s, 99, &p));
    REFUSED(EINVAL_, &n, rtsched_domain_set_params(s, 1, 10 * MS, 20 * MS, &n, &a));
    REFUSED(EINVAL_, &n, rtsched_domain_set_params_at(s, 1, 10 * MS, 20 * MS, 7 * MS, &n, &a));
    q.period = 10 * MS; q.budget = 20 * MS;
    REFUSED(EINVAL_, &a, rtsched_unit_set_params_at(s, fresh, &q, 7 * MS, &a));
    {
        uint64_t ppm = 7;

        REFUSED(EINVAL_, &ppm, rtsched_params_bandwidth(&q, &ppm));
        REFUSED(EINVAL_, &ppm, rtsched_params_bandwidth(NULL, &ppm));
    }
    q.period = 10 * MS; q.budget = 4 * MS;
    REFUSED(EINVAL_, &a, rtsched_unit_set_params_at(s, fresh, &q, 7 * MS, NULL));
    REFUSED(EINVAL_, &a, rtsched_cpu_withdraw(s, 5, &a));
    REFUSED(EINVAL_, NO_OUT, rtsched_cpu_withdraw(s, 0, NULL));
    CHECK(rtsched_params_check(NULL) == EINVAL_);
    CHECK(rtsched_partition_place(NULL, 2, &all, 0, 1, &cpu) == EINVAL_);

    /* The hook protocol. A unit that is not being switched out has no
     * context to save: not the running one, not a queued one, not one never
     * inserted (today's bug: the queued unit lost its replenishment). */
    REFUSED(EBUSY_, &a, rtsched_context_saved(s, run, true, &a));
    REFUSED(EBUSY_, &a, rtsched_context_saved(s, queued, true, &a));
    REFUSED(EBUSY_, &a, rtsched_context_saved(s, blocked, true, &a));
    REFUSED(EBUSY_, &a, rtsched_context_saved(s, fresh, false, &a));
    /* A running unit is not migrated, freed or inserted again. */
    REFUSED(EBUSY_, NO_OUT, rtsched_unit_migrate(s, run, 1));
    REFUSED(EBUSY_, NO_OUT, rtsched_unit_free(s, run));
    REFUSED(EBUSY_, &cpu, rtsched_unit_insert(s, run, 7 * MS, true, false, &cpu, &a));
    /* A runnable unit the host says already runs cannot be taken over. */
    REFUSED(EBUSY_, &cpu, rtsched_unit_insert(s, fresh, 7 * MS, true, true, &cpu, &a));

    /* Time: out of range is refused, behind the clock is taken as the clock
     * and counted. (One timer_fire(INT64_MAX) used to starve every unit
     * without extratime.) */
    REFUSED(EINVAL_, &a, rtsched_timer_fire(s, INT64_MAX, &a));
    REFUSED(EINVAL_, &a, rtsched_timer_fire(s, RTSCHED_TIME_MAX + 1, &a));
    REFUSED(EINVAL_, &a, rtsched_unit_wake(s, queued, -1, &a));
    REFUSED(EINVAL_, &d, rtsched_do_schedule(s, 1, INT64_MIN, true, false, &d));
    REFUSED(EINVAL_, &cpu, rtsched_unit_insert(s, fresh, -5, false, false, &cpu, &a));
    n = (uint32_t)counter(s, RTSCHED_STAT_CLOCK_BACKWARDS);
    CHECK(rtsched_do_schedule(s, 1, 4 * MS, true, false, &d) == 0);
    CHECK(counter(s, RTSCHED_STAT_CLOCK_BACKWARDS) == n + 1);
    /* CPU 1 picked the queued unit at the clock's time (5 ms), not at 4 ms. */
    CHECK(d.next == queued);
    CHECK(rtsched_unit_info(s, queued, &info) == 0 && info.last_start == 5 * MS);
    CHECK(rtsched_do_schedule(s, 1, 6 * MS, true, false, &d) == 0);
    CHECK(counter(s, RTSCHED_STAT_CLOCK_BACKWARDS) == n + 1);
    CHECK(rtsched_check(s) == 0);

    /* Handles are generation-checked: a freed unit's handle is refused, also
     * once its slot holds a new unit. */
    gone = fresh;
    CHECK(rtsched_unit_free(s, gone) == 0);
    CHECK(rtsched_unit_alloc(s, 9, 1, &all, &fresh) == 0);
    CHECK((fresh & RTSCHED_SLOT_MASK) == (gone & RTSCHED_SLOT_MASK));
    CHECK(fresh != gone);
    REFUSED(EINVAL_, NO_OUT, rtsched_unit_free(s, gone));
    REFUSED(EINVAL_, &a, rtsched_unit_set_params(s, gone, &q, &a));
    REFUSED(EINVAL_, &info, rtsched_unit_info(s, gone, &info));
    REFUSED(EINVAL_, &cpu, rtsched_unit_insert(s, gone, 7 * MS, true, false, &cpu, &a));
    REFUSED(EINVAL_, &a, rtsched_unit_wake(s, gone, 7 * MS, &a));
    REFUSED(EINVAL_, &a, rtsched_unit_sleep(s, gone, &a));
    REFUSED(EINVAL_, &a, rtsched_unit_set_unrunnable(s, gone, &a));
    REFUSED(EINVAL_, &a, rtsched_unit_remove(s, gone, &a));
    REFUSED(EINVAL_, &a, rtsched_context_saved(s, gone, true, &a));
    REFUSED(EINVAL_, &cpu, rtsched_pick_cpu(s, gone, &cpu));
    REFUSED(EINVAL_, NO_OUT, rtsched_unit_migrate(s, gone, 1));
    REFUSED(EINVAL_, NO_OUT, rtsched_unit_set_affinity(s, gone, &all));
    CHECK(rtsched_unit_info(s, fresh, &info) == 0 && info.vcpu == 1);

    /* An instance copied with memcpy is not an instance: the copy still
     * points into the original's memory, so nothing may be done through it. */
    {
        void *copy = aligned_alloc(rtsched_mem_align(), mem_len);
        Rtsched *c = copy;

        CHECK(copy != NULL);
        memcpy(copy, mem, mem_len);
        REFUSED(EINVAL_, NO_OUT, rtsched_check(c));
        REFUSED(EINVAL_, &a, rtsched_unit_wake(c, queued, 8 * MS, &a));
        REFUSED(EINVAL_, &a, rtsched_timer_fire(c, 8 * MS, &a));
        REFUSED(EINVAL_, &d, rtsched_do_schedule(c, 0, 8 * MS, true, false, &d));
        REFUSED(EINVAL_, NO_OUT, rtsched_unit_free(c, fresh));
        REFUSED(EINVAL_, NO_OUT, rtsched_deinit(c));
        CHECK(memcmp(copy, mem, mem_len) == 0);
        free(copy);
    }

    /* The unit running on CPU 0 is switched out: now, and only once, its
     * context_saved is accepted. */
    CHECK(rtsched_unit_sleep(s, run, &a) == 0);
    CHECK(has_cpu(&a.reschedule, 0));
    CHECK(rtsched_do_schedule(s, 0, 7 * MS, false, false, &d) == 0);
    CHECK(d.next != run);
    CHECK(rtsched_unit_info(s, run, &info) == 0);
    CHECK((info.flags & RTSCHED_UNIT_SCHEDULED) && !info.running);
    REFUSED(EBUSY_, NO_OUT, rtsched_unit_free(s, run));
    CHECK(rtsched_unit_remove(s, run, &a) == 0);
    /* Removed while being switched out: inserted again only once saved. */
    REFUSED(EBUSY_, &cpu, rtsched_unit_insert(s, run, 7 * MS, true, false, &cpu, &a));
    CHECK(rtsched_context_saved(s, run, false, &a) == 0);
    REFUSED(EBUSY_, &a, rtsched_context_saved(s, run, false, &a));
    CHECK(rtsched_unit_insert(s, run, 7 * MS, false, false, &cpu, &a) == 0);
    CHECK(rtsched_check(s) == 0);
}

/* Spare reservations: the pool, a unit that uses it, an I/O event; bad input refused. */
static void spares(Rtsched *s, uint32_t unit)
{
    RtschedParams sp[5] = { { 10 * MS, 1 * MS, 0, 0 } };
    RtschedActions a;
    int i;

    for ( i = 1; i < 5; i++ )
        sp[i] = sp[0];
    CHECK(rtsched_set_spare_pool(s, NULL, 1) == EINVAL_);
    CHECK(rtsched_set_spare_pool(s, sp, 5) == -28);
    sp[0].flags = 1;
    CHECK(rtsched_set_spare_pool(s, sp, 1) == EINVAL_);
    sp[0].flags = 0;
    CHECK(rtsched_set_spare_pool(s, sp, 1) == 0);
    CHECK(rtsched_unit_set_uses_spare(s, unit, 2, &a) == EINVAL_);
    CHECK(rtsched_unit_set_uses_spare(s, unit, 1, &a) == 0);
    CHECK(rtsched_unit_io_event(s, unit, 1000 * MS, &a) == 0);
    CHECK(rtsched_unit_io_event(s, unit, -1, &a) == EINVAL_);
    CHECK(rtsched_unit_set_uses_spare(s, unit, 0, &a) == 0);
    CHECK(rtsched_set_spare_pool(s, NULL, 0) == 0);
    CHECK(rtsched_check(s) == 0);
}

int main(void)
{
    RtschedPolicy pol = { RTSCHED_TOPOLOGY_GLOBAL, RTSCHED_PRIORITY_EDF,
                          RTSCHED_SERVER_DEFERRABLE, 0,
                          RTSCHED_CLASS_RULE_CLASSES };
    Rtsched *s = NULL;
    uint32_t run, queued, blocked;
    size_t size = rtsched_mem_size(8, 2);
    size_t align = rtsched_mem_align();

    CHECK(size > 0 && align > 0 && (align & (align - 1)) == 0);
    CHECK(rtsched_version() > 0);
    mem_len = (size + align - 1) / align * align;
    mem = aligned_alloc(align, mem_len);
    shadow = malloc(mem_len);
    CHECK(mem != NULL && shadow != NULL);
    memset(mem, 0, mem_len);

    CHECK(rtsched_init(mem, size, 8, 2, &pol, &s) == 0);
    CHECK(s != NULL);
    scenario(s, &run, &queued, &blocked);
    misuse(s, size, run, queued, blocked);
    spares(s, run);

    /* CPU 1 leaves: withdrawn (never picked again), then removed once idle. */
    {
        RtschedActions a;
        RtschedDecision d;

        CHECK(rtsched_cpu_withdraw(s, 1, &a) == 0);
        CHECK(rtsched_do_schedule(s, 1, 9 * MS, false, false, &d) == 0);
        CHECK(d.next == RTSCHED_NONE);
        CHECK(rtsched_check(s) == 0);
    }

    CHECK(rtsched_deinit(s) == 0);
    CHECK(rtsched_check(s) == EINVAL_); /* a deinitialised handle is refused */
    free(shadow);
    free(mem);

    if ( failures )
    {
        printf("C ABI scenario: %d check(s) failed\n", failures);
        return 1;
    }
    printf("C ABI scenario: all checks passed\n");
    return 0;
}
