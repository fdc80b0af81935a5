//! The README's "Tables" section is the reference for what an app can read:
//! checked here against the migrated database and the sync registry, so it
//! cannot drift from the code.

use std::collections::{BTreeMap, BTreeSet};

use tether_shared::install::tether_tables;
use tether_sync::{
    KINDS,
    homes::{GENERIC_FAMILIES, UNHOUSED},
    registry::GENERIC,
};

use crate::helpers::TestApp;

const README: &str = include_str!("../../README.md");

/// Tables only tether itself reads: named, their columns not listed.
const BOOKKEEPING: &[&str] = &[
    "rejected_deliveries",
    "backfill_cursors",
    "tether_settings",
    "supabase_signups",
];

/// The text of the README section under `heading`, up to the next heading
/// of the same or a higher level.
fn section(heading: &str) -> &'static str {
    let start = README.find(heading).expect("the section exists") + heading.len();
    let level = heading.chars().take_while(|c| *c == '#').count();
    let rest = &README[start..];
    let end = rest
        .match_indices("\n#")
        .find(|(i, _)| rest[i + 1..].chars().take_while(|c| *c == '#').count() <= level)
        .map_or(rest.len(), |(i, _)| i);
    &rest[..end]
}

/// Each bullet as (its first backticked name, every backticked name in it),
/// a backticked text counting by its first word (`metadata jsonb`).
fn bullets(text: &str) -> Vec<(String, BTreeSet<String>)> {
    text.split("\n- ")
        .skip(1)
        .map(|item| item.split("\n\n").next().unwrap_or_default())
        .filter_map(|item| {
            let names: Vec<String> = item
                .split('`')
                .skip(1)
                .step_by(2)
                .filter_map(|quoted| quoted.split_whitespace().next().map(str::to_owned))
                .collect();
            Some((names.first()?.clone(), names.into_iter().collect()))
        })
        .collect()
}

/// The version guard is named once for every synced row.
fn covered_by_prose(column: &str) -> bool {
    column.starts_with("last_event_") || column == "account"
}

#[tokio::test]
async fn every_table_and_column_is_documented() {
    let app = TestApp::spawn().await;
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let tables = section("## Tables");
    let tables = &tables[..tables.find("\n### ").unwrap_or(tables.len())];
    let documented: BTreeMap<String, BTreeSet<String>> = bullets(tables).into_iter().collect();
    let mut missing = Vec::new();
    let tether_tables = tether_tables();
    for table in &tether_tables {
        if !tables.contains(&format!("`{table}`")) {
            missing.push(format!("table {table}"));
        }
    }
    for (table, column) in &columns {
        if BOOKKEEPING.contains(&table.as_str()) || covered_by_prose(column) {
            continue;
        }
        if !documented
            .get(table)
            .is_some_and(|names| names.contains(column))
        {
            missing.push(format!("{table}.{column}"));
        }
    }
    assert_eq!(missing, Vec::<String>::new(), "not in the README's Tables");
    for (table, names) in &documented {
        let own: BTreeSet<&str> = columns
            .iter()
            .filter(|(t, _)| t == table)
            .map(|(_, c)| c.as_str())
            .collect();
        if own.is_empty() || BOOKKEEPING.contains(&table.as_str()) {
            continue;
        }
        let strays: Vec<&String> = names
            .iter()
            .filter(|name| {
                !own.contains(name.as_str())
                    && !name.contains('.')
                    && !tether_tables.contains(name)
                    && !KNOWN_VALUES.contains(&name.as_str())
                    && !covered_by_prose(name)
            })
            .collect();
        assert!(strays.is_empty(), "`{table}` has no column {strays:?}");
    }
}

/// Backticked words in the Tables section that are values or commands
/// (`tether link-user`), not columns.
const KNOWN_VALUES: &[&str] = &[
    "canceled",
    "success",
    "error",
    "dead",
    "ignored",
    "stale",
    "duplicate",
    "discarded",
    "draft",
    "open",
    "paid",
    "void",
    "uncollectible",
    "snapshot",
    "has_more",
    "tether",
];

#[test]
fn every_handled_event_type_is_documented_under_its_table() {
    let handled = section("### Handled events");
    let mut listed: BTreeMap<String, BTreeSet<String>> = bullets(handled).into_iter().collect();
    let generic = listed
        .remove(GENERIC.table())
        .expect("the generic store is listed");
    let mut documented: BTreeSet<&str> = BTreeSet::new();
    for kind in KINDS {
        let under_table = listed.get(kind.table());
        for event in kind.events() {
            assert!(
                under_table.is_some_and(|names| names.contains(*event)),
                "{event} is handled (table {}) but not listed under it",
                kind.table()
            );
            documented.insert(event);
        }
    }
    let every_listed: BTreeSet<&str> = listed
        .values()
        .flatten()
        .filter(|name| name.contains('.'))
        .map(String::as_str)
        .collect();
    assert_eq!(
        every_listed, documented,
        "listed as handled but no kind handles it"
    );
    for pattern in generic.iter().filter(|name| name.ends_with('*')) {
        let prefix = pattern.trim_end_matches('*').trim_end_matches('.');
        assert!(
            GENERIC_FAMILIES
                .iter()
                .any(|family| family.starts_with(prefix)),
            "`{pattern}` is said to be in the generic store, which has no such family"
        );
    }
}

