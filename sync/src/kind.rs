//! What a synced Stripe object kind is: the one trait a kind's module
//! implements, and the type-erased form the registry holds.
//!
//! A kind's module says how to read its change from an event, which rows
//! it refers to, and how to write the newest changes with the version
//! guard. Everything else (locking, ordering, logging, completion) is the
//! same for every kind and lives in `apply`.

use std::{any::Any, collections::HashSet, fmt, future::Future, marker::PhantomData, pin::Pin};

use serde_json::Value;
use sqlx::PgConnection;

use super::{Refusal, Required, StripeObject, Version, required};

pub type WriteResult<'a> =
    Pin<Box<dyn Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a>>;

/// One synced Stripe object kind (customers, payment intents, ...).
pub trait SyncedKind: Send + Sync + 'static {
    /// Stripe's name for the object, as in its `object` field and as
    /// [`tether_stripe::kind::object_kind`] reads it from an event type.
    const OBJECT: &'static str;
    /// Every id of this kind starts with it (`cus_`).
    const ID_PREFIX: &'static str;
    /// The table its rows live in; it has `last_event_id`, the version
    /// guard's event.
    const TABLE: &'static str;
    /// Kinds this one's rows refer to (a payment's customer). They are
    /// registered earlier, so their rows are written first.
    const PARENTS: &'static [&'static str] = &[];
    /// How `tether bench --verify` tells which event a row holds.
    const BENCH: Option<BenchMarker> = None;
    /// Where `tether backfill` lists this kind's existing objects.
    const LIST: Option<ListEndpoint> = None;
    /// For a kind whose object is a parent's whole list (a customer's
    /// entitlement summary) while Stripe lists the items: builds the object
    /// from one parent's complete list.
    const GATHER: Option<Gather> = None;
    /// The event types that change this kind's row; the kind's other
    /// events are logged `ignored`. `tether reconcile` asks Stripe for these.
    const EVENTS: &'static [&'static str];
    /// The fields its row cannot be without; one present with another
    /// shape refuses the event (`crate::required`). Declared by every kind,
    /// so a new one decides.
    const REQUIRED: &'static [Required];

    type Change: fmt::Debug + Send + Sync + 'static;

    /// Whether this kind writes `event_type`'s object: one of [`EVENTS`],
    /// unless the kind says otherwise (the generic store takes families).
    ///
    /// [`EVENTS`]: SyncedKind::EVENTS
    fn handles(event_type: &str) -> bool {
        Self::EVENTS.contains(&event_type)
    }

    /// The change an event makes. A refusal is permanent: the payload is
    /// not what its type says.
    fn read(event_type: &str, object: &StripeObject) -> Result<Self::Change, Refusal>;

    /// The change an event of a connected account (`account`, null for the
    /// platform's own) makes. Only a kind whose object does not name what
    /// it changes needs the account (an application's deauthorization
    /// changes the account's row).
    fn read_in(
        event_type: &str,
        object: &StripeObject,
        _account: Option<&str>,
    ) -> Result<Self::Change, Refusal> {
        Self::read(event_type, object)
    }

    fn object_id(change: &Self::Change) -> &str;

    /// The parent objects a change refers to, as (parent kind, id).
    fn references(_change: &Self::Change) -> Vec<(&'static str, &str)> {
        Vec::new()
    }

    /// Writes the newest change per object where it is newer than the
    /// stored row (the version guard, `stored_is_older!`). Returns the ids
    /// of the objects written.
    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a Self::Change)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a;

    /// A change that must land whatever order it arrives in: a deletion
    /// or a cancellation. It is written by [`SyncedKind::write_terminal`]
    /// even when a newer event has already written the row, so every
    /// delivery order ends in the same row.
    fn is_terminal(_change: &Self::Change) -> bool {
        false
    }

    /// A terminal change that carries nothing else: a deletion stub
    /// (`{id, object, deleted: true}`). It only sets the tombstone (through
    /// `write_terminal`, which creates the row if needed) and never becomes
    /// the row's version, so the details still come from the newest event
    /// that has them, in any delivery order.
    fn is_stub(_change: &Self::Change) -> bool {
        false
    }

    /// Applies terminal changes to rows that do not show them yet, without
    /// touching anything else. Returns the ids of the objects changed.
    fn write_terminal<'a>(
        _conn: &'a mut PgConnection,
        _changes: &'a [(&'a Version, &'a Self::Change)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        async { Ok(HashSet::new()) }
    }

    /// Rows for objects of this kind that a child refers to before their
    /// own events arrived. Only parent kinds need it.
    fn ensure_placeholders<'a>(
        _conn: &'a mut PgConnection,
        _ids: &'a [&'a str],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a {
        async { Ok(()) }
    }
}

