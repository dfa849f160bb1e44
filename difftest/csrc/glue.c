/*
 * Glue between the Rust driver and Xen 4.17's rt.c, which is compiled unchanged by
 * #include-ing it here (its hooks are static). build.rs copies rt.c from the Debian
 * source into OUT_DIR so that its #include "private.h" finds our stub (include/),
 * not Xen's. Nothing of Xen's code is part of this repository.
 *
 * Every dt_* function makes its instance current for the calling thread (dt_cur),
 * sets the virtual clock where the hook reads NOW(), and calls the hook the way Xen's
 * scheduling core does (xen/common/sched/core.c), keeping the few fields the core
 * maintains between hooks: sched_resource.curr (curr_on_cpu), sched_unit.is_running,
 * the unit's runnable state (set by the driver), and unit->res (sched_set_res).
 */
#include "stubs.h"
#include "rt.c"

#define DT_MAX_VCPUS 64
/* The driver's masks (affinities, softirqs, tickled CPUs) are one 64-bit word. */
#define DT_MAX_CPUS 64

/* A mask of the driver's CPUs 0-63 as a cpumask_t. */
static void dt_set_mask_(cpumask_t *m, uint64_t bits)
{
    memset(m, 0, sizeof(*m));
    m->bits[0] = bits;
}

struct dt_host {
    struct scheduler ops;
    s_time_t now;
    unsigned int cur_cpu, ncpus, cap;
    uint64_t softirqs;
    struct cpupool pool;
    struct sched_resource res[NR_CPUS];
    cpumask_t scratch[NR_CPUS];
    cpumask_t single[NR_CPUS];
    struct domain idle_dom;
    struct sched_unit idle_units[NR_CPUS];
    struct domain *doms;      /* cap domains, id = index */
    struct rt_dom **sdoms;    /* rt.c's per-domain data, allocated on first use */
    struct vcpu *vcpus;       /* one per unit */
    struct sched_unit *units; /* cap units */
};

__thread struct dt_host *dt_cur __attribute__((tls_model("initial-exec")));

unsigned int dt_nr_cpu_ids(void) { return dt_cur->ncpus; }
s_time_t dt_now(void) { return dt_cur->now; }
unsigned int dt_smp_processor_id(void) { return dt_cur->cur_cpu; }
const cpumask_t *dt_cpumask_of(unsigned int cpu) { return &dt_cur->single[cpu]; }
cpumask_t *dt_scratch(unsigned int cpu) { return &dt_cur->scratch[cpu]; }
struct sched_resource *dt_sched_res(unsigned int cpu) { return &dt_cur->res[cpu]; }
void cpu_raise_softirq(unsigned int cpu, unsigned int nr)
{
    (void)nr;
    dt_cur->softirqs |= 1ULL << cpu;
}

void init_timer(struct timer *t, void (*fn)(void *), void *data, unsigned int cpu)
{
    t->function = fn;
    t->data = data;
    t->cpu = cpu;
    t->expires = 0;
    t->status = TIMER_STATUS_inactive;
}
void set_timer(struct timer *t, s_time_t expires)
{
    t->expires = expires;
    t->status = TIMER_STATUS_in_heap;
}
void stop_timer(struct timer *t)
{
    if ( t->status == TIMER_STATUS_in_heap )
        t->status = TIMER_STATUS_inactive;
}
void kill_timer(struct timer *t) { t->status = TIMER_STATUS_killed; }
void migrate_timer(struct timer *t, unsigned int cpu) { t->cpu = cpu; }

static inline void enter(struct dt_host *h, s_time_t now, unsigned int cpu)
{
    dt_cur = h;
    h->now = now;
    h->cur_cpu = cpu;
}

struct dt_host *dt_new(unsigned int ncpus, unsigned int cap)
{
    struct dt_host *h;
    unsigned int c;

