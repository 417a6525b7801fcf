// __NAME__: a Turnpike authorizer in C.
//
// The starting point admits a request whose bearer token equals the `token`
// setting, as the principal named by the `principal` setting (default
// `user`). Change `decide` to decide the way your API needs.
//
// Ownership follows wit-bindgen's C conventions: the export owns its
// arguments and frees them; what it returns is freed by the generated code
// after the gateway has read it.
#include <stdlib.h>
#include <string.h>
#include "authorizer.h"

typedef exports_turnpike_gateway_authorize_decision_t decision_t;

static int is_bearer_prefix(const uint8_t *s, size_t len) {
  static const char prefix[] = "bearer ";
  if (len < 7) return 0;
  for (size_t i = 0; i < 7; i++) {
    uint8_t c = s[i];
    if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
    if (c != (uint8_t)prefix[i]) return 0;
  }
  return 1;
}

// Looks up a setting of `[plugins.NAME.config]`; false when it is not set.
static bool setting(const char *name, authorizer_string_t *value) {
  authorizer_string_t key;
  authorizer_string_set(&key, name);
  return turnpike_gateway_config_get(&key, value);
}

// Fills `ret` for a request carrying `token`; false (with `err` set) fails
// the invocation, which the client sees as a 500.
static bool decide(const uint8_t *token, size_t len, decision_t *ret, authorizer_string_t *err) {
  authorizer_string_t expected;
  if (!setting("token", &expected)) {
    authorizer_string_dup(err, "the `token` setting is missing");
    return false;
  }
  bool match = expected.len == len && memcmp(expected.ptr, token, len) == 0;
  authorizer_string_free(&expected);
  if (!match) {
    authorizer_string_t message;
    authorizer_string_set(&message, "wrong token");
    turnpike_gateway_log_log(TURNPIKE_GATEWAY_LOG_LEVEL_INFO, &message);
    ret->tag = EXPORTS_TURNPIKE_GATEWAY_AUTHORIZE_DECISION_DENY;
    return true;
  }
  exports_turnpike_gateway_authorize_allow_t *allow = &ret->val.allow;
  ret->tag = EXPORTS_TURNPIKE_GATEWAY_AUTHORIZE_DECISION_ALLOW;
  if (!setting("principal", &allow->principal_id)) authorizer_string_dup(&allow->principal_id, "user");
  // Context entries reach an HTTP integration as `x-turnpike-context-<name>` headers.
  allow->context.len = 1;
  allow->context.ptr = malloc(sizeof(*allow->context.ptr));
  authorizer_string_dup(&allow->context.ptr[0].f0, "authorizer");
  authorizer_string_dup(&allow->context.ptr[0].f1, "__NAME__");
  allow->usage_identifier.is_some = false;
  allow->ttl_seconds.is_some = false;
  return true;
}

bool exports_turnpike_gateway_authorize_authorize(
    exports_turnpike_gateway_authorize_authorization_request_t *request, decision_t *ret,
    authorizer_string_t *err) {
  bool ok = true;
  if (!request->token.is_some) {
    ret->tag = EXPORTS_TURNPIKE_GATEWAY_AUTHORIZE_DECISION_UNAUTHORIZED;
  } else {
    const uint8_t *token = request->token.val.ptr;
    size_t len = request->token.val.len;
    if (is_bearer_prefix(token, len)) {
      token += 7;
      len -= 7;
    }
    ok = decide(token, len, ret, err);
  }
  exports_turnpike_gateway_authorize_authorization_request_free(request);
  return ok;
}
