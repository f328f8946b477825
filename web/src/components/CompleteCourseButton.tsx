import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from '../api/client';
import { problemMessage } from '../api/problem';
import { keys, recordWrite, scopes } from '../api/queries';
import { FormError } from './fields';

/** Finishes a course whose lessons are all done (`POST /api/enrollments/{id}/complete`). */
export function CompleteCourseButton({ enrollmentId, courseId, courseTitle }: { enrollmentId: string; courseId: string; courseTitle: string }) {
  const client = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const finish = useMutation({
    mutationFn: () => api.post('/api/enrollments/{enrollment_id}/complete', { path: { enrollment_id: enrollmentId } }),
    onSuccess: async (result) => {
      setError(null);
      recordWrite(result, scopes.dashboard, scopes.roster(courseId));
      await Promise.all([
        client.invalidateQueries({ queryKey: keys.dashboard }),
        client.invalidateQueries({ queryKey: keys.course(courseId) }),
      ]);
    },
    onError: (e) => setError(problemMessage(e)),
  });
  return (
    <div>
      <FormError message={error} />
      <button type="button" onClick={() => finish.mutate()} disabled={finish.isPending} aria-label={`Complete the course ${courseTitle}`}>
        {finish.isPending ? 'Completing…' : 'Complete course'}
      </button>
    </div>
  );
}
