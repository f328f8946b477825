//! Tokens a verifier must accept, and the forgeries it must refuse.

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::ExposeSecret;
use std::time::Duration;
use uuid::Uuid;

const ISSUER: &str = "https://identity.lms.test";
const AUDIENCE: &str = "lms";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn issuer(ring: &KeyRing) -> TokenIssuer {
    TokenIssuer::new(ring, ISSUER, AUDIENCE, Duration::from_secs(600)).unwrap()
}

fn student_claims(issuer: &TokenIssuer) -> Claims {
    issuer.claims(Uuid::now_v7(), "default", &["student".to_string()], now())
}

fn verifier(ring: &KeyRing) -> Verifier {
    Verifier::new(&ring.jwks(), ISSUER, AUDIENCE).unwrap()
}

#[test]
fn a_token_signed_by_the_active_key_proves_its_claims() {
    let ring = KeyRing::generate("k1").unwrap();
    let issuer = issuer(&ring);
    let claims = student_claims(&issuer);
    let token = issuer.sign(&claims).unwrap();
    let principal = verifier(&ring).verify(token.expose_secret()).unwrap();
    assert_eq!(principal.user_id, claims.sub);
    assert_eq!(principal.tenant_id, "default");
    assert_eq!(principal.roles, vec!["student".to_string()]);
    assert!(principal.has_role("student") && !principal.has_role("admin"));
}

#[test]
fn an_expired_token_is_refused() {
    let ring = KeyRing::generate("k1").unwrap();
    let issuer = issuer(&ring);
    let mut claims = student_claims(&issuer);
    claims.iat = now() - 3600;
    claims.exp = now() - 60;
    let token = issuer.sign(&claims).unwrap();
    assert_eq!(
        verifier(&ring).verify(token.expose_secret()),
        Err(TokenError::Expired)
    );
}