    if ( ncpus == 0 || ncpus > DT_MAX_CPUS || cap == 0 )
        return NULL;
    h = calloc(1, sizeof(*h));
    if ( !h )
        return NULL;
    h->ncpus = ncpus;
    h->cap = cap;
    h->doms = calloc(cap, sizeof(*h->doms));
    h->sdoms = calloc(cap, sizeof(*h->sdoms));
    h->vcpus = calloc(cap, sizeof(*h->vcpus));
    h->units = calloc(cap, sizeof(*h->units));
    if ( !h->doms || !h->sdoms || !h->vcpus || !h->units )
        abort();
    enter(h, 0, 0);
    h->ops = sched_rtds_def;
    if ( h->ops.init(&h->ops) )
        abort();
    h->idle_dom.domain_id = DOMID_IDLE;
    h->idle_dom.cpupool = &h->pool;
    for ( c = 0; c < NR_CPUS; c++ )
    {
        cpumask_set_cpu(c, &h->single[c]);
        h->res[c].master_cpu = c;
        h->res[c].cpupool = &h->pool;
        h->idle_units[c].domain = &h->idle_dom;
        h->idle_units[c].res = &h->res[c];
        h->idle_units[c].unit_id = c;
        h->idle_units[c].runnable = true;
        h->res[c].sched_unit_idle = &h->idle_units[c];
        h->res[c].curr = &h->idle_units[c];
    }
    return h;
}

void dt_free(struct dt_host *h)
{
    unsigned int i;

    if ( !h )
        return;
    for ( i = 0; i < h->cap; i++ )
    {
        free(h->units[i].priv);
        free(h->doms[i].vcpu);
        free(h->sdoms[i]);
    }
    for ( i = 0; i < NR_CPUS; i++ )
        free(h->idle_units[i].priv);
    free(h->ops.sched_data);
    free(h->doms);
    free(h->sdoms);
    free(h->vcpus);
    free(h->units);
    free(h);
}

/* A CPU joins the pool (schedule_cpu_add): its idle unit gets rt.c's data, then
 * switch_sched. */
int dt_cpu_add(struct dt_host *h, unsigned int cpu)
{
    void *vdata;

    if ( cpu >= h->ncpus )
        return -EINVAL;
    enter(h, h->now, cpu);
    vdata = h->ops.alloc_udata(&h->ops, &h->idle_units[cpu], NULL);
    h->res[cpu].schedule_lock = h->ops.switch_sched(&h->ops, cpu, NULL, vdata);
    cpumask_set_cpu(cpu, h->pool.res_valid);
    return 0;
}

/* alloc_udata for unit u, VCPU vcpu of domain dom, with the given hard affinity; the
 * unit starts on the first online CPU of its affinity (CPU 0 if none). */
int dt_unit_alloc(struct dt_host *h, unsigned int u, unsigned int dom, unsigned int vcpu,
                  uint64_t affinity)
{
    struct domain *d;
    struct sched_unit *unit, **tail;
    cpumask_t m;
    unsigned int c;

    if ( u >= h->cap || dom >= h->cap || vcpu >= DT_MAX_VCPUS || h->units[u].priv )
        return -EINVAL;
    enter(h, h->now, 0);
    d = &h->doms[dom];
    if ( !h->sdoms[dom] )
    {
        d->domain_id = dom;
        d->max_vcpus = DT_MAX_VCPUS;
        d->vcpu = calloc(DT_MAX_VCPUS, sizeof(*d->vcpu));
        d->cpupool = &h->pool;
        h->sdoms[dom] = h->ops.alloc_domdata(&h->ops, d);
    }
    if ( d->vcpu[vcpu] )
        return -EBUSY;
    unit = &h->units[u];
    unit->domain = d;
    unit->unit_id = vcpu;
    dt_set_mask_(unit->cpu_hard_affinity, affinity);
    cpumask_and(&m, h->pool.res_valid, unit->cpu_hard_affinity);
    c = cpumask_first(&m);
    unit->res = &h->res[c < h->ncpus ? c : 0];
    unit->priv = h->ops.alloc_udata(&h->ops, unit, h->sdoms[dom]);
    for ( tail = &d->sched_unit_list; *tail; tail = &(*tail)->next_in_list )
        ;
    *tail = unit;
    h->vcpus[u].sched_unit = unit;
    h->vcpus[u].vcpu_id = vcpu;
    d->vcpu[vcpu] = &h->vcpus[u];
    return 0;
}

/* free_udata then alloc_udata of unit u, on the first CPU of its affinity here (a domain
 * moved to this cpupool gets fresh scheduler data and a resource of the pool, as
 * sched_move_domain gives it). */
