#!/bin/busybox sh
# dom0 /init for `cargo xtask xen-boot`: brings up the Xen toolstack from Debian's packages,
# drives the RTDS scheduler with the unmodified `xl sched-rtds`, then cpupools and CPU
# removal (pools.sh), announces each step as `RTSCHED-BEGIN <name>` (the harness names it
# when the host panics or hangs), reports each as
#   RTSCHED-STEP <name> OK|FAIL|SKIP
# and ends with `RTSCHED-BOOT-DONE pass=N fail=M`, then powers off.
#
# To add a step: `begin NAME`, the commands (through `run TIMEOUT CMD...`), then `ok NAME`
# or `fail NAME REASON` (or `skip NAME REASON`).
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/lib/xen-4.17/bin
export LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /run /tmp /var/run /var/log/xen/console /var/lib/xen /var/lib/xenstored /var/run/xen /var/run/xenstored
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t devpts devpts /dev/pts
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
mkdir -p /etc/xen && touch /etc/xen/xl.conf

FLAVOUR=stock
grep -q rtsched_flavour=rtsched /proc/cmdline && FLAVOUR=rtsched
RTSCHED_HYPFS_PARAM=rtsched_policy
PASS=0
FAIL=0
XL=/usr/lib/xen-4.17/bin/xl

say() { echo "RTSCHED-$*"; }
begin() { say "BEGIN $1"; }
# poison_intact: no free xmalloc block was written after it was freed. A debug hypervisor
# checks a free block's poison only when it merges it with a neighbour being freed, maybe
# steps later; key 'j' (xen-patch/common/0004, debug builds) checks every free block now
# and prints each one written. Other builds have no such key: nothing to check (known after
# the first try).
poison_intact() {
    [ "$POISON_KEY" != no ] || return 0
    $XL debug-keys j >/dev/null 2>&1 || return 0
    last=$($XL dmesg 2>/dev/null | grep "xmalloc: poison check:" | tail -n 1)
    [ -n "$last" ] || { POISON_KEY=no; return 0; }
    case "$last" in *", 0 written after free"*) true ;; *) false ;; esac
}
ok() {
    if poison_intact; then
        say "STEP $1 OK"; PASS=$((PASS + 1))
    else
        fail "$1" "freed hypervisor memory was written during the step (xmalloc lines above)"
    fi
}
fail() { say "STEP $1 FAIL $2"; FAIL=$((FAIL + 1)); }
skip() { say "STEP $1 SKIP $2"; }
# run NAME TIMEOUT CMD...: prints the command and its output, succeeds if CMD does.
run() { t=$1; shift; echo "\$ $*"; timeout "$t" "$@" 2>&1; }
# print_trace SCENARIO CASE FILE: a xentrace file on the console between markers, gzip'd
# and base64'd (gzip's CRC shows a copy damaged on the way), with the domains' names; the
# host's decoder (xtask/src/xentrace.rs) reads it back. Kernel messages are off the console
# meanwhile: one printed inside a line damages the copy. (e2e.sh uses it too.)
print_trace() {
    echo "RTSCHED-XENTRACE-DOMS $1 $2 $($XL list | awk 'NR > 1 { printf "%s=%s ", $2, $1 }')"
    echo "RTSCHED-XENTRACE-BEGIN $1 $2 $(wc -c < "$3")"
    dmesg -n 1
    gzip -c "$3" | base64
    dmesg -n 7
    echo "RTSCHED-XENTRACE-END $1 $2"
}

# rtds_trace_begin FILE: xentrace of the scheduler class's records only (0x00022000: the
# RTDS events, to keep the copy short) into FILE, in the background, returning once tracing
# is on: Xen says so the first time in a boot (seconds under emulation), later starts are
# given 2 s. Fails if it did not say so within 60 s. rtds_trace_end stops it (fails if
# xentrace did), then prints its log.
rtds_trace_begin() {
    rm -f "$1"
    started=$($XL dmesg | grep -c "xentrace: initialised")
    xentrace -D -e 0x00022000 -T 60 "$1" > /tmp/rtds-trace.log 2>&1 &
    RTDS_TRACE_PID=$!
    [ "$started" -gt 0 ] && { sleep 2; return 0; }
    for i in $(seq 1 60); do
        $XL dmesg | grep -q "xentrace: initialised" && { sleep 1; return 0; }
        sleep 1
    done
    echo "xentrace did not start"
    return 1
}
rtds_trace_end() {
    sleep 1
    kill -INT $RTDS_TRACE_PID
    r=0; wait $RTDS_TRACE_PID || r=$?
    cat /tmp/rtds-trace.log
    return $r
}

