// Loading, empty and error states, the same on every page.
import type { ReactNode } from 'react';
import { problemMessage } from '../api/problem';

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p className="loading" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function ErrorState({ error, onRetry, title = 'Could not load this page' }: {
  error: unknown;
  onRetry?: () => void;
  title?: string;
}) {
  return (
    <div className="alert alert-error" role="alert">
      <p>
        <strong>{title}.</strong> {problemMessage(error)}
      </p>
      {onRetry ? (
        <button type="button" className="secondary" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** A progress bar with its value for assistive technology. */
export function ProgressBar({ value, label }: { value: number; label: string }) {
  const clamped = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div
      className="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={clamped}
      aria-valuetext={`${clamped}%`}
    >
      <div className="progress-fill" style={{ width: `${clamped}%` }} />
    </div>
  );
}
