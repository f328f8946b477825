import { zodResolver } from '@hookform/resolvers/zod';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { useForm } from 'react-hook-form';
import { Link, useParams } from 'react-router';
import { api, type CommandResult } from '../api/client';
import { applyServerErrors, problemMessage } from '../api/problem';
import { keys, recordWrite, scopes, useCourse, useOutline, useRoster } from '../api/queries';
import { capacitySchema, MAX_CAPACITY, titleSchema, type CapacityValues, type TitleValues } from '../api/rules';
import { accessText, plural, seatsText } from '../components/CourseTable';
import { OutlineList } from '../components/Outline';
import { FormError, FormSuccess, SelectField, TextField } from '../components/fields';
import { Empty, ErrorState, Loading } from '../components/status';
import { usePageTitle } from '../components/usePageTitle';

/** After a course command: the course's next reads wait for it. */
function useAfterCourseWrite(courseId: string) {
  const client = useQueryClient();
  return async (result: CommandResult) => {
    recordWrite(result, scopes.course(courseId), scopes.myCourses);
    await Promise.all([
      client.invalidateQueries({ queryKey: keys.course(courseId) }),
      client.invalidateQueries({ queryKey: keys.outline(courseId) }),
      client.invalidateQueries({ queryKey: keys.roster(courseId) }),
      client.invalidateQueries({ queryKey: ['courses'] }),
    ]);
  };
}

