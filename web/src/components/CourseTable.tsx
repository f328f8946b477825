import { Link } from 'react-router';
import type { Schemas } from '../api/client';

/** "1 lesson", "2 lessons". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function seatsText(course: Pick<Schemas['CourseView'], 'seats_taken' | 'capacity'>): string {
  return `${course.seats_taken}/${course.capacity} seats taken`;
}

export function accessText(course: Schemas['CourseView']): string {
  switch (course.access_kind) {
    case 'paid':
      return course.price_cents != null ? `Paid: ${(course.price_cents / 100).toFixed(2)}` : 'Paid';
    case 'plan':
      return `Plan: ${course.plan ?? ''}`.trim();
    default:
      return 'Free';
  }
}

/** A list of courses; `href` says where a course's title links to. */
export function CourseTable({ courses, href, caption }: {
  courses: Schemas['CourseView'][];
  href: (course: Schemas['CourseView']) => string;
  caption: string;
}) {
  return (
    <table className="table">
      <caption className="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Course</th>
          <th scope="col">Status</th>
          <th scope="col">Lessons</th>
          <th scope="col">Seats</th>
          <th scope="col">Access</th>
        </tr>
      </thead>
      <tbody>
        {courses.map((course) => (
          <tr key={course.course_id}>
            <th scope="row">
              <Link to={href(course)}>{course.title}</Link>
            </th>
            <td>
              <span className={`badge badge-${course.status}`}>{course.status}</span>
            </td>
            <td>
              {plural(course.module_count, 'module')}, {plural(course.lesson_count, 'lesson')}
            </td>
            <td>{seatsText(course)}</td>
            <td>{accessText(course)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Next/previous over page tokens: `tokens[i]` is the token of page i (undefined for the first). */
export function Pager({ page, hasNext, onPrevious, onNext, busy }: {
  page: number;
  hasNext: boolean;
  onPrevious: () => void;
  onNext: () => void;
  busy?: boolean;
}) {
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" className="secondary" onClick={onPrevious} disabled={page === 0 || busy}>
        Previous page
      </button>
      <span aria-live="polite">Page {page + 1}</span>
      <button type="button" className="secondary" onClick={onNext} disabled={!hasNext || busy}>
        Next page
      </button>
    </nav>
  );
}