/// A Stripe list endpoint (`GET /v1/customers`).
pub struct ListEndpoint {
    /// The kind's name on the command line: `tether backfill customers`.
    pub name: &'static str,
    /// A path with a [`ListParent`]'s placeholder in it lists one parent's
    /// objects (`/customers/{customer}/payment_methods`).
    pub path: &'static str,
    /// Extra query parameters (subscriptions: `status=all`, or canceled
    /// ones are left out).
    pub params: &'static [(&'static str, &'static str)],
}

/// Builds one object from a parent's id and its whole list of items, as
/// [`SyncedKind::GATHER`] says.
pub type Gather = fn(parent: &str, items: Vec<Value>) -> Value;

/// A synced object Stripe lists some objects under, one parent at a time.
pub struct ListParent {
    /// What stands for the parent's id in a [`ListEndpoint::path`] or as
    /// the value of one of its `params`.
    pub placeholder: &'static str,
    /// The field naming the parent, written into a listed object that
    /// lacks it (a product's features do not name their product).
    pub field: &'static str,
    /// The synced parents of connected account `$2` (null: the
    /// platform's own), in Stripe's id order: `$1` is the last one read,
    /// or null.
    pub next: &'static str,
}

impl ListEndpoint {
    /// The parents Stripe lists objects under.
    pub const PARENTS: &'static [ListParent] = &[
        ListParent {
            placeholder: "{customer}",
            field: "customer",
            next: r#"SELECT stripe_customer_id FROM end_customers
                     WHERE deleted_at IS NULL AND account IS NOT DISTINCT FROM $2::text
                       AND ($1::text IS NULL OR stripe_customer_id COLLATE "C" > $1)
                     ORDER BY stripe_customer_id COLLATE "C" LIMIT 1"#,
        },
        ListParent {
            placeholder: "{product}",
            field: "product",
            next: r#"SELECT stripe_product_id FROM products
                     WHERE deleted_at IS NULL AND account IS NOT DISTINCT FROM $2::text
                       AND ($1::text IS NULL OR stripe_product_id COLLATE "C" > $1)
                     ORDER BY stripe_product_id COLLATE "C" LIMIT 1"#,
        },
    ];

    /// The parent Stripe lists these objects under, if any.
    pub fn parent(&self) -> Option<&'static ListParent> {
        Self::PARENTS.iter().find(|p| {
            self.path.contains(p.placeholder)
                || self.params.iter().any(|(_, v)| *v == p.placeholder)
        })
    }

    /// The query parameters for one parent's objects.
    pub fn params_for<'a>(&self, parent: &'a str) -> Vec<(&'static str, &'a str)> {
        let placeholder = self.parent().map(|p| p.placeholder);
        self.params
            .iter()
            .map(|&(key, value)| match placeholder {
                Some(p) if value == p => (key, parent),
                _ => (key, value),
            })
            .collect()
    }

    /// The path for one parent's objects (or the path itself).
    pub fn path_for(&self, parent: &str) -> String {
        match self.parent() {
            Some(p) => self.path.replace(p.placeholder, parent),
            None => self.path.to_owned(),
        }
    }
}

/// What the bench plants in a sample event of a kind, and how it reads the
/// result back.
pub struct BenchMarker {
    /// Writes the bench's tokens into a sample object: the marker (a number
    /// each event carries, so a row shows which event won) and the parent.
    pub plant: fn(object: &mut Value, tokens: &BenchTokens<'_>),
    /// Reads `(stripe id, last_event_id, marker::int8, tombstoned)` for the
    /// ids `= ANY($1)`.
    pub read_rows: &'static str,
    /// A `deleted` event leaves a tombstone that wins over later events.
    pub tombstones: bool,
}

/// A [`BenchMarker::plant`] for a kind that names no customer: the marker
/// goes in `metadata.bench`, read back as `(metadata->>'bench')::int8`.
pub fn plant_in_metadata(object: &mut Value, tokens: &BenchTokens<'_>) {
    object["metadata"] = serde_json::json!({ "bench": tokens.marker });
}

/// [`plant_in_metadata`] for a kind whose object belongs to a customer.
pub fn plant_in_metadata_with_customer(object: &mut Value, tokens: &BenchTokens<'_>) {
    plant_in_metadata(object, tokens);
    object["customer"] = tokens.customer_id.into();
}

/// Placeholders the bench replaces per event.
pub struct BenchTokens<'a> {
    pub marker: &'a str,
    pub object_id: &'a str,
    pub customer_id: &'a str,
}

/// The change an event makes to one object, whatever its kind.
pub struct Change {
    pub kind: &'static dyn Kind,
    pub object_id: String,
    /// (parent kind, id) of each row this one refers to.
    pub references: Vec<(&'static str, String)>,
    /// A deletion or cancellation, see [`SyncedKind::is_terminal`].
    pub terminal: bool,
    /// Only a tombstone, see [`SyncedKind::is_stub`].
    pub stub: bool,
    inner: Box<dyn Any + Send + Sync>,
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Change")
            .field("kind", &self.kind.object())
            .field("object_id", &self.object_id)
            .finish_non_exhaustive()
    }
}

