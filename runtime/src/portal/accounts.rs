//! Consumer accounts: sign-up (open, approval or invitation only), sign-in
//! with an argon2id password hash, sessions in a cookie, CSRF tokens on
//! every form, and a sign-in throttle per address and per client.
//!
//! Cookies are `HttpOnly; Secure; SameSite=Strict; Path=/`. The session
//! cookie holds a random token; the server keeps only its sha256, with the
//! consumer and the session's CSRF token. Before sign-in, forms carry the
//! value of a `tp_csrf` cookie (double submit). Sessions live in memory: a
//! restart signs everyone out.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use http::{HeaderValue, Request, StatusCode, header, request::Parts};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use super::{Answer, Form, Portal, field, pages, see_other};
use crate::config::Signup;
use crate::store::portal::{Consumer, ConsumerStatus, new_record_id};
use crate::util::time::rfc3339_now;

/// The session cookie.
pub const SESSION_COOKIE: &str = "tp_session";
/// The cookie of the double-submitted CSRF token before sign-in.
pub const CSRF_COOKIE: &str = "tp_csrf";
/// Failed sign-ins allowed per address within [`THROTTLE_WINDOW`].
pub const FAILURES_PER_EMAIL: u32 = 5;
/// Failed sign-ins allowed per client address within [`THROTTLE_WINDOW`].
pub const FAILURES_PER_CLIENT: u32 = 20;
/// The window the sign-in throttle counts failures in.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 10;

/// A signed-in consumer.
#[derive(Debug, Clone)]
pub struct Session {
    /// The consumer's id.
    pub consumer: String,
    /// Their email, for the page header.
    pub email: String,
    /// The token every form of this session carries.
    pub csrf: String,
    expires: Instant,
}

/// Sessions and the sign-in throttle.
pub struct Accounts {
    ttl: Duration,
    /// By the sha256 of the cookie's token.
    sessions: Mutex<HashMap<String, Session>>,
    /// Failed sign-ins by `email:ADDRESS` and `client:IP`: how many, since when.
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Accounts {
    /// Sessions lasting `ttl`.
    pub fn new(ttl: Duration) -> Accounts {
        Accounts {
            ttl,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The session a request's cookie names, if it is live.
    pub fn session(&self, headers: &http::HeaderMap) -> Option<Session> {
        let token = cookie(headers, SESSION_COOKIE)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let digest = digest(&token);
        match sessions.get(&digest) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                sessions.remove(&digest);
                None
            }
            None => None,
        }
    }

    fn open(&self, consumer: &Consumer) -> Result<(String, Session), String> {
        let token = random_token()?;
        let session = Session {
            consumer: consumer.id.clone(),
            email: consumer.email.clone(),
            csrf: random_token()?,
            expires: Instant::now() + self.ttl,
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(digest(&token), session.clone());
        Ok((token, session))
    }

    fn close(&self, headers: &http::HeaderMap) {
        if let Some(token) = cookie(headers, SESSION_COOKIE) {
            self.sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&digest(&token));
        }
    }

    /// Ends every session of `consumer` (disabled or removed by an operator).
    pub fn close_all(&self, consumer: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, s| s.consumer != consumer);
    }

