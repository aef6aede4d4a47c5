//! Links the glibc provider binary position-dependent (as Go builds Terraform
//! providers). A PIE of this size carries ~1 MB of relocations that every
//! process reads at start and ~1 MB of relocated data it copies, per process;
//! Terraform starts one or more processes per provider configuration. The
//! static musl build gets the same from `relocation-model=static` in
//! `.cargo/config.toml` (a link argument cannot turn off static-pie there).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
