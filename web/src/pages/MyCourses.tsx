import { useState } from 'react';
import { Link } from 'react-router';
import { useCourses } from '../api/queries';
import { CourseTable, Pager } from '../components/CourseTable';
import { Empty, ErrorState, Loading } from '../components/status';
import { usePageTitle } from '../components/usePageTitle';

export function MyCoursesPage() {
  usePageTitle('My courses');
  const [tokens, setTokens] = useState<(string | undefined)[]>([undefined]);
  const page = tokens.length - 1;
  const courses = useCourses({ mine: true, page_token: tokens[page] });
  return (
    <section>
      <h1>My courses</h1>
      <p>
        <Link to="/instructor/courses/new" className="button-link">
          New course
        </Link>
      </p>
      {courses.isPending ? (
        <Loading what="Loading your courses" />
      ) : courses.isError ? (
        <ErrorState error={courses.error} onRetry={() => courses.refetch()} />
      ) : courses.data.courses.length === 0 ? (
        <Empty>You teach no course yet. Create your first one.</Empty>
      ) : (
        <CourseTable caption="Courses you teach" courses={courses.data.courses} href={(c) => `/instructor/courses/${c.course_id}`} />
      )}
      <Pager
        page={page}
        hasNext={!!courses.data?.next_page_token}
        busy={courses.isFetching}
        onPrevious={() => setTokens((t) => (t.length > 1 ? t.slice(0, -1) : t))}
        onNext={() => {
          const next = courses.data?.next_page_token;
          if (next) setTokens((t) => [...t, next]);
        }}
      />
    </section>
  );
}
