// ANCHOR: build
//! Generates the `greeter` gRPC client and server from `proto/greeter.proto`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A protoc binary shipped as a crate: no system package, same version everywhere.
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().compile_with_config(
        config,
        &["proto/greeter.proto"],
        &["proto"],
    )?;
    Ok(())
}
// ANCHOR_END: build
