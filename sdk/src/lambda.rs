//! The `lambda` world: a handler that takes API Gateway's event JSON (a
//! Lambda proxy integration's payload 1.0 or 2.0, or a Lambda authorizer's
//! event) and answers with the JSON API Gateway reads, as a Lambda function
//! does.
//!
//! Deserialize the event with the types you already use on Lambda (for
//! example `aws_lambda_events::apigw::ApiGatewayProxyRequest` and
//! `serde_json`), implement [`Handler`], and export it with
//! [`export_lambda!`](crate::export_lambda):
//!
//! ```ignore
//! use turnpike_sdk::lambda::{Handler, HandlerError, InvocationContext};
//!
//! struct Hello;
//!
//! impl Handler for Hello {
//!     fn handle(event: String, _context: InvocationContext) -> Result<String, HandlerError> {
//!         let name = if event.contains("\"name\"") { "you" } else { "World" };
//!         Ok(format!(r#"{{"statusCode": 200, "body": "Hello, {name}!"}}"#))
//!     }
//! }
//!
//! turnpike_sdk::export_lambda!(Hello);
//! ```

pub use crate::lambda_bindings::exports::turnpike::gateway::lambda_handler::{
    Guest as Handler, HandlerError, InvocationContext,
};

impl HandlerError {
    /// An error of `error_type` with `message`, as Lambda reports a raised
    /// exception. A message of `Unauthorized` from an authorizer is a 401.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> HandlerError {
        HandlerError {
            error_type: error_type.into(),
            error_message: message.into(),
        }
    }

    /// What an authorizer returns to refuse with 401.
    pub fn unauthorized() -> HandlerError {
        HandlerError::new("Unauthorized", "Unauthorized")
    }
}

impl InvocationContext {
    /// Milliseconds left of the invocation's time budget (Lambda's
    /// `get_remaining_time_in_millis`), given the time now in milliseconds
    /// since the Unix epoch.
    pub fn remaining_millis_at(&self, now_ms: u64) -> u64 {
        self.deadline_ms.saturating_sub(now_ms)
    }

    /// Milliseconds left of the invocation's time budget, by the clock the
    /// component sees.
    pub fn remaining_millis(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.remaining_millis_at(now)
    }
}

/// Exports a type implementing [`Handler`] as the component's
/// `lambda-handler`. Use it once, in the plugin crate's `lib.rs`.
#[macro_export]
macro_rules! export_lambda {
    ($ty:ident) => {
        #[cfg(target_family = "wasm")]
        $crate::lambda_bindings::export_lambda_world!($ty);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_time_counts_down_to_the_deadline() {
        let context = InvocationContext {
            aws_request_id: "r".into(),
            function_name: "f".into(),
            function_version: "$LATEST".into(),
            invoked_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            memory_limit_in_mb: 64,
            deadline_ms: 10_000,
        };
        assert_eq!(context.remaining_millis_at(9_000), 1_000);
        assert_eq!(context.remaining_millis_at(11_000), 0);
        assert_eq!(HandlerError::unauthorized().error_message, "Unauthorized");
    }
}
