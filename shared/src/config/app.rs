//! Your app's own tables that tether links customers into.

use clap::Args;

/// Tables of the app tether is installed beside. For each one set, `tether
/// migrate` adds a single nullable column, `stripe_customer_id text`, and
/// nothing else; tether then writes each row's Stripe customer id there.
#[derive(Args, Clone, Debug, Default)]
pub struct AppTables {
    /// `schema.table` of your organizations (ADR-0008): each new
    /// organization becomes a Stripe customer, written back to its row.
    #[arg(long = "organizations-table", env = "TETHER_ORGANIZATIONS_TABLE",
          value_name = "TETHER_ORGANIZATIONS_TABLE", value_parser = parse_table)]
    pub organizations: Option<AppTable>,

    /// `schema.table` of your users (its `id` is the Supabase user id): a
    /// linked user's Stripe customer id is written to its row too.
    #[arg(long = "users-table", env = "TETHER_USERS_TABLE", value_name = "TETHER_USERS_TABLE",
          value_parser = parse_table)]
    pub users: Option<AppTable>,
}

/// A table of the app, `schema.table`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppTable {
    pub schema: String,
    pub table: String,
}

impl AppTable {
    /// `"schema"."table"`, safe to put in SQL (both are plain identifiers).
    pub fn quoted(&self) -> String {
        format!("\"{}\".\"{}\"", self.schema, self.table)
    }

    /// `schema.table`, as a Supabase webhook names it.
    pub fn name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

pub fn parse_table(raw: &str) -> Result<AppTable, String> {
    let (schema, table) = raw
        .split_once('.')
        .ok_or_else(|| "must be schema.table, e.g. public.organizations".to_string())?;
    let schema = super::parse_schema(schema)?;
    let table = super::parse_schema(table)?;
    Ok(AppTable { schema, table })
}
