// Turnpike developer portal: mounts the vendored Swagger UI (vendor/swagger-ui-bundle.js)
// on #swagger-ui. Loaded as an external script so the page works under a CSP with
// `script-src 'self'` (no inline scripts). Plain ES2019, no build step.
(function () {
  'use strict';

  function apiKeyInterceptor(req) {
    var input = document.getElementById('try-key');
    var key = input && typeof input.value === 'string' ? input.value.trim() : '';
    if (key) {
      req.headers = req.headers || {};
      req.headers['x-api-key'] = key;
    }
    return req;
  }

  function mount() {
    var root = document.getElementById('swagger-ui');
    if (!root) {
      return;
    }
    if (typeof window.SwaggerUIBundle !== 'function') {
      root.textContent = 'API documentation could not be loaded (Swagger UI script missing).';
      return;
    }
    var url = root.getAttribute('data-spec');
    if (!url) {
      root.textContent = 'API documentation could not be loaded (no spec URL).';
      return;
    }

    window.SwaggerUIBundle({
      url: url,
      dom_id: '#swagger-ui',
      deepLinking: false,
      tryItOutEnabled: true,
      supportedSubmitMethods: ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'],
      requestInterceptor: apiKeyInterceptor,
      // Nothing may be fetched from the internet: no validator.swagger.io badge,
      // no remote config, and the page URL's query string must not be able to
      // override `url` (queryConfigEnabled is off by default; keep it explicit).
      validatorUrl: null,
      queryConfigEnabled: false
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', mount);
  } else {
    mount();
  }
})();