impl Change {
    /// This change's own type, when it is of kind `K`.
    pub fn downcast<K: SyncedKind>(&self) -> Option<&K::Change> {
        self.inner.downcast_ref()
    }

    /// Stripe objects this change writes or links to; each is locked
    /// before anything is written.
    pub fn lock_keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.object_id.as_str())
            .chain(self.references.iter().map(|(_, id)| id.as_str()))
    }
}

/// A registered kind, as the registry and `apply` see it.
pub trait Kind: Send + Sync {
    fn object(&self) -> &'static str;
    fn id_prefix(&self) -> &'static str;
    fn table(&self) -> &'static str;
    fn parents(&self) -> &'static [&'static str];
    fn bench(&self) -> Option<&'static BenchMarker>;
    fn list(&self) -> Option<&'static ListEndpoint>;
    fn gather(&self) -> Option<Gather>;
    fn events(&self) -> &'static [&'static str];
    fn handles(&self, event_type: &str) -> bool;
    fn read(
        &'static self,
        event_type: &str,
        object: &StripeObject,
        account: Option<&str>,
    ) -> Result<Change, Refusal>;
    fn upsert<'a>(
        &self,
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a Change)],
    ) -> WriteResult<'a>;
    fn write_terminal<'a>(
        &self,
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a Change)],
    ) -> WriteResult<'a>;
    fn ensure_placeholders<'a>(
        &self,
        conn: &'a mut PgConnection,
        ids: &'a [&'a str],
    ) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + 'a>>;
}

/// The changes of kind `K` that `keep` selects, as `K`'s own type.
fn of_kind<'a, K: SyncedKind>(
    changes: &'a [(&'a Version, &'a Change)],
    keep: impl Fn(&Change) -> bool,
) -> Vec<(&'a Version, &'a K::Change)> {
    changes
        .iter()
        .filter(|(_, change)| keep(change))
        .filter_map(|(version, change)| Some((*version, change.downcast::<K>()?)))
        .collect()
}

/// The registry's handle on a [`SyncedKind`].
pub struct Registered<K>(PhantomData<fn() -> K>);

impl<K: SyncedKind> Registered<K> {
    pub const KIND: Self = Self(PhantomData);
    const BENCH: Option<BenchMarker> = K::BENCH;
    const LIST: Option<ListEndpoint> = K::LIST;
}

impl<K: SyncedKind> Kind for Registered<K> {
    fn object(&self) -> &'static str {
        K::OBJECT
    }

    fn id_prefix(&self) -> &'static str {
        K::ID_PREFIX
    }

    fn table(&self) -> &'static str {
        K::TABLE
    }

    fn parents(&self) -> &'static [&'static str] {
        K::PARENTS
    }

    fn bench(&self) -> Option<&'static BenchMarker> {
        Self::BENCH.as_ref()
    }

    fn list(&self) -> Option<&'static ListEndpoint> {
        Self::LIST.as_ref()
    }

    fn gather(&self) -> Option<Gather> {
        K::GATHER
    }

    fn events(&self) -> &'static [&'static str] {
        K::EVENTS
    }

    fn handles(&self, event_type: &str) -> bool {
        K::handles(event_type)
    }

    fn read(
        &'static self,
        event_type: &str,
        object: &StripeObject,
        account: Option<&str>,
    ) -> Result<Change, Refusal> {
        required::check(object, K::REQUIRED)?;
        let change = K::read_in(event_type, object, account)?;
        Ok(Change {
            kind: self,
            object_id: K::object_id(&change).to_owned(),
            references: K::references(&change)
                .into_iter()
                .map(|(kind, id)| (kind, id.to_owned()))
                .collect(),
            terminal: K::is_terminal(&change),
            stub: K::is_stub(&change),
            inner: Box::new(change),
        })
    }

    fn upsert<'a>(
        &self,
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a Change)],
    ) -> WriteResult<'a> {
        Box::pin(async move {
            let typed = of_kind::<K>(changes, |_| true);
            if typed.is_empty() {
                return Ok(HashSet::new());
            }
            K::upsert(conn, &typed).await
        })
    }

    fn write_terminal<'a>(
        &self,
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a Change)],
    ) -> WriteResult<'a> {
        Box::pin(async move {
            let typed = of_kind::<K>(changes, |change| change.terminal);
            if typed.is_empty() {
                return Ok(HashSet::new());
            }
            K::write_terminal(conn, &typed).await
        })
    }

    fn ensure_placeholders<'a>(
        &self,
        conn: &'a mut PgConnection,
        ids: &'a [&'a str],
    ) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + 'a>> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(());
            }
            K::ensure_placeholders(conn, ids).await
        })
    }
}
