# Sourced by e2e.sh: the `spare` scenario (spare reservations on I/O events, rtsched's
# `rtsched_spare` and `rtsched_spare_domains`, ARCHITECTURE.md "Spare reservations").
# A guest `srv` runs a counted batch loop under (40 ms, 100 ms) beside two busy reserved
# guests, (20 ms, 300 ms) and (40 ms, 300 ms), all on PCPU 1, and answers a xenstore
# ping-pong (`xsping.c`): dom0 writes a key at random times, srv's responder writes the
# answer, dom0 times the round trip. Prints `RTSCHED-E2E-PROBE spare <case> ...` lines
# (xsping's output) beside each case's CPU shares. Cases:
#   calibrate      srv alone with the whole PCPU: the round trip's own cost
#   no-pool        no spare pool
#   pool-unhooked  (rtsched) the pool set, srv not among the spare domains: the event hook
#                  is never called for it, the broken variant the checks must catch
#   pool           (rtsched) the pool set and srv using it
SPARE_POOL=$(arg rtsched_spare_pool)
SPARE_POOL=${SPARE_POOL:-2000:10000:1}

# probe SECONDS: xsping's probe of $PROBE_DOM for SECONDS, its output kept for probes().
probe() {
    id=$($XL domid "$PROBE_DOM") || { echo "RTSCHED-E2E-FAIL xl domid $PROBE_DOM"; return 1; }
    if ! timeout $(($1 + 60)) xsping probe "$id" "$1" "$PROBE_SEED" > /tmp/probe.out 2>&1; then
        cat /tmp/probe.out
        echo "RTSCHED-E2E-FAIL xsping probe $PROBE_DOM"
        return 1
    fi
    PROBE_SEED=$((PROBE_SEED + 1))
}
# probes CASE: prints the last probe's results.
probes() {
    sed -n "s/^XSPING /RTSCHED-E2E-PROBE spare $1 /p" /tmp/probe.out
}
# hypfs PARAM VALUE: writes a hypfs parameter and checks it reads back.
hypfs() {
    if xenhypfs write /params/$1 "$2" && [ "$(xenhypfs cat /params/$1)" = "$2" ]; then
        echo "RTSCHED-E2E-PARAM $1 $2 ok"
    else
        echo "RTSCHED-E2E-FAIL xenhypfs write /params/$1 $2 (reads $(xenhypfs cat /params/$1))"
        return 1
    fi
}
spare_case() { # case
    measure spare "$1" srv bg1 bg2 || return 1
    probes "$1"
}

scenario_spare() {
    saved_measure=$MEASURE
    MEASURE=$(arg rtsched_spare_measure)
    MEASURE=${MEASURE:-$saved_measure}
    PROBE_SEED=1
    PROBE_DOM=srv
    # Every guest created first (created paused, bg1 and bg2 stay so until srv is
    # calibrated alone).
    mkguest srv 1 "" xsping=serve || return 1
    for d in bg1 bg2; do mkguest $d || return 1; done
    x unpause srv || return 1
    ready srv
    i=0
    until grep -q "XSPING serving" /var/log/xen/console/guest-srv.log; do
        i=$((i + 1))
        if [ $i -gt 60 ]; then
            echo "RTSCHED-E2E-FAIL srv's responder did not start"
            cat /var/log/xen/console/guest-srv.log
            return 1
        fi
        sleep 1
    done
    DURING=probe
    measure spare calibrate srv || return 1
    unset DURING
    probes calibrate
    for d in bg1 bg2; do x unpause $d || return 1; done
    ready bg1 bg2
    rtds srv 100000 40000 0 || return 1
    rtds bg1 300000 20000 0 || return 1
    rtds bg2 300000 40000 0 || return 1
    DURING=probe
    spare_case no-pool || return 1
    if [ "$FLAVOUR" = rtsched ]; then
        hypfs rtsched_spare "$SPARE_POOL" || return 1
        spare_case pool-unhooked || return 1
        hypfs rtsched_spare_domains "$($XL domid srv)" || return 1
        spare_case pool || return 1
        # Back to no pool at run time (the spare domains first: a lent spare is returned).
        hypfs rtsched_spare_domains none || return 1
        hypfs rtsched_spare off || return 1
    fi
    unset DURING
    MEASURE=$saved_measure
    destroy srv bg1 bg2
}
