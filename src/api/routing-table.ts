import type { Operation, OpenAPIRouter } from 'openapi-backend';

/** What a request's method and path find in the table. */
export type RouteMatch =
  | { kind: 'found'; operation: Operation; params: Record<string, string> }
  | { kind: 'no-route' }
  | { kind: 'no-method'; allow: string[] };

interface Route {
  operation: Operation;
  /** Null for a path without parameters (compared as a string). */
  pattern: RegExp | null;
  names: string[];
  /** Literal characters: the more, the more specific. */
  literal: number;
  /** Slashes in a path it matches: exactly this many, or at least this many with a rest-of-path parameter. */
  slashes: number;
  rest: boolean;
  /** How a path it matches ends ('/status'), when its last segment is literal; else ''. */
  tail: string;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'];

/**
 * The spec's operations as a routing table built once at start-up (the stock
 * openapi-backend router rebuilds its operation list and a regular
 * expression per path template on every request). Matching follows the same
 * rules: trailing slashes ignored, an exact path before templates, templates
 * by specificity (most literal characters first, then definition order), a
 * template parameter is one path segment, percent-decoded.
 */
export class RoutingTable {
  private readonly exact = new Map<string, Route[]>();
  private readonly templated: Route[] = [];

  constructor(
    private readonly router: OpenAPIRouter,
    operations: Operation[],
  ) {
    for (const operation of operations) {
      const names: string[] = [];
      // A parameter marked `x-ferry-rest-of-path` takes the rest of the path, slashes and all (an output's path).
      const rest = new Set(
        (operation.parameters ?? []).filter((p) => 'in' in p && p.in === 'path' && (p as unknown as Record<string, unknown>)['x-ferry-rest-of-path'] === true).map((p) => (p as { name: string }).name),
      );
      const source = operation.path
        .split(/(\{[^}]+\})/)
        .map((part) => {
          const name = /^\{([^}]+)\}$/.exec(part)?.[1];
          if (name === undefined) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          names.push(name);
          return rest.has(name) ? '(.+)' : '([^/]+)';
        })
        .join('');
      const route: Route = {
        operation,
        pattern: names.length ? new RegExp(`^${source}$`) : null,
        names,
        literal: operation.path.replace(/\{[^}]+\}/g, '').length,
        slashes: slashesIn(operation.path),
        rest: rest.size > 0,
        tail: /\/[^/{}]+$/.exec(operation.path)?.[0] ?? '',
      };
      if (route.pattern) this.templated.push(route);
      else this.exact.set(operation.path, [...(this.exact.get(operation.path) ?? []), route]);
    }
    this.templated.sort((a, b) => b.literal - a.literal);
  }

  /** `method` in upper case (HEAD already folded into GET by the caller, if wanted); `path` without its query. */
  match(method: string, rawPath: string): RouteMatch {
    const path = this.router.normalizePath(rawPath.startsWith('/') ? rawPath : `/${rawPath}`);
    const lower = method.toLowerCase();
    // The first route of this method in order (exact paths, then templates by specificity); the others only for a 405's Allow.
    let matched = false;
    for (const route of this.exact.get(path) ?? []) {
      if (route.operation.method === lower) return { kind: 'found', operation: route.operation, params: {} };
      matched = true;
    }
    // A template parameter takes no slash (but a rest-of-path one): a template with another number of them cannot match.
    const slashes = slashesIn(path);
    for (const route of this.templated) {
      if ((route.rest ? slashes < route.slashes : slashes !== route.slashes) || !path.endsWith(route.tail)) continue;
      if (route.operation.method !== lower) {
        // Only a path of another method's route: remembered for the 405 (tested only until one is found).
        if (!matched && route.pattern!.test(path)) matched = true;
        continue;
      }
      const m = route.pattern!.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      for (let i = 0; i < route.names.length; i++) {
        const value = m[i + 1]!;
        // A malformed escape stays as sent: it then matches no run or task. A rest-of-path is decoded part by part (an encoded `/` stays inside its part).
        params[route.names[i]!] = value.includes('/') ? value.split('/').map(decodeQuietly).join('/') : decodeQuietly(value);
      }
      return { kind: 'found', operation: route.operation, params };
    }
    if (!matched) return { kind: 'no-route' };
    const allowed = new Set<string>();
    for (const route of [...(this.exact.get(path) ?? []), ...this.templated]) {
      if (route.pattern === null || route.pattern.test(path)) allowed.add(route.operation.method.toUpperCase());
    }
    if (allowed.has('GET')) allowed.add('HEAD');
    return { kind: 'no-method', allow: METHODS.filter((m) => allowed.has(m)) };
  }
}

function slashesIn(path: string): number {
  let n = 0;
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) n++;
  return n;
}

/** `decodeURIComponent`, skipped for a value with no escape in it. */
function decodeQuietly(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
