#ifndef RTSCHED_H
#define RTSCHED_H

#ifdef __XEN__
#include <xen/types.h>
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#endif

/**
 * Handle value that names no unit (the idle unit in a decision, "none" in queries).
 */
#define RTSCHED_NONE UINT32_MAX

/**
 * Number of event counters in [`RtschedStats`].
 */
#define RTSCHED_NR_STATS 17

/**
 * Result codes: 0 on success, a negated Xen errno on failure.
 */
enum RtschedResult
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  /**
   * Success.
   */
  RTSCHED_RESULT_OK = 0,
  /**
   * Internal inconsistency detected (`-EIO`); nothing further was changed.
   */
  RTSCHED_RESULT_EIO = -5,
  /**
   * Resource busy (`-EBUSY`): the unit or CPU is in use.
   */
  RTSCHED_RESULT_EBUSY = -16,
  /**
   * Invalid argument (`-EINVAL`): null pointer, bad handle, CPU, size or parameters.
   */
  RTSCHED_RESULT_EINVAL = -22,
  /**
   * No space (`-ENOSPC`): storage full, or admission control refused.
   */
  RTSCHED_RESULT_ENOSPC = -28,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum RtschedResult RtschedResult;
#else
typedef int32_t RtschedResult;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * What to do with the replenishment timer.
 */
enum RtschedTimerOp
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  /**
   * Leave it as it is.
   */
  RTSCHED_TIMER_OP_KEEP = 0,
  /**
   * Program it for `timer_expiry`.
   */
  RTSCHED_TIMER_OP_SET = 1,
  /**
   * Stop it.
   */
  RTSCHED_TIMER_OP_STOP = 2,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum RtschedTimerOp RtschedTimerOp;
#else
typedef uint32_t RtschedTimerOp;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Which queue `rtsched_queue_at` reads.
 */
enum RtschedQueue
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  /**
   * The run queue (heap order).
   */
  RTSCHED_QUEUE_RUN = 0,
  /**
   * The replenishment queue (heap order).
   */
  RTSCHED_QUEUE_REPL = 1,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum RtschedQueue RtschedQueue;
#else
typedef uint32_t RtschedQueue;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Opaque handle of an instance for C.
 */
typedef struct Rtsched Rtsched;

/**
 * Scheduling policy at initialisation.
 */
typedef struct RtschedPolicy {
  /**
   * 0 global (one run queue), 1 partition (per-CPU run queues).
   */
  uint32_t topology;
  /**
   * 0 EDF, 1 deadline monotonic.
   */
  uint32_t priority;
  /**
   * 0 deferrable server, 1 periodic server.
   */
  uint32_t server;
  /**
   * 1 to enable admission control.
   */
  uint32_t admission;
} RtschedPolicy;

/**
 * A set of up to 256 CPUs: bit `c % 64` of `bits[c / 64]` stands for CPU `c`.
 */
typedef struct RtschedCpumask {
  /**
   * The bit words.
   */
  uint64_t bits[4];
} RtschedCpumask;

/**
 * Side effects the host must perform after a hook (under the scheduler lock).
 */
typedef struct RtschedActions {
  /**
   * CPUs to raise `SCHEDULE_SOFTIRQ` on.
   */
  struct RtschedCpumask reschedule;
  /**
   * Replenishment timer operation.
   */
  RtschedTimerOp timer_op;
  /**
   * Absolute expiry (ns) when `timer_op` is `Set`.
   */
  int64_t timer_expiry;
} RtschedActions;

/**
 * The outcome of `rtsched_do_schedule`.
 */
typedef struct RtschedDecision {
  /**
   * Unit to run next, or `RTSCHED_NONE` for the idle unit.
   */
  uint32_t next;
  /**
   * 1 when `next` comes from another CPU.
   */
  uint32_t migrated;
  /**
   * Time slice in ns (the unit's remaining budget), -1 for idle.
   */
  int64_t slice;
  /**
   * Side effects.
   */
  struct RtschedActions actions;
} RtschedDecision;

