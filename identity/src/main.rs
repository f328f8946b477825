//! `lms-identity`: the identity service binary, and two operator tasks.

use anyhow::Context;
use clap::{Parser, Subcommand};
use lms_identity::config::Config;
use lms_identity::server::{self, Listeners};
use lms_identity::service::tenant_or_default;
use lms_identity::store;
use lms_runtime::auth::KeyRing;
use lms_runtime::{database, shutdown, telemetry, SecretString, Settings};
use std::path::PathBuf;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    name = "lms-identity",
    about = "Accounts, sign-in and access tokens of the LMS"
)]
struct Cli {
    /// Print the LMS_* settings this binary reads, and exit.
    #[arg(long)]
    print_settings: bool,
    #[command(subcommand)]
    task: Option<Task>,
}

#[derive(Subcommand)]
enum Task {
    /// Write a new Ed25519 signing key as <dir>/<kid>.pem (mode 0600).
    NewKey {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        kid: String,
    },
    /// Create an admin account (the first one cannot be granted by anyone).
    /// The password is read from LMS_BOOTSTRAP_PASSWORD, never from the
    /// command line. Running it again for the same email changes nothing.
    BootstrapAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: String,
        #[arg(long, default_value = "")]
        tenant: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.print_settings {
        Config::print_names();
        return Ok(());
    }
    let config = Config::load()?;
    telemetry::init_tracing(&config.log, config.log_format);
    match cli.task {
        None => run(config).await,
        Some(Task::NewKey { dir, kid }) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = KeyRing::write_new_key(&dir, &kid)?;
            println!("{}", path.display());
            Ok(())
        }
        Some(Task::BootstrapAdmin {
            email,
            display_name,
            tenant,
        }) => bootstrap_admin(config, &email, display_name, &tenant).await,
    }
}

async fn connect(config: &Config) -> anyhow::Result<sqlx::PgPool> {
    let pool = database::connect_with(
        database::service_options(&config.database_url, config.db_statement_timeout_ms)?,
        config.db_max_connections,
    )
    .await?;
    lms_commands::store::migrate(&pool)
        .await
        .context("migrating the event store")?;
    store::migrate(&pool)
        .await
        .context("migrating the identity tables")?;
    Ok(pool)
}

fn keys(config: &Config) -> anyhow::Result<KeyRing> {
    KeyRing::load_dir(config.signing_keys_dir.as_ref(), &config.signing_kid)
        .context("loading the signing keys (LMS_SIGNING_KEYS_DIR, LMS_SIGNING_KID)")
}

async fn run(config: Config) -> anyhow::Result<()> {
    let ring = keys(&config)?;
    let pool = connect(&config).await?;
    let bind = |addr: String, what: &'static str| async move {
        TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding {what} on {addr}"))
    };
    let listeners = Listeners {
        grpc: bind(config.grpc_addr.clone(), "gRPC").await?,
        metrics: Some(bind(config.metrics_addr.clone(), "metrics").await?),
        jwks: bind(config.jwks_addr.clone(), "JWKS").await?,
    };
    tracing::info!(grpc = %config.grpc_addr, metrics = %config.metrics_addr, jwks = %config.jwks_addr, kid = %ring.active_kid(), "lms-identity listening");
    server::serve(&config, pool, ring, listeners, shutdown::on_signals()).await?;
    tracing::info!("lms-identity stopped");
    Ok(())
}

async fn bootstrap_admin(
    config: Config,
    email: &str,
    display_name: String,
    tenant: &str,
) -> anyhow::Result<()> {
    let password: SecretString = std::env::var("LMS_BOOTSTRAP_PASSWORD")
        .context("set LMS_BOOTSTRAP_PASSWORD to the admin's password")?
        .into();
    let tenant = tenant_or_default(tenant).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ring = keys(&config)?;
    let pool = connect(&config).await?;
    let service = server::build(&config, pool, &ring)?;
    let reply = service
        .bootstrap_admin(&tenant, email, password, display_name)
        .await?;
    println!("{}", reply.created_id);
    Ok(())
}
