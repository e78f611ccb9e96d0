"""GraphiQL for browsers at ``GET /graphql`` (the page strawberry ships; its scripts come from
unpkg with subresource integrity). Its requests go through the same endpoint, token and
policy as any client's; introspection shows the caller's own schema."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse

# The page's inline script and unpkg's scripts and styles; it talks only to the hub itself.
_PAGE_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline' https://unpkg.com; "
    "style-src 'unsafe-inline' https://unpkg.com; img-src data: https://unpkg.com; "
    "font-src https://unpkg.com data:; connect-src 'self'; frame-ancestors 'none'"
)


def wants_graphiql(request: Request) -> bool:
    """A browser opening the URL: GET, no query, HTML preferred."""
    if request.method != "GET" or "query" in request.query_params:
        return False
    return "text/html" in request.headers.get("accept", "")


def graphiql_page() -> HTMLResponse:
    from strawberry.http.ides import get_graphql_ide_html

    return HTMLResponse(
        get_graphql_ide_html("graphiql"),
        headers={"Content-Security-Policy": _PAGE_POLICY, "Cache-Control": "no-cache"},
    )


__all__ = ["graphiql_page", "wants_graphiql"]