/**
 * Server parameters of a unit.
 */
typedef struct RtschedParams {
  /**
   * Period in ns (10 us .. 2^62-1).
   */
  int64_t period;
  /**
   * Budget in ns (10 us .. period).
   */
  int64_t budget;
  /**
   * `RTSCHED_PARAM_EXTRATIME` and future flags.
   */
  uint32_t flags;
  /**
   * Reserved, must be 0.
   */
  uint32_t reserved;
} RtschedParams;

/**
 * A snapshot of one unit (for Xen's debug-key dump). The C ABI's own copy of
 * `rtsched::UnitInfo`, so the ABI stays stable when the core's type changes.
 */
typedef struct RtschedUnitInfo {
  /**
   * Domain id given at allocation.
   */
  uint32_t domain;
  /**
   * VCPU id within the domain.
   */
  uint32_t vcpu;
  /**
   * Period, ns.
   */
  int64_t period;
  /**
   * Budget, ns.
   */
  int64_t budget;
  /**
   * Budget left, ns.
   */
  int64_t cur_budget;
  /**
   * Current deadline, ns.
   */
  int64_t cur_deadline;
  /**
   * Last start or replenishment, ns.
   */
  int64_t last_start;
  /**
   * Extratime level (0 on reserved budget).
   */
  uint32_t priority_level;
  /**
   * Flag bits: 2 scheduled, 4 delayed run-queue add, 8 depleted, 16 extratime.
   */
  uint32_t flags;
  /**
   * Assigned PCPU.
   */
  uint32_t cpu;
  /**
   * 0 no queue, 1 run queue, 2 depleted queue.
   */
  uint32_t queue;
  /**
   * 1 when a replenishment is pending.
   */
  uint32_t on_replq;
  /**
   * 1 when last reported runnable.
   */
  uint32_t runnable;
  /**
   * 1 when inserted.
   */
  uint32_t inserted;
  /**
   * 1 when running on its CPU.
   */
  uint32_t running;
} RtschedUnitInfo;

/**
 * Queue summary of an instance.
 */
typedef struct RtschedQueueInfo {
  /**
   * Units on the run queue.
   */
  uint32_t runq_len;
  /**
   * Units on the depleted queue.
   */
  uint32_t depleted_len;
  /**
   * Units with a pending replenishment.
   */
  uint32_t replq_len;
  /**
   * Allocated units.
   */
  uint32_t nr_units;
  /**
   * Programmed replenishment expiry, or -1 when stopped.
   */
  int64_t timer;
  /**
   * Online CPUs.
   */
  struct RtschedCpumask online;
  /**
   * Tickled CPUs.
   */
  struct RtschedCpumask tickled;
  /**
   * The policy in force.
   */
  struct RtschedPolicy policy;
} RtschedQueueInfo;

/**
 * Event counters, in this order: schedules, switches, tasklet_idle, migrations, wakes,
 * sleeps, inserts, removes, context_saved, timer_fires, replenishments, tickle_idle,
 * tickle_busy, tickle_none, clock_backwards, dropped_unrunnable, phantom_picks (see
 * `rtsched::Stats`).
 */
typedef struct RtschedStats {
  /**
   * The counters.
   */
  uint64_t counters[RTSCHED_NR_STATS];
} RtschedStats;

/**
 * An admission verdict (see `rtsched::admission`); bandwidths in parts per million.
 */
typedef struct RtschedVerdict {
  /**
   * 1 when the reservations pass the schedulability test of the policy in force.
   */
  uint32_t schedulable;
  /**
   * Reserved, 0.
   */
  uint32_t reserved;
  /**
   * Total reserved bandwidth.
   */
  uint64_t total_ppm;
  /**
   * Largest reserved bandwidth of one unit.
   */
  uint64_t max_ppm;
  /**
   * Bandwidth one more unit could reserve and still pass.
   */
  uint64_t remaining_ppm;
} RtschedVerdict;

