// Starts Swagger UI on the service's own OpenAPI document. It lives in its own file, not inline
// in index.html, so that the page's Content-Security-Policy can forbid inline scripts.
"use strict";

window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The default would show a badge fetched from validator.swagger.io: the page must not
    // reach the internet.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // Credentials typed into "Authorize" stay in this tab only, never in storage.
    persistAuthorization: false,
    displayRequestDuration: true,
    // A 401 with WWW-Authenticate: Basic to a same-origin request sent with the browser's
    // default credentials mode makes the browser show its own login dialog (and remember what
    // is typed there). The page sends the credentials typed into "Authorize" itself, in the
    // Authorization header; the browser's own are never wanted.
    requestInterceptor: function (request) {
      request.credentials = "omit";
      return request;
    },
  });
});
