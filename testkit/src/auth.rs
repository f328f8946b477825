//! One signing key for the whole test process: the servers the tests start
//! in-process verify with it, and callers get tokens signed by it (what the
//! identity service would issue them; its own tests sign in for real).

use lms_runtime::auth::{Jwks, KeyRing, TokenIssuer, Verifier};
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use uuid::Uuid;

pub const ISSUER: &str = "lms-identity";
pub const AUDIENCE: &str = "lms";
pub const TENANT: &str = "default";

/// The kid of the process-wide key.
pub const PROCESS_KID: &str = "test-process";

struct TestKeys {
    ring: KeyRing,
    issuer: TokenIssuer,
    jwks: Jwks,
    jwks_file: PathBuf,
}

fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let ring = KeyRing::generate(PROCESS_KID).expect("a test key");
        let issuer = TokenIssuer::new(&ring, ISSUER, AUDIENCE, Duration::from_secs(3600))
            .expect("test issuer");
        let jwks = ring.jwks();
        let jwks_file = std::env::temp_dir().join(format!("lms-test-jwks-{}.json", Uuid::now_v7()));
        std::fs::write(&jwks_file, serde_json::to_vec(&jwks).expect("jwks json"))
            .expect("write the test JWKS");
        TestKeys {
            ring,
            issuer,
            jwks,
            jwks_file,
        }
    })
}

/// Writes the process-wide key as `<dir>/<PROCESS_KID>.pem`: an identity
/// service signing with it issues tokens every in-process server accepts.
pub fn write_process_key(dir: &std::path::Path) {
    let pem = keys().ring.active_pem().expect("the test key as PEM");
    std::fs::write(dir.join(format!("{PROCESS_KID}.pem")), pem.expose_secret())
        .expect("write the test key");
}

/// A verifier of the tokens [`token`] signs.
pub fn verifier() -> Verifier {
    Verifier::new(&keys().jwks, ISSUER, AUDIENCE).expect("test verifier")
}

/// The JWKS as a file, for a service started as a process (`LMS_AUTH_JWKS`).
pub fn jwks_file() -> PathBuf {
    keys().jwks_file.clone()
}

/// An access token for `user` holding `roles`, in the default tenant.
pub fn token(user: Uuid, roles: &[&str]) -> String {
    token_in(TENANT, user, roles)
}

/// An access token for `user` holding `roles` in `tenant`.
pub fn token_in(tenant: &str, user: Uuid, roles: &[&str]) -> String {
    let keys = keys();
    let roles: Vec<String> = roles.iter().map(|r| (*r).to_string()).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let claims = keys.issuer.claims(user, tenant, &roles, now);
    keys.issuer
        .sign(&claims)
        .expect("sign a test token")
        .expose_secret()
        .to_string()
}

/// Adds `authorization: Bearer <token>` to every call of a client.
#[derive(Clone)]
pub struct Bearer(tonic::metadata::AsciiMetadataValue);

impl Bearer {
    pub fn new(token: &str) -> Bearer {
        Bearer(format!("Bearer {token}").parse().expect("bearer header"))
    }

    /// An admin of the default tenant (reads everything).
    pub fn admin() -> Bearer {
        Bearer::new(&token(Uuid::now_v7(), &["admin"]))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel whose calls carry a bearer token.
pub type Authed =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;
