import { zodResolver } from '@hookform/resolvers/zod';
import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { useSearchParams } from 'react-router';
import { useCourses } from '../api/queries';
import { searchSchema, type SearchValues } from '../api/rules';
import { CourseTable, Pager } from '../components/CourseTable';
import { TextField } from '../components/fields';
import { Empty, ErrorState, Loading } from '../components/status';
import { usePageTitle } from '../components/usePageTitle';

export function CatalogPage() {
  usePageTitle('Courses');
  const [params, setParams] = useSearchParams();
  const title = params.get('title') ?? '';
  // The tokens of the pages seen so far: tokens[i] opens page i.
  const [tokens, setTokens] = useState<(string | undefined)[]>([undefined]);
  const page = tokens.length - 1;
  const courses = useCourses({ title, page_token: tokens[page] });
  const form = useForm<SearchValues>({ resolver: zodResolver(searchSchema), values: { title } });

  return (
    <section>
      <h1>Courses</h1>
      <form
        role="search"
        className="inline-form"
        noValidate
        onSubmit={form.handleSubmit((values) => {
          setTokens([undefined]);
          const next = values.title.trim();
          setParams(next ? { title: next } : {});
        })}
      >
        <TextField label="Search by title" type="search" error={form.formState.errors.title?.message} {...form.register('title')} />
        <button type="submit">Search</button>
      </form>
      {courses.isPending ? (
        <Loading what="Loading courses" />
      ) : courses.isError ? (
        <ErrorState error={courses.error} onRetry={() => courses.refetch()} />
      ) : courses.data.courses.length === 0 ? (
        <Empty>{title ? `No published course matches “${title}”.` : 'No courses are published yet.'}</Empty>
      ) : (
        <CourseTable caption="Published courses" courses={courses.data.courses} href={(c) => `/courses/${c.course_id}`} />
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
