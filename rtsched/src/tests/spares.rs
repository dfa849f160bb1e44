//! Spare reservations (`sched/spare.rs`), with hand-computed expectations.

use super::*;
use crate::params::MILLISECS as MS;

fn p(budget: i64, period: i64) -> Params {
    Params {
        period: period * MS,
        budget: budget * MS,
        extratime: false,
    }
}

/// One CPU, EDF, CBS, admission on, a (40, 100) unit that uses spare bandwidth, pool of one (4, 10).
fn setup() -> (Scheduler<'static>, UnitId) {
    let mut s = online(
        4,
        1,
        Policy {
            admission: true,
            server: ServerKind::Cbs,
            ..Policy::default()
        },
    );
    s.set_spare_pool(&[p(4, 10)]).unwrap();
    let h = unit(&mut s, 1, 100 * MS, 40 * MS, false, CpuMask::single(0));
    s.set_uses_spare(h, true).unwrap();
    s.wake(h, 0).unwrap();
    let d = s.do_schedule(0, 0, true, false).unwrap();
    assert_eq!((d.next, d.slice), (Some(h), 40 * MS));
    ok(&s);
    (s, h)
}

#[test]
fn an_io_event_lends_a_spare_to_a_depleted_unit_until_its_replenishment() {
    let (mut s, h) = setup();
    // With budget left: nothing.
    assert_eq!(s.io_event(h, 10 * MS).unwrap(), Actions::default());
    assert_eq!(s.spare_of(h).unwrap(), None);
    // Budget out at 40 ms: depleted, the CPU idles.
    let d = s.do_schedule(0, 40 * MS, true, false).unwrap();
    assert_eq!(d.next, None);
    s.context_saved(h, true).unwrap();
    // An event at 50 ms: the spare (new CBS period: deadline 60 ms, 4 ms) is lent.
    let a = s.io_event(h, 50 * MS).unwrap();
    assert!(a.reschedule.test(0));
    assert_eq!(s.spare_of(h).unwrap(), Some(0));
    let i = s.unit_info(h).unwrap();
    assert_eq!((i.cur_deadline, i.cur_budget), (60 * MS, 4 * MS));
    assert_eq!(s.spare_info(0).unwrap().own_deadline, 100 * MS);
    ok(&s);
    let d = s.do_schedule(0, 50 * MS, false, false).unwrap();
    assert_eq!((d.next, d.slice), (Some(h), 4 * MS));
    // Spare budget out at 54 ms; renewed at 60 ms (deadline 70), 70 (80), 80 (90), 90
    // (100); at 100 ms the next deadline would pass the replenishment: returned.
    let d = s.do_schedule(0, 54 * MS, true, false).unwrap();
    assert_eq!(d.next, None);
    s.context_saved(h, true).unwrap();
    for t in [60, 70, 80, 90] {
        s.timer_fire(t * MS).unwrap();
        let i = s.unit_info(h).unwrap();
        assert_eq!(
            (i.cur_deadline, i.cur_budget),
            ((t + 10) * MS, 4 * MS),
            "at {t}"
        );
        let d = s.do_schedule(0, t * MS, true, false).unwrap();
        assert_eq!((d.next, d.slice), (Some(h), 4 * MS));
        let d = s.do_schedule(0, (t + 4) * MS, true, false).unwrap();
        assert_eq!(d.next, None);
        s.context_saved(h, true).unwrap();
        ok(&s);
    }
    s.timer_fire(100 * MS).unwrap();
    assert_eq!(s.spare_of(h).unwrap(), None);
    assert_eq!(s.spare_info(0).unwrap().attached, 0);
    let i = s.unit_info(h).unwrap();
    assert_eq!((i.cur_deadline, i.cur_budget), (200 * MS, 40 * MS));
    let st = s.stats();
    assert_eq!(
        (st.spare_attaches, st.spare_renewals, st.spare_returns),
        (1, 4, 1)
    );
    ok(&s);
}

#[test]
fn no_spare_in_the_last_spare_period_before_the_replenishment_nor_for_a_blocked_unit() {
    let (mut s, h) = setup();
    s.do_schedule(0, 40 * MS, true, false).unwrap();
    s.context_saved(h, true).unwrap();
    // At 95 ms a new spare period would end at 105 ms, after the replenishment at 100.
    assert_eq!(s.io_event(h, 95 * MS).unwrap(), Actions::default());
    assert_eq!(s.stats().spare_none_free, 1);
    ok(&s);
    // Lent at 50 ms (a fresh instance: the clock only moves forward), returned when the
    // unit blocks.
    let (mut s, h) = setup();
    s.do_schedule(0, 40 * MS, true, false).unwrap();
    s.context_saved(h, true).unwrap();
    s.io_event(h, 50 * MS).unwrap();
    assert_eq!(s.spare_of(h).unwrap(), Some(0));
    s.sleep(h).unwrap();
    assert_eq!(s.spare_of(h).unwrap(), None);
    assert_eq!(s.spare_info(0).unwrap().attached, 0);
    ok(&s);
}

#[test]
fn the_pool_is_a_reservation_and_edf_only() {
    let (mut s, h) = setup();
    // 40% + spare 40%: a 25% unit does not fit, a 20% one does.
    let a = s.unit_alloc(2, 0, CpuMask::single(0)).unwrap();
    s.set_params(a, p(25, 100)).unwrap();
    assert_eq!(s.insert(a, 0, false, false), Err(Error::NotAdmitted));
    s.set_params(a, p(20, 100)).unwrap();
    s.insert(a, 0, false, false).unwrap();
    // A bigger pool does not fit beside them.
    assert_eq!(s.set_spare_pool(&[p(5, 10)]), Err(Error::NotAdmitted));
    // Invalid, too many, DM.
    assert_eq!(s.set_spare_pool(&[p(11, 10)]), Err(Error::InvalidParams));
    assert_eq!(s.set_spare_pool(&[p(1, 10); 5]), Err(Error::NoSpace));
    assert_eq!(s.set_priority_scheme(PriorityScheme::Dm), Err(Error::Busy));
    // Not while lent.
    s.do_schedule(0, 40 * MS, true, false).unwrap();
    s.context_saved(h, true).unwrap();
    s.io_event(h, 50 * MS).unwrap();
    assert_eq!(s.set_spare_pool(&[]), Err(Error::Busy));
    s.set_uses_spare(h, false).unwrap();
    s.set_spare_pool(&[]).unwrap();
    s.set_priority_scheme(PriorityScheme::Dm).unwrap();
    assert_eq!(s.set_spare_pool(&[p(1, 10)]), Err(Error::InvalidParams));
    ok(&s);
}
