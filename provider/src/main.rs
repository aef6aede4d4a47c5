use std::process::ExitCode;

fn main() -> ExitCode {
    // The one place a user (or a release check) can ask a binary which release it is: the
    // version is the workspace's, the one `cargo xtask release` names the zips after.
    if std::env::args().skip(1).any(|a| a == "--version" || a == "-version") {
        println!("terraform-provider-vantage {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    tfplugin::main(
        terraform_provider_vantage::VantageProvider,
        terraform_provider_vantage::SOURCE_ADDRESS,
    )
}
