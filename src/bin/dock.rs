//! dock: a daemonless container front end. Its modules live in src/dock/ and are compiled
//! into this binary only, never into berth's library: dock drives the runtime through its CLI.

#[path = "../dock/mod.rs"]
mod dock;

fn main() {
    dock::cli::main()
}
