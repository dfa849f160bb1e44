/*
 * A small scenario driven through rtsched's C ABI, asserting its decisions:
 * two CPUs, three units, EDF preemption, depletion and replenishment, the
 * delayed re-queue after a context switch, and argument validation.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtsched.h"

#define MS 1000000LL

static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if ( !(cond) ) {                                                   \
            printf("FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
            failures++;                                                    \
        }                                                                  \
    } while ( 0 )

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

int main(void)
{
    RtschedPolicy pol = { 0, 0, 0, 0 };
    RtschedCpumask all = mask_of(2), one = mask_of(1);
    RtschedParams p, q;
    RtschedActions a;
    RtschedDecision d;
    RtschedUnitInfo info;
    RtschedQueueInfo qi;
    Rtsched *s = NULL;
    uint32_t u0, u1, u2, cpu, n;
    size_t size = rtsched_mem_size(8, 2);
    void *mem;

    CHECK(size > 0);
    CHECK(rtsched_mem_size(0, 2) == 0);
    CHECK(rtsched_mem_size(8, 257) == 0);
    mem = aligned_alloc(rtsched_mem_align(), (size + rtsched_mem_align() - 1) /
                        rtsched_mem_align() * rtsched_mem_align());
    CHECK(mem != NULL);

    /* Bad arguments are refused and write nothing. */
    CHECK(rtsched_init(mem, size - 1, 8, 2, &pol, &s) == -22);
    CHECK(rtsched_init(NULL, size, 8, 2, &pol, &s) == -22);
    CHECK(rtsched_init(mem, size, 8, 2, NULL, &s) == -22);
    CHECK(s == NULL);
    CHECK(rtsched_init(mem, size, 8, 2, &pol, &s) == 0);
    CHECK(s != NULL);
    CHECK(rtsched_cpu_add(s, 0) == 0);
    CHECK(rtsched_cpu_add(s, 1) == 0);
    CHECK(rtsched_cpu_add(s, 2) == -22);
    CHECK(rtsched_cpu_add(NULL, 0) == -22);

    CHECK(rtsched_unit_alloc(s, 1, 0, &all, &u0) == 0);
    CHECK(rtsched_unit_alloc(s, 2, 0, &all, &u1) == 0);
    CHECK(rtsched_unit_alloc(s, 3, 0, &one, &u2) == 0);

    /* Defaults are Xen's: 10 ms, 4 ms, extratime. */
    CHECK(rtsched_unit_get_params(s, u0, &p) == 0);
    CHECK(p.period == 10 * MS && p.budget == 4 * MS && p.flags == 1);

    /* Invalid parameters: -EINVAL, nothing changes. */
    q.period = 10 * MS; q.budget = 20 * MS; q.flags = 0; q.reserved = 0;
    CHECK(rtsched_unit_set_params(s, u0, &q, &a) == -22);
    q.period = 5; q.budget = 5;
    CHECK(rtsched_unit_set_params(s, u0, &q, &a) == -22);
    q.period = 10 * MS; q.budget = 0;
    CHECK(rtsched_unit_set_params(s, u0, &q, &a) == -22);
    q.budget = 4 * MS; q.flags = 0x80;
    CHECK(rtsched_unit_set_params(s, u0, &q, &a) == -22);
    CHECK(rtsched_unit_set_params(s, 99, &q, &a) == -22);
    CHECK(rtsched_unit_set_params(s, u0, NULL, &a) == -22);
    CHECK(rtsched_unit_get_params(s, u0, &q) == 0);
    CHECK(memcmp(&p, &q, sizeof(p)) == 0);

    /* u0: 4/10 ms, u1: 2/5 ms, both without extratime; u2 stays default. */
    q.period = 10 * MS; q.budget = 4 * MS; q.flags = 0; q.reserved = 0;
    CHECK(rtsched_unit_set_params(s, u0, &q, &a) == 0);
    q.period = 5 * MS; q.budget = 2 * MS;
    CHECK(rtsched_unit_set_params(s, u1, &q, &a) == 0);

    CHECK(rtsched_unit_insert(s, u0, 0, false, false, &cpu, &a) == 0);
    CHECK(cpu == 0);
    CHECK(rtsched_unit_insert(s, u1, 0, false, false, &cpu, &a) == 0);
    CHECK(rtsched_unit_insert(s, u2, 0, false, false, &cpu, &a) == 0);
    CHECK(rtsched_unit_insert(s, u2, 0, false, false, &cpu, &a) == -16);

    /* u0 wakes at 0: idle CPU 0 tickled, timer for its deadline (10 ms). */
    CHECK(rtsched_unit_wake(s, u0, 0, &a) == 0);
    CHECK(has_cpu(&a.reschedule, 0) && !has_cpu(&a.reschedule, 1));
    CHECK(a.timer_op == 1 && a.timer_expiry == 10 * MS);
    CHECK(rtsched_do_schedule(s, 0, 0, false, false, &d) == 0);
    CHECK(d.next == u0 && d.slice == 4 * MS && d.migrated == 0);

    /* u1 wakes at 1 ms, assigned to CPU 0 (busy): idle CPU 1 is tickled. */
    CHECK(rtsched_unit_wake(s, u1, 1 * MS, &a) == 0);
    CHECK(has_cpu(&a.reschedule, 1));
    CHECK(a.timer_op == 1 && a.timer_expiry == 5 * MS);
    CHECK(rtsched_do_schedule(s, 1, 1 * MS, false, false, &d) == 0);
    CHECK(d.next == u1 && d.slice == 2 * MS && d.migrated == 1);

    /* u1 exhausts its budget at 3 ms: CPU 1 goes idle, u1 is re-queued only
     * when its context is saved, onto the depleted queue. */
    CHECK(rtsched_do_schedule(s, 1, 3 * MS, true, false, &d) == 0);
    CHECK(d.next == RTSCHED_NONE && d.slice == -1);
    CHECK(rtsched_unit_info(s, u1, &info) == 0);
    CHECK(info.queue == 0 && info.cur_budget == 0);
    CHECK(rtsched_context_saved(s, u1, true, &a) == 0);
    CHECK(rtsched_unit_info(s, u1, &info) == 0);
    CHECK(info.queue == 2);

    /* Replenishment at 5 ms: u1 gets 2 ms again and a deadline of 10 ms. */
    CHECK(rtsched_timer_fire(s, 5 * MS, &a) == 0);
    CHECK(rtsched_unit_info(s, u1, &info) == 0);
    CHECK(info.queue == 1 && info.cur_budget == 2 * MS &&
          info.cur_deadline == 10 * MS);
    CHECK(a.timer_op == 1 && a.timer_expiry == 10 * MS);
    CHECK(rtsched_queue_info(s, &qi) == 0);
    CHECK(qi.runq_len == 1 && qi.replq_len == 2 && qi.nr_units == 3);

    /* Domain-wide parameters are validated (stricter than rt.c). */
    CHECK(rtsched_domain_set_params(s, 1, 10 * MS, 20 * MS, &n, &a) == -22);
    CHECK(rtsched_domain_set_params(s, 1, 20 * MS, 5 * MS, &n, &a) == 0 && n == 1);

    /* Admission verdict (global EDF on 2 CPUs): 0.4 + 0.25 + 0.4 reserved. */
    {
        RtschedVerdict v;
        RtschedPcpuLoad loads[2] = { { 500000, 0, 0 }, { 100000, 0, 0 } };
        uint32_t c;

        CHECK(rtsched_admission(s, &v) == 0);
        CHECK(v.schedulable == 1 && v.total_ppm == 1050000 && v.max_ppm == 400000);
        /* Best fit: the fuller PCPU 0 still takes 0.4. */
        CHECK(rtsched_partition_place(loads, 2, &all, RTSCHED_NONE, 400000, &c) == 0);
        CHECK(c == 0);
        CHECK(rtsched_partition_place(loads, 2, &all, RTSCHED_NONE, 600000, &c) == 0);
        CHECK(c == 1);
        CHECK(rtsched_partition_place(NULL, 2, &all, 0, 1, &c) == -22);
    }

    /* Runtime policy switches. */
    CHECK(rtsched_set_priority(s, 1, &a) == 0);
    CHECK(rtsched_set_server(s, 1, &a) == 0);
    CHECK(rtsched_set_server(s, 7, &a) == -22);
    CHECK(rtsched_queue_info(s, &qi) == 0);
    CHECK(qi.policy.priority == 1 && qi.policy.server == 1);
    CHECK(rtsched_set_server(s, 0, &a) == 0);
    CHECK(rtsched_set_priority(s, 0, &a) == 0);

    CHECK(rtsched_check(s) == 0);
    CHECK(rtsched_check(NULL) == -22);
    CHECK(rtsched_deinit(s) == 0);
    CHECK(rtsched_check(s) == -22); /* a stale handle is refused */
    free(mem);

    if ( failures )
    {
        printf("C ABI scenario: %d check(s) failed\n", failures);
        return 1;
    }
    printf("C ABI scenario: all checks passed\n");
    return 0;
}
