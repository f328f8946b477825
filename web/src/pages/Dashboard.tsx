import { Link } from 'react-router';
import type { SessionView } from '../api/client';
import { useDashboard } from '../api/queries';
import { Empty, ErrorState, Loading, ProgressBar } from '../components/status';
import { CompleteCourseButton } from '../components/CompleteCourseButton';
import { WithdrawForm } from '../components/WithdrawForm';
import { usePageTitle } from '../components/usePageTitle';

export function DashboardPage({ session }: { session: SessionView }) {
  usePageTitle('Dashboard');
  const dashboard = useDashboard();
  return (
    <section>
      <h1>Dashboard</h1>
      <p>
        <Link to="/courses">Find a course</Link> · <Link to={`/students/${session.user_id}/invoices`}>Your invoices</Link> ·{' '}
        <Link to="/subscription">Your subscription</Link>
      </p>
      {dashboard.isPending ? (
        <Loading what="Loading your courses" />
      ) : dashboard.isError ? (
        <ErrorState error={dashboard.error} onRetry={() => dashboard.refetch()} />
      ) : dashboard.data.length === 0 ? (
        <Empty>
          You are not enrolled in any course yet. <Link to="/courses">Browse the courses</Link>.
        </Empty>
      ) : (
        <ul className="cards">
          {dashboard.data.map((c) => (
            <li key={c.enrollment_id} className="card">
              <h2>
                <Link to={`/courses/${c.course_id}`}>{c.course_title}</Link>
              </h2>
              <p>
                <span className={`badge badge-${c.status}`}>{c.status}</span>{' '}
                <span data-testid="progress-text">
                  {c.lessons_completed}/{c.lessons_total} lessons
                </span>{' '}
                ({c.percent_complete}%)
              </p>
              <ProgressBar value={c.percent_complete} label={`Progress in ${c.course_title}`} />
              {c.status === 'active' && c.lessons_total > 0 && c.lessons_completed >= c.lessons_total ? (
                <CompleteCourseButton enrollmentId={c.enrollment_id} courseId={c.course_id} courseTitle={c.course_title} />
              ) : null}
              {c.status === 'active' ? (
                <WithdrawForm enrollmentId={c.enrollment_id} courseId={c.course_id} courseTitle={c.course_title} />
              ) : null}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
