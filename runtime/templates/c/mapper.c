// __NAME__: a Turnpike mapper in C.
//
// The starting point marks both directions with an `x-mapped-by: __NAME__`
// header. Rewrite the request in `exports_turnpike_gateway_mapping_map_request`
// (or answer by itself with the RESPOND outcome) and the integration's answer
// in `exports_turnpike_gateway_mapping_map_response`.
//
// Ownership follows wit-bindgen's C conventions: the export owns its
// arguments and frees them (or moves them into what it returns); what it
// returns is freed by the generated code after the gateway has read it.
#include <stdlib.h>
#include <string.h>
#include "mapper.h"

typedef exports_turnpike_gateway_mapping_list_entry_t entries_t;

// Replaces every `name` header by one with `value`.
static void set_header(entries_t *headers, const char *name, const char *value) {
  size_t name_len = strlen(name), kept = 0;
  for (size_t i = 0; i < headers->len; i++) {
    mapper_string_t *key = &headers->ptr[i].f0;
    if (key->len == name_len && memcmp(key->ptr, name, name_len) == 0) {
      exports_turnpike_gateway_mapping_entry_free(&headers->ptr[i]);
    } else {
      headers->ptr[kept++] = headers->ptr[i];
    }
  }
  headers->ptr = realloc(headers->ptr, (kept + 1) * sizeof(*headers->ptr));
  mapper_string_dup(&headers->ptr[kept].f0, name);
  mapper_string_dup(&headers->ptr[kept].f1, value);
  headers->len = kept + 1;
}

bool exports_turnpike_gateway_mapping_map_request(
    exports_turnpike_gateway_mapping_request_info_t *info, entries_t *context,
    exports_turnpike_gateway_mapping_http_request_t *request,
    exports_turnpike_gateway_mapping_request_outcome_t *ret, mapper_string_t *err) {
  (void)err;
  set_header(&request->headers, "x-mapped-by", "__NAME__");
  ret->tag = EXPORTS_TURNPIKE_GATEWAY_MAPPING_REQUEST_OUTCOME_FORWARD;
  ret->val.forward = *request;  // moved: freed after the gateway read it
  exports_turnpike_gateway_mapping_request_info_free(info);
  exports_turnpike_gateway_mapping_list_entry_free(context);
  return true;
}

bool exports_turnpike_gateway_mapping_map_response(
    exports_turnpike_gateway_mapping_request_info_t *info, entries_t *context,
    exports_turnpike_gateway_mapping_http_response_t *response,
    exports_turnpike_gateway_mapping_http_response_t *ret, mapper_string_t *err) {
  (void)err;
  set_header(&response->headers, "x-mapped-by", "__NAME__");
  *ret = *response;  // moved: freed after the gateway read it
  exports_turnpike_gateway_mapping_request_info_free(info);
  exports_turnpike_gateway_mapping_list_entry_free(context);
  return true;
}
