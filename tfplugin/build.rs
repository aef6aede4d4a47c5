//! Generates the tfplugin6 and go-plugin service code from `proto/` with a
//! pure-Rust proto compiler, so building needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not when it is compiled: the compiled script
    // is reused from a shared target directory by checkouts at other paths.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")?;
    let proto_dir = format!("{manifest_dir}/../proto");
    let proto_dir = proto_dir.as_str();
    let files = ["tfplugin6.proto", "plugin/go_plugin.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={proto_dir}/{file}");
    }
    let descriptors = protox::compile(files, [proto_dir])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