#[test]
fn a_token_signed_by_another_key_under_the_same_id_is_refused() {
    let ring = KeyRing::generate("k1").unwrap();
    let impostor = KeyRing::generate("k1").unwrap();
    let token = issuer(&impostor)
        .sign(&student_claims(&issuer(&impostor)))
        .unwrap();
    assert_eq!(
        verifier(&ring).verify(token.expose_secret()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn a_token_from_another_issuer_or_for_another_audience_is_refused() {
    let ring = KeyRing::generate("k1").unwrap();
    let issuer = issuer(&ring);
    let mut claims = student_claims(&issuer);
    claims.iss = "https://evil.example".into();
    let token = issuer.sign(&claims).unwrap();
    assert_eq!(
        verifier(&ring).verify(token.expose_secret()),
        Err(TokenError::WrongIssuer)
    );
    let mut claims = student_claims(&issuer);
    claims.aud = "another-app".into();
    let token = issuer.sign(&claims).unwrap();
    assert_eq!(
        verifier(&ring).verify(token.expose_secret()),
        Err(TokenError::WrongAudience)
    );
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_string).collect()
}

/// `token` with its roles edited to `admin` after signing.
fn made_admin(token: &str) -> String {
    let parts = segments(token);
    let payload = URL_SAFE_NO_PAD.decode(&parts[1]).unwrap();
    let mut claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    claims["roles"] = serde_json::json!(["admin"]);
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    )
}

#[test]
fn a_token_whose_role_claim_was_edited_is_refused() {
    let ring = KeyRing::generate("k1").unwrap();
    let issuer = issuer(&ring);
    let token = issuer.sign(&student_claims(&issuer)).unwrap();
    assert_eq!(
        verifier(&ring).verify(&made_admin(token.expose_secret())),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn an_unsigned_token_alg_none_is_refused() {
    let ring = KeyRing::generate("k1").unwrap();
    let issuer = issuer(&ring);
    let claims = serde_json::to_vec(&student_claims(&issuer)).unwrap();
    let header = br#"{"alg":"none","typ":"JWT","kid":"k1"}"#;
    let forged = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    assert!(matches!(
        verifier(&ring).verify(&forged),
        Err(TokenError::Malformed | TokenError::WrongAlgorithm)
    ));
}

#[test]
fn an_hmac_token_keyed_with_the_public_key_is_refused() {
    let ring = KeyRing::generate("k1").unwrap();
    let public = ring.jwks().keys[0].x.clone();
    let claims = student_claims(&issuer(&ring));
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".into());
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        verifier(&ring).verify(&forged),
        Err(TokenError::WrongAlgorithm)
    );
}

#[test]
fn garbage_and_unknown_keys_are_refused() {
    let ring = KeyRing::generate("k1").unwrap();
    assert_eq!(
        verifier(&ring).verify("not-a-token"),
        Err(TokenError::Malformed)
    );
    let other = KeyRing::generate("k2").unwrap();
    let token = issuer(&other)
        .sign(&student_claims(&issuer(&other)))
        .unwrap();
    assert_eq!(
        verifier(&ring).verify(token.expose_secret()),
        Err(TokenError::UnknownKey("k2".into()))
    );
}

#[test]
fn after_a_rotation_tokens_of_the_retired_key_still_verify_until_it_is_removed() {
    let dir = std::env::temp_dir().join(format!("lms-keys-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    KeyRing::write_new_key(&dir, "2026-01").unwrap();
    let old = KeyRing::load_dir(&dir, "2026-01").unwrap();
    let old_token = issuer(&old).sign(&student_claims(&issuer(&old))).unwrap();

    KeyRing::write_new_key(&dir, "2026-02").unwrap();
    let rotated = KeyRing::load_dir(&dir, "2026-02").unwrap();
    assert_eq!(rotated.jwks().keys.len(), 2);
    let new_token = issuer(&rotated)
        .sign(&student_claims(&issuer(&rotated)))
        .unwrap();
    let verifier = verifier(&rotated);
    assert!(verifier.verify(old_token.expose_secret()).is_ok());
    assert!(verifier.verify(new_token.expose_secret()).is_ok());

    std::fs::remove_file(dir.join("2026-01.pem")).unwrap();
    let retired = KeyRing::load_dir(&dir, "2026-02").unwrap();
    assert_eq!(
        self::verifier(&retired).verify(old_token.expose_secret()),
        Err(TokenError::UnknownKey("2026-01".into()))
    );
    assert!(matches!(
        KeyRing::load_dir(&dir, "2026-01"),
        Err(KeyError::NoActiveKey { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_token_of_a_newly_published_key_verifies_after_an_early_refresh() {
    let dir = std::env::temp_dir().join(format!("lms-jwks-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks_file = dir.join("jwks.json");
    let old = KeyRing::generate("old").unwrap();
    std::fs::write(&jwks_file, serde_json::to_vec(&old.jwks()).unwrap()).unwrap();
    let source = jwks_file.display().to_string();
    let verifier = Verifier::load(&source, ISSUER, AUDIENCE).await.unwrap();
    let shutdown = crate::Shutdown::new();
    verifier.refresh_every(Duration::from_secs(3600), shutdown.clone());

    // The identity service rotates: the new key is published and signs.
    let new = KeyRing::generate("new").unwrap();
    let mut both = old.jwks();
    both.keys.extend(new.jwks().keys);
    std::fs::write(&jwks_file, serde_json::to_vec(&both).unwrap()).unwrap();
    let token = issuer(&new).sign(&student_claims(&issuer(&new))).unwrap();
    assert_eq!(
        verifier.verify(token.expose_secret()),
        Err(TokenError::UnknownKey("new".into()))
    );
    // Well before the hourly refresh, the unknown key made it read again.
    tokio::time::sleep(UNKNOWN_KEY_REFRESH + Duration::from_secs(1)).await;
    let verified = verifier.verify(token.expose_secret());
    assert!(verified.is_ok(), "{verified:?}");
    shutdown.cancel();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_token_verified_once_is_trusted_again_but_an_edited_copy_is_checked() {
    let ring = KeyRing::generate("k1").unwrap();
    let issuer = issuer(&ring);
    let token = issuer.sign(&student_claims(&issuer)).unwrap();
    let verifier = verifier(&ring);
    let first = verifier.verify(token.expose_secret()).unwrap();
    assert_eq!(verifier.verify(token.expose_secret()), Ok(first));
    // The same token with its roles edited is another entry: checked, refused.
    assert_eq!(
        verifier.verify(&made_admin(token.expose_secret())),
        Err(TokenError::BadSignature)
    );
}

#[tokio::test(start_paused = true)]
async fn tokens_of_a_key_removed_from_the_jwks_are_refused_after_the_next_read_though_verified_before(
) {
    let dir = std::env::temp_dir().join(format!("lms-jwks-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks_file = dir.join("jwks.json");
    let old = KeyRing::generate("old").unwrap();
    let new = KeyRing::generate("new").unwrap();
    let mut both = old.jwks();
    both.keys.extend(new.jwks().keys);
    std::fs::write(&jwks_file, serde_json::to_vec(&both).unwrap()).unwrap();
    let source = jwks_file.display().to_string();
    let verifier = Verifier::load(&source, ISSUER, AUDIENCE).await.unwrap();
    let shutdown = crate::Shutdown::new();
    let every = Duration::from_secs(60);
    verifier.refresh_every(every, shutdown.clone());
    let token = issuer(&old).sign(&student_claims(&issuer(&old))).unwrap();
    assert!(verifier.verify(token.expose_secret()).is_ok());

    // The old key is withdrawn (compromised): gone at the next read.
    std::fs::write(&jwks_file, serde_json::to_vec(&new.jwks()).unwrap()).unwrap();
    tokio::time::sleep(every + Duration::from_secs(1)).await;
    assert_eq!(
        verifier.verify(token.expose_secret()),
        Err(TokenError::UnknownKey("old".into()))
    );
    shutdown.cancel();
    std::fs::remove_dir_all(&dir).unwrap();
}
