// The router's contract. The config compiler (src/worker/compile.ts) turns each declarative `route`
// into a RouteSpec; the router is compiled once per config version from the whole list.

/** One route as the router sees it. `null` means "not constrained by this attribute" (Kong semantics). */
export interface RouteSpec<T> {
  /** Stable id (the route's `id` or `name`), used in errors and for deterministic tie-breaks. */
  readonly id: string
  /**
   * Kong `paths`: a plain path is a prefix match (`/api/v1/users` matches `/api/v1/users/7` and
   * `/api/v1/usersX`, as in Kong); `{name}` in a plain path captures one segment (Sluice extension);
   * a path starting with `~` is a regex (Kong 3 syntax), anchored at the start.
   */
  readonly paths: readonly string[] | null
  /** Upper-case methods, e.g. ['GET','POST']. */
  readonly methods: readonly string[] | null
  /** Exact (`api.example.com`) or wildcard (`*.example.com`, `example.*`) hosts, lower-case, no port. */
  readonly hosts: readonly string[] | null
  /** Lower-case header name -> accepted values (any of them; `~*` prefix = case-insensitive regex). */
  readonly headers: Readonly<Record<string, readonly string[]>> | null
  /** Kong `regex_priority`: higher wins among regex paths. Default 0. */
  readonly regexPriority: number
  /** Position in the config (0-based): the final tie-break, earlier wins. */
  readonly order: number
  /** Opaque payload returned on match (the compiled route). */
  readonly target: T
}

export interface RouteMatch<T> {
  readonly target: T
  /** Length of the matched path prefix (plain) or of the regex match: what `strip_path` removes. */
  readonly matchedLength: number
  /** Captures from `{name}` segments or named regex groups; `null` when the route has none. */
  readonly params: Readonly<Record<string, string>> | null
}

/** Header lookup for the request being routed: lower-case name in, raw value or undefined out. */
export type HeaderLookup = (lowerName: string) => string | undefined

export interface Router<T> {
  /**
   * Hot path. `method` upper-case, `host` lower-case without port (may be ''), `path` already
   * normalised (see src/worker/normalize.ts), without the query string.
   */
  find(method: string, host: string, path: string, header: HeaderLookup): RouteMatch<T> | null
}
