//! Who is calling: Ed25519-signed JWT access tokens, issued by the identity
//! service and verified by every other one (see docs/security.md).
//!
//! - [`KeyRing`]: the signing keys (`<kid>.pem` files, PKCS#8), one active,
//!   all published in the JWKS so a rotation never invalidates a live token.
//! - [`TokenIssuer`]: signs access tokens ([`Claims`]).
//! - [`Verifier`]: checks signature (EdDSA only: `alg: none` or HMAC are
//!   refused), expiry, issuer and audience; keys from a JWKS document
//!   (URL or file), refreshed in the background.
//! - [`Authenticate`] (feature `grpc`): the tonic interceptor every service
//!   installs; it puts the verified [`Principal`] into the request.

mod claims;
mod keys;
mod verify;

#[cfg(feature = "grpc")]
mod interceptor;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

pub use claims::{Claims, Principal};
pub use keys::{Jwk, Jwks, KeyError, KeyRing, TokenIssuer};
pub use verify::{TokenError, Verifier, VerifierError, UNKNOWN_KEY_REFRESH};

#[cfg(feature = "grpc")]
pub use interceptor::{principal, Authenticate, AUTHORIZATION};
