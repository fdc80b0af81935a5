//! Where every Stripe event type's object is kept: a typed kind's table
//! (the kind lists the type in its `EVENTS`), the generic store
//! `stripe_objects` (its family is in [`GENERIC_FAMILIES`], declared beside
//! the kinds' registry), or nowhere, for
//! the reason [`UNHOUSED`] gives. The coverage test below reads Stripe's
//! event list from the async-stripe crate itself, so a type that a new
//! Stripe API version adds fails it until it is given a home here.

pub use crate::kinds::GENERIC_FAMILIES;
use crate::{Kind, registry};

/// An event type's family: the type without its last word
/// (`treasury.received_credit.created` → `treasury.received_credit`).
pub fn family(event_type: &str) -> &str {
    event_type
        .rsplit_once('.')
        .map_or(event_type, |(family, _)| family)
}

/// Event types (or whole families) whose object tether keeps nowhere, and
/// why. Their events are stored raw and logged `ignored`, like any type.
pub const UNHOUSED: &[(&str, &str)] = &[
    (
        "test_helpers.test_clock",
        "a test clock drives simulated time in test mode; it is not billing data",
    ),
    (
        "billing_portal.session",
        "a portal session is a short-lived signed-in link to a customer's billing: \
         keeping it would hand that access to whoever reads the table",
    ),
    (
        "invoice.upcoming",
        "an upcoming invoice is a preview with no id; the real one arrives as invoice.created",
    ),
];

/// Where an event type's object is kept.
#[derive(Clone, Copy)]
pub enum Home {
    Typed(&'static dyn Kind),
    Generic,
    Nowhere(&'static str),
}

/// The home of `event_type`, or `None` for a type this version does not
/// know (a newer API's): it is logged `ignored`.
pub fn home(event_type: &str) -> Option<Home> {
    let typed = tether_stripe::kind::object_kind(event_type)
        .and_then(registry::kind)
        .filter(|kind| kind.handles(event_type));
    if let Some(kind) = typed {
        return Some(Home::Typed(kind));
    }
    let family = family(event_type);
    if let Some((_, reason)) = UNHOUSED
        .iter()
        .find(|(name, _)| *name == event_type || *name == family)
    {
        return Some(Home::Nowhere(reason));
    }
    GENERIC_FAMILIES.contains(&family).then_some(Home::Generic)
}

#[cfg(test)]
mod tests;
