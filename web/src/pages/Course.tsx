import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, isApiError, type SessionView } from '../api/client';
import { problemMessage } from '../api/problem';
import { keys, recordWrite, scopes, useCourse, useDashboard, useOutline } from '../api/queries';
import { hasRole } from '../auth';
import { accessText, seatsText } from '../components/CourseTable';
import { OutlineList } from '../components/Outline';
import { FormError, FormSuccess } from '../components/fields';
import { Empty, ErrorState, Loading } from '../components/status';
import { usePageTitle } from '../components/usePageTitle';

export function CoursePage({ session }: { session: SessionView }) {
  const { courseId = '' } = useParams();
  const course = useCourse(courseId);
  const outline = useOutline(courseId);
  const isStudent = hasRole(session, 'student');
  const dashboard = useDashboard(isStudent);
  const client = useQueryClient();
  const [enrollError, setEnrollError] = useState<string | null>(null);
  const [courseFull, setCourseFull] = useState(false);
  const [enrolled, setEnrolled] = useState<string | null>(null);
  usePageTitle(course.data?.title ?? 'Course');

  const enroll = useMutation({
    mutationFn: () => api.post('/api/courses/{course_id}/enrollment', { path: { course_id: courseId } }),
    onSuccess: async (result) => {
      recordWrite(result, scopes.dashboard, scopes.roster(courseId));
      setEnrolled('You are enrolled. Open a lesson to start learning.');
      await Promise.all([
        client.invalidateQueries({ queryKey: keys.dashboard }),
        client.invalidateQueries({ queryKey: keys.course(courseId) }),
      ]);
    },
    onError: (error) => {
      if (isApiError(error) && error.reason === 'COURSE_FULL') {
        setCourseFull(true);
        setEnrollError(null);
        client.invalidateQueries({ queryKey: keys.course(courseId) });
      } else {
        setEnrollError(problemMessage(error));
      }
    },
  });

  if (course.isPending) return <Loading what="Loading the course" />;
  if (course.isError) {
    return (
      <>
        <h1>Course</h1>
        <ErrorState
          error={course.error}
          title={isApiError(course.error) && course.error.status === 404 ? 'Course not found' : 'Could not load the course'}
          onRetry={() => course.refetch()}
        />
      </>
    );
  }
  const c = course.data;
  const enrollment = dashboard.data?.find((d) => d.course_id === courseId && d.status !== 'withdrawn');
  const full = courseFull || c.seats_taken >= c.capacity;
  const open = c.status === 'published';
  const teaches = c.instructor_ids.includes(session.user_id);

  return (
    <article>
      <h1>{c.title}</h1>
      {c.description ? <p className="lead">{c.description}</p> : null}
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <span className={`badge badge-${c.status}`}>{c.status}</span>
        </dd>
        <dt>Seats</dt>
        <dd data-testid="seats">{seatsText(c)}</dd>
        <dt>Access</dt>
        <dd>{accessText(c)}</dd>
      </dl>
      {teaches ? (
        <p>
          <Link to={`/instructor/courses/${c.course_id}`}>Manage this course</Link>
        </p>
      ) : null}

      {isStudent ? (
        <section aria-labelledby="enroll-heading" className="card">
          <h2 id="enroll-heading">Enrollment</h2>
          {dashboard.isPending ? (
            <Loading what="Checking your enrollment" />
          ) : enrollment ? (
            <p>
              You are enrolled ({enrollment.lessons_completed}/{enrollment.lessons_total} lessons done).{' '}
              <Link to="/dashboard">Your dashboard</Link>
            </p>
          ) : !open ? (
            <>
              <p className="status-note">Enrollment is closed for this course.</p>
              <button type="button" disabled>
                Enrollment closed
              </button>
            </>
          ) : full ? (
            <>
              <p className="status-note" role={courseFull ? 'alert' : undefined}>
                Course full: {c.capacity === 1 ? 'the only seat is' : `all ${c.capacity} seats are`} taken.
              </p>
              <button type="button" disabled>
                Course full
              </button>
            </>
          ) : (
            <>
              <p>{seatsText(c)}.</p>
              <button type="button" onClick={() => enroll.mutate()} disabled={enroll.isPending}>
                {enroll.isPending ? 'Enrolling…' : 'Enroll'}
              </button>
            </>
          )}
          <FormError message={enrollError} />
          <FormSuccess message={enrolled} />
        </section>
      ) : null}

      <section aria-labelledby="outline-heading">
        <h2 id="outline-heading">Outline</h2>
        {outline.isPending ? (
          <Loading what="Loading the outline" />
        ) : outline.isError ? (
          <ErrorState error={outline.error} title="Could not load the outline" onRetry={() => outline.refetch()} />
        ) : outline.data.modules.length === 0 ? (
          <Empty>This course has no modules yet.</Empty>
        ) : (
          <OutlineList
            outline={outline.data}
            lessonHref={enrollment ? (l) => `/courses/${courseId}/lessons/${l.lesson_id}` : undefined}
          />
        )}
        {!enrollment && isStudent && outline.data && outline.data.modules.length > 0 ? (
          <p className="hint">Enroll to open the lessons.</p>
        ) : null}
      </section>
    </article>
  );
}
