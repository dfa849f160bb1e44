#!/bin/busybox sh
# /init of the e2e guests. Without `rtjob=` on the kernel command line the guest's only
# task is a busy loop; with `rtjob=NAME:PERIOD_US:EXEC_US:PRIO:WARMUP_MS:JOBS+...` it runs
# those periodic tasks (`rtjob`, one process each) and idles once they have reported.
# Either way it says on its console when it gets there (dom0 measures only booted guests);
# the tasks start when a line arrives on the console (dom0 writes it to the console's pty
# once every guest of the scenario has booted and has its parameters).
/bin/busybox mkdir -p /dev /proc
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox mount -t proc proc /proc
tasks=$(/bin/busybox sed -n 's/.*rtjob=\([^ ]*\).*/\1/p' /proc/cmdline)
echo RTSCHED-GUEST-READY > /dev/hvc0
# `xsping=serve` (the spare scenario): a counted batch loop and a xenstore responder
# (`xsping.c`), instead of the busy loop.
if /bin/busybox grep -q xsping=serve /proc/cmdline; then
    echo -1 > /proc/sys/kernel/sched_rt_runtime_us
    exec /bin/xsping serve > /dev/hvc0 2>&1
fi
if [ -z "$tasks" ]; then
    while :; do :; done
fi
# No real-time throttling: the guest's clock runs while Xen has its VCPU descheduled, so
# Linux would charge that time to a running SCHED_FIFO task and idle the VCPU for 5% of
# every second (sched_rt_runtime_us), wasting budget while jobs wait.
echo -1 > /proc/sys/kernel/sched_rt_runtime_us
read -r go < /dev/hvc0
echo RTSCHED-GUEST-START > /dev/hvc0
for t in $(echo "$tasks" | /bin/busybox tr '+' ' '); do
    /bin/rtjob $(echo "$t" | /bin/busybox tr ':' ' ') > /dev/hvc0 2>&1 &
done
wait
echo RTSCHED-GUEST-TASKS-DONE > /dev/hvc0
while :; do /bin/busybox sleep 1000; done