void dt_unit_realloc(struct dt_host *h, unsigned int u)
{
    struct sched_unit *unit = &h->units[u];

    cpumask_t m;
    unsigned int c;

    enter(h, h->now, 0);
    cpumask_and(&m, h->pool.res_valid, unit->cpu_hard_affinity);
    c = cpumask_first(&m);
    unit->res = &h->res[c < h->ncpus ? c : 0];
    h->ops.free_udata(&h->ops, unit->priv);
    unit->priv = h->ops.alloc_udata(&h->ops, unit, h->sdoms[unit->domain->domain_id]);
}

void dt_set_runnable(struct dt_host *h, unsigned int u, bool runnable)
{
    h->units[u].runnable = runnable;
}

/* insert_unit at now; returns the CPU it was assigned. */
unsigned int dt_insert(struct dt_host *h, unsigned int u, s_time_t now, bool is_running)
{
    enter(h, now, 0);
    h->units[u].is_running = is_running;
    h->ops.insert_unit(&h->ops, &h->units[u]);
    return sched_unit_master(&h->units[u]);
}

void dt_remove(struct dt_host *h, unsigned int u, s_time_t now)
{
    enter(h, now, 0);
    h->ops.remove_unit(&h->ops, &h->units[u]);
}

void dt_wake(struct dt_host *h, unsigned int u, s_time_t now)
{
    enter(h, now, sched_unit_master(&h->units[u]));
    h->ops.wake(&h->ops, &h->units[u]);
}

void dt_sleep(struct dt_host *h, unsigned int u, s_time_t now)
{
    enter(h, now, sched_unit_master(&h->units[u]));
    h->ops.sleep(&h->ops, &h->units[u]);
}

/* do_schedule on cpu at now, as the core's schedule() does for a unit-per-CPU
 * resource: the current unit is curr_on_cpu(cpu); afterwards the chosen unit becomes
 * current and running. Returns the chosen unit (-1: idle), its slice and migrated. */
int dt_schedule(struct dt_host *h, unsigned int cpu, s_time_t now, bool tasklet,
                s_time_t *slice, bool *migrated)
{
    struct sched_unit *prev, *next;

    enter(h, now, cpu);
    prev = h->res[cpu].curr;
    h->ops.do_schedule(&h->ops, prev, now, tasklet);
    next = prev->next_task;
    *slice = prev->next_time;
    *migrated = next->migrated;
    h->res[cpu].curr = next;
    next->is_running = true;
    if ( is_idle_unit(next) )
        return -1;
    return (int)(next - h->units);
}

/* context_saved of unit u after it was switched out (prev of a switch). */
void dt_context_saved(struct dt_host *h, unsigned int u, s_time_t now)
{
    enter(h, now, sched_unit_master(&h->units[u]));
    h->units[u].is_running = false;
    h->ops.context_saved(&h->ops, &h->units[u]);
}

/* The replenishment timer fires at now (Xen deactivates a timer before calling its
 * handler). */
void dt_timer_fire(struct dt_host *h, s_time_t now)
{
    struct timer *t = &rt_priv(&h->ops)->repl_timer;

    enter(h, now, t->cpu);
    t->status = TIMER_STATUS_inactive;
    t->function(t->data);
}

/* Whether the replenishment timer is programmed, and its expiry. */
bool dt_timer(struct dt_host *h, s_time_t *expires)
{
    struct timer *t = &rt_priv(&h->ops)->repl_timer;

    *expires = t->expires;
    return t->status == TIMER_STATUS_in_heap;
}

void dt_set_affinity(struct dt_host *h, unsigned int u, uint64_t mask)
{
    dt_set_mask_(h->units[u].cpu_hard_affinity, mask);
}

unsigned int dt_pick(struct dt_host *h, unsigned int u)
{
    enter(h, h->now, sched_unit_master(&h->units[u]));
    return h->ops.pick_resource(&h->ops, &h->units[u])->master_cpu;
}

void dt_migrate(struct dt_host *h, unsigned int u, unsigned int cpu)
{
    sched_set_res(&h->units[u], &h->res[cpu]);
}