/**
 * The load of one PCPU, for `rtsched_partition_place`.
 */
typedef struct RtschedPcpuLoad {
  /**
   * Reserved bandwidth on the PCPU (ppm), not counting the unit being placed.
   */
  uint64_t bandwidth_ppm;
  /**
   * 1 when a unit of the same domain is on the PCPU.
   */
  uint32_t same_domain;
  /**
   * Reserved, 0.
   */
  uint32_t reserved;
} RtschedPcpuLoad;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Bytes of memory an instance with `capacity` units and `nr_cpus` CPUs needs, or 0 when
 * the numbers are out of range (capacity 0, more than 256 CPUs).
 */
size_t rtsched_mem_size(uint32_t capacity, uint32_t nr_cpus);

/**
 * Alignment (bytes) the memory of an instance needs.
 */
size_t rtsched_mem_align(void);

/**
 * Library version: `major << 16 | minor << 8 | patch`.
 */
uint32_t rtsched_version(void);

/**
 * Initialises an instance in `mem` (`len` bytes, aligned to [`rtsched_mem_align`]) for
 * `capacity` units and CPUs `0..nr_cpus` (none online yet), and stores its handle in `*out`.
 *
 * # Safety
 * `mem` must be valid for writes of `len` bytes and not used by anything else while the
 * instance lives; `policy` and `out` must be null or valid.
 */
RtschedResult rtsched_init(void *mem,
                           size_t len,
                           uint32_t capacity,
                           uint32_t nr_cpus,
                           const struct RtschedPolicy *policy,
                           struct Rtsched **out_handle);

/**
 * Invalidates an instance: later calls with its handle return `-EINVAL`. The memory can
 * be freed afterwards.
 *
 * # Safety
 * `s` must be null or a handle from [`rtsched_init`].
 */
RtschedResult rtsched_deinit(struct Rtsched *s);

/**
 * A CPU joins the instance (Xen's `switch_sched`).
 *
 * # Safety
 * `s` must be null or a live handle; calls serialised by the caller.
 */
RtschedResult rtsched_cpu_add(struct Rtsched *s, uint32_t cpu);

/**
 * A CPU leaves the instance (Xen's `deinit_pdata`); it must be idle.
 *
 * # Safety
 * As [`rtsched_cpu_add`].
 */
RtschedResult rtsched_cpu_remove(struct Rtsched *s, uint32_t cpu);

/**
 * Allocates a unit with Xen's defaults (10 ms, 4 ms, extratime) and hard affinity
 * `*affinity`; stores its handle in `*out_handle`.
 *
 * # Safety
 * `s` a live handle or null; `affinity`, `out_handle` null or valid.
 */
RtschedResult rtsched_unit_alloc(struct Rtsched *s,
                                 uint32_t domain,
                                 uint32_t vcpu,
                                 const struct RtschedCpumask *affinity,
                                 uint32_t *out_handle);

/**
 * Frees a unit; it must be removed and not running.
 *
 * # Safety
 * As [`rtsched_cpu_add`].
 */
RtschedResult rtsched_unit_free(struct Rtsched *s, uint32_t unit);

/**
 * Inserts a unit (Xen's `insert_unit`); stores the CPU it is assigned to in `*out_cpu`
 * (the host calls `sched_set_res` with it) and the actions in `*actions`.
 *
 * # Safety
 * `s` a live handle or null; `out_cpu`, `actions` null or valid.
 */
RtschedResult rtsched_unit_insert(struct Rtsched *s,
                                  uint32_t unit,
                                  int64_t now,
                                  bool runnable,
                                  bool is_running,
                                  uint32_t *out_cpu,
                                  struct RtschedActions *actions);

