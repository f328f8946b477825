//! Compiles the .proto files with protox (no system protoc needed) and keeps
//! the descriptor set so the servers can offer gRPC reflection.

use prost::Message;
use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "lms/command/v1/common.proto",
    "lms/command/v1/course_commands.proto",
    "lms/command/v1/enrollment_commands.proto",
    "lms/command/v1/subscription_commands.proto",
    "lms/query/v1/query.proto",
    "lms/identity/v1/identity.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("lms_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
