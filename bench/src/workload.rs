//! The events a bench run sends: N distinct, realistic, signed events built
//! from the sample events, each fully determined by its index so that the
//! sender keeps no copy of them and the verifier can rebuild any of them.

use std::collections::HashMap;

use serde_json::Value;
use tether_stripe::{kind::object_kind, samples};
use tether_sync::{self as sync, BenchMarker, BenchTokens};

/// The event types a bench knows how to vary, and the default mix (weights):
/// customers created once and updated often, payments succeeding, and
/// subscriptions created and updated.
pub const DEFAULT_MIX: &str = "customer.created=1,customer.updated=3,payment_intent.succeeded=3,customer.subscription.created=1,customer.subscription.updated=2";

/// How many events share one second of `created`: enough that same-second
/// ties (broken by lifecycle rank, then event id) are exercised.
pub const EVENTS_PER_CREATED_SECOND: u64 = 100;

/// Events are reordered within windows of this many sending positions.
const REORDER_WINDOW: u64 = 256;

/// How far back a duplicate delivery reaches.
const DUPLICATE_REACH: u64 = 500;

/// A synced kind the bench can generate events for: every registered kind
/// that has a bench marker.
#[derive(Clone, Copy)]
pub struct Kind(&'static dyn sync::Kind);

impl Kind {
    pub fn of(event_type: &str) -> Option<Self> {
        let kind = object_kind(event_type).and_then(sync::registry::kind)?;
        (kind.bench().is_some() && kind.handles(event_type)).then_some(Self(kind))
    }

    /// Every kind the bench generates, in registry order.
    pub fn all() -> impl Iterator<Item = Self> {
        sync::KINDS
            .iter()
            .filter(|k| k.bench().is_some())
            .map(|k| Self(*k))
    }

    pub fn object(self) -> &'static str {
        self.0.object()
    }

    pub fn marker(self) -> &'static BenchMarker {
        self.0
            .bench()
            .expect("only kinds with a bench marker are made")
    }

    fn prefix(self) -> &'static str {
        self.0.id_prefix().trim_end_matches('_')
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Self) -> bool {
        self.object() == other.object()
    }
}

impl Eq for Kind {}

impl std::hash::Hash for Kind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.object().hash(state);
    }
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.object())
    }
}

/// One generated event, before it is rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    pub index: u64,
    pub event_type: &'static str,
    pub kind: Kind,
    pub object: u64,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    pub run_id: String,
    pub objects: u64,
    pub mix: Vec<(&'static str, u32)>,
    pub duplicates: f64,
    pub reorder: f64,
    pub seed: u64,
    /// `created` of event 0, in Unix seconds.
    pub first_created: i64,
    /// How many distinct events the run may send (`u64::MAX` when the run is
    /// bounded by time instead).
    pub events: u64,
}

pub struct Workload {
    options: WorkloadOptions,
    total_weight: u32,
    templates: HashMap<&'static str, Template>,
}

impl Workload {
    pub fn new(options: WorkloadOptions) -> anyhow::Result<Self> {
        let templates = options
            .mix
            .iter()
            .map(|(event_type, _)| Ok((*event_type, Template::for_type(event_type)?)))
            .collect::<anyhow::Result<_>>()?;
        let total_weight = options.mix.iter().map(|(_, w)| w).sum();
        anyhow::ensure!(total_weight > 0, "the event mix has no weight");
        anyhow::ensure!(options.objects > 0, "--objects must be at least 1");
        Ok(Self {
            options,
            total_weight,
            templates,
        })
    }

    pub fn options(&self) -> &WorkloadOptions {
        &self.options
    }

    pub fn spec(&self, index: u64) -> EventSpec {
        let mut rng = self.rng(index, 0);
        let mut pick = rng.u32(..self.total_weight);
        let event_type = self
            .options
            .mix
            .iter()
            .find(|(_, weight)| {
                let hit = pick < *weight;
                pick = pick.saturating_sub(*weight);
                hit
            })
            .map(|(t, _)| *t)
            .expect("pick < total weight");
        EventSpec {
            index,
            event_type,
            kind: Kind::of(event_type).expect("mix types are validated"),
            object: rng.u64(..self.options.objects),
            created: self.options.first_created + (index / EVENTS_PER_CREATED_SECOND) as i64,
        }
    }

    /// Zero-padded so that id order is index order.
    pub fn event_id(&self, index: u64) -> String {
        format!("evt_bench_{}_{index:012}", self.options.run_id)
    }

    /// The index of one of this run's event ids.
    pub fn index_of(&self, event_id: &str) -> Option<u64> {
        event_id
            .strip_prefix("evt_bench_")?
            .strip_prefix(self.options.run_id.as_str())?
            .strip_prefix('_')?
            .parse()
            .ok()
    }

    pub fn object_id(&self, kind: Kind, object: u64) -> String {
        format!("{}_b{}x{object}", kind.prefix(), self.options.run_id)
    }

    /// The customer a payment or subscription belongs to.
    pub fn customer_of(&self, object: u64) -> String {
        format!("cus_b{}x{object}", self.options.run_id)
    }

    /// The marker each event writes, so a row shows which event won (each
    /// kind's `BenchMarker` says where it goes).
    pub fn marker(index: u64) -> i64 {
        index as i64 + 1
    }

    pub fn render(&self, spec: &EventSpec, out: &mut Vec<u8>) {
        let slots = Slots {
            event_id: &self.event_id(spec.index),
            created: spec.created,
            object_id: &self.object_id(spec.kind, spec.object),
            customer_id: &self.customer_of(spec.object),
            marker: Self::marker(spec.index),
        };
        self.templates[spec.event_type].render(&slots, out);
    }

