// `sqlx::migrate!` embeds migrations/ at compile time, but cargo does not
// know to rebuild when a migration is added; tell it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
