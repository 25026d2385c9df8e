// Swagger UI for openapi.json; in a file of its own so that the page needs no inline script.
window.ui = SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
});
