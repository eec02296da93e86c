// New migrations are embedded by `sqlx::migrate!`: rebuild when the folder changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
