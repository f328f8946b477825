import { Link, Navigate } from 'react-router';
import { useSession } from '../api/queries';
import { homeFor } from '../auth';
import { ErrorState, Loading } from '../components/status';
import { usePageTitle } from '../components/usePageTitle';

/** `/`: where the user belongs. */
export function HomePage() {
  const session = useSession();
  if (session.isPending) return <Loading what="Checking your session" />;
  if (session.isError) return <ErrorState error={session.error} onRetry={() => session.refetch()} />;
  return <Navigate to={homeFor(session.data)} replace />;
}

export function NotFoundPage() {
  usePageTitle('Page not found');
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is no page here. <Link to="/">Go to the start page</Link>.
      </p>
    </section>
  );
}
