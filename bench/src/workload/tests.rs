use std::collections::HashSet;

use serde_json::Value;

use super::*;

fn workload(events: u64, reorder: f64, duplicates: f64) -> Workload {
    Workload::new(WorkloadOptions {
        run_id: "t1".into(),
        objects: 10,
        mix: parse_mix(DEFAULT_MIX).unwrap(),
        duplicates,
        reorder,
        seed: 7,
        first_created: 1_700_000_000,
        events,
    })
    .unwrap()
}

fn rendered(w: &Workload, index: u64) -> Value {
    let mut body = Vec::new();
    w.render(&w.spec(index), &mut body);
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn a_rendered_event_is_a_valid_envelope_carrying_its_index() {
    let w = workload(1000, 0.0, 0.0);
    for index in [0, 1, 99, 100, 999] {
        let spec = w.spec(index);
        let mut body = Vec::new();
        w.render(&spec, &mut body);
        let envelope = tether_stripe::envelope::parse_envelope(&body).unwrap();
        assert_eq!(envelope.id, w.event_id(index));
        assert_eq!(envelope.event_type, spec.event_type);
        assert_eq!(envelope.created, 1_700_000_000 + (index / 100) as i64);
        let object = &rendered(&w, index)["data"]["object"];
        assert_eq!(object["id"], w.object_id(spec.kind, spec.object));
        let marker = Workload::marker(index);
        match spec.kind.object() {
            "customer" => assert_eq!(object["name"], format!("bench {marker}")),
            "payment_intent" => {
                assert_eq!(object["amount"], marker);
                assert_eq!(object["customer"], w.customer_of(spec.object));
            }
            "subscription" => {
                assert_eq!(object["items"]["data"][0]["quantity"], marker);
                assert_eq!(object["customer"], w.customer_of(spec.object));
            }
            other => panic!("the default mix has no {other} events"),
        }
    }
}

#[test]
fn ids_sort_like_indexes_and_parse_back() {
    let w = workload(1000, 0.0, 0.0);
    assert!(w.event_id(99) < w.event_id(100));
    assert_eq!(w.index_of(&w.event_id(123)), Some(123));
    assert_eq!(w.index_of("evt_bench_other_000000000123"), None);
}

#[test]
fn the_mix_follows_its_weights() {
    let w = workload(10_000, 0.0, 0.0);
    let updates = (0..10_000)
        .filter(|&i| w.spec(i).event_type == "customer.updated")
        .count();
    // weight 3 of 10
    assert!((2_700..3_300).contains(&updates), "{updates}");
}

#[test]
fn reordering_sends_every_event_exactly_once() {
    let w = workload(1_000, 0.5, 0.0);
    let sent: Vec<u64> = (0..1_000).map(|p| w.event_at(p)).collect();
    assert_eq!(sent.iter().copied().collect::<HashSet<_>>().len(), 1_000);
    assert!(sent.iter().all(|&e| e < 1_000));
    let displaced = sent
        .iter()
        .enumerate()
        .filter(|(p, e)| *p as u64 != **e)
        .count();
    assert!(displaced > 300, "{displaced}");
}

#[test]
fn duplicates_repeat_earlier_events_at_about_their_ratio() {
    let w = workload(10_000, 0.0, 0.1);
    let repeats: Vec<(u64, u64)> = (0..10_000)
        .filter_map(|p| w.duplicate_after(p).map(|e| (p, e)))
        .collect();
    assert!((800..1_200).contains(&repeats.len()), "{}", repeats.len());
    assert!(repeats.iter().all(|(p, e)| e < p && p - e <= 500));
}

#[test]
fn a_mix_with_an_unknown_type_is_refused() {
    let error = parse_mix("customer.created=1,review.opened=2").unwrap_err();
    assert!(error.contains("review.opened"), "{error}");
    assert!(
        parse_mix("customer.created=1,invoice.paid=2").is_ok(),
        "invoices have a bench marker"
    );
    assert!(parse_mix("customer.created=x").is_err());
}
