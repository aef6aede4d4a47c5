//! Link settings for a binary Terraform starts many times (ARCHITECTURE.md,
//! "Process cost"): the glibc binary is linked position-dependent (as Go
//! builds Terraform providers), since a PIE of this size carries ~1 MB of
//! relocations that every process reads at start and ~1 MB of relocated data
//! it copies. The static musl build gets the same from
//! `relocation-model=static` in `.cargo/config.toml` (a link argument cannot
//! turn off static-pie there).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
