//! Link settings of the berth binary alone (other binaries of the package keep the defaults).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // berth's entry point runs before the C library starts, to re-execute itself sealed without
    // paying glibc's start-up twice (src/sys/exe/entry.rs).
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64")
        && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
    {
        println!("cargo:rustc-link-arg-bin=berth=-Wl,-e,berth_entry");
    }
}
