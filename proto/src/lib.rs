//! Generated gRPC types and services for the LMS APIs.

/// Encoded `FileDescriptorSet` of every proto here, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/lms_descriptor.bin"));

pub mod command {
    pub mod v1 {
        tonic::include_proto!("lms.command.v1");
    }
}

pub mod query {
    pub mod v1 {
        tonic::include_proto!("lms.query.v1");
    }
}

pub mod identity {
    pub mod v1 {
        tonic::include_proto!("lms.identity.v1");
    }
}
