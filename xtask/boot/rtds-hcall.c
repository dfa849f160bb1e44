/*
 * rtds-hcall: set one VCPU's RTDS parameters with a raw XEN_DOMCTL_scheduler_op
 * (putvcpuinfo) hypercall through /dev/xen/privcmd, bypassing libxl's own
 * validation, so that the hypervisor's answer to invalid values is what shows.
 *
 *   rtds-hcall DOMID VCPU PERIOD_US BUDGET_US EXTRATIME
 *
 * Prints the hypervisor's return value; exits 0 if it accepted the values.
 * Built by `cargo xtask xen-boot` against Xen's public headers (never copied).
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
#include <unistd.h>

#include <public/xen.h>
#include <public/domctl.h>

struct privcmd_hypercall {
    uint64_t op;
    uint64_t arg[5];
};
#define IOCTL_PRIVCMD_HYPERCALL \
    _IOC(_IOC_NONE, 'P', 0, sizeof(struct privcmd_hypercall))

int main(int argc, char **argv)
{
    struct xen_domctl *d;
    struct xen_domctl_schedparam_vcpu *v;
    struct privcmd_hypercall h;
    long rc;
    int fd;

    if ( argc != 6 )
    {
        fprintf(stderr, "usage: %s DOMID VCPU PERIOD_US BUDGET_US EXTRATIME\n",
                argv[0]);
        return 2;
    }
    /* Both buffers must stay mapped while Xen copies from them. */
    d = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if ( d == MAP_FAILED || mlock(d, 4096) )
        return perror("mmap/mlock"), 2;
    memset(d, 0, 4096);
    v = (void *)((char *)d + 2048);
    v->vcpuid = atoi(argv[2]);
    v->u.rtds.period = strtoul(argv[3], NULL, 0);
    v->u.rtds.budget = strtoul(argv[4], NULL, 0);
    v->u.rtds.flags = atoi(argv[5]) ? XEN_DOMCTL_SCHEDRT_extra : 0;

    d->cmd = XEN_DOMCTL_scheduler_op;
    d->interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    d->domain = atoi(argv[1]);
    d->u.scheduler_op.sched_id = XEN_SCHEDULER_RTDS;
    d->u.scheduler_op.cmd = XEN_DOMCTL_SCHEDOP_putvcpuinfo;
    set_xen_guest_handle(d->u.scheduler_op.u.v.vcpus, v);
    d->u.scheduler_op.u.v.nr_vcpus = 1;

    fd = open("/dev/xen/privcmd", O_RDWR);
    if ( fd < 0 )
        fd = open("/proc/xen/privcmd", O_RDWR);
    if ( fd < 0 )
        return perror("privcmd"), 2;
    memset(&h, 0, sizeof(h));
    h.op = __HYPERVISOR_domctl;
    h.arg[0] = (uintptr_t)d;
    rc = ioctl(fd, IOCTL_PRIVCMD_HYPERCALL, &h);
    if ( rc < 0 )
    {
        printf("hypervisor rejected period=%s budget=%s: %s (-%d)\n",
               argv[3], argv[4], strerror(errno), errno);
        return 1;
    }
    printf("hypervisor accepted period=%s budget=%s\n", argv[3], argv[4]);
    return 0;
}
