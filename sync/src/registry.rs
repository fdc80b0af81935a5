//! The synced kinds: [`KINDS`], declared in [`crate::kinds`] with one line
//! per kind, and the lookups every other crate uses.

use crate::{Kind, generic::StripeObjects, kind::Registered};

pub use crate::kinds::KINDS;

/// The generic store, for every family without a typed table
/// (`homes::GENERIC_FAMILIES`); it refers to no other kind, so it is last.
pub const GENERIC: &dyn Kind = &Registered::<StripeObjects>::KIND;

/// The registered kind named `object` (Stripe's object name).
pub fn kind(object: &str) -> Option<&'static dyn Kind> {
    KINDS.iter().copied().find(|k| k.object() == object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_registered_before_their_children() {
        for (position, kind) in KINDS.iter().enumerate() {
            for parent in kind.parents() {
                let parent_position = KINDS.iter().position(|k| k.object() == *parent);
                assert!(
                    parent_position.is_some_and(|p| p < position),
                    "{} refers to {parent}, which must be registered before it",
                    kind.object()
                );
            }
        }
    }

    #[test]
    fn each_kind_is_registered_once() {
        for kind in KINDS {
            assert_eq!(
                KINDS.iter().filter(|k| k.object() == kind.object()).count(),
                1
            );
        }
    }
}
