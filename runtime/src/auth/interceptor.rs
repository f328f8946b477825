//! The interceptor every gRPC API is wrapped in: the caller is whoever a
//! verified bearer token says, and nobody else.

use super::claims::Principal;
use super::verify::{TokenError, Verifier};
use tonic::{Request, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The metadata key carrying `Bearer <token>`.
pub const AUTHORIZATION: &str = "authorization";

/// The ErrorInfo domain of authentication refusals.
const DOMAIN: &str = "auth.lms";

fn unauthenticated(reason: &str, message: &str) -> Status {
    Status::with_error_details(
        tonic::Code::Unauthenticated,
        message,
        ErrorDetails::with_error_info(reason, DOMAIN, []),
    )
}

/// Verifies the bearer token, if any, and puts its [`Principal`] into the
/// request. `required` refuses a request without one; without it (the
/// identity API, whose Register and Login come before any token) the
/// handler asks with [`principal`].
#[derive(Clone)]
pub struct Authenticate {
    verifier: Verifier,
    required: bool,
}

impl Authenticate {
    /// Every call needs a valid token.
    pub fn required(verifier: Verifier) -> Self {
        Self {
            verifier,
            required: true,
        }
    }

    /// A call without a token passes unauthenticated; a bad token never does.
    pub fn optional(verifier: Verifier) -> Self {
        Self {
            verifier,
            required: false,
        }
    }
}

impl tonic::service::Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let Some(value) = request.metadata().get(AUTHORIZATION) else {
            if self.required {
                return Err(unauthenticated(
                    "TOKEN_MISSING",
                    "a bearer token is required (authorization: Bearer <token>)",
                ));
            }
            return Ok(request);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                unauthenticated(
                    "TOKEN_MALFORMED",
                    "the authorization metadata must be 'Bearer <token>'",
                )
            })?;
        let principal = self.verifier.verify(token).map_err(|e| {
            let reason = match e {
                TokenError::Expired => "TOKEN_EXPIRED",
                _ => "TOKEN_INVALID",
            };
            tracing::debug!(error = %e, "token refused");
            unauthenticated(reason, &e.to_string())
        })?;
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

/// The verified caller of a request that went through [`Authenticate`].
pub fn principal<T>(request: &Request<T>) -> Result<&Principal, Status> {
    request.extensions().get::<Principal>().ok_or_else(|| {
        unauthenticated(
            "TOKEN_MISSING",
            "a bearer token is required (authorization: Bearer <token>)",
        )
    })
}
