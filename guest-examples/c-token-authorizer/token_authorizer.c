// A `token` authorizer in C: admits requests whose bearer token is on a list
// from the plugin's configuration (`tokens = "token:principal, ..."`).
#include <stdlib.h>
#include <string.h>
#include "authorizer.h"

typedef struct { const uint8_t *ptr; size_t len; } slice_t;

static slice_t trim(slice_t s) {
  while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) { s.ptr++; s.len--; }
  while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t')) s.len--;
  return s;
}

static int equals(slice_t a, slice_t b) {
  return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static int starts_with_bearer(slice_t s) {
  static const char prefix[] = "bearer ";
  if (s.len < 7) return 0;
  for (size_t i = 0; i < 7; i++) {
    uint8_t c = s.ptr[i];
    if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
    if (c != (uint8_t)prefix[i]) return 0;
  }
  return 1;
}

static void add_context(exports_turnpike_gateway_authorize_list_entry_t *context, size_t i,
                        const char *name, const char *value) {
  authorizer_string_dup(&context->ptr[i].f0, name);
  authorizer_string_dup(&context->ptr[i].f1, value);
}

bool exports_turnpike_gateway_authorize_authorize(
    exports_turnpike_gateway_authorize_authorization_request_t *request,
    exports_turnpike_gateway_authorize_decision_t *ret, authorizer_string_t *err) {
  bool ok = true;
  if (!request->token.is_some) {
    ret->tag = EXPORTS_TURNPIKE_GATEWAY_AUTHORIZE_DECISION_UNAUTHORIZED;
    goto done;
  }
  slice_t token = trim((slice_t){request->token.val.ptr, request->token.val.len});
  if (starts_with_bearer(token)) token = trim((slice_t){token.ptr + 7, token.len - 7});
  if (equals(token, (slice_t){(const uint8_t *)"raise", 5})) {
    // A C plugin's equivalent of an uncaught exception: abort() traps.
    abort();
  }

  authorizer_string_t key, tokens;
  authorizer_string_set(&key, "tokens");
  if (!turnpike_gateway_config_get(&key, &tokens)) {
    authorizer_string_dup(err, "the `tokens` setting is missing");
    ok = false;
    goto done;
  }
  ret->tag = EXPORTS_TURNPIKE_GATEWAY_AUTHORIZE_DECISION_DENY;
  size_t start = 0;
  while (start <= tokens.len) {
    size_t end = start;
    while (end < tokens.len && tokens.ptr[end] != ',') end++;
    slice_t pair = trim((slice_t){tokens.ptr + start, end - start});
    slice_t known = pair, principal = {(const uint8_t *)"anonymous", 9};
    for (size_t i = 0; i < pair.len; i++) {
      if (pair.ptr[i] == ':') {
        known = trim((slice_t){pair.ptr, i});
        principal = trim((slice_t){pair.ptr + i + 1, pair.len - i - 1});
        break;
      }
    }
    if (known.len && equals(known, token)) {
      exports_turnpike_gateway_authorize_allow_t *allow = &ret->val.allow;
      ret->tag = EXPORTS_TURNPIKE_GATEWAY_AUTHORIZE_DECISION_ALLOW;
      authorizer_string_dup_n(&allow->principal_id, (const char *)principal.ptr, principal.len);
      allow->context.len = 2;
      allow->context.ptr = malloc(2 * sizeof(*allow->context.ptr));
      add_context(&allow->context, 0, "tokenSource", "static-list");
      add_context(&allow->context, 1, "language", "c");
      allow->usage_identifier.is_some = false;
      allow->ttl_seconds.is_some = false;
      break;
    }
    start = end + 1;
  }
  if (ret->tag == EXPORTS_TURNPIKE_GATEWAY_AUTHORIZE_DECISION_DENY) {
    authorizer_string_t message;
    authorizer_string_set(&message, "unknown token");
    turnpike_gateway_log_log(TURNPIKE_GATEWAY_LOG_LEVEL_INFO, &message);
  }
  authorizer_string_free(&tokens);
done:
  exports_turnpike_gateway_authorize_authorization_request_free(request);
  return ok;
}