    /// Seconds to wait before trying again, if `email` or `client` failed
    /// too often lately.
    fn throttled(&self, email: &str, client: IpAddr) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        [
            (format!("email:{email}"), FAILURES_PER_EMAIL),
            (format!("client:{client}"), FAILURES_PER_CLIENT),
        ]
        .iter()
        .filter_map(|(key, limit)| {
            let (count, since) = failures.get(key)?;
            let left = THROTTLE_WINDOW.checked_sub(now.duration_since(*since))?;
            (count >= limit).then(|| left.as_secs().max(1))
        })
        .max()
    }

    fn failed(&self, email: &str, client: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if failures.len() > 100_000 {
            failures.retain(|_, (_, since)| now.duration_since(*since) < THROTTLE_WINDOW);
        }
        for key in [format!("email:{email}"), format!("client:{client}")] {
            let entry = failures.entry(key).or_insert((0, now));
            if now.duration_since(entry.1) >= THROTTLE_WINDOW {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    fn succeeded(&self, email: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&format!("email:{email}"));
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value with the portal's flags.
pub fn set_cookie(name: &str, value: &str, max_age: Option<Duration>) -> HeaderValue {
    let age = max_age.map_or_else(String::new, |d| format!("; Max-Age={}", d.as_secs()));
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; Secure; SameSite=Strict{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("tp_invalid=; Max-Age=0"))
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// 32 random bytes, hex: a session, CSRF or invitation token.
pub fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no secure random source: {e}"))?;
    Ok(hex::encode(bytes))
}

/// Compares two tokens in constant time.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The CSRF token for a form on a page: the session's, or the pre-session
/// cookie's (made now if the request has none; `Some` is the cookie to set).
pub fn form_token(portal: &Portal, headers: &http::HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(session) = portal.accounts.session(headers) {
        return (session.csrf, None);
    }
    match cookie(headers, CSRF_COOKIE).filter(|v| v.len() == 64) {
        Some(token) => (token, None),
        None => {
            let token = random_token().unwrap_or_default();
            let set = set_cookie(CSRF_COOKIE, &token, None);
            (token, Some(set))
        }
    }
}

/// Whether a posted form carries the right CSRF token.
pub fn csrf_ok(portal: &Portal, headers: &http::HeaderMap, form: &Form) -> bool {
    let sent = field(form, "csrf");
    if sent.is_empty() {
        return false;
    }
    match portal.accounts.session(headers) {
        Some(session) => same(sent, &session.csrf),
        None => cookie(headers, CSRF_COOKIE).is_some_and(|c| same(sent, &c)),
    }
}

fn csrf_refused(portal: &Portal) -> Answer {
    pages::problem(
        portal,
        None,
        StatusCode::FORBIDDEN,
        "This form has expired or was not sent from this portal. Reload the page and try again.",
    )
}

/// `GET /signup`.
pub fn signup_page(portal: &Portal, request: &Request<Incoming>) -> Answer {
    let (csrf, cookie) = form_token(portal, request.headers());
    // The invitation code is typed into the form, never put in a URL.
    let mut answer = pages::signup(portal, &csrf, "", "", "", StatusCode::OK);
    if let Some(cookie) = cookie {
        answer.headers_mut().append(header::SET_COOKIE, cookie);
    }
    answer
}

/// `GET /signin`, with an optional note above the form.
pub fn signin_page(portal: &Portal, request: &Request<Incoming>, note: Option<&str>) -> Answer {
    let (csrf, cookie) = form_token(portal, request.headers());
    let note = note.or_else(|| {
        request
            .uri()
            .query()
            .filter(|q| q.contains("signed-up"))
            .map(|_| "Your account is ready. Sign in.")
    });
    let mut answer = pages::signin(portal, &csrf, note.unwrap_or(""), "", StatusCode::OK);
    if let Some(cookie) = cookie {
        answer.headers_mut().append(header::SET_COOKIE, cookie);
    }
    answer
}

/// A plausible email address (the portal sends no mail; it is the
/// account's name).
fn valid_email(email: &str) -> bool {
    email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && email.bytes().all(|b| b.is_ascii_graphic())
}

/// `POST /signup`.
pub async fn signup(portal: &Portal, parts: &Parts, form: &Form) -> Answer {
    if !csrf_ok(portal, &parts.headers, form) {
        return csrf_refused(portal);
    }
    let email = field(form, "email").trim().to_ascii_lowercase();
    let password = field(form, "password").to_owned();
    let invite = field(form, "invite").trim().to_owned();
    let (csrf, _) = form_token(portal, &parts.headers);
    let again = |message: &str| {
        pages::signup(
            portal,
            &csrf,
            message,
            &email,
            &invite,
            StatusCode::BAD_REQUEST,
        )
    };
    if !valid_email(&email) {
        return again("Enter a valid email address.");
    }
    if password.chars().count() < MIN_PASSWORD || password.len() > 1024 {
        return again(&format!(
            "Choose a password of at least {MIN_PASSWORD} characters."
        ));
    }
    let status = match portal.settings.signup {
        Signup::Open => ConsumerStatus::Active,
        Signup::Approval => ConsumerStatus::Pending,
        Signup::Invite => {
            let taken = portal
                .store
                .take_invite(&digest(&invite), &email)
                .ok()
                .flatten();
            if invite.is_empty() || taken.is_none() {
                return again("Sign-up needs an invitation for this address.");
            }
            ConsumerStatus::Active
        }
    };
    match portal.store.consumer_by_email(&email) {
        Ok(None) => {}
        Ok(Some(_)) => return again("An account with this address exists already. Sign in."),
        Err(error) => {
            tracing::error!(%error, "portal: cannot read the accounts");
            return pages::problem(
                portal,
                None,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Try again later.",
            );
        }
    }
    let Ok(Ok(password_hash)) = tokio::task::spawn_blocking(move || hash(&password)).await else {
        return pages::problem(
            portal,
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Try again later.",
        );
    };
    let consumer = Consumer {
        id: new_record_id().unwrap_or_default(),
        email,
        password_hash,
        status,
        created_at: rfc3339_now(),
    };
    if let Err(error) = portal.store.put_consumer(&consumer) {
        tracing::error!(%error, "portal: cannot record an account");
        return pages::problem(
            portal,
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Try again later.",
        );
    }
    tracing::info!(consumer = %consumer.id, status = ?consumer.status, "portal: account created");
    match status {
        ConsumerStatus::Pending => pages::message(
            portal,
            None,
            "Thank you",
            "Your account waits for an operator's approval. You can sign in once it is approved.",
        ),
        _ => see_other("/signin?signed-up"),
    }
}

/// `POST /signin`.
pub async fn signin(portal: &Portal, parts: &Parts, form: &Form, peer: SocketAddr) -> Answer {
    if !csrf_ok(portal, &parts.headers, form) {
        return csrf_refused(portal);
    }
    let email = field(form, "email").trim().to_ascii_lowercase();
    let password = field(form, "password").to_owned();
    let (csrf, _) = form_token(portal, &parts.headers);
    if let Some(wait) = portal.accounts.throttled(&email, peer.ip()) {
        tracing::warn!(client = %peer.ip(), "portal: sign-in throttled");
        let mut answer = pages::signin(
            portal,
            &csrf,
            "Too many failed sign-ins. Wait a few minutes and try again.",
            &email,
            StatusCode::TOO_MANY_REQUESTS,
        );
        if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
            answer.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return answer;
    }
    let consumer = portal.store.consumer_by_email(&email).ok().flatten();
    let stored = consumer
        .as_ref()
        .map(|c| c.password_hash.clone())
        // An unknown address costs the same time as a wrong password.
        .unwrap_or_else(|| DUMMY_HASH.to_owned());
    let verified = tokio::task::spawn_blocking(move || verify(&password, &stored))
        .await
        .unwrap_or(false);
    let consumer = match consumer {
        Some(c) if verified => c,
        _ => {
            portal.accounts.failed(&email, peer.ip());
            return pages::signin(
                portal,
                &csrf,
                "The address or the password is wrong.",
                &email,
                StatusCode::UNAUTHORIZED,
            );
        }
    };
    portal.accounts.succeeded(&email);
    match consumer.status {
        ConsumerStatus::Active => {}
        ConsumerStatus::Pending => {
            return pages::signin(
                portal,
                &csrf,
                "Your account waits for an operator's approval.",
                &email,
                StatusCode::FORBIDDEN,
            );
        }
        ConsumerStatus::Disabled => {
            return pages::signin(
                portal,
                &csrf,
                "Your account is disabled.",
                &email,
                StatusCode::FORBIDDEN,
            );
        }
    }
    let Ok((token, _)) = portal.accounts.open(&consumer) else {
        return pages::problem(
            portal,
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Try again later.",
        );
    };
    tracing::info!(consumer = %consumer.id, "portal: signed in");
    let mut answer = see_other("/account");
    let headers = answer.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &token, Some(portal.settings.session_ttl)),
    );
    // The pre-session token is done with.
    headers.append(
        header::SET_COOKIE,
        set_cookie(CSRF_COOKIE, "", Some(Duration::ZERO)),
    );
    answer
}

/// `POST /signout`.
pub fn signout(portal: &Portal, parts: &Parts, form: &Form) -> Answer {
    if !csrf_ok(portal, &parts.headers, form) {
        return csrf_refused(portal);
    }
    portal.accounts.close(&parts.headers);
    let mut answer = see_other("/");
    answer.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", Some(Duration::ZERO)),
    );
    answer
}