/**
 * Removes a unit from every queue (Xen's `remove_unit`).
 *
 * # Safety
 * `s` a live handle or null; `actions` null or valid.
 */
RtschedResult rtsched_unit_remove(struct Rtsched *s, uint32_t unit, struct RtschedActions *actions);

/**
 * A unit became runnable at `now` (Xen's `wake`).
 *
 * # Safety
 * As [`rtsched_unit_remove`].
 */
RtschedResult rtsched_unit_wake(struct Rtsched *s,
                                uint32_t unit,
                                int64_t now,
                                struct RtschedActions *actions);

/**
 * A unit stopped being runnable (Xen's `sleep`).
 *
 * # Safety
 * As [`rtsched_unit_remove`].
 */
RtschedResult rtsched_unit_sleep(struct Rtsched *s, uint32_t unit, struct RtschedActions *actions);

/**
 * The host found a queued unit not runnable (a domain paused without the scheduler lock):
 * it leaves both queues.
 *
 * # Safety
 * As [`rtsched_unit_remove`].
 */
RtschedResult rtsched_unit_set_unrunnable(struct Rtsched *s,
                                          uint32_t unit,
                                          struct RtschedActions *actions);

/**
 * The first run-queue unit allowed on `cpu`, or `RTSCHED_NONE`, without changing anything.
 *
 * # Safety
 * `s` a live handle or null; `out_unit` null or valid.
 */
RtschedResult rtsched_runq_peek(const struct Rtsched *s, uint32_t cpu, uint32_t *out_unit);

/**
 * Picks the next unit for `cpu` at `now` (Xen's `do_schedule`).
 *
 * # Safety
 * `s` a live handle or null; `decision` null or valid.
 */
RtschedResult rtsched_do_schedule(struct Rtsched *s,
                                  uint32_t cpu,
                                  int64_t now,
                                  bool prev_runnable,
                                  bool tasklet_work,
                                  struct RtschedDecision *decision);

/**
 * The context of `unit` was saved after it was switched out (Xen's `context_saved`).
 *
 * # Safety
 * As [`rtsched_unit_remove`].
 */
RtschedResult rtsched_context_saved(struct Rtsched *s,
                                    uint32_t unit,
                                    bool runnable,
                                    struct RtschedActions *actions);

/**
 * The replenishment timer fired at `now`.
 *
 * # Safety
 * `s` a live handle or null; `actions` null or valid.
 */
RtschedResult rtsched_timer_fire(struct Rtsched *s, int64_t now, struct RtschedActions *actions);

/**
 * The CPU a unit should be assigned to (Xen's `pick_resource`).
 *
 * # Safety
 * `s` a live handle or null; `out_cpu` null or valid.
 */
RtschedResult rtsched_pick_cpu(const struct Rtsched *s, uint32_t unit, uint32_t *out_cpu);

/**
 * Assigns a unit to `cpu` (Xen's `migrate`).
 *
 * # Safety
 * As [`rtsched_cpu_add`].
 */
RtschedResult rtsched_unit_migrate(struct Rtsched *s, uint32_t unit, uint32_t cpu);

/**
 * Sets a unit's hard affinity.
 *
 * # Safety
 * `s` a live handle or null; `mask` null or valid.
 */
RtschedResult rtsched_unit_set_affinity(struct Rtsched *s,
                                        uint32_t unit,
                                        const struct RtschedCpumask *mask);

/**
 * Sets a unit's parameters (Xen's `putvcpuinfo`): `-EINVAL` and no change when invalid.
 *
 * # Safety
 * `s` a live handle or null; `params` null or valid.
 */
RtschedResult rtsched_unit_set_params(struct Rtsched *s,
                                      uint32_t unit,
                                      const struct RtschedParams *params);

/**
 * Reads a unit's parameters (Xen's `getvcpuinfo`).
 *
 * # Safety
 * `s` a live handle or null; `params` null or valid.
 */
