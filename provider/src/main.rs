use std::process::ExitCode;

fn main() -> ExitCode {
    tfplugin::main(
        terraform_provider_vantage::VantageProvider,
        terraform_provider_vantage::SOURCE_ADDRESS,
    )
}