/* XEN_DOMCTL_SCHEDOP_putvcpuinfo for unit u (times in microseconds). */
int dt_put_vcpu(struct dt_host *h, unsigned int u, uint32_t period_us, uint32_t budget_us,
                bool extratime)
{
    struct xen_domctl_scheduler_op op = { 0 };
    xen_domctl_schedparam_vcpu_t v = { 0 };

    enter(h, h->now, 0);
    v.vcpuid = h->units[u].unit_id;
    v.u.rtds.period = period_us;
    v.u.rtds.budget = budget_us;
    v.u.rtds.flags = extratime ? XEN_DOMCTL_SCHEDRT_extra : 0;
    op.sched_id = XEN_SCHEDULER_RTDS;
    op.cmd = XEN_DOMCTL_SCHEDOP_putvcpuinfo;
    op.u.v.vcpus.p = &v;
    op.u.v.nr_vcpus = 1;
    return h->ops.adjust(&h->ops, h->units[u].domain, &op);
}

/* XEN_DOMCTL_SCHEDOP_getvcpuinfo for unit u. */
int dt_get_vcpu(struct dt_host *h, unsigned int u, uint32_t *period_us, uint32_t *budget_us,
                bool *extratime)
{
    struct xen_domctl_scheduler_op op = { 0 };
    xen_domctl_schedparam_vcpu_t v = { 0 };
    int rc;

    enter(h, h->now, 0);
    v.vcpuid = h->units[u].unit_id;
    op.sched_id = XEN_SCHEDULER_RTDS;
    op.cmd = XEN_DOMCTL_SCHEDOP_getvcpuinfo;
    op.u.v.vcpus.p = &v;
    op.u.v.nr_vcpus = 1;
    rc = h->ops.adjust(&h->ops, h->units[u].domain, &op);
    *period_us = v.u.rtds.period;
    *budget_us = v.u.rtds.budget;
    *extratime = v.u.rtds.flags & XEN_DOMCTL_SCHEDRT_extra;
    return rc;
}

/* XEN_DOMCTL_SCHEDOP_putinfo (domain-wide, microseconds). */
int dt_put_dom(struct dt_host *h, unsigned int dom, uint32_t period_us, uint32_t budget_us)
{
    struct xen_domctl_scheduler_op op = { 0 };

    if ( dom >= h->cap || !h->sdoms[dom] )
        return -EINVAL;
    enter(h, h->now, 0);
    op.sched_id = XEN_SCHEDULER_RTDS;
    op.cmd = XEN_DOMCTL_SCHEDOP_putinfo;
    op.u.rtds.period = period_us;
    op.u.rtds.budget = budget_us;
    return h->ops.adjust(&h->ops, &h->doms[dom], &op);
}

/* The CPUs cpu_raise_softirq() was called for since the last call; clears them. */
uint64_t dt_take_softirqs(struct dt_host *h)
{
    uint64_t s = h->softirqs;

    h->softirqs = 0;
    return s;
}

uint64_t dt_tickled(struct dt_host *h)
{
    return rt_priv(&h->ops)->tickled.bits[0];
}

/*
 * Re-syncs of rt.c's state where a deliberate deviation of rtsched changes one field in a
 * way the driver has checked exactly (difftest/src/deviations.rs); rt.c then goes on from
 * the state rtsched has, so the comparison continues.
 */

/* Deviation 3: rt.c orders its replenishment queue by priority level, then deadline;
 * rtsched by deadline alone. Re-sorts the queue by deadline (stable: equal deadlines keep
 * their order) and programs the timer for the new head, as replq_insert would have.
 * Returns whether the order changed. */
bool dt_replq_sort_by_deadline(struct dt_host *h)
{
    struct rt_private *prv = rt_priv(&h->ops);
    struct list_head *replq = &prv->replq;
    LIST_HEAD(sorted);
    bool changed = false;

    enter(h, h->now, 0);
    while ( !list_empty(replq) )
    {
        struct list_head *e = replq->next;
        struct list_head *pos = sorted.prev;
        const struct rt_unit *svc = replq_elem(e);

        list_del_init(e);
        /* After the last entry whose deadline is not later (from the tail). */
        while ( pos != &sorted && replq_elem(pos)->cur_deadline > svc->cur_deadline )
        {
            pos = pos->prev;
            changed = true;
        }
        list_add(e, pos);
    }
    while ( !list_empty(&sorted) )
    {
        struct list_head *e = sorted.next;

        list_del_init(e);
        list_add_tail(e, replq);
    }
    if ( changed )
        set_timer(&prv->repl_timer, replq_elem(replq->next)->cur_deadline);
    return changed;
}

