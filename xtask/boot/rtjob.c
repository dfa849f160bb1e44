/*
 * rtjob: one periodic real-time task inside a guest, for `cargo xtask e2e`.
 *
 *   rtjob NAME PERIOD_US EXEC_US PRIO WARMUP_MS JOBS
 *
 * Job j is released at t0 + j * PERIOD (t0: the first multiple of 100 ms of
 * CLOCK_MONOTONIC after calibration), sleeps with clock_nanosleep(TIMER_ABSTIME) until
 * its release, runs EXEC_US of calibrated busy loop and records its response time
 * (finish - release); its deadline is its next release. A late job delays the next one
 * (jobs are never skipped; when the last counted release is a period behind, the jobs not
 * yet done count as misses and the task reports). Jobs go on uncounted for 2 s after the
 * counted ones before the task reports (see TAIL_NS). PRIO > 0 runs the task under SCHED_FIFO at that priority (the
 * guest's own fixed-priority scheduler, rate-monotonic when priorities follow periods).
 * Jobs released in the first WARMUP_MS are not counted; after JOBS counted jobs it prints
 *
 *   RTJOB NAME period=P exec=C jobs=N misses=M min=R max=R p50=R p99=R hist=R:n,...
 *
 * (times in us; hist: response times rounded down to 100 us, with their counts), then
 *
 *   RTLATE NAME t0=S late=S:N:R,...
 *
 * (t0: CLOCK_REALTIME of the first release, which the guests share with dom0 through Xen's
 * wall clock; late: the first 16 runs of consecutive missed jobs, each as the realtime
 * of its first release, the number of jobs and the largest response time in us), and
 * exits. The busy loop is calibrated as the fastest of many short runs (a run the
 * VCPU was descheduled in only takes longer), so EXEC_US is CPU time, not wall time.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define BUCKET_US 100
#define TAIL_NS 2000000000LL
#define MAX_BUCKETS 4096

static int64_t now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void sleep_until(int64_t ns)
{
    struct timespec t = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };

    while ( clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) )
        ;
}

__attribute__((noinline)) static void spin(uint64_t n)
{
    for ( uint64_t i = 0; i < n; i++ )
        __asm__ volatile("" ::: "memory");
}

/* Loop iterations per microsecond: the fastest of 200 runs of 20000 iterations. */
static double calibrate(void)
{
    int64_t best = INT64_MAX;

    for ( int i = 0; i < 200; i++ )
    {
        int64_t a = now_ns();
        spin(20000);
        int64_t d = now_ns() - a;
        if ( d > 0 && d < best )
            best = d;
    }
    return 20000.0 * 1000.0 / (double)best;
}

static uint32_t hist[MAX_BUCKETS];

#define MAX_RUNS 16
/* Runs of consecutive misses: first release (ns after t0), jobs, largest response (ns). */
static struct { int64_t at; long n; int64_t max; } runs[MAX_RUNS];
static int nruns;

int main(int argc, char **argv)
{
    if ( argc != 7 )
    {
        fprintf(stderr, "usage: %s NAME PERIOD_US EXEC_US PRIO WARMUP_MS JOBS\n", argv[0]);
        return 2;
    }
    const char *name = argv[1];
    int64_t period = atoll(argv[2]) * 1000, exec_us = atoll(argv[3]);
    int prio = atoi(argv[4]);
    int64_t warmup = atoll(argv[5]) * 1000000;
    long jobs = atol(argv[6]);
    if ( period <= 0 || exec_us <= 0 || jobs <= 0 || warmup < 0 )
        return fprintf(stderr, "rtjob: bad arguments\n"), 2;

    mlockall(MCL_CURRENT | MCL_FUTURE);
    if ( prio > 0 )
    {
        struct sched_param sp = { .sched_priority = prio };
        if ( sched_setscheduler(0, SCHED_FIFO, &sp) )
            perror("rtjob: SCHED_FIFO");
    }
    uint64_t iters = (uint64_t)(calibrate() * (double)exec_us);
    int64_t t0 = (now_ns() / 100000000 + 1) * 100000000;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t t0_rt = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec + (t0 - now_ns());
    int in_run = 0;
    long counted = 0, misses = 0;
    int64_t max = 0, min = INT64_MAX;
    /* Releases of counted jobs end here; a job still running a period later means the
     * task cannot keep up: the jobs not yet done are all counted as misses. */
    int64_t end = t0 + warmup + (jobs + 1) * period;
    long j = 0;
    int behind = 0;
    for ( ; counted < jobs; j++ )
    {
        int64_t rel = t0 + j * period;
        sleep_until(rel);
        spin(iters);
        int64_t done = now_ns(), resp = done - rel;
        if ( j * period < warmup )
            continue;
        if ( done > end )
        {
            misses += jobs - counted;
            counted = jobs;
            behind = 1;
            break;
        }
        counted++;
        if ( resp > period )
        {
            misses++;
            /* in_run: 1 while a recorded run goes on, 2 in a run past the first 16. */
            if ( !in_run )
                in_run = nruns < MAX_RUNS ? (runs[nruns++].at = rel - t0, 1) : 2;
            if ( in_run == 1 )
            {
                runs[nruns - 1].n++;
                if ( resp > runs[nruns - 1].max )
                    runs[nruns - 1].max = resp;
            }
        }
        else
            in_run = 0;
        if ( resp > max )
            max = resp;
        if ( resp < min )
            min = resp;
        int64_t b = resp / 1000 / BUCKET_US;
        hist[b < MAX_BUCKETS ? b : MAX_BUCKETS - 1]++;
    }
    /* The tail: jobs go on, uncounted, for TAIL_NS more, so that the load the other tasks
     * (and VMs) see stays the same until all of them have counted their jobs, and no report
     * (console output, which dom0 logs) comes while another task still counts. A task that
     * fell behind reports at once. */
    for ( ; !behind && t0 + j * period < end + TAIL_NS; j++ )
    {
        sleep_until(t0 + j * period);
        spin(iters);
    }
    /* Percentiles from the histogram (bucket floors). */
    long p50 = -1, p99 = -1, seen = 0;
    for ( int b = 0; b < MAX_BUCKETS; b++ )
    {
        seen += hist[b];
        if ( p50 < 0 && seen * 2 >= counted )
            p50 = b * BUCKET_US;
        if ( p99 < 0 && seen * 100 >= counted * 99 )
            p99 = b * BUCKET_US;
    }
    printf("RTJOB %s period=%lld exec=%lld jobs=%ld misses=%ld min=%lld max=%lld p50=%ld "
           "p99=%ld hist=",
           name, (long long)(period / 1000), (long long)exec_us, counted, misses,
           (long long)(min == INT64_MAX ? 0 : min / 1000), (long long)(max / 1000), p50, p99);
    const char *sep = "";
    for ( int b = 0; b < MAX_BUCKETS; b++ )
        if ( hist[b] )
        {
            printf("%s%d:%u", sep, b * BUCKET_US, hist[b]);
            sep = ",";
        }
    printf("\nRTLATE %s t0=%lld.%03lld late=", name, (long long)(t0_rt / 1000000000),
           (long long)(t0_rt / 1000000 % 1000));
    sep = "";
    for ( int i = 0; i < nruns; i++ )
    {
        int64_t at = t0_rt + runs[i].at;
        printf("%s%lld.%03lld:%ld:%lld", sep, (long long)(at / 1000000000),
               (long long)(at / 1000000 % 1000), runs[i].n, (long long)(runs[i].max / 1000));
        sep = ",";
    }
    printf("\n");
    fflush(stdout);
    return 0;
}