function AddModuleForm({ courseId }: { courseId: string }) {
  const [formError, setFormError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const form = useForm<TitleValues>({ resolver: zodResolver(titleSchema), defaultValues: { title: '' } });
  const after = useAfterCourseWrite(courseId);
  const add = useMutation({
    mutationFn: (body: TitleValues) => api.post('/api/courses/{course_id}/modules', { path: { course_id: courseId }, body }),
    onSuccess: async (r, body) => {
      await after(r);
      form.reset({ title: '' });
      setDone(`Module “${body.title.trim()}” added.`);
    },
    onError: (e) => setFormError(applyServerErrors(e, form.setError, ['title'])),
  });
  return (
    <form
      noValidate
     
      onSubmit={form.handleSubmit((v) => {
        setFormError(null);
        setDone(null);
        add.mutate(v);
      })}
    >
      <h3 id="add-module-heading">Add a module</h3>
      <FormError message={formError} />
      <TextField label="Module title" error={form.formState.errors.title?.message} {...form.register('title')} />
      <button type="submit" disabled={add.isPending}>
        Add module
      </button>
      <FormSuccess message={done} />
    </form>
  );
}

function AddLessonForm({ courseId, modules }: { courseId: string; modules: { module_id: string; title: string }[] }) {
  const [formError, setFormError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [moduleId, setModuleId] = useState(modules[modules.length - 1]?.module_id ?? '');
  useEffect(() => {
    if (!modules.some((m) => m.module_id === moduleId)) setModuleId(modules[modules.length - 1]?.module_id ?? '');
  }, [modules, moduleId]);
  const form = useForm<TitleValues>({ resolver: zodResolver(titleSchema), defaultValues: { title: '' } });
  const after = useAfterCourseWrite(courseId);
  const add = useMutation({
    mutationFn: (body: TitleValues) =>
      api.post('/api/courses/{course_id}/modules/{module_id}/lessons', {
        path: { course_id: courseId, module_id: moduleId },
        body,
      }),
    onSuccess: async (r, body) => {
      await after(r);
      form.reset({ title: '' });
      setDone(`Lesson “${body.title.trim()}” added.`);
    },
    onError: (e) => setFormError(applyServerErrors(e, form.setError, ['title'])),
  });
  if (modules.length === 0) {
    return (
      <div>
        <h3 id="add-lesson-heading">Add a lesson</h3>
        <p className="empty">Add a module first: lessons belong to a module.</p>
      </div>
    );
  }
  return (
    <form
      noValidate
     
      onSubmit={form.handleSubmit((v) => {
        setFormError(null);
        setDone(null);
        add.mutate(v);
      })}
    >
      <h3 id="add-lesson-heading">Add a lesson</h3>
      <FormError message={formError} />
      <SelectField label="Module" value={moduleId} onChange={(e) => setModuleId(e.target.value)}>
        {modules.map((m) => (
          <option key={m.module_id} value={m.module_id}>
            {m.title}
          </option>
        ))}
      </SelectField>
      <TextField label="Lesson title" error={form.formState.errors.title?.message} {...form.register('title')} />
      <button type="submit" disabled={add.isPending}>
        Add lesson
      </button>
      <FormSuccess message={done} />
    </form>
  );
}

function CapacityForm({ courseId, capacity }: { courseId: string; capacity: number }) {
  const [formError, setFormError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const form = useForm<CapacityValues>({ resolver: zodResolver(capacitySchema), defaultValues: { capacity } });
  const after = useAfterCourseWrite(courseId);
  const change = useMutation({
    mutationFn: (body: CapacityValues) => api.put('/api/courses/{course_id}/capacity', { path: { course_id: courseId }, body }),
    onSuccess: async (r, body) => {
      await after(r);
      setDone(`Capacity set to ${body.capacity}.`);
    },
    onError: (e) => setFormError(applyServerErrors(e, form.setError, ['capacity'])),
  });
  return (
    <form
      noValidate
     
      onSubmit={form.handleSubmit((v) => {
        setFormError(null);
        setDone(null);
        change.mutate(v);
      })}
    >
      <h3 id="capacity-heading">Capacity</h3>
      <FormError message={formError} />
      <TextField
        label="Capacity"
        type="number"
        inputMode="numeric"
        min={1}
        max={MAX_CAPACITY}
        step={1}
        error={form.formState.errors.capacity?.message}
        {...form.register('capacity', { valueAsNumber: true })}
      />
      <button type="submit" disabled={change.isPending}>
        Change capacity
      </button>
      <FormSuccess message={done} />
    </form>
  );
}

export function ManageCoursePage() {
  const { courseId = '' } = useParams();
  const course = useCourse(courseId);
  const outline = useOutline(courseId);
  const roster = useRoster(courseId, course.isSuccess);
  const after = useAfterCourseWrite(courseId);
  const [publishError, setPublishError] = useState<string | null>(null);
  usePageTitle(course.data ? `Manage ${course.data.title}` : 'Manage course');

  const publish = useMutation({
    mutationFn: () => api.post('/api/courses/{course_id}/publish', { path: { course_id: courseId } }),
    onSuccess: after,
    onError: (e) => setPublishError(problemMessage(e)),
  });

  if (course.isPending) return <Loading what="Loading the course" />;
  if (course.isError) {
    return (
      <>
        <h1>Manage course</h1>
        <ErrorState error={course.error} onRetry={() => course.refetch()} />
      </>
    );
  }
  const c = course.data;
  return (
    <article>
      <p className="breadcrumb">
        <Link to="/instructor/courses">My courses</Link>
      </p>
      <h1>{c.title}</h1>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <span className={`badge badge-${c.status}`} data-testid="course-status">
            {c.status}
          </span>
        </dd>
        <dt>Seats</dt>
        <dd>{seatsText(c)}</dd>
        <dt>Access</dt>
        <dd>{accessText(c)}</dd>
        <dt>Content</dt>
        <dd>
          {plural(c.module_count, 'module')}, {plural(c.lesson_count, 'lesson')}
        </dd>
      </dl>
      {c.status === 'published' ? (
        <p>
          Published. <Link to={`/courses/${c.course_id}`}>See the course page</Link>
        </p>
      ) : null}

      <section aria-labelledby="publish-heading" className="card">
        <h2 id="publish-heading">Publish</h2>
        {c.status === 'draft' ? (
          <>
            <p>Students can find and enroll in the course once it is published. It needs at least one lesson.</p>
            <button
              type="button"
              onClick={() => {
                setPublishError(null);
                publish.mutate();
              }}
              disabled={publish.isPending}
            >
              {publish.isPending ? 'Publishing…' : 'Publish'}
            </button>
          </>
        ) : (
          <p>This course is {c.status}.</p>
        )}
        <FormError message={publishError} />
      </section>

      <section aria-labelledby="content-heading" className="card">
        <h2 id="content-heading">Modules and lessons</h2>
        {outline.isPending ? (
          <Loading what="Loading the outline" />
        ) : outline.isError ? (
          <ErrorState error={outline.error} onRetry={() => outline.refetch()} />
        ) : outline.data.modules.length === 0 ? (
          <Empty>No modules yet.</Empty>
        ) : (
          <OutlineList outline={outline.data} />
        )}
        <div className="form-grid">
          <AddModuleForm courseId={courseId} />
          <AddLessonForm courseId={courseId} modules={outline.data?.modules ?? []} />
        </div>
      </section>

      <section aria-labelledby="settings-heading" className="card">
        <h2 id="settings-heading">Settings</h2>
        <CapacityForm key={c.capacity} courseId={courseId} capacity={c.capacity} />
      </section>

      <section aria-labelledby="roster-heading" className="card">
        <h2 id="roster-heading">Roster</h2>
        {roster.isPending ? (
          <Loading what="Loading the roster" />
        ) : roster.isError ? (
          <ErrorState error={roster.error} onRetry={() => roster.refetch()} />
        ) : roster.data.length === 0 ? (
          <Empty>No students enrolled yet.</Empty>
        ) : (
          <table className="table">
            <caption className="visually-hidden">Students enrolled in {c.title}</caption>
            <thead>
              <tr>
                <th scope="col">Student</th>
                <th scope="col">Status</th>
                <th scope="col">Lessons completed</th>
                <th scope="col">Enrolled</th>
              </tr>
            </thead>
            <tbody>
              {roster.data.map((e) => (
                <tr key={e.enrollment_id}>
                  <td>
                    <code>{e.student_id}</code>
                  </td>
                  <td>
                    <span className={`badge badge-${e.status}`}>{e.status}</span>
                  </td>
                  <td>{e.lessons_completed}</td>
                  <td>{new Date(e.enrolled_at).toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </article>
  );
}
