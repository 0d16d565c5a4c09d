"""The HTTP side: the JSON API, the pages, their argument parsing, auth, error answers,
schemas, the OpenAPI document and the charts. The only package that touches the request."""
