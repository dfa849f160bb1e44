/*
 * domtime: CPU time of every domain and idle time of every PCPU, in nanoseconds, with one
 * XEN_SYSCTL_getdomaininfolist and one XEN_SYSCTL_getcpuinfo hypercall through
 * /dev/xen/privcmd (`xl list` rounds CPU time to 0.1 s).
 *
 *   domtime [SECONDS [AFTER]]
 *
 * Prints `now <ns>` (dom0's CLOCK_MONOTONIC, the middle of two reads around the
 * hypercalls), then `dom <domid> <cpu_time_ns>` per domain and `cpu <n> <idle_ns>` per
 * PCPU. With SECONDS it sleeps that long, prints a line `--` and a second snapshot, then
 * sleeps AFTER seconds more before it exits: one process for a whole measurement, so that
 * dom0 forks nothing while it runs (under instruction counting dom0's work is time the
 * guests' PCPUs do not run in; see e2e.sh's `measure`). Exits 0 if every hypercall
 * succeeded. Built by `cargo xtask xen-boot` against
 * Xen's public headers (never copied).
 */
#define __XEN_TOOLS__ 1
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <public/xen.h>
#include <public/sysctl.h>

struct privcmd_hypercall {
    uint64_t op;
    uint64_t arg[5];
};
#define IOCTL_PRIVCMD_HYPERCALL \
    _IOC(_IOC_NONE, 'P', 0, sizeof(struct privcmd_hypercall))

#define MAX_DOMS 64
#define MAX_CPUS 64

static int64_t mono_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static long sysctl(int fd, struct xen_sysctl *s)
{
    struct privcmd_hypercall h;

    memset(&h, 0, sizeof(h));
    h.op = __HYPERVISOR_sysctl;
    h.arg[0] = (uintptr_t)s;
    return ioctl(fd, IOCTL_PRIVCMD_HYPERCALL, &h);
}

/* Sleeps `s` seconds of CLOCK_MONOTONIC. */
static void sleep_s(long s)
{
    struct timespec t = { .tv_sec = s, .tv_nsec = 0 };

    while ( clock_nanosleep(CLOCK_MONOTONIC, 0, &t, &t) )
        ;
}

/* One snapshot: both hypercalls, printed. Returns 0 on success. */
static int snapshot(int fd, struct xen_sysctl *s1, struct xen_sysctl *s2,
                    xen_domctl_getdomaininfo_t *doms, xen_sysctl_cpuinfo_t *cpus)
{
    int64_t t0, t1;
    uint32_t i;

    s1->u.getdomaininfolist.max_domains = MAX_DOMS;
    s2->u.getcpuinfo.max_cpus = MAX_CPUS;
    t0 = mono_ns();
    if ( sysctl(fd, s1) < 0 || sysctl(fd, s2) < 0 )
        return fprintf(stderr, "domtime: sysctl failed: %s\n", strerror(errno)), 1;
    t1 = mono_ns();
    printf("now %lld\n", (long long)(t0 + (t1 - t0) / 2));
    for ( i = 0; i < s1->u.getdomaininfolist.num_domains; i++ )
        printf("dom %u %llu\n", doms[i].domain, (unsigned long long)doms[i].cpu_time);
    for ( i = 0; i < s2->u.getcpuinfo.nr_cpus; i++ )
        printf("cpu %u %llu\n", i, (unsigned long long)cpus[i].idletime);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    /* All buffers must stay mapped while Xen copies to them. */
    size_t len = 4 * 4096 + sizeof(xen_domctl_getdomaininfo_t) * MAX_DOMS;
    char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct xen_sysctl *s1, *s2;
    xen_sysctl_cpuinfo_t *cpus;
    xen_domctl_getdomaininfo_t *doms;
    long secs = argc > 1 ? atol(argv[1]) : 0, after = argc > 2 ? atol(argv[2]) : 0;
    int fd;

    if ( argc > 3 || secs < 0 || after < 0 )
        return fprintf(stderr, "usage: domtime [SECONDS [AFTER]]\n"), 2;
    if ( mem == MAP_FAILED || mlock(mem, len) )
        return perror("mmap/mlock"), 2;
    memset(mem, 0, len);
    s1 = (void *)mem;
    s2 = (void *)(mem + 2048);
    cpus = (void *)(mem + 4096);
    doms = (void *)(mem + 4 * 4096);

    s1->cmd = XEN_SYSCTL_getdomaininfolist;
    s1->interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    s1->u.getdomaininfolist.first_domain = 0;
    set_xen_guest_handle(s1->u.getdomaininfolist.buffer, doms);

    s2->cmd = XEN_SYSCTL_getcpuinfo;
    s2->interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    set_xen_guest_handle(s2->u.getcpuinfo.info, cpus);

    fd = open("/dev/xen/privcmd", O_RDWR);
    if ( fd < 0 )
        fd = open("/proc/xen/privcmd", O_RDWR);
    if ( fd < 0 )
        return perror("privcmd"), 2;
    if ( snapshot(fd, s1, s2, doms, cpus) )
        return 1;
    if ( argc > 1 )
    {
        sleep_s(secs);
        printf("--\n");
        if ( snapshot(fd, s1, s2, doms, cpus) )
            return 1;
        sleep_s(after);
    }
    return 0;
}