for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc; do
    insmod /lib/modules/$m.ko || echo "insmod $m failed"
done
mount -t xenfs xenfs /proc/xen
xenstored --pid-file /var/run/xenstored.pid
i=0
while ! xenstore-ls / >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.2
done
timeout 30 xen-init-dom0
xenconsoled --log=guest --log-dir=/var/log/xen/console &

if grep -q rtsched_mode=e2e /proc/cmdline; then
    . /e2e.sh
    say "E2E-DONE"
    echo o > /proc/sysrq-trigger
    sleep 10
fi

# 1. The boot line of the scheduler.
begin boot-line
run 20 $XL dmesg > /tmp/dmesg
grep -i -E "rtsched|rtds|scheduler" /tmp/dmesg
if [ "$FLAVOUR" = rtsched ]; then
    grep -q "rtsched: RTDS scheduler implemented in Rust" /tmp/dmesg && ok boot-line || fail boot-line "no rtsched boot line"
else
    grep -q "Using scheduler: SMP RTDS Scheduler (rtds)" /tmp/dmesg && ok boot-line || fail boot-line "no RTDS boot line"
fi

# 2. xl info names rtds.
begin xl-info
run 20 $XL info > /tmp/info
grep -E "xen_scheduler|xen_version|nr_cpus" /tmp/info
grep -q "xen_scheduler *: rtds" /tmp/info && ok xl-info || fail xl-info "scheduler is not rtds"

# 3. Per-VCPU parameters: list, set all, read back, set single VCPUs, extratime on/off.
begin set-params
show() { run 20 $XL sched-rtds -d Domain-0 -v all; }
# vcpu FILE V: "period budget extratime" of VCPU V in a `show` listing.
vcpu() { awk -v v="$2" '$1 == "Domain-0" && $3 == v { print $4, $5, $6 }' "$1"; }
show
run 20 $XL sched-rtds -d Domain-0 -v all -p 10000 -b 4000 -e 1
show > /tmp/s1; cat /tmp/s1
if [ "$(vcpu /tmp/s1 0)" = "10000 4000 yes" ] && [ "$(vcpu /tmp/s1 1)" = "10000 4000 yes" ]; then
    ok set-all; else fail set-all "read-back differs"; fi
run 20 $XL sched-rtds -d Domain-0 -v 0 -p 20000 -b 5000 -e 0
run 20 $XL sched-rtds -d Domain-0 -v 1 -p 30000 -b 7500 -e 1
show > /tmp/s2; cat /tmp/s2
if [ "$(vcpu /tmp/s2 0)" = "20000 5000 no" ] && [ "$(vcpu /tmp/s2 1)" = "30000 7500 yes" ]; then
    ok set-single; else fail set-single "read-back differs"; fi
run 20 $XL sched-rtds -d Domain-0 -v 0 -p 20000 -b 5000 -e 1
show > /tmp/s3; cat /tmp/s3
run 20 $XL sched-rtds -d Domain-0 -v 0 -p 20000 -b 5000 -e 0
show > /tmp/s4; cat /tmp/s4
if [ "$(vcpu /tmp/s3 0)" = "20000 5000 yes" ] && [ "$(vcpu /tmp/s4 0)" = "20000 5000 no" ]; then
    ok extratime; else fail extratime "flag not switched"; fi

# 4. Invalid values rejected by the hypervisor, state unchanged.
begin reject
for bad in "-p 10000 -b 20000 -e 1" "-p 5 -b 5 -e 1" "-p 10000 -b 0 -e 1"; do
    name="reject[$bad]"
    show > /tmp/before
    if run 20 $XL sched-rtds -d Domain-0 -v 0 $bad; then
        fail "$name" "accepted"
    else
        show > /tmp/after
        if cmp -s /tmp/before /tmp/after; then ok "$name"; else fail "$name" "state changed"; fi
    fi
done