    /// The event sent at a sending position: positions are shuffled within
    /// windows when reordering is asked for.
    pub fn event_at(&self, position: u64) -> u64 {
        if self.options.reorder <= 0.0 {
            return position;
        }
        let window_start = position - position % REORDER_WINDOW;
        let len = REORDER_WINDOW.min(self.options.events - window_start) as usize;
        let mut rng = self.rng(window_start, 1);
        let mut order: Vec<u64> = (0..len as u64).collect();
        for i in 0..len {
            if rng.f64() < self.options.reorder {
                order.swap(i, rng.usize(..len));
            }
        }
        window_start + order[(position - window_start) as usize]
    }

    /// A second delivery to send after `position`, if this position gets one.
    pub fn duplicate_after(&self, position: u64) -> Option<u64> {
        let mut rng = self.rng(position, 2);
        if position == 0 || rng.f64() >= self.options.duplicates {
            return None;
        }
        let back = rng.u64(..position.min(DUPLICATE_REACH)) + 1;
        Some(self.event_at(position - back))
    }

    fn rng(&self, index: u64, stream: u64) -> fastrand::Rng {
        fastrand::Rng::with_seed(
            self.options.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (stream << 62),
        )
    }
}

/// Parses `type=weight,type=weight`.
pub fn parse_mix(raw: &str) -> Result<Vec<(&'static str, u32)>, String> {
    raw.split(',')
        .map(|part| {
            let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
            let event_type = samples::sample_types()
                .find(|t| *t == name.trim() && Kind::of(t).is_some())
                .ok_or_else(|| {
                    let known: Vec<&str> = samples::sample_types()
                        .filter(|t| Kind::of(t).is_some())
                        .collect();
                    format!(
                        "`{}` is not a type bench can generate ({})",
                        name.trim(),
                        known.join(", ")
                    )
                })?;
            let weight = weight
                .trim()
                .parse()
                .map_err(|_| format!("weight of {event_type} is not a whole number"))?;
            Ok((event_type, weight))
        })
        .collect()
}

struct Slots<'a> {
    event_id: &'a str,
    created: i64,
    object_id: &'a str,
    customer_id: &'a str,
    marker: i64,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    EventId,
    Created,
    ObjectId,
    CustomerId,
    Marker,
    /// The marker inside a text field.
    MarkerText,
}

/// A sample event serialised once with markers where the varying values go,
/// so rendering an event is a few copies rather than a JSON round trip.
struct Template {
    pieces: Vec<(String, Option<Slot>)>,
}

const MARKERS: &[(&str, Slot)] = &[
    ("@@EVENT_ID@@", Slot::EventId),
    ("\"@@CREATED@@\"", Slot::Created),
    ("@@OBJECT_ID@@", Slot::ObjectId),
    ("@@CUSTOMER_ID@@", Slot::CustomerId),
    // Quoted, the marker is a JSON number; inside other text, digits. The
    // quoted form starts first, so it wins where both match.
    ("\"@@MARKER@@\"", Slot::Marker),
    ("@@MARKER@@", Slot::MarkerText),
];

impl Template {
    fn for_type(event_type: &str) -> anyhow::Result<Self> {
        let sample = samples::sample_event(event_type)
            .ok_or_else(|| anyhow::anyhow!("no sample event for {event_type}"))?;
        let mut event: Value = serde_json::from_str(sample)?;
        event["id"] = "@@EVENT_ID@@".into();
        event["created"] = "@@CREATED@@".into();
        let object = &mut event["data"]["object"];
        object["id"] = "@@OBJECT_ID@@".into();
        let kind = Kind::of(event_type)
            .ok_or_else(|| anyhow::anyhow!("bench cannot generate {event_type}"))?;
        (kind.marker().plant)(
            object,
            &BenchTokens {
                marker: "@@MARKER@@",
                object_id: "@@OBJECT_ID@@",
                customer_id: "@@CUSTOMER_ID@@",
            },
        );
        Ok(Self::split(&serde_json::to_string(&event)?))
    }

    fn split(mut text: &str) -> Self {
        let mut pieces = Vec::new();
        loop {
            let next = MARKERS
                .iter()
                .filter_map(|(marker, slot)| text.find(marker).map(|at| (at, *marker, *slot)))
                .min_by_key(|(at, _, _)| *at);
            match next {
                Some((at, marker, slot)) => {
                    pieces.push((text[..at].to_owned(), Some(slot)));
                    text = &text[at + marker.len()..];
                }
                None => {
                    pieces.push((text.to_owned(), None));
                    return Self { pieces };
                }
            }
        }
    }

    fn render(&self, slots: &Slots, out: &mut Vec<u8>) {
        use std::io::Write;
        for (literal, slot) in &self.pieces {
            out.extend_from_slice(literal.as_bytes());
            let _ = match slot {
                Some(Slot::EventId) => out.write_all(slots.event_id.as_bytes()),
                Some(Slot::Created) => write!(out, "{}", slots.created),
                Some(Slot::ObjectId) => out.write_all(slots.object_id.as_bytes()),
                Some(Slot::CustomerId) => out.write_all(slots.customer_id.as_bytes()),
                Some(Slot::Marker) | Some(Slot::MarkerText) => write!(out, "{}", slots.marker),
                None => Ok(()),
            };
        }
    }
}

#[cfg(test)]
mod tests;