/* Deviation 11: rtsched charges a budget overrun to the next period; the driver has
 * checked that rtsched's new budget is rt.c's less the overrun and sets rt.c's to it. */
void dt_set_cur_budget(struct dt_host *h, unsigned int u, int64_t cur_budget)
{
    struct rt_unit *svc = h->units[u].priv;

    if ( svc )
        svc->cur_budget = cur_budget;
}

/* The host performs every reschedule request of both schedulers: CPUs rtsched asked to
 * reschedule (and marked tickled) are pending in rt.c too. */
void dt_mark_tickled(struct dt_host *h, uint64_t cpus)
{
    rt_priv(&h->ops)->tickled.bits[0] |= cpus;
}

/* One unit's scheduler state, as the driver compares it. */
struct dt_unit_state {
    int64_t period, budget, cur_budget, last_start, cur_deadline;
    uint32_t priority_level, flags;
    uint32_t queue;    /* 0 none, 1 run queue, 2 depleted queue */
    uint32_t on_replq;
    uint32_t cpu;
};

/* The states of units 0..n-1 (n <= cap); unallocated units are all zero. */
void dt_states(struct dt_host *h, unsigned int n, struct dt_unit_state *out)
{
    struct rt_private *prv = rt_priv(&h->ops);
    struct list_head *iter;
    unsigned int i;

    memset(out, 0, n * sizeof(*out));
    for ( i = 0; i < n && i < h->cap; i++ )
    {
        const struct rt_unit *svc = h->units[i].priv;

        if ( !svc )
            continue;
        out[i].period = svc->period;
        out[i].budget = svc->budget;
        out[i].cur_budget = svc->cur_budget;
        out[i].last_start = svc->last_start;
        out[i].cur_deadline = svc->cur_deadline;
        out[i].priority_level = svc->priority_level;
        out[i].flags = svc->flags;
        out[i].on_replq = unit_on_replq(svc);
        out[i].cpu = sched_unit_master(&h->units[i]);
    }
    list_for_each ( iter, &prv->runq )
    {
        i = q_elem(iter)->unit - h->units;
        if ( i < n )
            out[i].queue = 1;
    }
    list_for_each ( iter, &prv->depletedq )
    {
        i = q_elem(iter)->unit - h->units;
        if ( i < n )
            out[i].queue = 2;
    }
}

/* The units of the run queue (which = 0) or replenishment queue (which = 1) in list
 * order; returns how many there are (at most max are written). */
unsigned int dt_queue_order(struct dt_host *h, int which, unsigned int max, uint32_t *out)
{
    struct rt_private *prv = rt_priv(&h->ops);
    struct list_head *iter, *head = which ? &prv->replq : &prv->runq;
    unsigned int n = 0;

    list_for_each ( iter, head )
    {
        const struct rt_unit *svc = which ? replq_elem(iter) : q_elem(iter);

        if ( n < max )
            out[n] = (uint32_t)(svc->unit - h->units);
        n++;
    }
    return n;
}

/* The time-stamp counter, for the benchmark's per-call timing. */
uint64_t dt_rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile ( "rdtsc" : "=a" (lo), "=d" (hi) );
    return ((uint64_t)hi << 32) | lo;
}

/* The time-stamp counter read after every earlier instruction has completed and before
 * any later one starts (lfence on both sides), for the cold-cache pass: the loads that
 * evict the caches must not overlap the timed call. */
uint64_t dt_rdtsc_fenced(void)
{
    uint32_t lo, hi;

    __asm__ volatile ( "lfence; rdtsc; lfence" : "=a" (lo), "=d" (hi) :: "memory" );
    return ((uint64_t)hi << 32) | lo;
}

/* The sizes of rt.c's own structures (none of them has a stub type in it), for the
 * benchmark's memory comparison. */
void dt_sizes(uint32_t *unit, uint32_t *dom)
{
    *unit = sizeof(struct rt_unit);
    *dom = sizeof(struct rt_dom);
}
