# Sourced by /init with rtsched_mode=e2e: runs the guest scenarios of `cargo xtask e2e`.
# Prints `RTSCHED-E2E <scenario> <case> <domain> <cpu-seconds> <interval-seconds>` lines.
GUEST_CFG=/tmp/guest.cfg
MEASURE=$(sed -n 's/.*rtsched_measure=\([0-9]*\).*/\1/p' /proc/cmdline)
MEASURE=${MEASURE:-20}

mkguest() { # name [cpus]
    cat > /tmp/$1.cfg <<CFG
name = "$1"
type = "pv"
kernel = "/guest/vmlinuz"
ramdisk = "/guest/initrd.gz"
extra = "console=hvc0 quiet"
memory = 96
vcpus = 1
cpus = "${2:-1}"
vif = []
disk = []
on_crash = "destroy"
CFG
    if ! timeout 60 $XL create -p /tmp/$1.cfg > /tmp/create.log 2>&1; then
        cat /tmp/create.log
        echo "RTSCHED-E2E-FAIL create $1"
        return 1
    fi
}
# ready DOMS...: waits until each guest has booted to its busy loop (its /init prints a
# marker on its console, which xenconsoled logs): a booting PV guest spends time in long
# hypercalls that overrun its budget, which is not what the scenarios measure. A guest
# the scheduler starves may never get there: after 120 s the measurement goes ahead.
ready() {
    i=0
    for d in "$@"; do
        until grep -q RTSCHED-GUEST-READY /var/log/xen/console/guest-$d.log 2>/dev/null; do
            i=$((i + 1))
            if [ $i -gt 120 ]; then
                echo "RTSCHED-E2E-NOTE guest $d has not reached its busy loop after 120 s"
                break
            fi
            sleep 1
        done
    done
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# snap FILE: one `xl list` for all domains (Time(s) column); prints the snapshot's time as
# the middle of the two uptime reads around it.
snap() {
    a=$(uptime_s); $XL list > "$1" 2>/dev/null; b=$(uptime_s)
    awk -v a="$a" -v b="$b" 'BEGIN { print (a + b) / 2 }'
}
# trace SCENARIO CASE: with rtsched_xentrace=S on the command line (`cargo xtask e2e
# --xentrace S`), S seconds of scheduler trace records (event mask 0x00023000: the core's
# runstate changes, TRC_SCHED_MIN, and the scheduler's own records, TRC_SCHED_CLASS, which
# hold the TRC_RTDS_* events) taken with xentrace, printed gzip'd and base64'd between
# markers (gzip's CRC shows a copy damaged on the way). Tracing is off again afterwards.
XENTRACE=$(sed -n 's/.*rtsched_xentrace=\([0-9]*\).*/\1/p' /proc/cmdline)
trace() {
    [ "${XENTRACE:-0}" -gt 0 ] || return 0
    rm -f /tmp/trace.bin
    if ! timeout 60 xentrace -D -e 0x00023000 -T "$XENTRACE" /tmp/trace.bin > /tmp/xentrace.log 2>&1; then
        cat /tmp/xentrace.log
        echo "RTSCHED-E2E-NOTE xentrace failed in $1 $2"
        return 0
    fi
    echo "RTSCHED-XENTRACE-DOMS $1 $2 $($XL list | awk 'NR > 1 { printf "%s=%s ", $2, $1 }')"
    echo "RTSCHED-XENTRACE-BEGIN $1 $2 $(wc -c < /tmp/trace.bin)"
    gzip -c /tmp/trace.bin | base64
    echo "RTSCHED-XENTRACE-END $1 $2"
}
# measure SCENARIO CASE DOMS...: CPU time of each domain over MEASURE seconds, from two
# snapshots (sampling all domains at once, so their intervals are the same); with
# rtsched_xentrace, a trace first.
measure() {
    sc=$1; cs=$2; shift 2
    trace "$sc" "$cs"
    sleep 2
    u0=$(snap /tmp/snap0)
    sleep "$MEASURE"
    u1=$(snap /tmp/snap1)
    for d in "$@"; do
        a=$(awk -v d="$d" '$1 == d { print $6 }' /tmp/snap0)
        b=$(awk -v d="$d" '$1 == d { print $6 }' /tmp/snap1)
        echo "RTSCHED-E2E $sc $cs $d $(awk -v a="$a" -v b="$b" 'BEGIN{print b-a}') $(awk -v a="$u0" -v b="$u1" 'BEGIN{print b-a}')"
    done
}

scenario_table_4_2() {
    mkguest rt || return 1
    for i in 1 2 3 4 5; do mkguest nrt$i || return 1; done
    $XL sched-rtds -d rt -v all -p 10000 -b 4000 -e 0
    for i in 1 2 3 4 5; do $XL sched-rtds -d nrt$i -v all -p 10000 -b 10000 -e 1; done
    $XL sched-rtds -d rt -v all; $XL sched-rtds -d nrt1 -v all
    $XL unpause rt
    ready rt
    doms="rt"
    measure table-4-2 k=0 $doms
    for k in 1 2 3 4 5; do
        $XL unpause nrt$k
        ready nrt$k
        doms="$doms nrt$k"
        measure table-4-2 k=$k $doms
    done
    for d in rt nrt1 nrt2 nrt3 nrt4 nrt5; do $XL destroy $d; done
}

# Table 4.2 with k = 2 non-RT VMs of unequal periods (5 ms and 20 ms, budget = period,
# extratime) beside the RT VM (4 ms / 10 ms, no extratime).
scenario_unequal() {
    mkguest rt || return 1
    for i in 1 2; do mkguest nrt$i || return 1; done
    $XL sched-rtds -d rt -v all -p 10000 -b 4000 -e 0
    $XL sched-rtds -d nrt1 -v all -p 5000 -b 5000 -e 1
    $XL sched-rtds -d nrt2 -v all -p 20000 -b 20000 -e 1
    $XL unpause rt
    ready rt
    for d in nrt1 nrt2; do $XL unpause $d; done
    ready nrt1 nrt2
    measure unequal k=2 rt nrt1 nrt2
    for d in rt nrt1 nrt2; do $XL destroy $d; done
}

scenario_isolation() {
    for d in c2 c3 c4 hog; do mkguest $d || return 1; done
    $XL sched-rtds -d c2 -v all -p 10000 -b 2000 -e 0
    $XL sched-rtds -d c3 -v all -p 10000 -b 3000 -e 0
    $XL sched-rtds -d c4 -v all -p 10000 -b 4000 -e 0
    $XL sched-rtds -d hog -v all -p 10000 -b 500 -e 1
    for d in c2 c3 c4 hog; do $XL unpause $d; done
    ready c2 c3 c4 hog
    measure isolation hog-extratime c2 c3 c4 hog
    $XL sched-rtds -d hog -v all -p 10000 -b 500 -e 0
    measure isolation hog-capped c2 c3 c4 hog
    for d in c2 c3 c4 hog; do $XL destroy $d; done
}

# rt-global on m guest PCPUs (1..m, m from `cargo xtask e2e`): six VMs with 10 ms periods
# allowed on all of them, a guaranteed set (within the GFB bound) and a stress set (beyond
# it); budgets (us) come from the command line. After each parameter change every VCPU is
# re-pinned: Xen then asks the scheduler to place it again (pick_resource), which re-places
# units by their new bandwidth under rt-partition; under rt-global it changes nothing.
GCPUS=$(sed -n 's/.*rtsched_global_cpus=\([^ ]*\).*/\1/p' /proc/cmdline)
global_set() { # case budgets(us, separated by +)
    cs=$1
    i=1
    for b in $(echo "$2" | tr '+' ' '); do
        $XL sched-rtds -d g$i -v all -p 10000 -b "$b" -e 0
        $XL vcpu-pin g$i all "$GCPUS"
        i=$((i + 1))
    done
    $XL vcpu-list | grep -E "^g[0-9]" | awk '{ print "RTSCHED-E2E-PLACE '"$cs"' " $1 " cpu " $4 }'
    measure global "$cs" g1 g2 g3 g4 g5 g6
}
scenario_global() {
    for i in 1 2 3 4 5 6; do mkguest g$i "$GCPUS" || return 1; done
    # Boot with 3 ms / 10 ms each (1.8 PCPUs for six, within two), then measure.
    for i in 1 2 3 4 5 6; do $XL sched-rtds -d g$i -v all -p 10000 -b 3000 -e 0; done
    for i in 1 2 3 4 5 6; do $XL unpause g$i; done
    ready g1 g2 g3 g4 g5 g6
    global_set guaranteed "$(sed -n 's/.*rtsched_global_guaranteed=\([^ ]*\).*/\1/p' /proc/cmdline)"
    global_set stress "$(sed -n 's/.*rtsched_global_stress=\([^ ]*\).*/\1/p' /proc/cmdline)"
    for i in 1 2 3 4 5 6; do $XL destroy g$i; done
}

# Table 4.2 with k = 2 while the policy is switched at run time through hypfs
# (rtsched only; the stock build has no such parameter and runs every phase unchanged).
scenario_policy_switch() {
    mkguest rt || return 1
    for i in 1 2; do mkguest nrt$i || return 1; done
    $XL sched-rtds -d rt -v all -p 10000 -b 4000 -e 0
    for i in 1 2; do $XL sched-rtds -d nrt$i -v all -p 10000 -b 10000 -e 1; done
    # The RT VM boots first: beside busy extratime VMs, rt.c may starve it (Table 4.2).
    $XL unpause rt
    ready rt
    for d in nrt1 nrt2; do $XL unpause $d; done
    ready nrt1 nrt2
    n=0
    for pol in edf,deferrable dm,deferrable dm,periodic edf,deferrable; do
        n=$((n + 1))
        if [ "$FLAVOUR" = rtsched ]; then
            # The parameter reads back as "<topology>,<priority>,<server>,<class rule>".
            if xenhypfs write /params/$RTSCHED_HYPFS_PARAM "$pol" &&
                xenhypfs cat /params/$RTSCHED_HYPFS_PARAM | grep -q ",$pol,classes\$"; then
                echo "RTSCHED-E2E-POLICY $n-$pol ok"
            else
                echo "RTSCHED-E2E-FAIL policy-switch: xenhypfs write $pol"
            fi
        fi
        measure policy-switch "$n-$pol" rt nrt1 nrt2
    done
    for d in rt nrt1 nrt2; do $XL destroy $d; done
}

for sc in $(sed -n 's/.*rtsched_scenarios=\([^ ]*\).*/\1/p' /proc/cmdline | tr '+' ' '); do
    echo "RTSCHED-E2E-BEGIN $sc"
    case $sc in
        table-4-2) scenario_table_4_2 ;;
        unequal) scenario_unequal ;;
        isolation) scenario_isolation ;;
        global) scenario_global ;;
        policy-switch) scenario_policy_switch ;;
        *) echo "RTSCHED-E2E-FAIL unknown scenario $sc" ;;
    esac
    echo "RTSCHED-E2E-END $sc"
done
$XL dmesg | grep -c "now is behind last_start" | sed 's/^/RTSCHED-E2E-ANOMALIES /'
# rtsched counts clock anomalies instead of logging each: show its counters.
$XL debug-keys r
$XL dmesg | grep -E "stat (clock_backwards|schedules|tickle_|replenishments)|sched hook time" | sed 's/^/RTSCHED-E2E-STAT /'