# 4b. The same values straight to the hypervisor (libxl checks two of them itself).
begin reject-hypercall
for bad in "10000 20000" "5 5" "10000 0"; do
    name="reject-hypercall[$bad]"
    show > /tmp/before
    if run 20 rtds-hcall 0 0 $bad 1; then
        fail "$name" "accepted"
    else
        show > /tmp/after
        if cmp -s /tmp/before /tmp/after; then ok "$name"; else fail "$name" "state changed"; fi
    fi
done

# Positive control: the same client sets valid values.
if run 20 rtds-hcall 0 0 15000 3000 0 && show > /tmp/s5 && [ "$(vcpu /tmp/s5 0)" = "15000 3000 no" ]; then
    cat /tmp/s5; ok hypercall-accepts-valid; else fail hypercall-accepts-valid "valid values refused"; fi

# 4c. Admission control (rtsched booted with rtsched_policy=...,admission): dom0's two
#     VCPUs at a full PCPU each are schedulable on this machine's four PCPUs (global EDF,
#     BCL test; GFB alone would refuse them, the Dhall effect), so the change is accepted
#     and read back; then the earlier values are restored. (No dom0-only set exceeds what
#     four PCPUs can hold: the refusal comes in pools.sh, step admission-refuses, once
#     Pool-0 is down to one PCPU.)
if [ "$FLAVOUR" = rtsched ] && grep -q "xen_commandline.*admission" /tmp/info; then
    begin admission
    show > /tmp/adm-before
    if run 20 $XL sched-rtds -d Domain-0 -v all -p 10000 -b 10000 -e 0 > /tmp/adm 2>&1 \
        && show > /tmp/after && [ "$(vcpu /tmp/after 1)" = "10000 10000 no" ]; then
        cat /tmp/adm; ok admission
    else
        cat /tmp/adm; fail admission "a schedulable set was refused or not read back"
    fi
    # Each VCPU gets its own earlier values back: dom0 left at 20% of a PCPU without
    # extratime on both VCPUs is too slow under emulation to build a guest later on.
    for v in 0 1; do
        set -- $(vcpu /tmp/adm-before $v)
        [ "$3" = yes ] && e=1 || e=0
        run 20 $XL sched-rtds -d Domain-0 -v $v -p "$1" -b "$2" -e $e
    done
    show
fi

# 5. The debug-key dump.
begin debug-key
run 20 $XL debug-keys r
run 20 $XL dmesg > /tmp/dmesg2
sed -n '/Dumping scheduler/,$p' /tmp/dmesg2 | tail -60
if grep -q -E "RunQueue info|Global RunQueue" /tmp/dmesg2; then ok debug-key; else fail debug-key "no dump"; fi

# 6. Runtime policy change through hypfs.
begin hypfs-policy
if [ "$FLAVOUR" = rtsched ]; then
    run 20 xenhypfs cat /params/$RTSCHED_HYPFS_PARAM
    run 20 xenhypfs write /params/$RTSCHED_HYPFS_PARAM dm,periodic
    v=$(xenhypfs cat /params/$RTSCHED_HYPFS_PARAM 2>/dev/null); echo "read back: $v"
    run 20 xenhypfs write /params/$RTSCHED_HYPFS_PARAM bogus && bad=1 || bad=0
    run 20 xenhypfs write /params/$RTSCHED_HYPFS_PARAM edf,deferrable
    v2=$(xenhypfs cat /params/$RTSCHED_HYPFS_PARAM 2>/dev/null); echo "read back: $v2"
    run 20 $XL dmesg | grep "rtsched: policy now"
    # The constant-bandwidth server and plain RTDS order, then back to the defaults.
    run 20 xenhypfs write /params/$RTSCHED_HYPFS_PARAM edf,cbs,rtds
    v3=$(xenhypfs cat /params/$RTSCHED_HYPFS_PARAM 2>/dev/null); echo "read back: $v3"
    run 20 xenhypfs write /params/$RTSCHED_HYPFS_PARAM edf,deferrable,classes
    v4=$(xenhypfs cat /params/$RTSCHED_HYPFS_PARAM 2>/dev/null); echo "read back: $v4"
    case "$v" in *dm,periodic*) ;; *) bad=1 ;; esac
    case "$v2" in *edf,deferrable*) ;; *) bad=1 ;; esac
    case "$v3" in *edf,cbs,rtds*) ;; *) bad=1 ;; esac
    case "$v4" in *edf,deferrable,classes*) ;; *) bad=1 ;; esac
    # The value names admission control exactly when it is on (boot only), and every
    # value read back can be written back; naming a boot-only setting that is not in
    # force is refused.
    if grep -Eq "xen_commandline.*rtsched_policy=([a-z]+,)*admission" /tmp/info; then
        case "$v4" in *,admission,*) ;; *) bad=1; echo "admission not in $v4" ;; esac
    else
        case "$v4" in *admission*) bad=1; echo "admission in $v4" ;; esac
        run 20 xenhypfs write /params/$RTSCHED_HYPFS_PARAM admission && bad=1
    fi
    run 20 xenhypfs write /params/$RTSCHED_HYPFS_PARAM "$v4" || bad=1
    case "$v4" in *partition*) other=global ;; *) other=partition ;; esac
    run 20 xenhypfs write /params/$RTSCHED_HYPFS_PARAM $other && bad=1
    v5=$(xenhypfs cat /params/$RTSCHED_HYPFS_PARAM 2>/dev/null); echo "read back: $v5"
    [ "$v5" = "$v4" ] || bad=1
    [ $bad = 0 ] && ok hypfs-policy || fail hypfs-policy "write or read-back failed"
