import type { Operation, OpenAPIRouter, Request } from 'openapi-backend';

/**
 * Compiles openapi-backend's router into a routing table made once at
 * start-up. The stock router rebuilds its list of operations and a regular
 * expression per path template on every match (lodash chains, twice per
 * request); the definition never changes after `init()`, so the operations
 * and their patterns are computed here once. Matching keeps the stock
 * semantics: an exact path first, then templates by specificity (most
 * literal characters first); in strict mode, no path is a '404-…' error and
 * a path without the method a '405-…' error, which openapi-backend maps to
 * the notFound and methodNotAllowed handlers.
 */
export function compileRoutingTable(router: OpenAPIRouter): void {
  const operations = router.getOperations();
  const exact = new Map<string, Operation[]>();
  const templated: { pattern: RegExp; literal: number; operation: Operation }[] = [];
  for (const operation of operations) {
    if (!/\{[^}]+\}/.test(operation.path)) {
      exact.set(operation.path, [...(exact.get(operation.path) ?? []), operation]);
      continue;
    }
    const pattern = operation.path
      .replace(/\{[^}]+\}/g, '\0')
      .split('\0')
      .map((literal) => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/]+');
    templated.push({ pattern: new RegExp(`^${pattern}$`), literal: operation.path.replace(/\{.*?\}/g, '').length, operation });
  }
  // Stable sort: among equally specific templates, definition order decides, as in the stock router.
  templated.sort((a, b) => b.literal - a.literal);

  // Private in the typings, public at run time; kept so an apiRoot keeps working.
  const underApiRoot = (p: string): boolean => (router as unknown as { isUnderApiRoot(p: string): boolean }).isUnderApiRoot(p);
  const matchOperation = (req: Request, strict?: boolean): Operation | undefined => {
    const normalized = router.normalizeRequest(req);
    const fail = (why: string): undefined => {
      if (strict) throw new Error(why);
      return undefined;
    };
    if (!underApiRoot(normalized.path)) return fail('404-notFound: no route matches request');
    const path = router.normalizePath(normalized.path);
    const method = normalized.method;
    const literal = exact.get(path);
    const hit = literal?.find((o) => o.method === method);
    if (hit) return hit;
    let pathKnown = literal !== undefined;
    for (const t of templated) {
      if (!t.pattern.test(path)) continue;
      pathKnown = true;
      if (t.operation.method === method) return t.operation;
    }
    if (!pathKnown) return fail('404-notFound: no route matches request');
    return fail('405-methodNotAllowed: this method is not registered for the route');
  };

  Object.assign(router, {
    getOperations: (): Operation[] => operations,
    getOperation: (operationId: string): Operation | undefined => operations.find((o) => o.operationId === operationId),
    matchOperation,
  });
}
