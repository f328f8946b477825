// A thin typed fetch client over the generated OpenAPI types
// (`src/api/schema.d.ts`, from `npm run gen:api`). It sends the session cookie
// (same origin), adds `X-CSRF-Token` to every state-changing request, and
// turns an `application/problem+json` reply into an `ApiError`.
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Problem = Schemas['Problem'];
export type Violation = Schemas['Violation'];
export type CommandResult = Schemas['CommandResult'];
export type SessionView = Schemas['SessionView'];

type Method = 'get' | 'post' | 'put' | 'delete';

type PathsWith<M extends Method> = {
  [P in keyof paths]: [NonNullable<paths[P][M]>] extends [never] ? never : P;
}[keyof paths];

type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;

type Json<T> = T extends { content: { 'application/json': infer J } } ? J : undefined;

/** The body of a 2xx reply (undefined for 204). */
export type Success<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { responses: infer R }
    ? {
        [K in keyof R]: K extends 200 | 201 | 202 | 204 ? Json<R[K]> : never;
      }[keyof R]
    : never;

type PathParams<O> = O extends { parameters: { path: infer A } } ? ([A] extends [never] ? never : A) : never;
type QueryParams<O> = O extends { parameters: { query?: infer Q } } ? Q : never;
type Body<O> = O extends { requestBody: { content: { 'application/json': infer B } } }
  ? B
  : O extends { requestBody?: { content: { 'application/json': infer B } } }
    ? B
    : never;

export type Options<O> = {
  path?: PathParams<O>;
  query?: QueryParams<O>;
  body?: Body<O>;
  /** Makes a retried click the same command (see docs/api/bff.md). */
  idempotencyKey?: string;
  signal?: AbortSignal;
};

/** A failed request: the server's problem document (or one made up for a network failure). */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail || problem.title);
    this.name = 'ApiError';
    this.status = problem.status;
    this.problem = problem;
  }

  get reason(): string | undefined {
    return this.problem.reason ?? undefined;
  }

  get violations(): Violation[] {
    return this.problem.violations ?? [];
  }
}

export function isApiError(error: unknown): error is ApiError {
  return error instanceof ApiError;
}

let csrfToken: string | null = null;

/** The token `GET /api/session`, login and sign-up return. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function getCsrfToken(): string | null {
  return csrfToken;
}

function isProblem(value: unknown): value is Problem {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Problem).status === 'number' &&
    typeof (value as Problem).title === 'string'
  );
}

/** Reads a non-2xx reply as a problem, whatever it holds. */
export async function toApiError(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (isProblem(body)) {
    return new ApiError({ ...body, detail: body.detail ?? '', type: body.type ?? 'about:blank' });
  }
  return new ApiError({
    type: 'about:blank',
    title: response.statusText || 'Error',
    status: response.status,
    detail: `The server answered ${response.status} ${response.statusText}`.trim(),
  });
}

function buildUrl(template: string, path?: Record<string, unknown>, query?: Record<string, unknown>): string {
  const url = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = path?.[name];
    if (value === undefined || value === null || value === '') {
      throw new Error(`missing path parameter ${name}`);
    }
    return encodeURIComponent(String(value));
  });
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const qs = search.toString();
  return qs ? `${url}?${qs}` : url;
}

async function send(method: Method, url: string, options: Options<unknown>, retried = false): Promise<unknown> {
  const headers: Record<string, string> = { Accept: 'application/json, application/problem+json' };
  const init: RequestInit = { method: method.toUpperCase(), headers, credentials: 'same-origin', signal: options.signal };
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  if (method !== 'get') {
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
    if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
  }
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === 'AbortError') throw cause;
    throw new ApiError({
      type: 'about:blank',
      title: 'Network error',
      status: 0,
      detail: 'The server could not be reached. Check your connection and try again.',
      reason: 'NETWORK_ERROR',
    });
  }
  if (!response.ok) {
    const error = await toApiError(response);
    // A stale token (e.g. after signing in in another tab): fetch the
    // session's current one and try once more.
    if (!retried && method !== 'get' && error.reason === 'CSRF_TOKEN_INVALID') {
      const session = await fetch('/api/session', { credentials: 'same-origin' });
      if (session.ok) {
        csrfToken = ((await session.json()) as SessionView).csrf_token;
        return send(method, url, options, true);
      }
    }
    throw error;
  }
  if (response.status === 204) return undefined;
  const text = await response.text();
  return text ? JSON.parse(text) : undefined;
}

function call<M extends Method>(method: M) {
  return <P extends PathsWith<M>>(path: P, options: Options<Operation<P, M>> = {}): Promise<Success<P, M>> =>
    send(
      method,
      buildUrl(path as string, options.path as Record<string, unknown>, options.query as Record<string, unknown>),
      options as Options<unknown>,
    ) as Promise<Success<P, M>>;
}

export const api = {
  get: call('get'),
  post: call('post'),
  put: call('put'),
  delete: call('delete'),
};