else
    run 20 xenhypfs ls /params | head -5
    skip hypfs-policy "stock RTDS has no policy parameter"
fi

# 6b. rtsched's own trace records (TRC_RTDS_POLICY, _CBS_RESTART, _CLASS), taken with
#     xentrace while they are provoked: a policy change through hypfs to the
#     constant-bandwidth server (meanwhile dom0's VCPUs wake mid-period with budget left:
#     CBS deadline restarts); dom0's VCPU 1 made real-time, then non-real-time (extratime,
#     budget = period), then as it was (at least one class change); the default policy
#     again. The trace is printed as the e2e traces are (gzip'd, base64'd); `cargo xtask
#     xen-boot` decodes it and checks that each record is there (step trace-own-records).
#     Taken unless `--skip-trace-own` (dom0's rtsched_trace_own=1).
if [ "$FLAVOUR" = rtsched ] && grep -q "rtsched_trace_own=1" /proc/cmdline; then
    begin trace-own
    show > /tmp/own-before
    bad=0
    rtds_trace_begin /tmp/own.bin || bad=1
    run 20 xenhypfs write /params/$RTSCHED_HYPFS_PARAM edf,cbs,classes || bad=1
    for i in 1 2 3 4 5; do sleep 0.1 2>/dev/null || sleep 1; done
    run 20 $XL sched-rtds -d Domain-0 -v 1 -p 10000 -b 4000 -e 0 || bad=1
    run 20 $XL sched-rtds -d Domain-0 -v 1 -p 10000 -b 10000 -e 1 || bad=1
    op=$(vcpu /tmp/own-before 1 | cut -d' ' -f1)
    ob=$(vcpu /tmp/own-before 1 | cut -d' ' -f2)
    oe=0; [ "$(vcpu /tmp/own-before 1 | cut -d' ' -f3)" = yes ] && oe=1
    run 20 $XL sched-rtds -d Domain-0 -v 1 -p "$op" -b "$ob" -e "$oe" || bad=1
    run 20 xenhypfs write /params/$RTSCHED_HYPFS_PARAM edf,deferrable,classes || bad=1
    rtds_trace_end || bad=1
    if [ $bad = 0 ] && [ -s /tmp/own.bin ]; then
        print_trace boot own-records /tmp/own.bin
        ok trace-own
    else
        fail trace-own "xentrace or a provoking command failed"
    fi
fi

# 7. cpupools, CPU removal, CPU offline/online.
. /pools.sh

# 8. The hypervisor logged no failed library call and no assertion.
begin xen-log-clean
run 20 $XL dmesg > /tmp/dmesg3
if grep -E "rtsched: .* failed|Assertion '" /tmp/dmesg3; then
    fail xen-log-clean "errors in the hypervisor log"
else
    ok xen-log-clean
fi

say "BOOT-DONE pass=$PASS fail=$FAIL"
echo o > /proc/sysrq-trigger
sleep 10
