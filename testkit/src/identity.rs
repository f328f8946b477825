//! The identity service in-process (its keys in a temp folder, its JWKS on
//! a loopback port), and sign-ups and sign-ins for the tests.

use crate::background::Background;
use crate::db::TestDb;
use crate::paths::TempDir;
use lms_identity::config::Config;
use lms_identity::server::{self, Listeners};
use lms_proto::identity::v1::identity_client::IdentityClient;
use lms_proto::identity::v1::{LoginRequest, RegisterRequest, Session};
use lms_runtime::auth::{KeyRing, TokenIssuer};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::Request;
use uuid::Uuid;

pub const KID: &str = "test-1";

/// The identity service on random ports; stopped on `stop()` or drop.
pub struct IdentityServer {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    /// `http://…/.well-known/jwks.json`
    pub jwks_url: String,
    pub config: Config,
    pub keys: TempDir,
    server: Background<()>,
    channel: Channel,
}

/// Cheap hashing in tests that do not measure it (the cost is a setting).
pub fn test_config() -> Config {
    Config {
        signing_kid: KID.into(),
        password_memory_kib: 1024,
        password_iterations: 1,
        ..Config::default()
    }
}

impl IdentityServer {
    pub async fn start(db: &TestDb) -> IdentityServer {
        Self::start_with(db, test_config()).await
    }

    /// Signing with the process-wide test key: the command and query
    /// servers the tests start accept its tokens.
    pub async fn start_trusted(db: &TestDb) -> IdentityServer {
        Self::start_with(db, Self::trusted_config()).await
    }

    /// The settings of `start_trusted`, to change before `start_with`.
    pub fn trusted_config() -> Config {
        Config {
            signing_kid: crate::auth::PROCESS_KID.into(),
            ..test_config()
        }
    }

    /// `db` needs the event store (`TestDb::event_store`); the identity
    /// tables are added here.
    pub async fn start_with(db: &TestDb, mut config: Config) -> IdentityServer {
        lms_identity::store::migrate(&db.pool)
            .await
            .expect("identity migrations");
        let keys = TempDir::new("keys");
        if config.signing_kid == crate::auth::PROCESS_KID {
            crate::auth::write_process_key(keys.path());
        } else {
            KeyRing::write_new_key(keys.path(), &config.signing_kid).expect("a signing key");
        }
        config.signing_keys_dir = keys.path().display().to_string();
        config.database_url = db.secret_url();
        let ring = KeyRing::load_dir(keys.path(), &config.signing_kid).expect("keys");
        let (grpc, addr, metrics, metrics_addr) = crate::grpc::listeners().await;
        let jwks = TcpListener::bind("127.0.0.1:0").await.expect("bind jwks");
        let jwks_url = format!(
            "http://{}{}",
            jwks.local_addr().expect("jwks addr"),
            lms_identity::http::JWKS_PATH
        );
        let pool =
            crate::db::service_pool(&config.database_url, config.db_statement_timeout_ms, 10).await;
        let serve_config = config.clone();
        let server = Background::spawn(|stop| async move {
            let listeners = Listeners {
                grpc,
                metrics: Some(metrics),
                jwks,
            };
            if let Err(e) = server::serve(&serve_config, pool, ring, listeners, stop).await {
                panic!("identity server failed: {e}");
            }
        });
        let channel = crate::grpc::connect(addr, "identity server").await;
        IdentityServer {
            addr,
            metrics_addr,
            jwks_url,
            config,
            keys,
            server,
            channel,
        }
    }

    pub fn client(&self) -> IdentityClient<Channel> {
        IdentityClient::new(self.channel.clone())
    }

    /// A token issuer with the service's own key: tests forge with it
    /// (expired, other issuer) what the service would never sign.
    pub fn issuer(&self, lifetime: Duration) -> TokenIssuer {
        let ring = KeyRing::load_dir(self.keys.path(), &self.config.signing_kid).expect("keys");
        TokenIssuer::new(
            &ring,
            &self.config.token_issuer,
            &self.config.token_audience,
            lifetime,
        )
        .expect("issuer")
    }

    /// Registers a fresh student and signs in.
    pub async fn sign_up(&self, name: &str) -> SignedIn {
        let email = format!("{name}-{}@example.test", Uuid::now_v7().simple());
        let password = format!("pw-{}", Uuid::now_v7().simple());
        let mut client = self.client();
        client
            .register(RegisterRequest {
                command_id: Uuid::now_v7().to_string(),
                tenant_id: String::new(),
                email: email.clone(),
                password: password.clone(),
                display_name: name.into(),
            })
            .await
            .expect("register");
        let session = client
            .login(LoginRequest {
                tenant_id: String::new(),
                email: email.clone(),
                password: password.clone(),
            })
            .await
            .expect("login")
            .into_inner();
        SignedIn {
            email,
            password,
            session,
        }
    }

    /// Creates an admin as the operator's `lms-identity bootstrap-admin`
    /// does, and signs in.
    pub async fn bootstrap_admin(&self, name: &str) -> SignedIn {
        let email = format!("{name}-{}@example.test", Uuid::now_v7().simple());
        let password = format!("pw-{}", Uuid::now_v7().simple());
        let pool = lms_runtime::database::connect(&self.config.database_url, 2)
            .await
            .expect("pool");
        let ring = KeyRing::load_dir(self.keys.path(), &self.config.signing_kid).expect("keys");
        server::build(&self.config, pool, &ring)
            .expect("service")
            .bootstrap_admin("default", &email, password.clone().into(), name.into())
            .await
            .expect("bootstrap admin");
        let session = self
            .client()
            .login(LoginRequest {
                tenant_id: String::new(),
                email: email.clone(),
                password: password.clone(),
            })
            .await
            .expect("admin login")
            .into_inner();
        SignedIn {
            email,
            password,
            session,
        }
    }

    pub async fn stop(self) {
        self.server.stop("identity server").await;
    }
}

/// A registered user and their session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub email: String,
    pub password: String,
    pub session: Session,
}

impl SignedIn {
    pub fn user_id(&self) -> Uuid {
        self.session.user_id.parse().expect("user id")
    }

    /// A request carrying this user's access token.
    pub fn req<T>(&self, message: T) -> Request<T> {
        bearer(message, &self.session.access_token)
    }
}

/// A request carrying `token` as its bearer.
pub fn bearer<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).expect("header"),
    );
    request
}
