// React Query hooks over the API, and read-your-writes: a command's
// `position` is remembered per read scope and sent as `?after=` by the next
// reads of that scope, so the page after a click shows the click.
import { MutationCache, QueryCache, QueryClient, useQuery, type QueryClient as QC } from '@tanstack/react-query';
import { api, isApiError, setCsrfToken, type CommandResult, type SessionView } from './client';

/** Read scopes: which read model a write lands in (query/src/read_your_writes.rs).
 * A position is only waited for in a model that applies its aggregate. */
export const scopes = {
  /** Catalog: course commands (create, modules, lessons, capacity, publish). */
  course: (courseId: string) => `course:${courseId}`,
  /** The caller's courses list (catalog, course commands). */
  myCourses: 'courses:mine',
  /** Dashboard: enrollment commands (enroll, complete, withdraw). */
  dashboard: 'dashboard',
  /** Roster: enrollment commands. */
  roster: (courseId: string) => `roster:${courseId}`,
  /** Billing: subscription commands. */
  billing: 'billing',
} as const;

const positions = new Map<string, string>();

export function afterFor(scope: string): string | undefined {
  return positions.get(scope);
}

/** Remembers where a write landed for the given scopes. */
export function recordWrite(result: Pick<CommandResult, 'position'>, ...scopeNames: string[]): void {
  for (const scope of scopeNames) positions.set(scope, result.position);
}

export function forgetWrites(): void {
  positions.clear();
}

export function makeQueryClient(): QueryClient {
  // A session that ended (expired, logged out elsewhere): check it again,
  // and the guards send the user to the login page.
  const onError = (error: unknown) => {
    if (isApiError(error) && error.reason === 'SESSION_REQUIRED') {
      void client.invalidateQueries({ queryKey: keys.session });
    }
  };
  const client: QueryClient = new QueryClient({
    queryCache: new QueryCache({ onError: (error, query) => query.queryKey[0] !== 'session' && onError(error) }),
    mutationCache: new MutationCache({ onError }),
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        refetchOnWindowFocus: false,
        // Retry what may pass later (a read model still behind, the network);
        // a 4xx is an answer.
        retry: (count, error) =>
          count < 2 && isApiError(error) && (error.status === 0 || error.status === 503 || error.status === 504),
      },
      mutations: { retry: false },
    },
  });
  return client;
}

export const keys = {
  session: ['session'] as const,
  me: ['me'] as const,
  courses: (params: { title?: string; page_token?: string; mine?: boolean }) => ['courses', params] as const,
  course: (id: string) => ['course', id] as const,
  outline: (id: string) => ['outline', id] as const,
  roster: (id: string) => ['roster', id] as const,
  dashboard: ['dashboard'] as const,
  subscription: ['subscription'] as const,
  invoices: (studentId: string, pageToken?: string) => ['invoices', studentId, pageToken ?? ''] as const,
};

export async function fetchSession(): Promise<SessionView | null> {
  try {
    const session = await api.get('/api/session');
    setCsrfToken(session.csrf_token);
    return session;
  } catch (error) {
    if (isApiError(error) && error.status === 401) {
      setCsrfToken(null);
      return null;
    }
    throw error;
  }
}

export function useSession() {
  return useQuery({ queryKey: keys.session, queryFn: fetchSession, staleTime: 60_000 });
}

/** A new session (login, sign-up) or none (logout): nothing of the previous user stays. */
export function startSession(client: QC, session: SessionView | null): void {
  setCsrfToken(session?.csrf_token ?? null);
  forgetWrites();
  client.removeQueries({ predicate: (q) => q.queryKey[0] !== 'session' });
  client.setQueryData(keys.session, session);
}

export function useMe(enabled: boolean) {
  return useQuery({ queryKey: keys.me, queryFn: () => api.get('/api/me'), enabled, staleTime: 60_000 });
}

export const PAGE_SIZE = 10;

export function useCourses(params: { title?: string; page_token?: string; mine?: boolean }) {
  return useQuery({
    queryKey: keys.courses(params),
    queryFn: ({ signal }) =>
      api.get('/api/courses', {
        query: {
          title: params.title || undefined,
          page_token: params.page_token,
          mine: params.mine || undefined,
          page_size: PAGE_SIZE,
          after: params.mine ? afterFor(scopes.myCourses) : undefined,
        },
        signal,
      }),
  });
}

export function useCourse(courseId: string) {
  return useQuery({
    queryKey: keys.course(courseId),
    queryFn: ({ signal }) =>
      api.get('/api/courses/{course_id}', {
        path: { course_id: courseId },
        query: { after: afterFor(scopes.course(courseId)) },
        signal,
      }),
  });
}

export function useOutline(courseId: string) {
  return useQuery({
    queryKey: keys.outline(courseId),
    queryFn: ({ signal }) =>
      api.get('/api/courses/{course_id}/outline', {
        path: { course_id: courseId },
        query: { after: afterFor(scopes.course(courseId)) },
        signal,
      }),
  });
}

/** `enabled` once the course itself is read: the roster query looks the course
 * up in the catalog first (without waiting for `after`), so a just-created
 * course would otherwise be "not found". */
export function useRoster(courseId: string, enabled = true) {
  return useQuery({
    queryKey: keys.roster(courseId),
    enabled,
    queryFn: ({ signal }) =>
      api.get('/api/courses/{course_id}/roster', {
        path: { course_id: courseId },
        query: { after: afterFor(scopes.roster(courseId)) },
        signal,
      }),
  });
}

export function useDashboard(enabled = true) {
  return useQuery({
    queryKey: keys.dashboard,
    queryFn: ({ signal }) => api.get('/api/dashboard', { query: { after: afterFor(scopes.dashboard) }, signal }),
    enabled,
  });
}

/** The subscription, or null before a trial (404 SUBSCRIPTION_NOT_FOUND). */
export function useSubscription() {
  return useQuery({
    queryKey: keys.subscription,
    queryFn: async ({ signal }) => {
      try {
        return await api.get('/api/subscription', { query: { after: afterFor(scopes.billing) }, signal });
      } catch (error) {
        if (isApiError(error) && error.status === 404 && error.reason === 'SUBSCRIPTION_NOT_FOUND') return null;
        throw error;
      }
    },
  });
}

export function useInvoices(studentId: string, pageToken?: string) {
  return useQuery({
    queryKey: keys.invoices(studentId, pageToken),
    queryFn: ({ signal }) =>
      api.get('/api/invoices', {
        query: { student_id: studentId, page_token: pageToken, page_size: PAGE_SIZE, after: afterFor(scopes.billing) },
        signal,
      }),
  });
}
