import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, isApiError } from '../api/client';
import { problemMessage } from '../api/problem';
import { keys, recordWrite, scopes, useCourse, useDashboard, useOutline } from '../api/queries';
import { FormError, FormSuccess } from '../components/fields';
import { ErrorState, Loading, ProgressBar } from '../components/status';
import { usePageTitle } from '../components/usePageTitle';

export function LessonPage() {
  const { courseId = '', lessonId = '' } = useParams();
  const course = useCourse(courseId);
  const outline = useOutline(courseId);
  const dashboard = useDashboard();
  const client = useQueryClient();
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const module = outline.data?.modules.find((m) => m.lessons.some((l) => l.lesson_id === lessonId));
  const lesson = module?.lessons.find((l) => l.lesson_id === lessonId);
  usePageTitle(lesson?.title ?? 'Lesson');
  const enrollment = dashboard.data?.find((d) => d.course_id === courseId && d.status !== 'withdrawn');

  const complete = useMutation({
    mutationFn: (enrollmentId: string) =>
      api.post('/api/enrollments/{enrollment_id}/lessons/{lesson_id}/complete', {
        path: { enrollment_id: enrollmentId, lesson_id: lessonId },
      }),
    onSuccess: async (result) => {
      recordWrite(result, scopes.dashboard, scopes.roster(courseId));
      setMessage('Lesson completed.');
      await client.invalidateQueries({ queryKey: keys.dashboard });
    },
    onError: (e) => {
      if (isApiError(e) && (e.reason === 'LESSON_ALREADY_COMPLETED' || e.reason === 'ALREADY_COMPLETED')) {
        setMessage('You have already completed this lesson.');
      } else {
        setError(problemMessage(e));
      }
    },
  });

  if (outline.isPending || course.isPending || dashboard.isPending) return <Loading what="Loading the lesson" />;
  const failed = outline.error ?? course.error ?? dashboard.error;
  if (failed) {
    return (
      <>
        <h1>Lesson</h1>
        <ErrorState error={failed} onRetry={() => Promise.all([outline.refetch(), course.refetch(), dashboard.refetch()])} />
      </>
    );
  }
  if (!lesson || !module) {
    return (
      <>
        <h1>Lesson not found</h1>
        <div className="alert alert-error" role="alert">
          This course has no such lesson. <Link to={`/courses/${courseId}`}>Back to the course</Link>
        </div>
      </>
    );
  }

  return (
    <article>
      <p className="breadcrumb">
        <Link to={`/courses/${courseId}`}>{course.data?.title}</Link> › {module.title}
      </p>
      <h1>{lesson.title}</h1>
      <p className="lead">
        Lesson {lesson.position + 1} of module “{module.title}”.
      </p>
      {enrollment ? (
        <section className="card" aria-labelledby="progress-heading">
          <h2 id="progress-heading">Your progress</h2>
          <p data-testid="lesson-progress">
            {enrollment.lessons_completed}/{enrollment.lessons_total} lessons
          </p>
          <ProgressBar value={enrollment.percent_complete} label={`Progress in ${enrollment.course_title}`} />
          <button
            type="button"
            onClick={() => {
              setError(null);
              setMessage(null);
              complete.mutate(enrollment.enrollment_id);
            }}
            disabled={complete.isPending || enrollment.status !== 'active'}
          >
            {complete.isPending ? 'Completing…' : 'Complete lesson'}
          </button>
          <FormSuccess message={message} />
          <FormError message={error} />
        </section>
      ) : (
        <div className="alert alert-info" role="status">
          You are not enrolled in this course. <Link to={`/courses/${courseId}`}>Enroll on the course page</Link> to
          complete its lessons.
        </div>
      )}
    </article>
  );
}