/// An argon2id hash of a password that no one has: verified against when
/// the address is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2pW1W4mAGnvrNrMOxIqkz0CEJRLSSqJRm0qkBZEkrho";

/// The argon2id hash of `password` (the crate's defaults: 19 MiB, 2
/// passes), as a PHC string.
pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no secure random source: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `stored`.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_and_verified() {
        let stored = hash("correct horse battery").expect("hash");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("wrong horse battery", &stored));
        assert!(!verify("anything", "not a hash"));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn the_throttle_counts_failures_per_address_and_client() {
        let accounts = Accounts::new(Duration::from_secs(60));
        let client: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..FAILURES_PER_EMAIL {
            assert_eq!(accounts.throttled("a@x.test", client), None);
            accounts.failed("a@x.test", client);
        }
        assert!(accounts.throttled("a@x.test", client).is_some());
        // Another address from the same client is not throttled yet.
        assert_eq!(accounts.throttled("b@x.test", client), None);
        accounts.succeeded("a@x.test");
        assert_eq!(accounts.throttled("a@x.test", client), None);
    }

    #[test]
    fn cookies_are_read_and_written_with_their_flags() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tp_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
        let set = set_cookie(SESSION_COOKIE, "v", Some(Duration::from_secs(60)));
        assert_eq!(
            set.to_str().expect("ascii"),
            "tp_session=v; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=60"
        );
        assert!(valid_email("ada@example.com"));
        assert!(!valid_email("ada@localhost"));
        assert!(!valid_email("a da@example.com"));
    }
}
