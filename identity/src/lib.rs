//! The identity service: accounts (the User aggregate, through the same
//! event store, outbox and Kafka path as every aggregate), argon2id
//! passwords, sign-ins with Ed25519-signed access tokens and rotated
//! refresh tokens, and the JWKS every other service verifies tokens with.

pub mod config;
pub mod error;
pub mod http;
pub mod limits;
pub mod password;
pub mod refresh;
pub mod server;
pub mod service;
pub mod store;
