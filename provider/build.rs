//! Link settings for a binary Terraform starts many times (ARCHITECTURE.md,
//! "Process cost").
//!
//! - The glibc binary is linked position-dependent (as Go builds Terraform
//!   providers): a PIE of this size carries ~1 MB of relocations that every
//!   process reads at start and ~1 MB of relocated data it copies. The static
//!   musl build gets the same from `relocation-model=static` in
//!   `.cargo/config.toml` (a link argument cannot turn off static-pie there).
//! - The static musl release binary is laid out by `link-order.txt`
//!   (`cargo xtask link-order`), linked by the toolchain's own lld because GNU
//!   ld cannot order symbols.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link-order.txt");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    if var("TARGET") == "x86_64-unknown-linux-musl" && var("PROFILE") == "release" {
        link_in_order(&var("CARGO_MANIFEST_DIR"), &var("RUSTC"), &var("HOST"));
    }
}

fn link_in_order(manifest_dir: &str, rustc: &str, host: &str) {
    let order = Path::new(manifest_dir).join("link-order.txt");
    if !order.exists() {
        return;
    }
    let sysroot = std::process::Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    // rustup ships lld as `rust-lld`, with a `gcc-ld/ld.lld` shim for cc's -fuse-ld.
    let gcc_ld = Path::new(&sysroot).join("lib/rustlib").join(host).join("bin/gcc-ld");
    if !gcc_ld.join("ld.lld").exists() {
        println!(
            "cargo:warning=no rust-lld in {}: linking without link-order.txt",
            gcc_ld.display()
        );
        return;
    }
    println!("cargo:rustc-link-arg-bins=-B{}", gcc_ld.display());
    println!("cargo:rustc-link-arg-bins=-fuse-ld=lld");
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    // Functions renamed since the order was generated are simply left in place.
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}
