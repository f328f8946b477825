// The signed-in user, and the guards that pages sit behind.
import type { ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router';
import type { SessionView } from './api/client';
import { useSession } from './api/queries';
import { ErrorState, Loading } from './components/status';

export type Role = 'student' | 'instructor' | 'admin';

export function hasRole(session: SessionView | null | undefined, role: Role): boolean {
  return !!session?.roles.includes(role);
}

/** Where a user lands after signing in. */
export function homeFor(session: SessionView | null | undefined): string {
  if (!session) return '/login';
  if (hasRole(session, 'instructor')) return '/instructor/courses';
  if (hasRole(session, 'student')) return '/dashboard';
  if (hasRole(session, 'admin')) return '/admin/users';
  return '/courses';
}

/** Renders its children for a signed-in user (with one of `roles`, if given);
 * sends others to the login page. */
export function RequireAuth({ roles, children }: { roles?: Role[]; children: (session: SessionView) => ReactNode }) {
  const session = useSession();
  const location = useLocation();
  if (session.isPending) return <Loading what="Checking your session" />;
  if (session.isError) return <ErrorState error={session.error} onRetry={() => session.refetch()} />;
  if (!session.data) {
    const next = location.pathname + location.search;
    return <Navigate to={`/login?next=${encodeURIComponent(next)}`} replace />;
  }
  if (roles && !roles.some((r) => hasRole(session.data, r))) {
    return (
      <>
        <h1>Not allowed</h1>
        <div className="alert alert-error" role="alert">
          You are not allowed to open this page: it needs the {roles.join(' or ')} role.
        </div>
      </>
    );
  }
  return <>{children(session.data)}</>;
}
