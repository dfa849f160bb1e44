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

/// `setup`'s unit with its budget used up at 40 ms (the CPU idles).
fn depleted() -> (Scheduler<'static>, UnitId) {
    let (mut s, h) = setup();
    let d = s.do_schedule(0, 40 * MS, true, false).unwrap();
    assert_eq!(d.next, None);
    s.context_saved(h, true).unwrap();
    (s, h)
}

#[test]
fn in_the_last_spare_period_a_spare_is_lent_shortened_to_the_replenishment() {
    let (mut s, h) = depleted();
    // At 95 ms a new spare period would end at 105 ms, after the replenishment at 100: lent
    // with deadline 100 ms and 4 ms * 5 / 10 = 2 ms; the other 2 ms of the spare's period
    // (deadline 105 ms) wait in the slot.
    let a = s.io_event(h, 95 * MS).unwrap();
    assert!(a.reschedule.test(0));
    assert_eq!(s.spare_of(h).unwrap(), Some(0));
    let i = s.unit_info(h).unwrap();
    assert_eq!((i.cur_deadline, i.cur_budget), (100 * MS, 2 * MS));
    assert_eq!(s.spare_info(0).unwrap().own_deadline, 100 * MS);
    ok(&s);
    let d = s.do_schedule(0, 95 * MS, false, false).unwrap();
    assert_eq!((d.next, d.slice), (Some(h), 2 * MS));
    // It runs 1.5 ms and blocks: the spare's period is back with 2 + 0.5 ms.
    s.sleep(h).unwrap();
    let d = s.do_schedule(0, 96_500_000, false, false).unwrap();
    assert_eq!(d.next, None);
    s.context_saved(h, false).unwrap();
    let sp = s.spare_info(0).unwrap();
    assert_eq!(
        (sp.attached, sp.cur_deadline, sp.cur_budget),
        (0, 105 * MS, 2_500_000)
    );
    ok(&s);
    // Woken at 97 ms (still depleted) with an event: the spare keeps its period (2.5 ms <=
    // 4/10 of the 8 ms to 105) and lends min(2.5, 4 * 3 / 10 = 1.2) ms to 100 ms.
    s.wake(h, 97 * MS).unwrap();
    s.io_event(h, 97 * MS).unwrap();
    let i = s.unit_info(h).unwrap();
    assert_eq!((i.cur_deadline, i.cur_budget), (100 * MS, 1_200_000));
    let d = s.do_schedule(0, 97 * MS, false, false).unwrap();
    assert_eq!((d.next, d.slice), (Some(h), 1_200_000));
    // Budget out at 98.2 ms; at 100 ms the spare returns (1.3 ms, 105 ms) and the unit is
    // replenished as usual.
    let d = s.do_schedule(0, 98_200_000, true, false).unwrap();
    assert_eq!(d.next, None);
    s.context_saved(h, true).unwrap();
    s.timer_fire(100 * MS).unwrap();
    assert_eq!(s.spare_of(h).unwrap(), None);
    let sp = s.spare_info(0).unwrap();
    assert_eq!(
        (sp.attached, sp.cur_deadline, sp.cur_budget),
        (0, 105 * MS, 1_300_000)
    );
    let i = s.unit_info(h).unwrap();
    assert_eq!((i.cur_deadline, i.cur_budget), (200 * MS, 40 * MS));
    let st = s.stats();
    assert_eq!(
        (
            st.spare_attaches,
            st.spare_short,
            st.spare_returns,
            st.spare_none_free
        ),
        (2, 2, 2, 0)
    );
    ok(&s);
}

#[test]
fn the_last_renewal_before_the_replenishment_is_shortened_to_it() {
    let (mut s, h) = depleted();
    // Lent at 45 ms: deadline 55, renewed at 55, 65, 75, 85 (deadline 95).
    s.io_event(h, 45 * MS).unwrap();
    for t in [55, 65, 75, 85] {
        s.timer_fire(t * MS).unwrap();
        assert_eq!(
            s.unit_info(h).unwrap().cur_deadline,
            (t + 10) * MS,
            "at {t}"
        );
    }
    // At 95 ms the next period would end at 105: renewed shortened, deadline 100 ms and
    // 4 * 5 / 10 = 2 ms (the period's other 2 ms wait in the slot with deadline 105).
    s.timer_fire(95 * MS).unwrap();
    assert_eq!(s.spare_of(h).unwrap(), Some(0));
    let i = s.unit_info(h).unwrap();
    assert_eq!((i.cur_deadline, i.cur_budget), (100 * MS, 2 * MS));
    ok(&s);
    let d = s.do_schedule(0, 95 * MS, true, false).unwrap();
    assert_eq!((d.next, d.slice), (Some(h), 2 * MS));
    // Half of it used by 96 ms, when it blocks; the spare's period is back with 3 ms.
    s.sleep(h).unwrap();
    s.do_schedule(0, 96 * MS, false, false).unwrap();
    s.context_saved(h, false).unwrap();
    let sp = s.spare_info(0).unwrap();
    assert_eq!(
        (sp.attached, sp.cur_deadline, sp.cur_budget),
        (0, 105 * MS, 3 * MS)
    );
    let st = s.stats();
    assert_eq!((st.spare_renewals, st.spare_short), (5, 1));
    ok(&s);
}

#[test]
fn a_shortened_lend_keeps_what_is_left_of_a_kept_period() {
    let (mut s, h) = depleted();
    // Lent at 93 ms: deadline 100, 4 * 7 / 10 = 2.8 ms (1.2 ms held back, deadline 103).
    s.io_event(h, 93 * MS).unwrap();
    assert_eq!(s.unit_info(h).unwrap().cur_budget, 2_800_000);
    s.do_schedule(0, 93 * MS, false, false).unwrap();
    // 2.5 ms run, then it blocks: the spare has (1.2 + 0.3, 103) ms.
    s.sleep(h).unwrap();
    s.do_schedule(0, 95_500_000, false, false).unwrap();
    s.context_saved(h, false).unwrap();
    assert_eq!(s.spare_info(0).unwrap().cur_budget, 1_500_000);
    // At 96 ms it keeps that period (1.5 <= 4/10 of 7 ms) and lends all of it: 1.5 ms is
    // less than 4 * 4 / 10 = 1.6 ms.
    s.wake(h, 96 * MS).unwrap();
    s.io_event(h, 96 * MS).unwrap();
    let i = s.unit_info(h).unwrap();
    assert_eq!((i.cur_deadline, i.cur_budget), (100 * MS, 1_500_000));
    ok(&s);
}

#[test]
fn no_spare_below_the_minimum_budget_nor_for_a_blocked_unit() {
    // 25 us before the replenishment: 4/10 of it is 10 us, the minimum budget: lent.
    let (mut s, h) = depleted();
    s.io_event(h, 100 * MS - 25_000).unwrap();
    assert_eq!(s.unit_info(h).unwrap().cur_budget, 10_000);
    assert_eq!(s.stats().spare_none_free, 0);
    ok(&s);
    // 24 us before: 9.6 us, rounded down to 9 us, is below it: nothing lent (a fresh
    // instance: the clock only moves forward).
    let (mut s, h) = depleted();
    assert_eq!(
        s.io_event(h, 100 * MS - 24_000).unwrap(),
        Actions::default()
    );
    assert_eq!(s.spare_of(h).unwrap(), None);
    assert_eq!(s.stats().spare_none_free, 1);
    ok(&s);
    // Lent at 50 ms, returned when the unit blocks.
    let (mut s, h) = depleted();
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