#[test]
fn the_types_said_to_be_housed_nowhere_are_the_declared_ones() {
    let handled = section("### Handled events");
    let nowhere = &handled[handled
        .find("Housed nowhere")
        .expect("the unhoused types are stated")..];
    let said: BTreeSet<&str> = nowhere
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| name.contains('.') && !name.starts_with("tether"))
        .map(|name| name.trim_end_matches(".*"))
        .filter(|name| *name != "invoice.created")
        .collect();
    let declared: BTreeSet<&str> = UNHOUSED.iter().map(|(name, _)| *name).collect();
    assert_eq!(said, declared);
}

/// The kinds `tether backfill` is said to take are the registry's kinds
/// with a list endpoint, by their command-line names.
#[test]
fn the_backfill_kinds_in_the_readme_are_the_registrys_list_endpoints() {
    let usage = README
        .lines()
        .find(|line| line.starts_with("| `tether backfill ["))
        .expect("the Commands table shows backfill");
    let inside = &usage[usage.find('[').unwrap() + 1..usage.find(']').unwrap()];
    let said: BTreeSet<&str> = inside.split("\\|").filter(|name| *name != "all").collect();
    let listed: BTreeSet<&str> = KINDS
        .iter()
        .filter_map(|kind| kind.list())
        .map(|list| list.name)
        .collect();
    assert_eq!(said, listed);
}

/// Every route ingest serves is in the README's HTTP table, and nothing
/// else is. The routes are read from the router's source.
#[test]
fn the_readmes_routes_are_the_ones_ingest_serves() {
    let sources = [
        include_str!("../../ingest/src/routes.rs"),
        include_str!("../../ingest/src/admin.rs"),
        include_str!("../../ingest/src/console/mod.rs"),
    ];
    let served: BTreeSet<String> = sources
        .iter()
        .flat_map(|source| source.split(".route(").skip(1))
        .map(|call| {
            let path = call.split('"').nth(1).expect("a route's path is a literal");
            let method = call.split('"').nth(2).unwrap_or_default();
            let method = method
                .trim_start_matches([',', ' ', '\n'])
                .split('(')
                .next()
                .unwrap_or_default()
                .to_uppercase();
            format!("{method} {path}")
        })
        .collect();
    let http = section("## HTTP");
    let documented: BTreeSet<String> = http
        .lines()
        .filter_map(|row| row.strip_prefix("| `"))
        .flat_map(|row| {
            let cell = row.split(" |").next().unwrap_or_default();
            cell.split(", ")
                .map(|route| route.trim_matches('`').to_owned())
                .collect::<Vec<_>>()
        })
        .map(|route| {
            let route = route.split('?').next().unwrap_or_default();
            // `{event id}` in prose is the router's `{id}`.
            route.replace("{event id}", "{id}")
        })
        .collect();
    assert_eq!(documented, served);
}

/// The limitations and the rules name no event family as ignored that a
/// kind handles, and no route as missing that ingest serves.
#[test]
fn no_handled_family_or_served_route_is_said_to_be_missing() {
    let limits = section("## Known limitations");
    let rules = section("### Ordering and idempotency");
    for text in [limits, rules] {
        for kind in KINDS {
            let family = kind.table().replace('_', " ");
            for claim in [
                format!("{family} are ignored"),
                format!("{family} are stored as events"),
                format!("({family}, ...)"),
            ] {
                assert!(!text.contains(&claim), "README says: {claim}");
            }
        }
        assert!(
            !text.contains("no HTTP route receives Supabase webhooks"),
            "ingest serves /webhooks/supabase"
        );
    }
    let kinds = KINDS.iter().filter(|k| k.list().is_some()).count();
    for (n, word) in [(9, "nine"), (10, "ten"), (11, "eleven"), (12, "twelve")] {
        if n != kinds {
            assert!(
                !limits.contains(&format!("cover {word} kinds")),
                "README counts {word} kinds; backfill covers {kinds}"
            );
        }
    }
}

/// `tether setup` asks Stripe for one API version; the README names it.
#[test]
fn the_readme_names_the_api_version_setup_asks_for() {
    let setup = README
        .lines()
        .find(|line| line.starts_with("| `tether setup"))
        .expect("the commands table lists tether setup");
    assert!(
        setup.contains(&format!("`{}`", tether_stripe::API_VERSION)),
        "{setup}"
    );
}
