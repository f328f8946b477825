import { Link } from 'react-router';
import type { Schemas } from '../api/client';

/** Modules → lessons, in order; lessons link when `lessonHref` is given. */
export function OutlineList({ outline, lessonHref }: {
  outline: Schemas['Outline'];
  lessonHref?: (lesson: Schemas['LessonView']) => string;
}) {
  return (
    <ol className="outline">
      {outline.modules.map((module) => (
        <li key={module.module_id}>
          <h3>{module.title}</h3>
          {module.lessons.length === 0 ? (
            <p className="empty">No lessons in this module yet.</p>
          ) : (
            <ol>
              {module.lessons.map((lesson) => (
                <li key={lesson.lesson_id}>
                  {lessonHref ? <Link to={lessonHref(lesson)}>{lesson.title}</Link> : lesson.title}
                </li>
              ))}
            </ol>
          )}
        </li>
      ))}
    </ol>
  );
}