RtschedResult rtsched_unit_get_params(const struct Rtsched *s,
                                      uint32_t unit,
                                      struct RtschedParams *params);

/**
 * Sets period and budget of every unit of `domain` (Xen's `putinfo`), validated like
 * per-unit parameters (stricter than rt.c); stores the number of units in `*out_count`.
 *
 * # Safety
 * `s` a live handle or null; `out_count` null or valid.
 */
RtschedResult rtsched_domain_set_params(struct Rtsched *s,
                                        uint32_t domain,
                                        int64_t period,
                                        int64_t budget,
                                        uint32_t *out_count);

/**
 * A snapshot of one unit (for the debug-key dump).
 *
 * # Safety
 * `s` a live handle or null; `info` null or valid.
 */
RtschedResult rtsched_unit_info(const struct Rtsched *s,
                                uint32_t unit,
                                struct RtschedUnitInfo *info);

/**
 * The unit at heap position `index` of a queue (`which`: 0 run, 1 replenishment), or
 * `RTSCHED_NONE` past the end.
 *
 * # Safety
 * `s` a live handle or null; `out_unit` null or valid.
 */
RtschedResult rtsched_queue_at(const struct Rtsched *s,
                               uint32_t which,
                               uint32_t index,
                               uint32_t *out_unit);

/**
 * Queue lengths, timer, online and tickled CPUs, and policy.
 *
 * # Safety
 * `s` a live handle or null; `info` null or valid.
 */
RtschedResult rtsched_queue_info(const struct Rtsched *s, struct RtschedQueueInfo *info);

/**
 * Event counters.
 *
 * # Safety
 * `s` a live handle or null; `stats` null or valid.
 */
RtschedResult rtsched_stats(const struct Rtsched *s, struct RtschedStats *stats);

/**
 * Switches the priority scheme (0 EDF, 1 DM) at run time.
 *
 * # Safety
 * `s` a live handle or null; `actions` null or valid.
 */
RtschedResult rtsched_set_priority(struct Rtsched *s,
                                   uint32_t scheme,
                                   struct RtschedActions *actions);

/**
 * Checks the instance's structural invariants: 0, or `-EIO` when one is violated.
 *
 * # Safety
 * `s` a live handle or null.
 */
RtschedResult rtsched_check(const struct Rtsched *s);

/**
 * Switches the server mechanism (0 deferrable, 1 periodic) at run time.
 *
 * # Safety
 * `s` a live handle or null; `actions` null or valid.
 */
RtschedResult rtsched_set_server(struct Rtsched *s,
                                 uint32_t server,
                                 struct RtschedActions *actions);

/**
 * The admission verdict of the instance's current reservations (whether or not admission
 * control is on) and the bandwidth one more unit could still reserve.
 *
 * # Safety
 * `s` a live handle or null; `verdict` null or valid.
 */
RtschedResult rtsched_admission(const struct Rtsched *s, struct RtschedVerdict *verdict);

/**
 * rt-partition placement: the PCPU for a unit of bandwidth `unit_ppm` given the load of
 * each PCPU (`loads[0..nr]`, indexed by CPU), its allowed CPUs and its current CPU
 * `current_cpu` (`RTSCHED_NONE` for none). Pure: reads only its arguments.
 *
 * # Safety
 * `loads` null or valid for `nr` reads; `allowed`, `out_cpu` null or valid.
 */
RtschedResult rtsched_partition_place(const struct RtschedPcpuLoad *loads,
                                      uint32_t nr,
                                      const struct RtschedCpumask *allowed,
                                      uint32_t current_cpu,
                                      uint64_t unit_ppm,
                                      uint32_t *out_cpu);

/**
 * Validates parameters as `rtsched_unit_set_params` does, without a unit: 0 or `-EINVAL`.
 *
 * # Safety
 * `params` null or valid.
 */
RtschedResult rtsched_params_check(const struct RtschedParams *params);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* RTSCHED_H */
