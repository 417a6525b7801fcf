//! The portal's pages, rendered on the server as plain HTML: every value
//! escaped, no inline script or style, forms that work without JavaScript,
//! labels on every field and a skip link, so that the pages are usable
//! from the keyboard and with a screen reader.

use bytes::Bytes;
use http::StatusCode;

use super::accounts::Session;
use super::{Answer, Portal, secured};

/// `text` with HTML's special characters escaped (for text and attribute
/// values alike).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page: the header with the portal's title and the navigation (which
/// depends on who is signed in), then `main`. `scripts` are the extra
/// files the page loads, `styles` its extra style sheets.
pub fn page(
    portal: &Portal,
    session: Option<&Session>,
    title: &str,
    main: &str,
    styles: &[&str],
    scripts: &[&str],
) -> String {
    let site = escape(&portal.settings.title);
    let nav = match session {
        Some(s) => format!(
            r#"<a href="/account">Your keys</a>
      <span class="who">{email}</span>
      <form method="post" action="/signout" class="inline">
        <input type="hidden" name="csrf" value="{csrf}">
        <button type="submit">Sign out</button>
      </form>"#,
            email = escape(&s.email),
            csrf = escape(&s.csrf)
        ),
        None => r#"<a href="/signin">Sign in</a> <a href="/signup">Sign up</a>"#.to_owned(),
    };
    let styles: String = styles
        .iter()
        .map(|s| format!("\n  <link rel=\"stylesheet\" href=\"{s}\">"))
        .collect();
    let scripts: String = scripts
        .iter()
        .map(|s| format!("\n  <script src=\"{s}\"></script>"))
        .collect();
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · {site}</title>
  <link rel="stylesheet" href="/assets/portal.css">{styles}
</head>
<body>
  <a class="skip" href="#main">Skip to content</a>
  <header>
    <a class="brand" href="/">{site}</a>
    <nav aria-label="Account">
      <a href="/">APIs</a>
      {nav}
    </nav>
  </header>
  <main id="main">
{main}
  </main>{scripts}
</body>
</html>
"##,
        title = escape(title),
    )
}

/// An HTML answer.
pub fn html(status: StatusCode, body: String) -> Answer {
    secured(status, "text/html; charset=utf-8", Bytes::from(body))
}

/// A page saying what went wrong.
pub fn problem(
    portal: &Portal,
    session: Option<&Session>,
    status: StatusCode,
    message: &str,
) -> Answer {
    let title = status.canonical_reason().unwrap_or("Problem");
    let main = format!(
        "<h1>{}</h1>\n<p class=\"error\" role=\"alert\">{}</p>\n<p><a href=\"/\">Back to the APIs</a></p>",
        escape(title),
        escape(message)
    );
    html(status, page(portal, session, title, &main, &[], &[]))
}

/// A page with a heading and a message.
pub fn message(portal: &Portal, session: Option<&Session>, title: &str, text: &str) -> Answer {
    let main = format!(
        "<h1>{}</h1>\n<p role=\"status\">{}</p>",
        escape(title),
        escape(text)
    );
    html(
        StatusCode::OK,
        page(portal, session, title, &main, &[], &[]),
    )
}

fn note(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("<p class=\"note\" role=\"alert\">{}</p>", escape(text))
    }
}

/// The sign-in form.
pub fn signin(
    portal: &Portal,
    csrf: &str,
    message: &str,
    email: &str,
    status: StatusCode,
) -> Answer {
    let main = format!(
        r#"<h1>Sign in</h1>
{note}
<form method="post" action="/signin" class="card">
  <input type="hidden" name="csrf" value="{csrf}">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" autocomplete="username" required value="{email}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
<p>No account yet? <a href="/signup">Sign up</a>.</p>"#,
        note = note(message),
        csrf = escape(csrf),
        email = escape(email),
    );
    html(status, page(portal, None, "Sign in", &main, &[], &[]))
}

/// The sign-up form.
pub fn signup(
    portal: &Portal,
    csrf: &str,
    message: &str,
    email: &str,
    invite: &str,
    status: StatusCode,
) -> Answer {
    let how = match portal.settings.signup {
        crate::config::Signup::Open => "Your account is ready as soon as you sign up.",
        crate::config::Signup::Approval => {
            "An operator approves new accounts; you can sign in once yours is approved."
        }
        crate::config::Signup::Invite => "Sign-up needs an invitation from an operator.",
    };
    let invite_field = match portal.settings.signup {
        crate::config::Signup::Invite => format!(
            r#"<label for="invite">Invitation code</label>
  <input id="invite" name="invite" required value="{}">"#,
            escape(invite)
        ),
        _ => String::new(),
    };
    let main = format!(
        r#"<h1>Sign up</h1>
<p>{how}</p>
{note}
<form method="post" action="/signup" class="card">
  <input type="hidden" name="csrf" value="{csrf}">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" autocomplete="username" required value="{email}">
  <label for="password">Password (at least {min} characters)</label>
  <input id="password" name="password" type="password" autocomplete="new-password" minlength="{min}" required>
  {invite_field}
  <button type="submit">Sign up</button>
</form>
<p>Have an account? <a href="/signin">Sign in</a>.</p>"#,
        note = note(message),
        csrf = escape(csrf),
        email = escape(email),
        min = super::accounts::MIN_PASSWORD,
    );
    html(status, page(portal, None, "Sign up", &main, &[], &[]))
}
