//! `lms-bff`: the backend for the SPA. HTTP/JSON over the command, query
//! and identity gRPC APIs; sessions in HttpOnly cookies with the tokens kept
//! in Redis; CSRF checks; errors as problem+json; the OpenAPI document
//! generated from the handlers (`/openapi.json`).

pub mod config;
pub mod error;
pub mod routes;
pub mod server;
pub mod session;
pub mod upstream;
